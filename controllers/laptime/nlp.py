"""The NLP: direct collocation of the lap in curvilinear coordinates, transcribed with CasADi and
solved by IPOPT on one grid (:func:`solve_on_grid`). The formulation is described in
:mod:`controllers.laptime`."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from controllers.laptime.config import LapTimeConfig, LapTimeError
from controllers.laptime.diagnostics import CONVERGED, active_constraints
from controllers.laptime.geometry import Grid
from controllers.laptime.initial_guess import initial_guess
from controllers.laptime.tyre_limits import peak_slip, static_axle_loads
from drift.errors import DriftError
from drift.vehicle import VehicleParams, axle_forces, body_derivatives
from tire_models import AxleTires


@dataclass(frozen=True)
class SolveProgress:
    """One IPOPT iteration, as reported to a ``progress`` callable.

    Attributes:
        grid_m: spacing of the grid being solved (m). iteration: IPOPT's iteration count.
        objective_s: the objective (lap time plus regulariser) at this iterate (s).
        infeasibility: largest constraint violation (scaled constraints, dimensionless).
    """

    grid_m: float
    iteration: int
    objective_s: float
    infeasibility: float


def _iteration_callback(ca, nx: int, ng: int, lbg, ubg, grid_m: float, scale_s: float, progress):
    """A CasADi callback that IPOPT calls once per iteration (option ``iteration_callback``)."""

    class Callback(ca.Callback):
        def __init__(self):
            ca.Callback.__init__(self)
            self.it = 0
            self.construct("laptime_progress", {})

        def get_n_in(self):
            return ca.nlpsol_n_out()

        def get_n_out(self):
            return 1

        def get_name_in(self, i):
            return ca.nlpsol_out(i)

        def get_name_out(self, i):
            return "ret"

        def get_sparsity_in(self, i):
            name = ca.nlpsol_out(i)
            if name == "f":
                return ca.Sparsity.scalar()
            if name in ("x", "lam_x"):
                return ca.Sparsity.dense(nx)
            if name in ("g", "lam_g"):
                return ca.Sparsity.dense(ng)
            return ca.Sparsity(0, 0)

        def eval(self, arg):
            g = np.asarray(arg[ca.nlpsol_out().index("g")]).ravel()
            viol = float(np.max(np.maximum(np.maximum(lbg - g, g - ubg), 0.0))) if g.size else 0.0
            f = float(arg[ca.nlpsol_out().index("f")])
            progress(SolveProgress(grid_m, self.it, f * scale_s, viol))
            self.it += 1
            return [0]

    return Callback()


def solve_on_grid(
    track,
    grid: Grid,
    cfg: LapTimeConfig,
    p: VehicleParams,
    tires: AxleTires,
    guess=None,
    progress: Callable[[SolveProgress], None] | None = None,
) -> dict:
    """Build and solve the NLP on one grid; ``guess`` = (Z (N, 5), U (N, 2)) or None (race-line start);
    ``progress`` is called with a :class:`SolveProgress` after every IPOPT iteration."""
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
    Z0, U0 = initial_guess(track, grid, p, min(mu_f, mu_r), n_lo, n_hi) if guess is None else guess
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
    Fz_static = static_axle_loads(p)
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
    if progress is not None:
        # kept in a local: CasADi holds only a reference, the callback must outlive the solve
        nx, ng = int(x_all.shape[0]), int(g.shape[0])
        callback = _iteration_callback(ca, nx, ng, lbg, ubg, ds, T_guess, progress)
        opts["iteration_callback"] = callback
    solver = ca.nlpsol("laptime", "ipopt", nlp, opts)
    build_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    sol = solver(x0=w0, lbx=lbw, ubx=ubw, lbg=lbg, ubg=ubg)
    solve_s = time.perf_counter() - t1
    stats = solver.stats()
    status = str(stats.get("return_status", "unknown"))
    converged = bool(stats.get("success", False)) or status in CONVERGED

    w_all = np.array(sol["x"]).ravel()
    dt_val = np.array(ca.Function("dt", [x_all], [dt_seg])(w_all)).ravel()
    w, lbw, ubw = w_all[: 7 * N], lbw[: 7 * N], ubw[: 7 * N]
    Wn = w.reshape(N, 7)
    gval = np.array(sol["g"]).ravel()
    active, violation = active_constraints(gval, lbg, ubg, sizes, w, lbw, ubw, N)
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
