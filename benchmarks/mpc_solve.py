"""Drift NMPC benchmarks: solve time per control step, tracking with Fiala vs the fitted ExpTanh, robustness.

Parts (``--part``, default ``solvers,tracking``):

* ``solvers``: the SAME problem (the default N x 20 ms, the donut drift on the Pacejka plant, closed loop
  from the drift equilibrium, 4 s = 200 steps) solved by the chosen scheme (RTI: one Gauss-Newton
  SQP step per period, HPIPM) and by the alternatives (RTI with qrqp / osqp, sqpmethod to
  convergence, fatrop, IPOPT) and by do-mpc with IPOPT (a do-mpc 'discrete' model whose step is
  the same RK4 of the same CasADi dynamics, same cost; do-mpc has no input-rate constraints, so it
  gets the rate penalty only). Times are wall time of the whole controller call per step; medians,
  p99s and ratios against IPOPT and do-mpc measured in the same run.
* ``tracking``: donut and circle with the controller using (a) Fiala at nominal parameters (the
  paper's baseline), (b) ExpTanh fitted on 3 min of simulated drifting of the plant, (c) the plant's
  own Pacejka (a perfect model, the floor); RMSEs and the Fiala / ExpTanh ratio.
* ``sweep``: 20 donut runs (ExpTanh controller) with random initial offsets and plant mass and
  friction within +-10 %; worst RMSEs and spin-outs.
* ``wheel``: the loop on a car of another structure (:mod:`drift.vehicle.wheel_plant`: wheel speeds,
  combined-slip tyres, steering servo, load transfer): ExpTanh fitted on 3 min of that plant's own
  drifting log (:func:`controllers.mpc.drift_driver.simulate_drift_log`, the fit seed of the bench
  YAML), its peaks and -25 deg equilibrium against the plant's own, then 10 donuts of 15 s from
  random straight entries with plant mass and friction within +-10 % (other seeds than the fit's),
  the fitted ExpTanh against nominal Fiala, with and without the offset-free estimate.

Run: ``OMP_NUM_THREADS=1 python benchmarks/mpc_solve.py [--part solvers,tracking,sweep]``.
Absolute times on a shared machine are noisy; compare the ratios.
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time

import numpy as np

from controllers.mpc import DriftMPC, EquilibriumReference, MPCConfig, circle_path, equilibrium_on_circle
from controllers.mpc.scenarios import (
    bench_settings,
    controller_tires,
    donut_sweep,
    fitted_tires,
    nominal_tires,
    run_scenario,
    scenario_config,
)
from drift.vehicle import f, load_vehicle, rk4_step
from drift.vehicle.tires import default_tires
from tire_models import AxleTires, Pacejka

STEPS = 200


def _closed_loop(step_fn, x0, plant_fun, path, steps=STEPS):
    """Run ``step_fn(x, k) -> u`` on the plant; wall time per call (ms) and the sideslip log."""
    x, ms, cpu, beta, e = x0.copy(), [], [], [], []
    s = 0.0
    for k in range(steps):
        t0, c0 = time.perf_counter(), time.thread_time()
        u = step_fn(x, k)
        ms.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.thread_time() - c0) * 1e3)
        x = rk4_step(plant_fun, x, u, 0.02, 4)
        beta.append(math.atan2(x[4], x[3]))
        s, ee, _ = path.project(x[0], x[1], x[2], s)
        e.append(ee)
    return np.array(ms), np.array(cpu), np.array(beta), np.array(e)


def _dompc_controller(mpc_ref: DriftMPC, eq, cfg: MPCConfig):
    """do-mpc (IPOPT) on the same discrete dynamics and cost as ``mpc_ref``; returns ``step(x, k) -> u``."""
    import casadi as ca
    import do_mpc

    model = do_mpc.model.Model("discrete")
    xv = model.set_variable("_x", "xv", (6, 1))
    u = model.set_variable("_u", "u", (2, 1))
    kappa = eq.r / eq.V
    model.set_rhs("xv", mpc_ref._F(xv, u, kappa, ca.DM.zeros(3)))
    model.setup()
    mpc = do_mpc.controller.MPC(model)
    mpc.settings.n_horizon = cfg.N
    mpc.settings.t_step = cfg.dt_s
    mpc.settings.store_full_solution = False
    mpc.settings.nlpsol_opts = {"ipopt.print_level": 0, "print_time": False, "ipopt.sb": "yes"}
    beta = ca.atan2(xv[1], xv[0])
    res = ca.vertcat(
        (beta - eq.beta) / cfg.tol_beta_rad,
        (xv[2] - eq.r) / cfg.tol_r_radps,
        (xv[0] - eq.vx) / cfg.tol_vx_mps,
        xv[3] / cfg.tol_e_m,
        (xv[4] + beta) / cfg.tol_course_rad,
    )
    ures = ca.vertcat((u[0] - eq.delta) / cfg.tol_delta_ref_rad, (u[1] - eq.Fxr) / cfg.tol_Fx_ref_N)
    mpc.set_objective(
        lterm=0.5 * ca.sumsqr(res) + 0.5 * ca.sumsqr(ures), mterm=0.5 * cfg.terminal_factor * ca.sumsqr(res)
    )
    mpc.set_rterm(u=np.array([0.5 / cfg.tol_ddelta_rad**2, 0.5 / cfg.tol_dFx_N**2]))
    lo, hi = mpc_ref.input_bounds(eq.vx)
    mpc.bounds["lower", "_u", "u"] = lo
    mpc.bounds["upper", "_u", "u"] = hi
    mpc.scaling["_x", "xv"] = mpc_ref.x_scale[:6]
    mpc.scaling["_u", "u"] = mpc_ref.u_scale
    mpc.setup()
    path = mpc_ref.path
    state = {"s": 0.0, "init": False}

    def step(x, k):
        s, e, dpsi = path.project(x[0], x[1], x[2], state["s"])
        state["s"] = s
        x0 = np.array([x[3], x[4], x[5], e, dpsi, 0.0]).reshape(-1, 1)
        if not state["init"]:
            mpc.x0 = x0
            mpc.u0 = eq.u.reshape(-1, 1)
            mpc.set_initial_guess()
            state["init"] = True
        return np.array(mpc.make_step(x0)).ravel()

    return step


def _import_acados(folder: str | None):
    """acados' Python template and libraries, from ``folder`` (a ``pip install --no-deps --target``
    of the ``comma-deps-acados`` wheel) or the environment; None where it is not installed.

    The folder is appended to ``sys.path``, so drift's own CasADi stays the one imported (the wheel
    vendors a reduced CasADi of its own)."""
    import ctypes
    import importlib
    import sys

    if folder and folder not in sys.path:
        sys.path.append(folder)
    try:
        acados = importlib.import_module("acados")
    except ImportError:
        return None
    os.environ.setdefault("ACADOS_SOURCE_DIR", acados.DIR)
    os.environ.setdefault("ACADOS_PYTHON_INTERFACE_PATH", acados.TEMPLATE_DIR)
    for lib in ("libblasfeo.so", "libhpipm.so", "libqpOASES_e.so.3.1"):  # before libacados loads them
        path = os.path.join(acados.LIB_DIR, lib)
        if os.path.exists(path):
            ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    return importlib.import_module("acados.acados_template")


def _acados_controller(at, mpc_ref: DriftMPC, eq, cfg: MPCConfig, build_dir: str):
    """acados SQP-RTI with HPIPM on the SAME problem as ``mpc_ref``: its discrete RK4 model, its stage
    and terminal residuals (nonlinear least squares, Gauss-Newton Hessian), its input, rate and speed
    bounds, its offset-free disturbance estimate; in physical units. Returns ``(step, solve_ms)``:
    ``step(x, k) -> u`` and the list of acados' own solve times (``time_tot``, ms)."""
    import casadi as ca

    N, dt = cfg.N, cfg.dt_s
    xs, us = mpc_ref.x_scale, mpc_ref.u_scale
    # x: drift's OCP state; p = [reference (7), disturbance (3)]
    x, u, p = ca.SX.sym("x", 7), ca.SX.sym("u", 2), ca.SX.sym("p", 10)
    model = at.AcadosModel()
    model.name = "drift_donut"
    model.x, model.u, model.p = x, u, p
    model.disc_dyn_expr = ca.vertcat(mpc_ref._F(ca.vertcat(x[0:5], 0), u, p[0], p[7:10])[0:5], u)
    model.cost_y_expr = mpc_ref._stage(x / xs, u / us, ca.DM.zeros(7), p[0:7], p[7:10])[0]
    model.cost_y_expr_e = mpc_ref._terminal(x / xs, p[0:7])
    ocp = at.AcadosOcp()
    ocp.model = model
    ocp.dims.N = N
    o = ocp.solver_options
    o.tf, o.integrator_type, o.nlp_solver_type = N * dt, "DISCRETE", "SQP_RTI"
    o.hessian_approx, o.qp_solver, o.qp_solver_cond_N = "GAUSS_NEWTON", "PARTIAL_CONDENSING_HPIPM", N
    ny, ny_e = model.cost_y_expr.shape[0], model.cost_y_expr_e.shape[0]
    ocp.cost.cost_type = ocp.cost.cost_type_e = "NONLINEAR_LS"
    ocp.cost.W, ocp.cost.W_e = np.eye(ny), np.eye(ny_e)
    ocp.cost.yref, ocp.cost.yref_e = np.zeros(ny), np.zeros(ny_e)
    ocp.parameter_values = np.zeros(10)
    lo, hi = mpc_ref.input_bounds(eq.vx)
    c = ocp.constraints
    c.idxbu, c.lbu, c.ubu = np.array([0, 1]), lo, hi
    # rate limits |u_k - u_{k-1}| <= rate dt: linear in (x_k, u_k), as in drift's problem
    c.C, c.D = np.hstack([np.zeros((2, 5)), -np.eye(2)]), np.eye(2)
    c.lg, c.ug = -mpc_ref.rate_per_step, mpc_ref.rate_per_step
    c.idxbx, c.lbx, c.ubx = np.array([0]), np.array([0.5]), np.array([1e3])  # vx > 0.5 m/s
    c.idxbx_e, c.lbx_e, c.ubx_e = np.array([0]), np.array([0.5]), np.array([1e3])
    c.x0 = np.zeros(7)
    ocp.code_export_directory = os.path.join(build_dir, "c_generated_code")
    cwd = os.getcwd()
    os.chdir(build_dir)  # acados builds in the working directory
    try:
        solver = at.AcadosOcpSolver(ocp, json_file=os.path.join(build_dir, "ocp.json"), verbose=False)
    finally:
        os.chdir(cwd)
    x_eq = np.r_[eq.vx, eq.vy, eq.r, 0.0, 0.0, eq.u]
    for k in range(N + 1):
        solver.set(k, "x", x_eq)
    for k in range(N):
        solver.set(k, "u", eq.u)
    path, d_max = mpc_ref.path, np.array(cfg.disturbance_max)
    st = {"s": None, "u": eq.u.copy(), "d": np.zeros(3), "v_pred": None}
    solve_ms = []

    def step(xm, k):
        s, e, dpsi = path.project(xm[0], xm[1], xm[2], st["s"])
        st["s"] = s
        v = xm[3:6]
        if st["v_pred"] is not None:  # the same offset-free estimate as DriftMPC
            st["d"] = np.clip(st["d"] + cfg.disturbance_gain * (v - st["v_pred"]) / dt, -d_max, d_max)
        x0 = np.r_[v, e, dpsi, st["u"]]
        ref = mpc_ref._refs(dt * k, s, v[0] * dt * np.arange(N + 1))
        for j in range(N + 1):
            solver.set(j, "p", np.r_[ref[j], st["d"]])
        solver.set(0, "lbx", x0)
        solver.set(0, "ubx", x0)
        lo, hi = mpc_ref.input_bounds(v[0])
        solver.constraints_set(0, "lbu", lo)
        solver.constraints_set(0, "ubu", hi)
        status = solver.solve()
        u_cmd = solver.get(0, "u")
        if status != 0 or not np.all(np.isfinite(u_cmd)):
            raise RuntimeError(f"acados status {status}")
        solve_ms.append(float(np.ravel(solver.get_stats("time_tot"))[0]) * 1e3)
        st["u"], st["v_pred"] = u_cmd, solver.get(1, "x")[0:3]
        return u_cmd

    return step, solve_ms


