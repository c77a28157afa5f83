"""Controllers: drift NMPC, lap-time optimal control, racing agents and the safety filter."""
