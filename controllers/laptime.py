"""Minimum-lap-time optimal control: the physical limit of a car on a track.

The free-trajectory minimum-time problem of one closed ("flying") lap, solved as a nonlinear
program by direct collocation in curvilinear coordinates along the centre line's arc length ``s``
(trapezoidal rule on a uniform grid of about ``grid_m`` metres, inputs held constant over each
interval, as the simulator holds them over a control step).

State per node ``z = [vx, vy, r, n, xi]`` (m/s, m/s, rad/s, m, rad): body velocities and yaw rate
as in :mod:`drift.vehicle`, lateral offset ``n`` from the centre line (+ left) and heading error
``xi = psi - theta(s)`` relative to the centre line's heading ``theta``. Inputs per node
``u = [delta, Fx]`` (rad, N) exactly as in :func:`drift.vehicle.f`. With ``kappa(s)`` the centre
line's curvature (1/m)::

    dt/ds   = (1 - n kappa) / (vx cos xi - vy sin xi)
    dv/ds   = body_derivatives(v, u) * dt/ds        (drift.vehicle: same model as the simulator)
    dn/ds   = (vx sin xi + vy cos xi) * dt/ds
    dxi/ds  = r * dt/ds - kappa

Objective: the lap time ``T = integral dt/ds ds`` plus a small regulariser (seconds)
``w_smooth * integral [(delta_dot / delta_rate_max)^2 + (r_dot / r_dot_ref)^2
+ (Fx_dot t_rise / F_max)^2] dt``; the yaw-acceleration term suppresses a high-frequency
"scrubbing" slalom under braking that a brake-limited car would otherwise use to shed speed.
Constraints: the track width shrunk by half the car's width (plus a margin), the steering angle and
steering rate limits, drive force, brake force and engine power (``Fx vx <= P_max``), and the
friction circle: the tyre model's ``combined_force`` already shrinks lateral capacity with the
axle's longitudinal force; in addition ``|Fx_axle| <= mu Fz_axle`` on each axle. Periodicity is
built in: node ``N`` is node ``0``.

The NLP is solved by IPOPT (through CasADi, MUMPS) with every variable scaled to order one, from
an initial guess built from the track's race line (or the centre line) and a friction-limited
speed profile (:func:`speed_profile`), first on a coarse 12 m grid and then on the fine grid
warm-started from the coarse optimum (``LapTimeConfig.coarse_grid_m``): on the 17 shared tracks
this takes 40-175 iterations and 8-15 s in all per track on one core (a cold start on the 3 m grid
took up to 320 iterations and minutes).

Sources: Perantoni & Limebeer, "Optimal control for a Formula One car with variable parameters",
Vehicle System Dynamics 52(5), 2014 (curvilinear minimum-time formulation, eqs. 1-6);
Christ, Wischnewski, Heilmeier & Lohmann, "Time-optimal trajectory planning for a race car
considering variable tyre-road friction coefficients", VSD 2021 (curvilinear single-track OCP);
Betts, *Practical Methods for Optimal Control*, 2nd ed., Sec. 4.5 (trapezoidal collocation).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from drift.errors import DriftError
from drift.vehicle import (
    VehicleParams,
    applied_force,
    axle_forces,
    axle_loads,
    body_derivatives,
    f,
    rk4_step,
    slip_angles,
)
from drift.vehicle.tires import default_tires
from tire_models import AxleTires

#: names of the collocation states and inputs, in NLP order
OCP_STATES = ("vx", "vy", "r", "n", "xi")
OCP_INPUTS = ("delta", "Fx")

#: IPOPT return statuses that count as converged
_CONVERGED = ("Solve_Succeeded", "Solved_To_Acceptable_Level")

#: IPOPT return status -> plain-words reason
_REASONS = {
    "Infeasible_Problem_Detected": "infeasible (IPOPT stopped at a local minimum of constraint violation)",
    "Maximum_Iterations_Exceeded": "iteration limit reached",
    "Maximum_CpuTime_Exceeded": "time limit reached",
    "Maximum_WallTime_Exceeded": "time limit reached",
    "Restoration_Failed": "restoration phase failed (no feasible step found)",
    "Search_Direction_Becomes_Too_Small": "search direction became too small",
    "Diverging_Iterates": "iterates diverged",
    "Error_In_Step_Computation": "error in step computation",
    "Not_Enough_Degrees_Of_Freedom": "not enough degrees of freedom",
    "Invalid_Number_Detected": "NaN or inf in a model evaluation",
    "Invalid_Problem_Definition": "invalid problem definition (inconsistent bounds)",
}


class LapTimeError(DriftError):
    """The minimum-lap-time problem did not converge. ``.result`` holds the failed solve."""

    def __init__(self, message: str, result: LapTimeResult | None = None):
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class LapTimeConfig:
    """Settings of :func:`min_lap_time`.

    Attributes:
        grid_m: target spacing of the collocation grid along the centre line (m); the grid is
            uniform with ``N = round(length / grid_m)`` nodes.
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


