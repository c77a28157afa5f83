"""Friction-limited speed profile of a point mass along a closed path (forward-backward integration).

Used for the OCP's initial guess (:mod:`controllers.laptime.optimal_lap`) and as the target speed of
the pure-pursuit baseline (:mod:`controllers.baselines`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from drift.errors import DriftError
from drift.vehicle import axle_loads, driving_resistance
from drift.vehicle.params import VehicleParams


def grip_acceleration(v, vehicle: VehicleParams, mu: float):
    """Largest horizontal acceleration (m/s^2) friction allows at speed ``v`` (m/s, any shape).

    ``mu (Fzf + Fzr) / m`` with the axle loads of :func:`drift.vehicle.axle_loads` (weight plus
    downforce ``c_down v^2``) at zero force demand: the point-mass friction circle of the speed profile.
    """
    Fzf, Fzr = axle_loads(v, 0.0, vehicle)
    return mu * (Fzf + Fzr) / vehicle.m


def top_speed(vehicle: VehicleParams, cap_mps: float = 150.0) -> float:
    """Speed (m/s) at which drive power equals drag, ``(P_max / c_drag)^(1/3)``, at most ``cap_mps``."""
    p = vehicle
    return min((p.P_max / p.c_drag) ** (1.0 / 3.0), cap_mps) if p.c_drag > 0 else cap_mps


def speed_profile(
    ds_m,
    kappa,
    vehicle: VehicleParams,
    mu: float,
    v_max_mps: float | None = None,
    *,
    friction_margin: float = 0.0,
    drive_force: Callable[[float], float] | None = None,
    brake_force: Callable[[float], float] | None = None,
    passes: int = 2,
) -> np.ndarray:
    """Friction-limited speed profile (m/s) at each point of a closed path.

    The largest speed with ``v^2 |kappa| <= a_grip(v)``, ``a_grip = mu_use (g + c_down v^2 / m)``
    (:func:`grip_acceleration`, ``mu_use = (1 - friction_margin) mu``) that can be reached by
    accelerating (drive force and power, less drag and rolling resistance) and braking (brake force),
    each limited by the grip the friction circle leaves, ``sqrt(a_grip^2 - (v^2 kappa)^2)``.

    Args:
        ds_m: (N,) path length (m) from point ``k`` to point ``k+1`` (closed loop), or one number.
        kappa: (N,) path curvature (1/m).
        vehicle: mass, downforce, drag, rolling resistance, power and force limits.
        mu: friction coefficient (dimensionless), e.g. the tyres' peak friction.
        v_max_mps: speed cap (m/s); default :func:`top_speed`.
        friction_margin: share of ``mu`` kept in reserve (0 <= margin < 1), e.g. for a tracking
            controller's errors.
        drive_force, brake_force: optional callables ``v (m/s) -> N`` with the largest drive / brake force
            the actuators give (e.g. the racing simulator's traction control and ABS); default
            ``min(Fx_drive_max, P_max / v)`` and ``Fx_brake_max``.
        passes: laps of the forward and backward pass (2 settles the periodic wrap-around).

    Returns:
        (N,) speed (m/s), at least 0.5.

    Raises:
        DriftError: shapes that do not match, or a margin outside [0, 1).

    Sources: the quasi-steady-state lap simulation of Brayshaw & Harrison 2005; Kapania, Subosits &
    Gerdes, "A sequential two-step algorithm for fast generation of vehicle racing trajectories",
    J. Dyn. Sys. Meas. Control 138(9), 2016, Sec. 3; Velenis & Tsiotras 2005.
    """
    p = vehicle
    kap = np.abs(np.asarray(kappa, float))
    n = len(kap)
    ds = np.asarray(ds_m, float)
    ds = np.full(kap.shape, float(ds)) if ds.ndim == 0 else ds
    if ds.shape != kap.shape:
        raise DriftError(f"ds_m {ds.shape} and kappa {kap.shape} must have the same shape (N,)")
    if not 0.0 <= friction_margin < 1.0:
        raise DriftError(f"friction_margin must be in [0, 1), got {friction_margin!r}")
    mu = (1.0 - friction_margin) * mu
    v_max = top_speed(p) if v_max_mps is None else float(v_max_mps)
    den = kap - mu * p.c_down / p.m
    v_lim = np.where(den > 1e-12, np.sqrt(mu * p.g / np.maximum(den, 1e-12)), v_max)
    v_lim = np.minimum(v_lim, v_max)

    def grip_left(v: float, k: int) -> float:
        a_tot = float(grip_acceleration(v, p, mu))
        a_lat = v * v * kap[k]
        return math.sqrt(max(a_tot * a_tot - a_lat * a_lat, 0.0))

    def resistance(v: float) -> float:
        return float(driving_resistance(v, p)) / p.m

    v = v_lim.copy()
    start = int(np.argmin(v_lim))  # start where the car must be slowest: the loop closes there
    for _ in range(passes):
        for i in range(n):  # forward: acceleration
            k = (start + i) % n
            k1 = (k + 1) % n
            vk = v[k]
            drive = min(p.Fx_drive_max, p.P_max / max(vk, 1.0))
            if drive_force is not None:
                drive = min(drive, float(drive_force(vk)))
            a = min(drive / p.m, grip_left(vk, k)) - resistance(vk)
            v[k1] = min(v[k1], math.sqrt(max(vk * vk + 2.0 * a * ds[k], 0.0)))
        for i in range(n):  # backward: braking
            k1 = (start - i) % n
            k = (k1 - 1) % n
            vk1 = v[k1]
            brake = p.Fx_brake_max if brake_force is None else min(p.Fx_brake_max, float(brake_force(vk1)))
            a = min(brake / p.m, grip_left(vk1, k1)) + resistance(vk1)
            v[k] = min(v[k], math.sqrt(vk1 * vk1 + 2.0 * a * ds[k]))
    return np.maximum(v, 0.5)
