"""Sensor and vehicle correction terms, fitted with bounds next to the tyre curves.

A real log is measured at a sensor, not at the centre of gravity (CG) of the vehicle file, and
its steering channel passes through a ratio and an offset. drift keeps ONE vehicle model
(:func:`drift.vehicle.body_derivatives`); the terms below only transform the measurements and
inputs going into it and the predictions coming out of it:

* lever arm ``x_s`` (m): the velocity is measured ``x_s`` ahead of the CG, so
  ``vy_meas = vy_cg + x_s r + k vx`` (rigid-body kinematics);
* sideslip mounting offset ``k`` (dimensionless): a small yaw misalignment of the velocity
  sensor adds ``k vx`` to ``vy`` (``k ~ angle`` in rad), plus a constant bias ``b`` (m/s), so
  ``vy_meas = vy_cg + x_s r + k vx + b``;
* steering ``delta_model = scale * delta_meas + offset`` (rad);
* ``Iz`` (kg m^2) replaces the vehicle file's yaw inertia. It is an *effective* inertia: a lumped
  single-track tyre has no relaxation length, and the fit absorbs the tyres' lag in a slower yaw
  response (on the IAC log it ends at the top of its box, 3x the preset; reported as such);
* small lateral force offsets ``dFyf, dFyr`` (N) are added to the axle forces (a tyre-model
  wrapper, :class:`ForceOffset`; they absorb track banking and a biased ``ay``).

Every term lives in a box; a fitted term within 1e-3 of its box edge is reported as "at bound".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import torch

from drift.vehicle.params import VehicleParams
from tire_models.base import AxleTires


@dataclass(frozen=True)
class SensorTerms:
    """Fitted correction terms (plain floats), SI units; see the module docstring.

    Attributes:
        x_s_m: velocity reference point ahead of the CG (m).
        delta_offset_rad: steering offset added after scaling (rad).
        delta_scale: steering scale (dimensionless).
        vy_offset_per_vx: sideslip mounting offset ``k`` (dimensionless, ~rad).
        vy_bias_mps: constant bias of the measured ``vy`` (m/s).
        Iz_kgm2: yaw inertia (kg m^2).
        Fyf_offset_N, Fyr_offset_N: lateral force offsets on the front / rear axle (N).
    """

    x_s_m: float = 0.0
    delta_offset_rad: float = 0.0
    delta_scale: float = 1.0
    vy_offset_per_vx: float = 0.0
    vy_bias_mps: float = 0.0
    Iz_kgm2: float = 1000.0
    Fyf_offset_N: float = 0.0
    Fyr_offset_N: float = 0.0

    def to_dict(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> SensorTerms:
        known = {f.name for f in fields(SensorTerms)}
        return SensorTerms(**{k: float(v) for k, v in d.items() if k in known})


def default_bounds(p: VehicleParams) -> dict[str, tuple[float, float]]:
    """Physical boxes of the sensor terms for vehicle ``p`` (same keys as :class:`SensorTerms`)."""
    return {
        # the velocity reference point lies on the car, between the axles
        "x_s_m": (-p.lr, p.lf),
        "delta_offset_rad": (-0.02, 0.02),
        "delta_scale": (0.7, 1.4),
        "vy_offset_per_vx": (-0.03, 0.03),
        "vy_bias_mps": (-0.25, 0.25),
        "Iz_kgm2": (0.5 * p.Iz, 3.0 * p.Iz),
        # small: 1% of the weight (they trade against the sideslip offsets otherwise)
        "Fyf_offset_N": (-0.01 * p.m * p.g, 0.01 * p.m * p.g),
        "Fyr_offset_N": (-0.01 * p.m * p.g, 0.01 * p.m * p.g),
    }


def measured_vy(vx, vy_cg, r, x_s_m, k, b_mps):
    """What the sensor reports for the CG lateral velocity: ``vy_cg + x_s r + k vx + b`` (m/s).

    Any backend and shape; the one definition of the mounting terms (module docstring), used by the
    fit (:class:`SensorModule`) and by :class:`drift.simulate.Recording`.
    """
    return vy_cg + x_s_m * r + k * vx + b_mps


def model_steer(delta_meas, scale, offset_rad):
    """The road-wheel angle (rad) the model uses for a logged steering ``delta_meas`` (rad)."""
    return scale * delta_meas + offset_rad


#: terms fitted by default (all of them); ``fit_sensor=False`` fixes them at their nominal values
SENSOR_NAMES = tuple(f.name for f in fields(SensorTerms))


class ForceOffset:
    """Tyre wrapper adding a constant lateral force (N) to another tyre model's output.

    Duck-types :class:`tire_models.base.TireModel` for :func:`drift.vehicle.axle_forces`.
    """

    def __init__(self, inner, offset_N):
        self.inner = inner
        self.offset = offset_N
        self.name = inner.name

    def lateral_force(self, alpha, Fz):
        return self.inner.lateral_force(alpha, Fz) + self.offset

    def combined_force(self, alpha, Fz, Fx=0.0, eps: float = 1e-3):
        return self.inner.combined_force(alpha, Fz, Fx, eps) + self.offset

    @property
    def peak_mu(self):
        return self.inner.peak_mu


class SensorModule(torch.nn.Module):
    """Bounded, differentiable sensor terms: ``lo + (hi - lo) sigmoid(raw)`` per fitted term.

    Args:
        p: vehicle parameters (nominal ``Iz`` and the boxes come from it).
        fit: names of the terms to fit; the others stay at ``init`` (nominal) values.
        init: starting values (default: zero offsets, unit scale, the vehicle's ``Iz``).
        bounds: boxes, default :func:`default_bounds`.
    """

    def __init__(self, p: VehicleParams, fit=SENSOR_NAMES, init: SensorTerms | None = None, bounds=None):
        super().__init__()
        self.p = p
        self.bounds = dict(bounds or default_bounds(p))
        init = init or SensorTerms(Iz_kgm2=p.Iz)
        self.fixed = {k: float(v) for k, v in init.to_dict().items() if k not in fit}
        self.fit_names = [k for k in SENSOR_NAMES if k in fit]
        self.raw = torch.nn.ParameterDict()
        for name in self.fit_names:
            lo, hi = self.bounds[name]
            v = float(getattr(init, name))
            z = min(max((v - lo) / (hi - lo), 1e-4), 1 - 1e-4)
            self.raw[name] = torch.nn.Parameter(torch.tensor(math.log(z / (1 - z)), dtype=torch.float64))

    @torch.no_grad()
    def set_value(self, name: str, v: float) -> None:
        """Move a fitted term to ``v`` (clipped inside its box)."""
        lo, hi = self.bounds[name]
        z = min(max((v - lo) / (hi - lo), 1e-4), 1 - 1e-4)
        self.raw[name].fill_(math.log(z / (1 - z)))

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.fixed)
        for name in self.fit_names:
            lo, hi = self.bounds[name]
            out[name] = lo + (hi - lo) * torch.sigmoid(self.raw[name])
        return out

    def freeze(self) -> SensorTerms:
        return (
            SensorTerms(**{k: float(v) for k, v in self.values().items()})
            if not self.fit_names
            else SensorTerms(**{k: float(torch.as_tensor(v).detach()) for k, v in self.values().items()})
        )

    def at_bounds(self, tol: float = 1e-3) -> list[str]:
        """Names of fitted terms within ``tol`` (relative to the box) of a bound."""
        out = []
        for name in self.fit_names:
            lo, hi = self.bounds[name]
            z = (float(torch.as_tensor(self.values()[name]).detach()) - lo) / (hi - lo)
            if z < tol or z > 1 - tol:
                out.append(name)
        return out

    # ---- transforms (torch tensors, any batch shape) ---------------------------------------
    def to_cg(self, vx, vy_meas, r):
        """Measured ``vy`` -> CG lateral velocity ``vy_cg = vy_meas - x_s r - k vx - b`` (m/s)."""
        s = self.values()
        return vy_meas - measured_vy(vx, 0.0, r, s["x_s_m"], s["vy_offset_per_vx"], s["vy_bias_mps"])

    def to_measured(self, vx, vy_cg, r):
        """CG lateral velocity -> the sensor's ``vy`` (m/s): inverse of :meth:`to_cg`."""
        s = self.values()
        return measured_vy(vx, vy_cg, r, s["x_s_m"], s["vy_offset_per_vx"], s["vy_bias_mps"])

    def steer(self, delta_meas):
        """Logged steering (rad) -> road-wheel angle used by the model (rad)."""
        s = self.values()
        return model_steer(delta_meas, s["delta_scale"], s["delta_offset_rad"])

    def vehicle(self) -> VehicleParams:
        """Vehicle parameters with the fitted ``Iz`` (a tensor while fitting)."""
        return self.p.replace(Iz=self.values()["Iz_kgm2"])

    def tires(self, tires: AxleTires) -> AxleTires:
        """Wrap ``tires`` with the fitted lateral force offsets."""
        s = self.values()
        return AxleTires(
            ForceOffset(tires.front, s["Fyf_offset_N"]), ForceOffset(tires.rear, s["Fyr_offset_N"])
        )