@dataclass
class LapTimeResult:
    """Result of :func:`min_lap_time`. Arrays are per collocation node, shape ``(N,)``.

    ``lap_time_s`` is NaN unless ``converged``; ``last_lap_time_s`` is the lap time of the last
    iterate whatever the outcome. ``status`` is IPOPT's return status, ``reason`` the same in
    words (empty when converged). ``active`` counts the nodes at which each constraint group is
    active (within 1e-3 of its bound, relative) or violated, at the last iterate; ``violation``
    gives each group's largest violation (in the constraint's own units).

    Trajectory: ``s`` (m, centre-line arc length), ``t`` (s, time at each node, t[0] = 0),
    ``x, y`` (m, world), ``psi`` (rad, yaw), ``vx, vy, r`` (m/s, m/s, rad/s), ``n`` (m, + left),
    ``xi`` (rad), ``delta`` (rad), ``Fx`` (N), ``speed`` (m/s), ``ax, ay`` (m/s^2, body),
    ``grip_front, grip_rear`` (combined grip usage ``sqrt(Fx^2 + Fy^2) / (mu Fz)`` per axle,
    dimensionless, 1 = at the friction circle), ``kappa`` (1/m, centre line), ``w_left,
    w_right`` (m).
    """

    track_name: str
    grid_m: float
    converged: bool
    status: str
    reason: str
    lap_time_s: float
    last_lap_time_s: float
    solve_s: float
    build_s: float
    iterations: int
    active: dict[str, int] = field(default_factory=dict)
    violation: dict[str, float] = field(default_factory=dict)
    traj: dict[str, np.ndarray] = field(default_factory=dict)
    stages: list = field(default_factory=list)

    def __getattr__(self, name):
        traj = self.__dict__.get("traj", {})
        if name in traj:
            return traj[name]
        raise AttributeError(name)

    @property
    def length_m(self) -> float:
        """Closed length of the centre line (m)."""
        return float(self.traj["s"][1] * len(self.traj["s"]))

    def summary(self) -> str:
        """One line: outcome, lap time, iterations and the active constraint groups."""
        act = ", ".join(f"{k}={v}" for k, v in self.active.items() if v) or "none"
        if self.converged:
            return (
                f"{self.track_name}: lap {self.lap_time_s:.3f} s ({self.status}, {self.iterations} it, "
                f"{self.solve_s:.1f} s); active constraints (nodes): {act}"
            )
        viol = ", ".join(f"{k}={v:.3g}" for k, v in self.violation.items() if v > 1e-6) or "none"
        return (
            f"{self.track_name}: NOT converged: {self.reason} [{self.status}] after {self.iterations} "
            f"iterations; active constraints (nodes): {act}; violated: {viol}"
        )

    def to_csv(self, path: str | Path) -> Path:
        """Write the optimal trajectory, one row per node, columns with units."""
        cols = [
            ("s", "s_m"),
            ("t", "t_s"),
            ("x", "x_m"),
            ("y", "y_m"),
            ("psi", "psi_rad"),
            ("vx", "vx_mps"),
            ("vy", "vy_mps"),
            ("r", "r_radps"),
            ("speed", "speed_mps"),
            ("n", "n_m"),
            ("xi", "xi_rad"),
            ("delta", "delta_rad"),
            ("Fx", "Fx_N"),
            ("ax", "ax_mps2"),
            ("ay", "ay_mps2"),
            ("grip_front", "grip_front"),
            ("grip_rear", "grip_rear"),
            ("kappa", "kappa_1pm"),
        ]
        data = np.column_stack([self.traj[k] for k, _ in cols])
        path = Path(path)
        np.savetxt(path, data, delimiter=",", header=",".join(c for _, c in cols), comments="", fmt="%.6g")
        return path


def _static_axle_loads(p: VehicleParams) -> tuple[float, float]:
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


# ------------------------------------------------------------------------------------------
# geometry helpers
# ------------------------------------------------------------------------------------------


def _periodic_interp(s_query, s_data, values, length):
    """Periodic linear interpolation of ``values`` sampled at ``s_data`` (m) on a loop of ``length``."""
    return np.interp(np.mod(s_query, length), s_data, values, period=length)


def _wrap(a):
    return (a + np.pi) % (2 * np.pi) - np.pi


def _path_curvature(xy: np.ndarray):
    """Arc length per segment (N,), heading (N,) and curvature (N,) of a closed polyline (N, 2)."""
    d_next = np.roll(xy, -1, axis=0) - xy
    seg = np.hypot(d_next[:, 0], d_next[:, 1])
    tang = np.roll(xy, -1, axis=0) - np.roll(xy, 1, axis=0)
    heading = np.arctan2(tang[:, 1], tang[:, 0])
    dh = _wrap(np.roll(heading, -1) - np.roll(heading, 1))
    ds2 = seg + np.roll(seg, 1)
    return seg, heading, dh / np.maximum(ds2, 1e-9)


def _smooth_periodic(x: np.ndarray, width: int) -> np.ndarray:
    if width <= 1:
        return x
    k = np.hanning(width + 2)[1:-1]
    k /= k.sum()
    pad = width
    xp = np.concatenate([x[-pad:], x, x[:pad]])
    return np.convolve(xp, k, mode="same")[pad:-pad]