def part_solvers(p, plant, with_sqp=False, acados_dir=None):
    # the controller's model differs from the plant (perturbed Pacejka), so every solve has work to do
    ctrl = AxleTires(Pacejka(B=10.5, C=1.45, D=0.97, E=0.1), Pacejka(B=11.5, C=1.45, D=1.02, E=-0.4))
    eq = equilibrium_on_circle(p, ctrl, 15.0, math.radians(-30.0))
    path = circle_path(15.0)
    x0 = np.array([0.0, 0.0, -eq.beta, eq.vx, eq.vy, eq.r])

    def fun(xx, uu):
        return f(xx, uu, p, plant)

    variants = [
        ("rti+hpipm (chosen)", dict(solver="rti", qp_solver="hpipm")),
        ("rti+qrqp", dict(solver="rti", qp_solver="qrqp")),
        ("rti+osqp", dict(solver="rti", qp_solver="osqp")),
        ("fatrop", dict(solver="fatrop", max_iter=100)),
        *([("sqpmethod+qrqp", dict(solver="sqp", qp_solver="qrqp", max_iter=20))] if with_sqp else []),
        ("ipopt", dict(solver="ipopt", max_iter=100)),
    ]
    results = {}
    for name, kw in variants:
        cfg = MPCConfig(time_budget_ms=1e4, **kw)
        try:
            mpc = DriftMPC(
                p, ctrl, cfg, path=path, reference=EquilibriumReference(eq, path), u_init=eq.u
            ).setup()
            mpc.step(x0, 0.0)  # cold start outside the timing
            mpc.reset(eq.u)
            fb = []

            def step(x, k, mpc=mpc, fb=fb):
                u, d = mpc.step(x, 0.02 * k)
                fb.append(d.source != "mpc")
                return u

            ms, cpu, beta, e = _closed_loop(step, x0, fun, path)
            results[name] = (ms[1:], cpu[1:], beta, e, sum(fb))
        except Exception as ex:  # noqa: BLE001 - report and go on
            print(f"{name}: failed ({type(ex).__name__}: {str(ex)[:120]})")
    try:
        import do_mpc

        ref_mpc = DriftMPC(p, ctrl, MPCConfig(), path=path, reference=EquilibriumReference(eq, path)).setup()
        step = _dompc_controller(ref_mpc, eq, MPCConfig())
        ms, cpu, beta, e = _closed_loop(step, x0, fun, path)
        results[f"do-mpc {do_mpc.__version__} + ipopt"] = (ms[1:], cpu[1:], beta, e, 0)
    except ImportError:
        print("do-mpc not installed (pip install do-mpc): skipped")
    at = _import_acados(acados_dir)
    acados_ms = None
    if at is None:
        print(
            "acados not installed: skipped (pip install --no-deps --target DIR comma-deps-acados, then "
            "--acados-dir DIR)"
        )
    else:
        with tempfile.TemporaryDirectory() as build:
            ref_mpc = DriftMPC(
                p, ctrl, MPCConfig(), path=path, reference=EquilibriumReference(eq, path), u_init=eq.u
            ).setup()
            step, acados_ms = _acados_controller(at, ref_mpc, eq, MPCConfig(), build)
            step(x0, 0)  # first call outside the timing, as for drift's controllers
            acados_ms.clear()
            ms, cpu, beta, e = _closed_loop(step, x0, fun, path)
            results["acados rti+hpipm"] = (ms[1:], cpu[1:], beta, e, 0)
    print(f"\n== time per control step, N={MPCConfig().N} x 20 ms, closed-loop donut drift, {STEPS} steps ==")
    print("wall = elapsed time of the controller call; cpu = CPU time of the calling thread (robust to a")
    print("loaded machine; all solvers here run single-threaded)")
    print(
        f"{'scheme':28s} {'wall med':>9s} {'wall p99':>9s} {'cpu med':>8s} {'cpu p99':>8s}"
        f" {'beta RMSE deg':>14s} {'e RMSE m':>9s} {'fallbacks':>9s}"
    )
    for name, (ms, cpu, beta, e, nfb) in results.items():
        berr = np.degrees(np.sqrt(np.mean((beta - eq.beta) ** 2)))
        print(
            f"{name:28s} {np.median(ms):9.2f} {np.percentile(ms, 99):9.2f} {np.median(cpu):8.2f}"
            f" {np.percentile(cpu, 99):8.2f} {berr:14.3f} {np.sqrt(np.mean(e**2)):9.3f} {nfb:9d}"
        )
    if acados_ms:
        print(
            f"acados' own solve time (time_tot, without its Python interface): median "
            f"{np.median(acados_ms[1:]):.3f} ms, p99 {np.percentile(acados_ms[1:], 99):.3f} ms"
        )
    chosen = results.get("rti+hpipm (chosen)")
    if chosen is not None:
        for base in [n for n in results if n.startswith(("ipopt", "do-mpc", "acados"))]:
            for i, kind in ((0, "wall"), (1, "cpu")):
                r_med = np.median(results[base][i]) / np.median(chosen[i])
                r_p99 = np.percentile(results[base][i], 99) / np.percentile(chosen[i], 99)
                print(f"ratio {base} / chosen ({kind}): median x{r_med:.1f}, p99 x{r_p99:.1f}")
    return results


