"""Tyre and load limits the lap-time problem and its tracker share: static axle loads, peak slip."""

from __future__ import annotations

import numpy as np

from drift.vehicle import VehicleParams, axle_loads


def static_axle_loads(p: VehicleParams) -> tuple[float, float]:
    """Axle loads ``(Fzf, Fzr)`` (N) standing still with no force: :func:`drift.vehicle.axle_loads`."""
    Fzf, Fzr = axle_loads(0.0, 0.0, p)
    return float(Fzf), float(Fzr)


def peak_slip(tire, Fz_N: float, alpha_max_rad: float = 0.6) -> float:
    """Slip angle (rad, > 0) at which the pure lateral force of ``tire`` peaks, at load ``Fz_N`` (N).

    Found on a dense grid over ``(0, alpha_max_rad]``; a curve that keeps rising returns ``alpha_max_rad``.
    """
    a = np.linspace(1e-4, alpha_max_rad, 6000)
    Fy = np.asarray(tire.lateral_force(a, np.full_like(a, Fz_N)), float)
    return float(a[int(np.argmax(Fy))])
