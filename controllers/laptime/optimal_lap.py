"""The minimum-lap-time solve of one flying lap (:func:`min_lap_time`): coarse grid, then fine grid."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from controllers.laptime.config import LapTimeConfig, LapTimeError
from controllers.laptime.diagnostics import REASONS
from controllers.laptime.geometry import make_grid, periodic_interp
from controllers.laptime.nlp import SolveProgress, solve_on_grid
from controllers.laptime.problem_size import check_problem_size
from controllers.laptime.result import LapTimeResult, node_trajectory
from drift.errors import DriftError
from drift.vehicle import VehicleParams
from drift.vehicle.tires import default_tires
from tire_models import AxleTires


def min_lap_time(
    track,
    vehicle: VehicleParams,
    tires: AxleTires | None = None,
    grid_m: float | None = None,
    config: LapTimeConfig | None = None,
    raise_on_failure: bool = True,
    progress: Callable[[SolveProgress], None] | None = None,
) -> LapTimeResult:
    """Solve the minimum-lap-time problem of one flying lap.

    Args:
        track: a :class:`drift.racing.track.Track` (uses ``length_m, s, kappa, heading, w_left,
            w_right, raceline, project, position``).
        vehicle: vehicle parameters (mass, geometry, limits, aero).
        tires: front/rear tyre models evaluable on CasADi symbols; default :func:`default_tires`.
        grid_m: collocation spacing (m); overrides ``config.grid_m``.
        config: solver settings, :class:`LapTimeConfig`.
        raise_on_failure: raise :class:`LapTimeError` when IPOPT does not converge (default);
            with False, return the result with ``converged=False`` and ``lap_time_s = NaN``.
        progress: optional callable, called after every IPOPT iteration of each grid with a
            :class:`~controllers.laptime.nlp.SolveProgress` (e.g. to drive a progress display).

    Returns:
        :class:`LapTimeResult` with the lap time (s), the trajectory, the speed profile, the
        inputs and the grip usage per node.

    Raises:
        LapTimeError: not converged (the message gives IPOPT's status in words and the active and
            violated constraint groups; ``.result`` holds the last iterate).
        LapTimeError: a grid too fine for the machine's memory (before anything is built; the message
            gives the estimate, the memory available and the smallest grid that fits), or invalid
            settings (:class:`LapTimeConfig`).
        DriftError: tyres that cannot be evaluated on CasADi symbols.
    """
    cfg = config or LapTimeConfig()
    if grid_m is not None:
        cfg = dataclasses.replace(cfg, grid_m=float(grid_m))
    p = vehicle
    tires = tires or default_tires(p)
    if not (getattr(tires.front, "casadi", True) and getattr(tires.rear, "casadi", True)):
        raise DriftError(
            f"tyre model {tires.name!r} cannot be evaluated on CasADi symbols; fit an "
            "ExpTanh or Pacejka model for the lap-time optimisation"
        )
    check_problem_size(float(track.length_m), cfg)  # refuse a grid that cannot fit, before building it
    grid = make_grid(track, cfg.grid_m)
    guess, iters, solve_s, build_s, stages = None, 0, 0.0, 0.0, []
    # coarse-to-fine: a solve on a coarse grid is cheap and gives the fine grid a near-optimal start
    if cfg.coarse_grid_m and cfg.coarse_grid_m > 1.5 * grid.ds:
        coarse = make_grid(track, cfg.coarse_grid_m)
        out = solve_on_grid(track, coarse, cfg, p, tires, progress=progress)
        iters += out["iterations"]
        solve_s += out["solve_s"]
        build_s += out["build_s"]
        stages.append((coarse.ds, out["status"], out["iterations"]))
        if out["converged"]:
            L = grid.length
            guess = (
                np.column_stack([periodic_interp(grid.s, coarse.s, out["Z"][:, j], L) for j in range(5)]),
                np.column_stack([periodic_interp(grid.s, coarse.s, out["U"][:, j], L) for j in range(2)]),
            )
    out = solve_on_grid(track, grid, cfg, p, tires, guess=guess, progress=progress)
    iters += out["iterations"]
    solve_s += out["solve_s"]
    build_s += out["build_s"]
    stages.append((grid.ds, out["status"], out["iterations"]))
    status, converged = out["status"], out["converged"]
    traj = node_trajectory(track, grid, out["Z"], out["U"], p, tires)
    # time stamps from the collocation scheme's own interval times
    traj["t"] = np.concatenate([[0.0], np.cumsum(out["dt"])[:-1]])
    last_lap = float(np.sum(out["dt"]))
    res = LapTimeResult(
        track_name=str(getattr(track, "name", "track")),
        grid_m=grid.ds,
        converged=converged,
        status=status,
        reason="" if converged else REASONS.get(status, status),
        lap_time_s=last_lap if converged else float("nan"),
        last_lap_time_s=last_lap,
        solve_s=solve_s,
        build_s=build_s,
        iterations=iters,
        active=out["active"],
        violation=out["violation"],
        traj=traj,
        stages=stages,
    )
    if not converged and raise_on_failure:
        raise LapTimeError("minimum-lap-time solve failed: " + res.summary(), res)
    return res
