"""Actuation: the longitudinal force a car applies for a force demand, shared by every simulator.

A force demand ``Fx`` (N) is what controllers command (:mod:`drift.vehicle.dynamics`): ``Fx > 0``
asks the drivetrain for drive force, ``Fx < 0`` asks the brakes for ``|Fx|``. A drivetrain is limited
by its force and power; a brake only ever resists motion: its force opposes the direction of travel
and fades to zero at standstill, so that braking stops a car and holds it, and never reverses it.
"""

from __future__ import annotations

import numpy as np

from drift.vehicle.params import VehicleParams

#: speed (m/s) below which a brake's force fades linearly to zero (a disc brake's static hold,
#: made continuous so that a fixed-step integrator settles at rest instead of chattering)
BRAKE_FADE_MPS = 0.5


def applied_force(Fx, vx, p: VehicleParams, fade_mps: float = BRAKE_FADE_MPS):
    """Longitudinal force (N) applied to the car for the demand ``Fx`` (N) at forward speed ``vx`` (m/s).

    - drive (``Fx >= 0``): ``min(Fx, Fx_drive_max, P_max / max(|vx|, 1))``;
    - brake (``Fx < 0``): magnitude ``min(|Fx|, Fx_brake_max)``, directed against ``vx`` and scaled by
      ``clip(vx / fade_mps, -1, 1)``: full force above ``fade_mps``, zero at rest, positive for a
      car rolling backwards. The brake therefore removes kinetic energy and can never make
      ``|vx|`` grow.

    Shapes: ``Fx`` and ``vx`` broadcast (numpy arrays or floats); returns the broadcast shape
    (a float for scalar inputs). The result is the ``Fx`` input of :func:`drift.vehicle.f`.
    Source: brake model of Rajamani, *Vehicle Dynamics and Control*, Sec. 4.1 (brakes as a
    resisting torque), with a linear static-friction region at standstill.
    """
    Fx, vx = np.asarray(Fx, float), np.asarray(vx, float)
    drive = np.minimum(Fx, np.minimum(p.Fx_drive_max, p.P_max / np.maximum(np.abs(vx), 1.0)))
    brake = np.minimum(-Fx, p.Fx_brake_max) * np.clip(vx / fade_mps, -1.0, 1.0)
    out = np.where(Fx >= 0.0, drive, -brake)
    return float(out) if out.ndim == 0 else out


def throttle_force(throttle, p: VehicleParams):
    """Force demand ``Fx`` (N) of a throttle/brake command in [-1, 1] (clipped): a share of the drive
    limit ``Fx_drive_max`` (> 0) or of the brake limit ``Fx_brake_max`` (< 0). Any shape; a float for a
    scalar. The inverse is :func:`force_throttle`. (Without the traction control of
    :meth:`drift.racing.RacingSim.force_command`: the plain scaling a drive-by-wire interface reports.)"""
    a = np.clip(np.asarray(throttle, float), -1.0, 1.0)
    out = np.where(a >= 0.0, a * p.Fx_drive_max, a * p.Fx_brake_max)
    return float(out) if out.ndim == 0 else out


def force_throttle(Fx, p: VehicleParams):
    """Throttle/brake command in [-1, 1] of a force demand ``Fx`` (N): the inverse of
    :func:`throttle_force`, clipped at the limits. Any shape; a float for a scalar."""
    f = np.asarray(Fx, float)
    out = np.clip(np.where(f >= 0.0, f / p.Fx_drive_max, f / p.Fx_brake_max), -1.0, 1.0)
    return float(out) if out.ndim == 0 else out


def steer_toward(delta, target, rate_radps: float, dt_s: float):
    """Road-wheel angle (rad) after ``dt_s`` s of moving from ``delta`` towards ``target`` at most at
    ``rate_radps`` (the steering actuator's rate limit). Any matching shapes."""
    step = rate_radps * dt_s
    return delta + np.clip(np.asarray(target) - delta, -step, step)
