"""Safe commands for when the NMPC cannot be trusted: input saturation and a stabilising law."""

from __future__ import annotations

import math

import numpy as np

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
    """Command that brings the car out of a drift: front wheels along the front-axle velocity, drive released.

    ``delta = atan2(vy + lf r, vx) - k_r r`` zeroes the front slip angle (less the small yaw-damping
    term ``k_r r``), so the front axle stops feeding the yaw motion; releasing the drive force
    (``Fx = Fx_target_N``) restores the rear axle's lateral capacity on the friction circle, whose
    force then opposes the sideslip. As ``beta`` and ``r`` decay the steering returns to straight.
    This is the recovery logic of Hindiyeh & Gerdes 2014 (Sec. V) in its simplest form.

    Args:
        v: ``[vx, vy, r]`` (m/s, m/s, rad/s), body frame. vehicle: parameters (``lf``, ``delta_max``).
    Returns:
        ``[delta, Fx]`` (rad, N), before rate limiting (see :func:`saturate`).
    """
    vx, vy, r = (float(a) for a in np.asarray(v, float).reshape(-1)[:3])
    if not all(math.isfinite(a) for a in (vx, vy, r)):
        return np.array([0.0, Fx_target_N])
    delta = math.atan2(vy + vehicle.lf * r, max(vx, 0.5)) - k_r * r
    return np.array([float(np.clip(delta, -vehicle.delta_max, vehicle.delta_max)), Fx_target_N])
