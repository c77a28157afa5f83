"""Settings of the minimum-lap-time problem (:class:`LapTimeConfig`) and its error (:class:`LapTimeError`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from drift.errors import DriftError

if TYPE_CHECKING:
    from controllers.laptime.result import LapTimeResult


class LapTimeError(DriftError):
    """The minimum-lap-time problem cannot be solved: bad settings, a problem too large for the
    machine, a track narrower than the car, or IPOPT did not converge (then ``.result`` holds the
    failed solve)."""

    def __init__(self, message: str, result: LapTimeResult | None = None):
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class LapTimeConfig:
    """Settings of :func:`min_lap_time`.

    Attributes:
        grid_m: target spacing of the collocation grid along the centre line (m); the grid is
            uniform with ``N = round(length / grid_m)`` nodes. Memory grows with ``N``:
            :func:`min_lap_time` refuses a grid whose estimated peak memory
            (:func:`~controllers.laptime.problem_size.estimate_problem_size`) exceeds the memory
            available.
        wall_margin_m: extra clearance to each track edge beyond half the car's width (m).
        v_min_mps: lower bound on ``vx`` (m/s); keeps ``dt/ds`` finite.
        friction_margin: the axle longitudinal-force constraint is ``|Fx| <= (1 - margin) mu Fz``.
        w_smooth: weight of the regulariser (dimensionless; the regulariser is in seconds, like the
            lap time): time-integral of the squared steering rate over its limit, squared yaw
            acceleration over ``yaw_acc_ref_radps2`` and squared force rate over ``F_max / force_rise_s``.
        yaw_acc_ref_radps2: reference yaw acceleration of the regulariser (rad/s^2).
        force_rise_s: reference time of a full force swing in the regulariser (s).
        slip_limit: bound ``|alpha| <= slip_limit * alpha_peak`` on each axle's slip angle, with
            ``alpha_peak`` the slip of the tyre model's force peak (stable, trackable driving at the
            limit); None disables it.
        grip_limit: bound on each axle's combined grip usage ``sqrt(Fx^2 + Fy^2) / (mu Fz)``
            (dimensionless, < 1 keeps a stability reserve for a tracking controller); None disables it.
        beta_limit: bound on the body sideslip, ``|vy| <= tan(beta_limit * alpha_peak_rear) vx``
            (dimensionless multiple of the rear tyre's peak slip); None disables it. It guards, with
            the yaw regulariser, against a car whose brakes (``Fx_brake_max``) are weaker than its
            grip shedding speed by sliding sideways on the brakes, which the model allows but
            no driver would do.
        max_iter: IPOPT iteration limit.
        tol: IPOPT convergence tolerance (scaled NLP).
        max_wall_s: IPOPT wall-clock limit (s).
        print_level: IPOPT verbosity (0 silent, 5 full log).
        coarse_grid_m: first solve on this coarser grid (m) and start the fine solve from its
            interpolated solution (with ``mu_init = warm_mu_init``); None solves the fine grid only.
            Default 12 m: cold-started on a 3 m grid, IPOPT's first iterations crawl (step sizes
            1e-3, inertia corrections up to 1e17; 368 s on Oschersleben), while the 12 m solve
            converges in tens of iterations (about a second) and the warm-started 3 m solve then
            needs about 50-100 (Oschersleben 7 s in all). Ignored unless it is over 1.5 x the fine
            grid; if the coarse solve fails, the fine grid is solved from the race line.
        split_eps_N: smoothing (N) of the drive/brake split in the optimiser's copy of the model
            (``eps_split`` of :func:`drift.vehicle.axle_forces`; the simulator's is 1 N, which in the
            scaled NLP is a near-kink that stalls IPOPT wherever ``Fx`` changes sign).
        scheme: ``trapezoidal`` (default) or ``hermite_simpson`` (midpoint states, fourth order; about
            twice the variables and several times the solve time).
        mu_strategy: IPOPT barrier update (``adaptive`` or ``monotone``).
        graph: ``mx`` (default) keeps the per-node model as one CasADi function mapped over the
            grid, whose derivatives are generated once; ``sx`` expands it into one scalar graph of
            the whole lap, which evaluates about 1.5x faster per iteration but takes 5-7 s per grid
            to differentiate (3 m grid, Monza: 24 s in all with ``sx``, 13 s with ``mx``; same
            iterates).
    """

    grid_m: float = 3.0
    wall_margin_m: float = 0.25
    v_min_mps: float = 3.0
    friction_margin: float = 0.02
    w_smooth: float = 1e-2
    yaw_acc_ref_radps2: float = 2.0
    force_rise_s: float = 0.1
    slip_limit: float | None = 0.8
    grip_limit: float | None = 0.95
    beta_limit: float | None = 0.5
    max_iter: int = 1500
    tol: float = 1e-6
    max_wall_s: float = 600.0
    print_level: int = 0
    coarse_grid_m: float | None = 12.0
    split_eps_N: float = 200.0
    warm_mu_init: float = 1e-4
    mu_strategy: str = "adaptive"
    scheme: str = "trapezoidal"
    graph: str = "mx"

    def __post_init__(self):
        def positive(name, value):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise LapTimeError(f"LapTimeConfig.{name} must be a positive, finite number, got {value}")

        positive("grid_m", self.grid_m)
        if self.coarse_grid_m is not None:
            positive("coarse_grid_m", self.coarse_grid_m)
        for name in ("v_min_mps", "tol", "max_wall_s", "split_eps_N", "warm_mu_init"):
            positive(name, getattr(self, name))
        if int(self.max_iter) < 1:
            raise LapTimeError(f"LapTimeConfig.max_iter must be at least 1, got {self.max_iter!r}")
        if self.scheme not in ("trapezoidal", "hermite_simpson"):
            raise LapTimeError(
                f"LapTimeConfig.scheme must be 'hermite_simpson' or 'trapezoidal', got {self.scheme!r}"
            )
        if self.graph not in ("mx", "sx"):
            raise LapTimeError(f"LapTimeConfig.graph must be 'mx' or 'sx', got {self.graph!r}")