def _learned(p, settings, spec):
    if spec == "fit":
        return fitted_tires(p.name, settings)
    return controller_tires(spec, p, settings)


def part_tracking(p, plant, settings, spec="fit"):
    exptanh, src = _learned(p, settings, spec)
    print(f"\nexptanh controller model: {src}")
    models = {
        "fiala (nominal)": nominal_tires("fiala", p, settings),
        "exptanh (fitted)": exptanh,
        "pacejka (= plant)": plant,
    }
    rows = {}
    # with the offset-free disturbance estimate (the default) and without it (model quality alone)
    for dist in (MPCConfig().disturbance_gain, 0.0):
        for scen in ("donut", "circle"):
            for name, tires in models.items():
                cfg = MPCConfig(time_budget_ms=1e4, disturbance_gain=dist)
                out = run_scenario(scenario_config(scen), p, plant, tires, cfg)
                rows[(dist, scen, name)] = out["metrics"]
    for dist in (MPCConfig().disturbance_gain, 0.0):
        print(f"\n== tracking after convergence (Pacejka plant, sensor noise 1x), disturbance_gain {dist} ==")
        print(
            f"{'scenario':9s} {'controller model':20s} {'beta RMSE deg':>14s} {'r RMSE rad/s':>13s}"
            f" {'path RMSE m':>12s} {'spun':>5s}"
        )
        for (d, scen, name), m in rows.items():
            if d != dist:
                continue
            print(
                f"{scen:9s} {name:20s} {m['beta_rmse_deg']:14.3f} {m['r_rmse_radps']:13.4f}"
                f" {m['path_rmse_m']:12.3f} {m['spun_out']!s:>5s}"
            )
        for scen in ("donut", "circle"):
            a, b = rows[(dist, scen, "fiala (nominal)")], rows[(dist, scen, "exptanh (fitted)")]
            print(
                f"{scen}: Fiala / ExpTanh ratio: beta RMSE x{a['beta_rmse_deg'] / b['beta_rmse_deg']:.2f}, "
                f"path RMSE x{a['path_rmse_m'] / b['path_rmse_m']:.2f}"
            )
    return rows


