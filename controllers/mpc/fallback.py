"""Safe commands for when the NMPC cannot be trusted: input saturation and a stabilising law."""

from __future__ import annotations

import numpy as np

from controllers.safety import stabilising_steer
from drift.vehicle.params import VehicleParams


def saturate(u, u_prev, lo, hi, rate_per_step) -> np.ndarray:
    """Clip ``u = [delta, Fx]`` to the box ``[lo, hi]`` and to ``u_prev +- rate_per_step``.

    Non-finite entries are replaced by ``u_prev`` first (so the result is always finite when
    ``u_prev``, ``lo`` and ``hi`` are). All arrays ``(2,)``: rad, N.
    """
    u = np.array(u, float).reshape(2)
    u_prev = np.asarray(u_prev, float).reshape(2)
    u = np.where(np.isfinite(u), u, u_prev)
    u = np.clip(u, u_prev - rate_per_step, u_prev + rate_per_step)
    return np.clip(u, lo, hi)


def stabilising_command(v, vehicle: VehicleParams, Fx_target_N: float = 0.0, k_r: float = 0.05) -> np.ndarray:
    """Command that brings the car out of a drift: :func:`controllers.safety.stabilising_steer` and
    ``Fx = Fx_target_N`` (drive released by default).

    Args:
        v: ``[vx, vy, r]`` (m/s, m/s, rad/s), body frame. vehicle: parameters (``lf``, ``delta_max``).
    Returns:
        ``[delta, Fx]`` (rad, N), before rate limiting (see :func:`saturate`).
    """
    vx, vy, r = (float(a) for a in np.asarray(v, float).reshape(-1)[:3])
    return np.array([stabilising_steer(vx, vy, r, vehicle.lf, vehicle.delta_max, k_r), Fx_target_N])
