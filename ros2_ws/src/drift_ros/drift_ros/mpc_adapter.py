"""Adapter from :class:`controllers.mpc.DriftMPC` to the node's controller interface.

The node's parameters choose the scenario (:mod:`drift_ros.scenarios`) and the NMPC settings
(``mpc_config``: a YAML with an ``MPCConfig`` mapping, or an ``mpc`` preset name in
``configs/mpc``; default: ``configs/mpc/default.yaml`` with ``dt_s = 1 / rate_hz``).
"""

from __future__ import annotations

import numpy as np

from drift.errors import ConfigError
from drift_ros.scenarios import make_scenario


class DriftMPCController:
    """``step(state, t) -> (u, diagnostics dict)`` around a set-up ``DriftMPC``."""

    def __init__(self, mpc, path):
        self.mpc, self.path = mpc, path

    def step(self, state, t):
        u, d = self.mpc.step(state, t)
        diag = {"solve_time_s": d.solve_ms * 1e-3, "status": f"{d.source}: {d.status}", "success": d.success}
        errors = np.asarray(getattr(d, "errors", ()), float)
        s0 = float(errors[2]) if errors.size == 3 else None  # absolute progress at the call (m)
        if d.predicted is not None and len(d.predicted) and s0 is not None:
            pred = np.asarray(d.predicted, float)
            s = s0 + pred[:, 5]
            xy = self.path.position(s, pred[:, 3])
            heading = np.interp(np.mod(s, self.path.length_m), self.path.s, np.unwrap(self.path.heading))
            diag["predicted_xy"], diag["predicted_psi"] = xy, heading + pred[:, 4]
        return u, diag


def build(DriftMPC, vehicle, tires, settings: dict) -> DriftMPCController:
    """Set up ``DriftMPC`` for the node's ``settings`` (parameter name -> value).

    Args:
        DriftMPC: the controller class (:class:`controllers.mpc.DriftMPC`).
        vehicle, tires: the controller's VehicleParams and AxleTires.
        settings: ``mpc_config`` (YAML path or preset name, ``""``: default at ``1 / rate_hz``),
            ``rate_hz`` (Hz), ``scenario``, ``radius_m`` (m, + = left), ``beta_ref_rad`` (rad).
    Raises:
        ConfigError: bad MPC settings or scenario values (:func:`drift_ros.scenarios.make_scenario`).
    """
    from controllers.mpc.config import MPCConfig, load_mpc_config
    from controllers.mpc.drift_mpc import EquilibriumReference

    name = settings.get("mpc_config") or ""
    dt = 1.0 / float(settings.get("rate_hz", 50.0))
    if name:
        cfg = load_mpc_config(name)
    else:  # the shipped default settings (configs/mpc/default.yaml) at the node's control period
        try:
            cfg = load_mpc_config("default").replace(dt_s=dt)
        except ConfigError:
            cfg = MPCConfig(dt_s=dt)
    sc = make_scenario(
        settings.get("scenario", "donut"),
        vehicle,
        tires,
        float(settings.get("radius_m", 8.0)),
        float(settings.get("beta_ref_rad", -0.35)),
    )
    mpc = DriftMPC(
        vehicle,
        tires,
        cfg,
        path=sc.path,
        reference=EquilibriumReference(sc.equilibrium, sc.path),
        u_init=sc.equilibrium.u,
    )
    mpc.setup()
    return DriftMPCController(mpc, sc.path)