def speed_profile(sigma_step_m, kappa, vehicle: VehicleParams, mu: float, v_max_mps: float | None = None):
    """Friction-limited speed profile along a closed path (forward-backward integration).

    Args:
        sigma_step_m: (N,) path length (m) from point ``k`` to point ``k+1`` (closed loop).
        kappa: (N,) path curvature (1/m).
        vehicle: mass, downforce, drag, power and force limits are used.
        mu: friction coefficient used for the point-mass friction ellipse (dimensionless).
        v_max_mps: optional speed cap (m/s); default the drag/power top speed.

    Returns:
        (N,) speed (m/s): the largest speed with ``m v^2 |kappa| <= mu (m g + c_down v^2)`` that
        can be reached by accelerating (drive force and power) and braking (brake force), each
        limited by the remaining grip of the friction circle.

    Source: the quasi-steady-state lap simulation of e.g. Brayshaw & Harrison 2005 / Kapania,
    Subosits & Gerdes 2016 ("A sequential two-step algorithm for fast generation of vehicle
    racing trajectories", Sec. 3).
    """
    p = vehicle
    kap = np.abs(np.asarray(kappa, float))
    if v_max_mps is None:
        v_max_mps = (p.P_max / max(p.c_drag, 1e-6)) ** (1.0 / 3.0) if p.c_drag > 0 else 120.0
        v_max_mps = min(v_max_mps, 150.0)
    denom = p.m * kap - mu * p.c_down
    with np.errstate(divide="ignore", invalid="ignore"):
        v_lat = np.where(denom > 0, np.sqrt(mu * p.m * p.g / np.maximum(denom, 1e-12)), np.inf)
    v = np.minimum(v_lat, v_max_mps)
    N = len(v)

    def grip_left(vk, k):
        a_tot = mu * (p.g + p.c_down * vk * vk / p.m)
        a_lat = vk * vk * kap[k]
        return np.sqrt(max(a_tot * a_tot - a_lat * a_lat, 0.0))

    start = int(np.argmin(v))
    for _ in range(2):  # two sweeps settle the periodic wrap-around
        for i in range(N):  # forward: acceleration
            k = (start + i) % N
            k1 = (k + 1) % N
            vk = v[k]
            drive = min(p.Fx_drive_max, p.P_max / max(vk, 1.0))
            a = min(drive / p.m, grip_left(vk, k)) - (p.c_drag * vk * vk) / p.m
            v[k1] = min(v[k1], math.sqrt(max(vk * vk + 2 * a * sigma_step_m[k], 0.0)))
        for i in range(N):  # backward: braking
            k1 = (start - i) % N
            k = (k1 - 1) % N
            vk1 = v[k1]
            a = min(p.Fx_brake_max / p.m, grip_left(vk1, k1)) + (p.c_drag * vk1 * vk1) / p.m
            v[k] = min(v[k], math.sqrt(vk1 * vk1 + 2 * a * sigma_step_m[k]))
    return v


# ------------------------------------------------------------------------------------------
# the NLP
# ------------------------------------------------------------------------------------------


@dataclass
class _Grid:
    s: np.ndarray
    ds: float
    kappa: np.ndarray
    kappa_mid: np.ndarray
    w_left: np.ndarray
    w_right: np.ndarray
    heading: np.ndarray
    length: float


def _make_grid(track, grid_m: float) -> _Grid:
    L = float(track.length_m)
    if not (np.isfinite(grid_m) and grid_m > 0):
        raise DriftError(f"grid_m must be a positive number of metres, got {grid_m!r}")
    N = max(int(round(L / grid_m)), 8)
    s = np.arange(N) * (L / N)
    s_tr = np.asarray(track.s, float)
    kappa = _periodic_interp(s, s_tr, np.asarray(track.kappa, float), L)
    heading_tr = np.asarray(track.heading, float)
    heading = np.arctan2(
        _periodic_interp(s, s_tr, np.sin(heading_tr), L), _periodic_interp(s, s_tr, np.cos(heading_tr), L)
    )
    kappa_mid = _periodic_interp(s + 0.5 * L / N, s_tr, np.asarray(track.kappa, float), L)
    return _Grid(
        s,
        L / N,
        kappa,
        kappa_mid,
        _periodic_interp(s, s_tr, np.asarray(track.w_left, float), L),
        _periodic_interp(s, s_tr, np.asarray(track.w_right, float), L),
        heading,
        L,
    )


def _initial_guess(track, grid: _Grid, vehicle: VehicleParams, mu: float, n_lo, n_hi):
    """Initial guess (N, 5) states and (N, 2) inputs from the race line and a speed profile."""
    N, L = len(grid.s), grid.length
    n0 = np.zeros(N)
    rl = getattr(track, "raceline", None)
    if rl is not None:
        s_rl, n_rl = track.project(np.asarray(rl.xy, float))
        s_rl, n_rl = np.asarray(s_rl, float), np.asarray(n_rl, float)
        order = np.argsort(s_rl)
        s_rl, n_rl = s_rl[order], n_rl[order]
        keep = np.concatenate([[True], np.diff(s_rl) > 1e-6])
        n0 = _periodic_interp(grid.s, s_rl[keep], n_rl[keep], L)
    n0 = np.clip(_smooth_periodic(n0, 5), n_lo + 0.1, n_hi - 0.1)
    # path of the guess, its heading relative to the centre line and its curvature
    xy = np.asarray(track.position(grid.s, n0), float)
    seg, hdg, kap_p = _path_curvature(xy)
    kap_p = _smooth_periodic(kap_p, 7)
    xi0 = _wrap(hdg - grid.heading)
    v = speed_profile(seg, kap_p, vehicle, 0.85 * mu)
    v = np.maximum(v, 5.0)
    p = vehicle
    r0 = v * kap_p
    # kinematic steering plus a little understeer
    delta0 = np.clip(p.L * kap_p, -0.9 * p.delta_max, 0.9 * p.delta_max)
    # longitudinal force from the profile's acceleration plus drag
    dv2 = (np.roll(v, -1) ** 2 - v**2) / (2 * seg)
    Fx0 = p.m * dv2 + p.c_drag * v * v + p.c_roll * p.m * p.g
    Fx0 = np.clip(Fx0, -0.8 * p.Fx_brake_max, np.minimum(0.95 * p.Fx_drive_max, 0.95 * p.P_max / v))
    Z = np.column_stack([v * np.cos(xi0) * 0 + v, np.zeros(N), r0, n0, xi0])
    U = np.column_stack([delta0, Fx0])
    return Z, U


