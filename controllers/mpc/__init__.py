"""Drift NMPC: drift equilibria and a real-time multiple-shooting NMPC on the single-track model."""

from controllers.mpc.config import MPCConfig, load_mpc_config
from controllers.mpc.drift_mpc import Diagnostics, DriftMPC, EquilibriumReference, Reference
from controllers.mpc.equilibrium import Equilibrium, drift_equilibrium, equilibrium_on_circle
from controllers.mpc.paths import Path, circle_path, figure_eight_path

__all__ = [
    "MPCConfig",
    "load_mpc_config",
    "DriftMPC",
    "Diagnostics",
    "EquilibriumReference",
    "Reference",
    "Equilibrium",
    "drift_equilibrium",
    "equilibrium_on_circle",
    "Path",
    "circle_path",
    "figure_eight_path",
]
