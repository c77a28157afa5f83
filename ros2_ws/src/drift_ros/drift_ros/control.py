"""Controllers a node can run, made by name (dependency injection for the controller node).

A controller is any object with ``step(state, t) -> (command, diagnostics)``:

- ``state``: ``[X, Y, psi, vx, vy, r]`` (6,) float64, SI units (map frame pose, body velocities);
- ``t``: time (s);
- ``command``: ``[delta, Fx]`` (2,) road-wheel steering (rad) and force demand (N);
- ``diagnostics``: dict, optional keys ``solve_time_s`` (float), ``status`` (str), ``success``
  (bool, False for a failed solve), ``done`` (bool: the controller's programme is complete; the node
  then stops the car and exits), ``predicted_states`` ((N, 6) states over the horizon) or
  ``predicted_xy`` ((N, 2), m).

:func:`make_controller` builds one from the ``controller`` parameter: a registered name
(:data:`FACTORIES`) or ``"package.module:factory"`` for a user's own controller. A factory is
called as ``factory(vehicle, tires, settings)`` with ``settings`` the node's parameters (dict).
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable

import numpy as np

from drift.errors import ConfigError


class CruiseController:
    """Constant-speed, constant-radius driving: a simple controller for bring-up and tests.

    ``Fx = m k_v (v_ref - vx)``, ``delta = atan(L / R)`` for a circle of radius ``R``
    (``radius_m``, + = left; 0 = straight), plus an optional steering sweep
    ``excitation_amplitude_rad * sin(2 pi t / excitation_period_s)`` for identification drives.
    Kinematic (no slip), so it is a bring-up aid, not a drift controller. The predicted path is the
    circle arc ahead at the current speed.
    """

    def __init__(self, vehicle, tires=None, settings: dict | None = None):
        s = settings or {}
        self.vehicle = vehicle
        self.v_ref = float(s.get("v_ref_mps", 5.0))
        self.radius = float(s.get("radius_m", 0.0))
        self.k_v = float(s.get("speed_gain_per_s", 2.0))
        self.horizon_s = float(s.get("horizon_s", 1.0))
        self.amp = float(s.get("excitation_amplitude_rad", 0.0))
        self.period = float(s.get("excitation_period_s", 3.0))

    def step(self, state, t):
        t0 = time.perf_counter()
        X, Y, psi, vx, vy, r = (float(v) for v in state)
        delta = math.atan(self.vehicle.L / self.radius) if self.radius else 0.0
        if self.amp:  # steering sweep for identification drives (e.g. to record data for drift fit)
            delta += self.amp * math.sin(2.0 * math.pi * t / self.period)
        Fx = self.vehicle.m * self.k_v * (self.v_ref - vx)
        ts = np.linspace(0.0, self.horizon_s, 21)
        kappa = 1.0 / self.radius if self.radius else 0.0
        yaw = psi + max(vx, 0.0) * kappa * ts
        if kappa:
            xy = np.stack(
                [X + (np.sin(yaw) - math.sin(psi)) / kappa, Y - (np.cos(yaw) - math.cos(psi)) / kappa], -1
            )
        else:
            xy = np.stack([X + math.cos(psi) * vx * ts, Y + math.sin(psi) * vx * ts], -1)
        diag = {
            "solve_time_s": time.perf_counter() - t0,
            "status": "ok",
            "predicted_xy": xy,
            "predicted_psi": yaw,
        }
        return np.array([delta, Fx]), diag


def _make_cruise(vehicle, tires, settings):
    return CruiseController(vehicle, tires, settings)


def _make_drift_mpc(vehicle, tires, settings):
    """The drift NMPC (``controllers.mpc.DriftMPC``), reference from the node's scenario parameters."""
    try:
        from controllers.mpc import DriftMPC
    except ImportError as e:
        raise ConfigError(f"controller 'drift_mpc' is not available ({e}); use controller:=cruise") from None
    from drift_ros import mpc_adapter

    return mpc_adapter.build(DriftMPC, vehicle, tires, settings)


def _make_sysid(vehicle, tires, settings):
    """The identification drive (``controllers.sysid``): its diagnostics say ``done`` at the end."""
    from controllers.sysid import IdentificationConfig, IdentificationDrive

    cfg = IdentificationConfig(duration_s=float(settings.get("sysid_duration_s", 300.0)))
    return IdentificationDrive(vehicle, cfg)


#: registered controller names -> factory(vehicle, tires, settings)
FACTORIES: dict[str, Callable] = {"drift_mpc": _make_drift_mpc, "cruise": _make_cruise, "sysid": _make_sysid}


def make_controller(name: str, vehicle, tires, settings: dict):
    """Build the controller named ``name`` (see module doc). Raises ConfigError for unknown names."""
    if name in FACTORIES:
        factory = FACTORIES[name]
    elif ":" in name:
        mod, _, attr = name.partition(":")
        try:
            factory = getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError) as e:
            raise ConfigError(
                f"parameter controller = {name!r}: cannot import {attr} from {mod} ({e})"
            ) from None
    else:
        raise ConfigError(
            f"parameter controller = {name!r} unknown; use one of {sorted(FACTORIES)} "
            "or 'package.module:factory'"
        )
    ctrl = factory(vehicle, tires, settings)
    if not callable(getattr(ctrl, "step", None)):
        raise ConfigError(
            f"parameter controller = {name!r}: the factory returned an object without step(state, t)"
        )
    return ctrl