def min_lap_time(
    track,
    vehicle: VehicleParams,
    tires: AxleTires | None = None,
    grid_m: float | None = None,
    config: LapTimeConfig | None = None,
    raise_on_failure: bool = True,
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

    Returns:
        :class:`LapTimeResult` with the lap time (s), the trajectory, the speed profile, the
        inputs and the grip usage per node.

    Raises:
        LapTimeError: not converged (the message gives IPOPT's status in words and the active and
            violated constraint groups; ``.result`` holds the last iterate).
        DriftError: tyres that cannot be evaluated on CasADi symbols, or a bad grid.
    """
    cfg = config or LapTimeConfig()
    if grid_m is not None:
        cfg = LapTimeConfig(**{**cfg.__dict__, "grid_m": float(grid_m)})
    p = vehicle
    tires = tires or default_tires(p)
    if not (getattr(tires.front, "casadi", True) and getattr(tires.rear, "casadi", True)):
        raise DriftError(
            f"tyre model {tires.name!r} cannot be evaluated on CasADi symbols; fit an "
            "ExpTanh or Pacejka model for the lap-time optimisation"
        )
    t0 = time.perf_counter()
    grid = _make_grid(track, cfg.grid_m)
    guess, iters, solve_s, build_s, stages = None, 0, 0.0, 0.0, []
    # coarse-to-fine: a solve on a coarse grid is cheap and gives the fine grid a near-optimal start
    if cfg.coarse_grid_m and cfg.coarse_grid_m > 1.5 * grid.ds:
        coarse = _make_grid(track, cfg.coarse_grid_m)
        out = _solve_on_grid(track, coarse, cfg, p, tires)
        iters += out["iterations"]
        solve_s += out["solve_s"]
        build_s += out["build_s"]
        stages.append((coarse.ds, out["status"], out["iterations"]))
        if out["converged"]:
            L = grid.length
            guess = (
                np.column_stack([_periodic_interp(grid.s, coarse.s, out["Z"][:, j], L) for j in range(5)]),
                np.column_stack([_periodic_interp(grid.s, coarse.s, out["U"][:, j], L) for j in range(2)]),
            )
    out = _solve_on_grid(track, grid, cfg, p, tires, guess=guess)
    iters += out["iterations"]
    solve_s += out["solve_s"]
    build_s += out["build_s"]
    stages.append((grid.ds, out["status"], out["iterations"]))
    status, converged = out["status"], out["converged"]
    traj = _trajectory(track, grid, out["Z"], out["U"], p, tires)
    # time stamps from the collocation scheme's own interval times
    traj["t"] = np.concatenate([[0.0], np.cumsum(out["dt"])[:-1]])
    last_lap = float(np.sum(out["dt"]))
    res = LapTimeResult(
        track_name=str(getattr(track, "name", "track")),
        grid_m=grid.ds,
        converged=converged,
        status=status,
        reason="" if converged else _REASONS.get(status, status),
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
    _ = t0
    if not converged and raise_on_failure:
        raise LapTimeError("minimum-lap-time solve failed: " + res.summary(), res)
    return res


def _solve_on_grid(
    track, grid: _Grid, cfg: LapTimeConfig, p: VehicleParams, tires: AxleTires, guess=None
) -> dict:
    """Build and solve the NLP on one grid; ``guess`` = (Z (N, 5), U (N, 2)) or None (race-line start)."""
    import casadi as ca

    t0 = time.perf_counter()
    mu_f, mu_r = float(tires.front.peak_mu), float(tires.rear.peak_mu)
    N, ds = len(grid.s), grid.ds
    half = 0.5 * p.width + cfg.wall_margin_m
    n_hi = grid.w_left - half
    n_lo = -(grid.w_right - half)
    if np.any(n_lo > n_hi):
        k = int(np.argmax(n_lo - n_hi))
        raise LapTimeError(
            f"the track is narrower than the car at s = {grid.s[k]:.0f} m: width "
            f"{grid.w_left[k] + grid.w_right[k]:.2f} m < car width {p.width:.2f} m + 2 x wall margin "
            f"{cfg.wall_margin_m:.2f} m; use a narrower car (width_m) or a smaller wall_margin_m"
        )
    Z0, U0 = _initial_guess(track, grid, p, min(mu_f, mu_r), n_lo, n_hi) if guess is None else guess
    Z0, U0 = np.array(Z0, float), np.array(U0, float)

    # --- scaling: decision variable w = value / scale ---
    v_ref = float(np.clip(np.max(Z0[:, 0]), 20.0, 100.0))
    z_scale = np.array(
        [v_ref, 0.1 * v_ref, 1.0, max(float(np.max(grid.w_left + grid.w_right)) / 2, 1.0), 0.3]
    )
    u_scale = np.array([max(p.delta_max, 1e-3), max(p.Fx_brake_max, p.Fx_drive_max, 1.0)])

    # --- one node's model in the s-domain, written on CasADi symbols via drift.vehicle ---
    zs, us, kap = ca.SX.sym("z", 5), ca.SX.sym("u", 2), ca.SX.sym("kappa")
    vx, vy, r, n, xi = (zs[i] for i in range(5))
    vel = ca.vertcat(vx, vy, r)
    frc = axle_forces(vel, us, p, tires, eps_split=cfg.split_eps_N)
    dv = body_derivatives(vel, us, p, tires, forces=frc)
    v_along = vx * ca.cos(xi) - vy * ca.sin(xi)
    dtds = (1 - n * kap) / v_along
    dz = ca.vertcat(dv * dtds, (vx * ca.sin(xi) + vy * ca.cos(xi)) * dtds, r * dtds - kap)
    fric_f = frc.Fxf / (mu_f * frc.Fzf)
    fric_r = frc.Fxr / (mu_r * frc.Fzr)
    node = ca.Function(
        "node",
        [zs, us, kap],
        [
            dz,
            dtds,
            ca.vertcat(
                fric_f,
                fric_r,
                us[1] * vx,
                v_along,
                frc.alpha_f,
                frc.alpha_r,
                (frc.Fxf**2 + frc.Fyf**2) / (mu_f * frc.Fzf) ** 2,
                (frc.Fxr**2 + frc.Fyr**2) / (mu_r * frc.Fzr) ** 2,
            ),
        ],
    )
    node_map = node.map(N)

    if cfg.graph not in ("mx", "sx"):
        raise DriftError(f"LapTimeConfig.graph must be 'mx' or 'sx', got {cfg.graph!r}")
    Sym = ca.MX if cfg.graph == "mx" else ca.SX
    W = Sym.sym("w", 7, N)
    Z = W[:5, :] * ca.DM(z_scale)
    U = W[5:, :] * ca.DM(u_scale)
    # cyclic shift: column k -> k+1 (node N is node 0)
    perm = list(range(1, N)) + [0]
    Z1, U1 = Z[:, perm], U[:, perm]
    kap_row = ca.DM(grid.kappa).T
    DZ, DT, PATH = node_map(Z, U, kap_row)
    # inputs held over each interval: the end point is evaluated with the interval's own input
    DZe, _, _ = node_map(Z1, U, kap_row[:, perm])
    DT1 = DT[:, perm]
    if cfg.scheme == "hermite_simpson":
        # separated Hermite-Simpson: midpoint states are variables (Betts 2010, Sec. 4.5.3)
        WM = Sym.sym("wm", 5, N)
        ZM = WM * ca.DM(z_scale)
        DZM, DTM, _ = node_map(ZM, U, ca.DM(grid.kappa_mid).T)
        defect = (Z1 - Z - ds / 6.0 * (DZ + 4.0 * DZM + DZe)) / ca.DM(z_scale)
        defect_mid = (ZM - 0.5 * (Z + Z1) - ds / 8.0 * (DZ - DZe)) / ca.DM(z_scale)
        dt_seg = ds / 6.0 * (DT + 4.0 * DTM + DT1)
        x_all = ca.vertcat(ca.vec(W), ca.vec(WM))
    elif cfg.scheme == "trapezoidal":
        defect = (Z1 - Z - 0.5 * ds * (DZ + DZe)) / ca.DM(z_scale)  # (5, N), scaled
        defect_mid = None
        dt_seg = 0.5 * ds * (DT + DT1)  # (1, N) seconds per interval
        x_all = ca.vec(W)
    else:
        raise DriftError(
            f"LapTimeConfig.scheme must be 'hermite_simpson' or 'trapezoidal', got {cfg.scheme!r}"
        )
    lap = ca.sum2(dt_seg)
    d_delta = U1[0, :] - U[0, :]
    d_Fx = U1[1, :] - U[1, :]
    rate = p.delta_rate_max * dt_seg
    T_guess = float(np.sum(ds / Z0[:, 0]))
    d_r = Z1[2, :] - Z[2, :]
    # rates in time: (change per interval / interval) ; integral of rate^2 dt = sum(change^2 / dt)
    # weights use the guess's interval times (a fixed, convex quadratic regulariser)
    v_guess = np.maximum(Z0[:, 0], cfg.v_min_mps)
    inv_dt = ca.DM(0.5 * (v_guess + np.roll(v_guess, -1)) / ds).T
    smooth = cfg.w_smooth * ca.sum2(
        inv_dt
        * (
            (d_delta / p.delta_rate_max) ** 2
            + (d_r / cfg.yaw_acc_ref_radps2) ** 2
            + (d_Fx * cfg.force_rise_s / u_scale[1]) ** 2
        )
    )
    J = (lap + smooth) / T_guess

    # constraint groups: name -> (expression (1, N) or (5, N), lower, upper)
    fmax = 1.0 - cfg.friction_margin
    Fz_static = _static_axle_loads(p)
    P_scale = max(p.P_max, 1.0)
    groups = {
        "dynamics": (defect if defect_mid is None else ca.vertcat(defect, defect_mid), 0.0, 0.0),
        "steer_rate_up": ((d_delta - rate) / p.delta_max, -ca.inf, 0.0),
        "steer_rate_down": ((-d_delta - rate) / p.delta_max, -ca.inf, 0.0),
        "friction_front": (PATH[0, :], -fmax, fmax),
        "friction_rear": (PATH[1, :], -fmax, fmax),
        "power": (PATH[2, :] / P_scale, -ca.inf, 1.0),
        "forward_speed": (PATH[3, :] / v_ref, cfg.v_min_mps / v_ref, ca.inf),
    }
    if cfg.grip_limit is not None:
        groups["grip_front"] = (PATH[6, :], -ca.inf, cfg.grip_limit**2)
        groups["grip_rear"] = (PATH[7, :], -ca.inf, cfg.grip_limit**2)
    if cfg.slip_limit is not None:
        a_f = cfg.slip_limit * peak_slip(tires.front, Fz_static[0])
        a_r = cfg.slip_limit * peak_slip(tires.rear, Fz_static[1])
        groups["slip_front"] = (PATH[4, :] / a_f, -1.0, 1.0)
        groups["slip_rear"] = (PATH[5, :] / a_r, -1.0, 1.0)
    if cfg.beta_limit is not None:
        tb = math.tan(cfg.beta_limit * peak_slip(tires.rear, Fz_static[1]))
        groups["sideslip"] = ((Z[1, :] - tb * Z[0, :]) / v_ref, -ca.inf, 0.0)
        groups["sideslip_neg"] = ((-Z[1, :] - tb * Z[0, :]) / v_ref, -ca.inf, 0.0)
    g_list, lbg, ubg, sizes = [], [], [], {}
    for name, (expr, lo, hi) in groups.items():
        e = ca.vec(expr)
        g_list.append(e)
        lbg.append(np.full(e.shape[0], lo))
        ubg.append(np.full(e.shape[0], hi))
        sizes[name] = e.shape[0]
    g = ca.vertcat(*g_list)
    lbg, ubg = np.concatenate(lbg), np.concatenate(ubg)

    # variable bounds (node-major: w = vec(W) stacks the 7 values of node 0, then node 1, ...)
    lbz = np.column_stack(
        [np.full(N, cfg.v_min_mps), np.full(N, -np.inf), np.full(N, -np.inf), n_lo, np.full(N, -np.pi / 2)]
    )
    ubz = np.column_stack(
        [np.full(N, np.inf), np.full(N, np.inf), np.full(N, np.inf), n_hi, np.full(N, np.pi / 2)]
    )
    lbu = np.column_stack([np.full(N, -p.delta_max), np.full(N, -p.Fx_brake_max)])
    ubu = np.column_stack([np.full(N, p.delta_max), np.full(N, p.Fx_drive_max)])
    lbw = np.column_stack([lbz / z_scale, lbu / u_scale]).ravel()
    ubw = np.column_stack([ubz / z_scale, ubu / u_scale]).ravel()
    Z0[:, 3] = np.clip(Z0[:, 3], n_lo, n_hi)
    U0[:, 0] = np.clip(U0[:, 0], -p.delta_max, p.delta_max)
    w0 = np.column_stack([Z0 / z_scale, U0 / u_scale]).ravel()
    w0 = np.clip(w0, lbw, ubw)

    if defect_mid is not None:  # midpoint states: bounds and guess from the neighbouring nodes
        lbm = (
            np.column_stack([lbz[:, :3], np.maximum(lbz[:, 3], np.roll(lbz[:, 3], -1)), lbz[:, 4]]) / z_scale
        )
        ubm = (
            np.column_stack([ubz[:, :3], np.minimum(ubz[:, 3], np.roll(ubz[:, 3], -1)), ubz[:, 4]]) / z_scale
        )
        wm0 = np.clip(0.5 * (Z0 + np.roll(Z0, -1, axis=0)) / z_scale, lbm, ubm)
        lbw, ubw, w0 = (np.concatenate([a, b.ravel()]) for a, b in ((lbw, lbm), (ubw, ubm), (w0, wm0)))
    nlp = {"x": x_all, "f": J, "g": g}
    warm = {"mu_init": cfg.warm_mu_init, "bound_push": 1e-6, "bound_frac": 1e-6} if guess is not None else {}
    opts = {
        "print_time": False,
        "ipopt": {
            "max_iter": int(cfg.max_iter),
            "tol": cfg.tol,
            "acceptable_tol": 1e-4,
            "acceptable_iter": 10,
            "print_level": int(cfg.print_level),
            "mu_strategy": cfg.mu_strategy,
            "max_wall_time": float(cfg.max_wall_s),
            "linear_solver": "mumps",
            "sb": "yes",
            "print_timing_statistics": "yes" if cfg.print_level >= 4 else "no",
            **warm,
        },
    }
    solver = ca.nlpsol("laptime", "ipopt", nlp, opts)
    build_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    sol = solver(x0=w0, lbx=lbw, ubx=ubw, lbg=lbg, ubg=ubg)
    solve_s = time.perf_counter() - t1
    stats = solver.stats()
    status = str(stats.get("return_status", "unknown"))
    converged = bool(stats.get("success", False)) or status in _CONVERGED

    w_all = np.array(sol["x"]).ravel()
    dt_val = np.array(ca.Function("dt", [x_all], [dt_seg])(w_all)).ravel()
    w, lbw, ubw = w_all[: 7 * N], lbw[: 7 * N], ubw[: 7 * N]
    Wn = w.reshape(N, 7)
    gval = np.array(sol["g"]).ravel()
    active, violation = _active_constraints(gval, lbg, ubg, sizes, w, lbw, ubw, N)
    return {
        "Z": Wn[:, :5] * z_scale,
        "U": Wn[:, 5:] * u_scale,
        "status": status,
        "converged": converged,
        "iterations": int(stats.get("iter_count", -1)),
        "solve_s": solve_s,
        "build_s": build_s,
        "active": active,
        "violation": violation,
        "dt": dt_val,
    }


def _active_constraints(gval, lbg, ubg, sizes, w, lbw, ubw, N):
    """Count nodes at which each constraint group is active or violated; largest violation per group."""
    active, violation = {}, {}
    i = 0
    for name, k in sizes.items():
        gv, lo, hi = gval[i : i + k], lbg[i : i + k], ubg[i : i + k]
        i += k
        viol = np.maximum(np.maximum(lo - gv, gv - hi), 0.0)
        violation[name] = float(np.max(viol)) if k else 0.0
        if name == "dynamics":
            active[name] = int(np.sum(viol.reshape(N, -1).max(axis=1) > 1e-6)) if False else 0
            continue
        tol = 1e-3 * np.maximum(1.0, np.abs(np.where(np.isfinite(hi), hi, lo)))
        at = (np.isfinite(hi) & (gv >= hi - tol)) | (np.isfinite(lo) & (gv <= lo + tol))
        active[name] = int(np.sum(at))
    # variable bounds: track edges, steering angle, drive and brake force
    Wv, Lo, Hi = w.reshape(N, 7), lbw.reshape(N, 7), ubw.reshape(N, 7)
    for name, col, side in (
        ("track_left", 3, "hi"),
        ("track_right", 3, "lo"),
        ("steer_max", 5, "both"),
        ("drive_force", 6, "hi"),
        ("brake_force", 6, "lo"),
    ):
        x, lo, hi = Wv[:, col], Lo[:, col], Hi[:, col]
        tol = 1e-3 * np.maximum(np.abs(hi), 1.0) if side != "lo" else 1e-3 * np.maximum(np.abs(lo), 1.0)
        if side == "hi":
            at, viol = x >= hi - tol, x - hi
        elif side == "lo":
            at, viol = x <= lo + tol, lo - x
        else:
            at, viol = (x >= hi - tol) | (x <= lo + tol), np.maximum(x - hi, lo - x)
        active[name] = int(np.sum(at))
        violation[name] = float(max(np.max(viol), 0.0))
    return active, violation


def _trajectory(track, grid: _Grid, Z, U, p: VehicleParams, tires: AxleTires) -> dict[str, np.ndarray]:
    """World-frame trajectory, time stamps, accelerations and grip usage of a node solution."""
    vx, vy, r, n, xi = Z.T
    delta, Fx = U.T
    kap = grid.kappa
    dtds = (1 - n * kap) / (vx * np.cos(xi) - vy * np.sin(xi))
    dt_seg = 0.5 * grid.ds * (dtds + np.roll(dtds, -1))
    t = np.concatenate([[0.0], np.cumsum(dt_seg)[:-1]])
    xy = np.asarray(track.position(grid.s, n), float)
    v = np.column_stack([vx, vy, r])
    frc = axle_forces(v, U, p, tires)
    dv = body_derivatives(v, U, p, tires, forces=frc)
    ax = dv[:, 0] - vy * r
    ay = dv[:, 1] + vx * r
    grip_f = np.hypot(frc.Fxf, frc.Fyf) / (float(tires.front.peak_mu) * frc.Fzf)
    grip_r = np.hypot(frc.Fxr, frc.Fyr) / (float(tires.rear.peak_mu) * frc.Fzr)
    return {
        "s": grid.s,
        "t": t,
        "x": xy[:, 0],
        "y": xy[:, 1],
        "psi": _wrap(grid.heading + xi),
        "vx": vx,
        "vy": vy,
        "r": r,
        "n": n,
        "xi": xi,
        "delta": delta,
        "Fx": Fx,
        "speed": np.hypot(vx, vy),
        "ax": ax,
        "ay": ay,
        "grip_front": grip_f,
        "grip_rear": grip_r,
        "kappa": kap,
        "w_left": grid.w_left,
        "w_right": grid.w_right,
        "dtds": dtds,
        "alpha_f": frc.alpha_f,
        "alpha_r": frc.alpha_r,
    }


# ------------------------------------------------------------------------------------------
# simulator check: replay the optimum in the simulator, tracked by a simple feedback law
# ------------------------------------------------------------------------------------------


@dataclass
class TrackingLap:
    """Outcome of :func:`simulate_tracking`.

    ``lap_time_s`` is NaN when the lap was not completed (``completed`` False, ``reason`` says
    why). ``max_lateral_error_m``: largest distance from the optimal line; ``t, x, y, vx, vy, r,
    delta, Fx, s_ref`` are the simulated signals (one row per control step).
    """

    lap_time_s: float
    completed: bool
    reason: str
    max_lateral_error_m: float
    max_speed_error_mps: float
    log: dict[str, np.ndarray]


def simulate_tracking(
    result: LapTimeResult,
    vehicle: VehicleParams,
    tires: AxleTires,
    dt_s: float = 0.01,
    substeps: int = 2,
    omega_n: float = 2.0,
    zeta: float = 0.9,
    k_v: float = 0.5,
    k_r: float = 0.6,
    cascade: bool = True,
    k_vy: float = 0.0,
    max_time_factor: float = 1.5,
    speed_scale: float = 1.0,
    traction_slip: float | None = None,
) -> TrackingLap:
    """Drive the optimal lap in the simulator: optimal inputs fed forward plus feedback.

    The car starts on the optimal state at ``s = 0`` (a flying lap) and is integrated with
    :func:`drift.vehicle.f` and :func:`drift.vehicle.rk4_step` (the simulator's model), inputs held
    for ``dt_s``. The controller looks up the reference at the nearest point of the optimal line
    (local search along it) and commands (a cascade: path loop outside, yaw-rate loop inside)

    ``delta = delta* + d_path - k_r (r - r_cmd) - k_vy (vy - vy*) / v`` with
    ``d_path = -(L / v^2) (omega_n^2 e_n + 2 zeta omega_n v e_psi)`` and
    ``r_cmd = r* + v d_path / L``,

    rate- and angle-limited (``delta*, Fx*`` held over each interval as in the OCP), and
    ``Fx = Fx* + k_v m (vx* - vx)`` (clipped to the drive, brake and power limits), with ``e_n``
    the lateral error (m, + left of the line), ``e_psi`` the yaw error (rad) and ``L`` the
    wheelbase. On the kinematic model (``e_n' = v e_psi``, ``e_psi' = r - r*``) the path loop
    makes the errors decay as a second-order system of natural frequency ``omega_n`` (rad/s) and
    damping ``zeta``; the yaw-rate loop (gain ``k_r``, rad per rad/s) makes the car produce the yaw
    rate ``r_cmd`` that this asks for even where the tyres are near their limit and the steering
    has lost authority. Because it damps ``r - r_cmd`` and not ``r - r*``, the yaw damping does
    not fight the path correction: with ``cascade=False`` (damping ``r - r*``, the earlier design)
    a high-speed yaw-rate loop of gain ``k_r v / L`` cuts the path loop's gain by ``1 + k_r v / L``
    (about 7 at 30 m/s with ``k_r = 0.6``), and on Catalunya the car drifts off the track in the
    final chicane; with the cascade every shared track completes within 0.1 % for ``k_r`` from
    0.3 to 1.0 (``benchmarks/laptime.py --k-r 0.3``, ``--no-cascade`` for the earlier design).
    ``k_r`` too small (0.1) lets the car spin under trail braking into the hairpins.

    ``speed_scale`` (< 1: a slower reference speed) and
    ``traction_slip`` (no drive force beyond the optimum's while the rear slip angle exceeds that
    multiple of the tyre's peak slip) are optional safety margins, off by default. The lap time
    is the time at which the reference point passes ``s = 0`` again (interpolated).

    Feasibility depends on the plan keeping a reserve: :class:`LapTimeConfig` ``grip_limit``
    (default 0.95) bounds each axle's combined grip usage; an optimum planned at 100 % of the
    friction circle (``grip_limit=None``) spins this tracker on the road courses.

    Sources: feedforward from the planned inputs plus path and yaw-rate feedback, cf. Kritayakirana
    & Gerdes, "Autonomous vehicle control at the limits of handling", IJVAS 10(4), 2012; the path
    loop's gains from the kinematic bicycle model (Rajamani, *Vehicle Dynamics and Control*, 2012,
    Sec. 2.2); the cascade (inner yaw-rate loop tracking the outer loop's command) is this
    module's design.
    """
    R = result.traj
    p = vehicle
    alpha_peak_r = peak_slip(tires.rear, _static_axle_loads(p)[1])
    N = len(R["s"])
    L = float(R["s"][1] * N)
    px, py, psi_ref = R["x"], R["y"], R["psi"]
    seg = np.hypot(np.roll(px, -1) - px, np.roll(py, -1) - py)
    x = np.array([px[0], py[0], psi_ref[0], R["vx"][0], R["vy"][0], R["r"][0]])
    fun = lambda xx, uu: f(xx, uu, p, tires)  # noqa: E731
    k = 0
    t = 0.0
    delta_prev = R["delta"][0]
    T_max = max_time_factor * result.last_lap_time_s
    s_prev_total = 0.0
    rows = []
    max_e = 0.0
    max_ev = 0.0
    completed, reason = False, "time limit"
    while t < T_max:
        # nearest segment of the optimal line near the previous index
        idx = (k + np.arange(-3, 12)) % N
        d2 = (px[idx] - x[0]) ** 2 + (py[idx] - x[1]) ** 2
        k = int(idx[int(np.argmin(d2))])
        # fractional position along segment k -> k+1 (or k-1 -> k)
        k1 = (k + 1) % N
        tx, ty = (px[k1] - px[k]) / seg[k], (py[k1] - py[k]) / seg[k]
        along = (x[0] - px[k]) * tx + (x[1] - py[k]) * ty
        if along < 0:
            k = (k - 1) % N
            k1 = (k + 1) % N
            tx, ty = (px[k1] - px[k]) / seg[k], (py[k1] - py[k]) / seg[k]
            along = (x[0] - px[k]) * tx + (x[1] - py[k]) * ty
        lam = float(np.clip(along / seg[k], 0.0, 1.0))
        e_n = -(x[0] - px[k]) * ty + (x[1] - py[k]) * tx
        s_total = (k + lam) * (L / N)
        if s_prev_total > 0.75 * L and s_total < 0.25 * L:
            # crossed the start line: interpolate the crossing time
            ds_step = (s_total + L) - s_prev_total
            frac = (L - s_prev_total) / max(ds_step, 1e-9)
            t_cross = t - dt_s + frac * dt_s
            completed, reason = True, ""
            rows.append((t, *x, delta_prev, 0.0, s_total))
            lap = t_cross
            break
        s_prev_total = s_total

        def lerp(a, ang=False, k=k, k1=k1, lam=lam):
            if ang:
                return a[k] + lam * _wrap(a[k1] - a[k])
            return (1 - lam) * a[k] + lam * a[k1]

        e_psi = _wrap(x[2] - lerp(psi_ref, ang=True))
        vx_ref = speed_scale * lerp(R["vx"])
        max_e = max(max_e, abs(e_n))
        max_ev = max(max_ev, abs(vx_ref - x[3]))
        n_here = lerp(R["n"]) + e_n
        if n_here > lerp(R["w_left"]) or -n_here > lerp(R["w_right"]):
            reason = f"left the track at s = {s_total:.0f} m (t = {t:.1f} s)"
            break
        v = max(x[3], 5.0)
        d_path = -p.L / v**2 * (omega_n**2 * e_n + 2 * zeta * omega_n * v * e_psi)
        r_cmd = lerp(R["r"]) + (v / p.L * d_path if cascade else 0.0)
        delta = R["delta"][k] + d_path - k_r * (x[5] - r_cmd) - k_vy * (x[4] - lerp(R["vy"])) / v
        delta = float(
            np.clip(delta, delta_prev - p.delta_rate_max * dt_s, delta_prev + p.delta_rate_max * dt_s)
        )
        delta = float(np.clip(delta, -p.delta_max, p.delta_max))
        Fx = R["Fx"][k] + k_v * p.m * (vx_ref - x[3])
        if traction_slip is not None and Fx > 0:
            # traction control: no drive force beyond the reference's while the rear slides more
            # than ``traction_slip`` x its peak slip angle (the rear is RWD; drive eats its grip)
            a_r = abs(float(slip_angles(max(x[3], 1.0), x[4], x[5], 0.0, p)[1]))
            excess = (a_r - traction_slip * alpha_peak_r) / (0.2 * alpha_peak_r)
            Fx = min(Fx, float(R["Fx"][k]) * float(np.clip(1.0 - excess, 0.0, 1.0)))
        Fx = applied_force(Fx, x[3], p)
        u = np.array([delta, Fx])
        rows.append((t, *x, delta, Fx, s_total))
        x = rk4_step(fun, x, u, dt_s, substeps)
        t += dt_s
        delta_prev = delta
        if not np.all(np.isfinite(x)) or x[3] < 1.0:
            reason = f"the car stopped or the state became invalid at t = {t:.1f} s"
            break
    else:
        lap = float("nan")
    if not completed:
        lap = float("nan")
    arr = np.array(rows)
    names = ("t", "x", "y", "psi", "vx", "vy", "r", "delta", "Fx", "s_ref")
    log = {nm: arr[:, i] for i, nm in enumerate(names)} if len(arr) else {nm: np.zeros(0) for nm in names}
    return TrackingLap(float(lap), completed, reason, max_e, max_ev, log)