def part_sweep(p, plant, settings, runs=20, seed=0, spec="fit"):
    exptanh, _ = _learned(p, settings, spec)
    rows = []
    for i, sc in enumerate(donut_sweep(runs, seed)):
        m = run_scenario(sc, p, plant, exptanh, MPCConfig(time_budget_ms=1e4))["metrics"]
        rows.append(m)
        print(
            f"run {i:2d}: mass x{sc.mass_factor:.3f} mu x{sc.mu_factor:.3f} "
            f"offset {np.round(sc.offset, 2)} -> "
            f"beta RMSE {m['beta_rmse_deg']:.2f} deg, path RMSE {m['path_rmse_m']:.3f} m, "
            f"spun {m['spun_out']}"
        )
    b = np.array([m["beta_rmse_deg"] for m in rows])
    e = np.array([m["path_rmse_m"] for m in rows])
    spun = sum(m["spun_out"] for m in rows)
    print(
        f"\n== robustness sweep ({runs} donuts): worst beta RMSE {np.nanmax(b):.2f} deg (target < 2), "
        f"worst path RMSE {np.nanmax(e):.3f} m (target < 0.5), spin-outs {spun} (target 0)"
    )
    return rows


def part_wheel(p, settings, runs=10, seed=1):
    from drift.vehicle.wheel_plant import WheelPlantParams, steady_state_on_circle

    w = WheelPlantParams()
    exptanh, src = fitted_tires(p.name, settings, plant="wheel")
    print(f"\nexptanh fitted on the wheel plant's drifting: {src}")
    print("\n== fitted peak friction against the plant's (pure lateral curve at the static load) ==")
    for axle, truth in (("front", w.front_lat.D), ("rear", w.rear_lat.D)):
        mu = float(getattr(exptanh, axle).peak_mu)
        print(f"{axle}: fitted {mu:.3f}, plant {truth:.3f} ({100 * (mu / truth - 1):+.1f} %, target 10 %)")
    beta = math.radians(-25.0)
    eq = equilibrium_on_circle(p, exptanh, 15.0, beta)
    ss = steady_state_on_circle(p, w, 15.0, beta, guess={"vx": eq.vx, "delta": eq.delta, "Fx": eq.Fxr})
    print(
        f"-25 deg on R 15 m: countersteer fitted {eq.delta:.4f} rad, plant {ss['delta']:.4f} rad "
        f"(diff {eq.delta - ss['delta']:+.4f}, target 0.03); drive force fitted {eq.Fxr:.0f} N, plant "
        f"{ss['Fx']:.0f} N ({100 * (eq.Fxr / ss['Fx'] - 1):+.1f} %, target 10 %)"
    )
    models = {"fiala (nominal)": nominal_tires("fiala", p, settings), "exptanh (fitted)": exptanh}
    scs = [sc.replace(duration_s=15.0, seed=seed + i) for i, sc in enumerate(donut_sweep(runs, seed))]
    res = {}
    for dist in (MPCConfig().disturbance_gain, 0.0):
        for name, tires in models.items():
            res[(dist, name)] = [
                run_scenario(sc, p, w, tires, MPCConfig(time_budget_ms=1e4, disturbance_gain=dist))["metrics"]
                for sc in scs
            ]
    for dist in (MPCConfig().disturbance_gain, 0.0):
        print(f"\n== {runs} donuts of 15 s on the wheel plant, mass, mu +-10 %, disturbance_gain {dist} ==")
        head = f"{'worst beta deg':>15s} {'mean beta deg':>14s} {'worst path m':>13s} {'spun':>5s}"
        print(f"{'controller model':20s} {head}")
        for name in models:
            ms = res[(dist, name)]
            b = np.array([m["beta_rmse_deg"] for m in ms])
            e = np.array([m["path_rmse_m"] for m in ms])
            print(
                f"{name:20s} {np.nanmax(b):15.2f} {np.nanmean(b):14.2f} {np.nanmax(e):13.3f} "
                f"{sum(m['spun_out'] for m in ms):5d}"
            )
        a = np.nanmean([m["beta_rmse_deg"] for m in res[(dist, "fiala (nominal)")]])
        b = np.nanmean([m["beta_rmse_deg"] for m in res[(dist, "exptanh (fitted)")]])
        print(f"Fiala / ExpTanh mean beta RMSE: x{a / b:.2f}")
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", default="solvers,tracking", help="comma list: solvers, tracking, sweep, wheel")
    ap.add_argument("--vehicle", default="sports")
    ap.add_argument("--runs", type=int, default=20, help="runs of the sweep")
    ap.add_argument(
        "--tires", default="fit", help="learned controller model: 'fit' (shipped or cached) or a run folder"
    )
    ap.add_argument("--with-sqp", action="store_true", help="also sqpmethod to convergence (~1 s per step)")
    ap.add_argument(
        "--acados-dir",
        default=os.environ.get("DRIFT_ACADOS_DIR"),
        help="folder holding acados' Python package (pip install --no-deps --target DIR comma-deps-acados)",
    )
    a = ap.parse_args()
    p = load_vehicle(a.vehicle)
    plant = default_tires(p)
    settings = bench_settings("default")
    parts = [s.strip() for s in a.part.split(",")]
    if "solvers" in parts:
        part_solvers(p, plant, a.with_sqp, a.acados_dir)
    if "tracking" in parts:
        part_tracking(p, plant, settings, a.tires)
    if "sweep" in parts:
        part_sweep(p, plant, settings, a.runs, spec=a.tires)
    if "wheel" in parts:
        part_wheel(p, settings)


if __name__ == "__main__":
    main()
