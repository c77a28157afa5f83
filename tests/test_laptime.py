"""Minimum-lap-time OCP: invariants on real tracks, an analytic circle, failure reporting, the CLI."""

import json
import math

import numpy as np
import pytest

from controllers.laptime import (
    LapTimeConfig,
    LapTimeError,
    check_problem_size,
    estimate_problem_size,
    min_lap_time,
    simulate_tracking,
    speed_profile,
)
from drift.errors import DriftError
from drift.racing.track import load_track, make_track, track_names
from drift.vehicle import load_vehicle
from drift.vehicle.tires import default_tires

IAC = load_vehicle("iac")
COARSE = LapTimeConfig(grid_m=12.0, coarse_grid_m=None)


def circle_track(radius_m=60.0, half_width_m=2.5, step_m=5.0, name="circle"):
    n = int(round(2 * math.pi * radius_m / step_m))
    a = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    xy = radius_m * np.column_stack([np.cos(a), np.sin(a)])  # counter-clockwise: a left turn
    w = np.full(n, half_width_m)
    return make_track(xy, w_right=w, w_left=w, name=name)


def _check_invariants(res, p, cfg):
    half = 0.5 * p.width + cfg.wall_margin_m
    tol = 1e-4
    assert res.converged and np.isfinite(res.lap_time_s)
    assert np.all(res.n <= res.w_left - half + tol) and np.all(res.n >= -(res.w_right - half) - tol)
    assert np.all(np.abs(res.delta) <= p.delta_max + tol)
    assert np.all(res.Fx <= p.Fx_drive_max + 1e-3) and np.all(res.Fx >= -p.Fx_brake_max - 1e-3)
    assert np.all(res.Fx * res.vx <= p.P_max * (1 + 1e-4))
    # combined grip stays within the planning reserve (and so within the tyre's friction circle)
    g_max = 1.0 if cfg.grip_limit is None else cfg.grip_limit
    assert max(res.grip_front.max(), res.grip_rear.max()) <= g_max + 1e-3
    # time stamps increase and add up to the lap time
    assert np.all(np.diff(res.t) > 0)
    assert res.t[-1] < res.lap_time_s < res.t[-1] + 2 * res.grid_m / res.speed.min()


@pytest.mark.parametrize("name", ["Norisring", "BrandsHatch"])
def test_real_tracks_coarse_grid(name):
    tr = load_track(name)
    res = min_lap_time(tr, IAC, config=COARSE)
    _check_invariants(res, IAC, COARSE)
    # faster than the quasi-steady point-mass lap on the race line at 85 % grip (the initial guess)
    seg = np.full(len(res.s), res.grid_m)
    kappa_rl = tr.interp(tr.raceline.kappa, tr.raceline.project(tr.position(res.s))[0])
    v_guess = speed_profile(seg, kappa_rl, IAC, IAC.mu, friction_margin=0.15)
    assert res.lap_time_s < np.sum(seg / v_guess)
    # the car uses the grip: somewhere at the friction limit, the power limit binds on straights
    assert max(res.grip_front.max(), res.grip_rear.max()) > COARSE.grip_limit - 0.01
    assert res.active["power"] > 0
    # plausible for a 370 kW, 790 kg car with mu 1.4: mean speed between 40 and 75 m/s
    assert 40.0 < tr.length_m / res.lap_time_s < 75.0


def _axle_limited_speed(p, mu_f, mu_r, R):
    """Largest steady speed (m/s) on radius ``R`` (m) that each axle's friction allows.

    Steady cornering with the yaw moment balanced shares the lateral force ``m v^2 / R`` between the
    axles as ``lr / L`` (front) and ``lf / L`` (rear); each share must stay below ``mu Fz`` with the
    axle loads of the same model (static split plus downforce, :func:`drift.vehicle.axle_loads`).
    """
    from drift.vehicle import axle_loads

    lo, hi = 1.0, 150.0
    for _ in range(80):
        v = 0.5 * (lo + hi)
        Fzf, Fzr = axle_loads(v, 0.0, p)
        need = p.m * v * v / R
        ok = need * p.lr / p.L <= mu_f * Fzf and need * p.lf / p.L <= mu_r * Fzr
        lo, hi = (v, hi) if ok else (lo, v)
    return lo


def test_circle_speed_approaches_the_steady_state_limit():
    """On a circle the optimum is steady cornering on the inner edge, at the axle friction limit.

    Bound from the same model (:func:`_axle_limited_speed`); the drive force that holds the speed
    against drag and rolling resistance takes a little of the rear tyre's friction circle and the
    steering angle tilts the front force, so the optimum lies just below the bound.
    """
    tr = circle_track(60.0, 2.5)
    cfg = LapTimeConfig(grid_m=6.0, coarse_grid_m=None)
    res = min_lap_time(tr, IAC, config=cfg)
    _check_invariants(res, IAC, cfg)
    half = 0.5 * IAC.width + cfg.wall_margin_m
    assert np.allclose(res.n, 2.5 - half, atol=0.05)  # hugs the inner (left) edge
    R = 1.0 / np.mean(tr.kappa) - res.n.mean()
    tires = default_tires(IAC)
    g = cfg.grip_limit  # the planner keeps this share of each axle's friction circle
    v_bound = _axle_limited_speed(IAC, g * tires.front.peak_mu, g * tires.rear.peak_mu, R)
    v = res.speed
    assert np.std(v) / np.mean(v) < 0.01  # steady
    assert np.all(v <= v_bound * 1.001)
    assert np.mean(v) > 0.97 * v_bound
    assert res.lap_time_s == pytest.approx(2 * math.pi * R / np.mean(v), rel=0.01)


def test_simulator_replays_the_optimum():
    tr = circle_track(60.0, 2.5)
    cfg = LapTimeConfig(grid_m=4.0, coarse_grid_m=None)
    res = min_lap_time(tr, IAC, config=cfg)
    sim = simulate_tracking(res, IAC, default_tires(IAC))
    assert sim.completed, sim.reason
    assert sim.lap_time_s == pytest.approx(res.lap_time_s, rel=0.02)


def test_axle_forces_split_smoothing_only_near_zero_force():
    """``eps_split`` of :func:`drift.vehicle.axle_forces` (used by the OCP at 200 N) keeps the
    simulator's default (1 N) bit for bit and changes the split by at most ``eps / 2`` at Fx = 0."""
    from drift.vehicle import axle_forces

    tires = default_tires(IAC)
    v = np.array([[30.0, 0.5, 0.2]] * 5)
    u = np.column_stack([np.full(5, 0.05), np.array([-5000.0, -100.0, 0.0, 100.0, 5000.0])])
    ref, same = axle_forces(v, u, IAC, tires), axle_forces(v, u, IAC, tires, eps_split=1.0)
    assert np.array_equal(ref.Fxf, same.Fxf) and np.array_equal(ref.Fyr, same.Fyr)
    wide = axle_forces(v, u, IAC, tires, eps_split=200.0)
    assert np.all(np.abs(wide.Fxf - ref.Fxf) <= 100.0 + 1e-9)
    assert abs(wide.Fxf[2] - ref.Fxf[2]) > 10.0  # the kink is smoothed
    # far from 0 the split is the same up to eps^2 / (4 |Fx|) = 2 N
    assert np.allclose(wide.Fxf[[0, 4]], ref.Fxf[[0, 4]], atol=2.0 + 1e-6)


def test_infeasible_problem_is_reported_with_its_reason():
    # an impossible constraint: at least 60 m/s on a 60 m circle needs 6 g of lateral grip
    tr = circle_track(60.0, 2.5)
    with pytest.raises(LapTimeError) as ei:
        min_lap_time(
            tr, IAC, config=LapTimeConfig(grid_m=10.0, coarse_grid_m=None, v_min_mps=60.0, max_iter=300)
        )
    res = ei.value.result
    assert not res.converged and math.isnan(res.lap_time_s)
    assert res.status in ("Infeasible_Problem_Detected", "Restoration_Failed")
    assert res.reason and res.reason in str(ei.value)
    assert "active constraints" in str(ei.value) and "violated" in str(ei.value)
    assert max(res.violation.values()) > 1e-3  # what is violated is reported, with its size


def test_car_wider_than_the_track_is_a_clear_error():
    tr = circle_track(60.0, 2.5)
    with pytest.raises(LapTimeError, match="narrower than the car"):
        min_lap_time(tr, IAC.replace(width=6.0), config=LapTimeConfig(grid_m=10.0, coarse_grid_m=None))


def test_iteration_limit_is_reported_not_returned():
    tr = circle_track(60.0, 2.5)
    res = min_lap_time(
        tr, IAC, config=LapTimeConfig(grid_m=10.0, coarse_grid_m=None, max_iter=2), raise_on_failure=False
    )
    assert not res.converged
    assert res.status == "Maximum_Iterations_Exceeded" and res.reason == "iteration limit reached"
    assert math.isnan(res.lap_time_s) and np.isfinite(res.last_lap_time_s)
    assert "NOT converged" in res.summary()


def _circle_track_file(folder):
    """A 60 m-radius circle written in the shared track-file format (x, y, right and left widths, m)."""
    tr = circle_track(60.0, 2.5)
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "Circle.csv"
    np.savetxt(
        csv,
        np.column_stack([tr.xy[::5], tr.w_right[::5], tr.w_left[::5]]),
        delimiter=",",
        header="x_m,y_m,w_tr_right_m,w_tr_left_m",
        comments="# ",
    )
    return csv


def test_cli_writes_run_folder(tmp_path):
    from drift.cli import run

    csv = _circle_track_file(tmp_path / "tracks")
    out = tmp_path / "run"
    run(["laptime", "--track", str(csv), "--grid-m", "6", "--no-baseline", "--out", str(out)])
    m = json.loads((out / "metrics.json").read_text())
    for key in ("lap_time_s", "solve_s", "iterations", "grid_m", "converged", "sim_lap_time_s"):
        assert key in m
    assert m["converged"] is True and m["lap_time_s"] > 0
    assert [st["status"] for st in m["stages"]] == ["Solve_Succeeded"] * len(m["stages"])
    assert sum(st["iterations"] for st in m["stages"]) == m["iterations"]
    assert abs(m["sim_lap_time_s"] / m["lap_time_s"] - 1) < 0.02
    for f in ("optimal_line.png", "speed.png", "optimal_lap.csv"):
        assert (out / f).stat().st_size > 0


@pytest.mark.slow
@pytest.mark.parametrize("name", track_names())
def test_all_tracks_converge_on_a_3m_grid_and_replay_in_the_simulator(name):
    """Issue 6's targets on every shared track: IPOPT converges on a 3 m grid (default settings,
    coarse-to-fine), and the default tracker drives the optimum in the simulator within 2 %."""
    tr = load_track(name)
    cfg = LapTimeConfig(grid_m=3.0)
    res = min_lap_time(tr, IAC, config=cfg)
    _check_invariants(res, IAC, cfg)
    sim = simulate_tracking(res, IAC, default_tires(IAC))
    assert sim.completed, sim.reason
    assert sim.lap_time_s == pytest.approx(res.lap_time_s, rel=0.02)


@pytest.mark.slow
def test_yaw_damping_without_the_cascade_loses_catalunya():
    """The earlier tracker (yaw damping of ``r - r*``, which fights the path correction) leaves
    the track in Catalunya's final chicane; the cascade (damping ``r - r_cmd``) completes it for
    yaw gains from 0.3 to 1.0."""
    tr = load_track("Catalunya")
    res = min_lap_time(tr, IAC, config=LapTimeConfig(grid_m=3.0))
    tires = default_tires(IAC)
    old = simulate_tracking(res, IAC, tires, cascade=False)
    assert not old.completed and "left the track" in old.reason
    for k_r in (0.3, 0.6, 1.0):
        sim = simulate_tracking(res, IAC, tires, k_r=k_r)
        assert sim.completed, (k_r, sim.reason)
        assert sim.lap_time_s == pytest.approx(res.lap_time_s, rel=0.02)


def test_hermite_simpson_agrees_with_trapezoidal_on_a_circle():
    tr = circle_track(60.0, 2.5)
    laps = {}
    for scheme in ("trapezoidal", "hermite_simpson"):
        res = min_lap_time(tr, IAC, config=LapTimeConfig(grid_m=6.0, scheme=scheme))
        assert res.converged
        laps[scheme] = res.lap_time_s
    assert laps["hermite_simpson"] == pytest.approx(laps["trapezoidal"], rel=2e-3)


def test_coarse_to_fine_is_the_default_and_reaches_the_same_optimum():
    """The default solves a 12 m grid first and warm-starts the fine grid from it; the fine
    optimum is the one a cold start on the fine grid finds."""
    tr = circle_track(60.0, 2.5)
    warm = min_lap_time(tr, IAC, config=LapTimeConfig(grid_m=4.0))
    cold = min_lap_time(tr, IAC, config=LapTimeConfig(grid_m=4.0, coarse_grid_m=None))
    assert [round(g) for g, _, _ in warm.stages] == [12, 4] and len(cold.stages) == 1
    assert warm.stages[0][1] == "Solve_Succeeded"
    assert warm.iterations == sum(it for _, _, it in warm.stages)
    assert warm.lap_time_s == pytest.approx(cold.lap_time_s, rel=1e-4)


def test_cli_failed_solve_writes_the_reason_and_exits_nonzero(tmp_path, capsys):
    from drift.cli import run

    csv = _circle_track_file(tmp_path)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as e:
        run(
            [
                "laptime",
                "--track",
                str(csv),
                "--grid-m",
                "10",
                "--max-iter",
                "2",
                "--no-baseline",
                "--out",
                str(out),
            ]
        )
    assert e.value.code == 1
    printed = capsys.readouterr().out
    assert "NOT converged" in printed and "iteration limit reached" in printed
    m = json.loads((out / "metrics.json").read_text())
    assert m["converged"] is False and m["lap_time_s"] is None and m["sim_lap_time_s"] is None
    assert m["reason"] == "iteration limit reached" and m["status"] == "Maximum_Iterations_Exceeded"
    assert isinstance(m["active_constraints"], dict)


def test_mx_and_sx_graphs_give_the_same_iterates():
    tr = circle_track(60.0, 2.5)
    out = {
        g: min_lap_time(tr, IAC, config=LapTimeConfig(grid_m=6.0, coarse_grid_m=None, graph=g))
        for g in ("mx", "sx")
    }
    assert out["mx"].iterations == out["sx"].iterations
    assert out["mx"].lap_time_s == pytest.approx(out["sx"].lap_time_s, rel=1e-9)
    assert np.allclose(out["mx"].speed, out["sx"].speed, rtol=1e-7)
    with pytest.raises(DriftError, match="graph"):
        min_lap_time(tr, IAC, config=LapTimeConfig(grid_m=10.0, graph="xx"))


def test_pure_pursuit_baseline_is_slower_than_the_optimum_on_a_circle():
    """The baseline driver (pure pursuit, racing simulator) drives a clean lap that the optimum
    beats; a clean lap reports no time off course and none at the wall."""
    from controllers.baselines import pure_pursuit_lap

    tr = circle_track(60.0, 2.5)
    base = pure_pursuit_lap(tr, IAC, default_tires(IAC))
    assert base is not None and base["valid"]
    assert base["off_course_s"] == 0.0 and base["wall_contact_s"] == 0.0
    res = min_lap_time(tr, IAC, config=LapTimeConfig(grid_m=6.0))
    assert res.lap_time_s < base["lap_time_s"] < 1.3 * res.lap_time_s
    assert np.all(np.diff(base["s"]) >= 0) and len(base["s"]) == len(base["speed"])


def test_a_grid_too_fine_for_the_memory_is_refused_before_it_is_built(monkeypatch):
    """Issue 16: ``--grid-m 0.01`` on Monza filled 24 GB and was killed; now it fails before any grid is
    built or solved and says why, with the estimate, the memory available and the smallest grid that fits."""
    import controllers.laptime.optimal_lap as optimal_lap

    def never(*a, **k):
        raise AssertionError("a grid was built although the problem cannot fit")

    monkeypatch.setattr(optimal_lap, "make_grid", never)
    monkeypatch.setattr(optimal_lap, "solve_on_grid", never)
    tr = load_track("Monza")
    with pytest.raises(LapTimeError) as ei:
        min_lap_time(tr, IAC, grid_m=0.01)
    msg = str(ei.value)
    assert "GB" in msg and "available" in msg and "smallest grid that fits" in msg
    assert isinstance(ei.value, DriftError)
    # the estimate: N = L / grid nodes of 7 variables, about 10 kB per variable
    size = estimate_problem_size(tr.length_m, LapTimeConfig(grid_m=0.01))
    assert size.nodes == round(tr.length_m / 0.01) and size.variables == 7 * size.nodes
    assert size.memory_bytes > 10e9
    # the default grid passes; on a 1 GB machine the suggested grid fits and a finer one does not
    assert check_problem_size(tr.length_m, LapTimeConfig()).nodes == round(tr.length_m / 3.0)
    with pytest.raises(LapTimeError, match="smallest grid") as small:
        check_problem_size(tr.length_m, LapTimeConfig(grid_m=0.1), available_bytes=10**9)
    g = float(str(small.value).split("fits is about ")[1].split(" m")[0])
    check_problem_size(tr.length_m, LapTimeConfig(grid_m=g), available_bytes=10**9)
    with pytest.raises(LapTimeError):
        check_problem_size(tr.length_m, LapTimeConfig(grid_m=0.8 * g), available_bytes=10**9)


@pytest.mark.parametrize("grid_m", [0.0, -3.0, math.nan, math.inf])
def test_non_positive_or_non_finite_grid_is_rejected(grid_m):
    with pytest.raises(LapTimeError, match="grid_m must be a positive, finite number"):
        LapTimeConfig(grid_m=grid_m)
    with pytest.raises(LapTimeError, match="grid_m"):
        min_lap_time(circle_track(), IAC, grid_m=grid_m)


def test_progress_reports_every_ipopt_iteration_and_the_tracking_lap():
    tr = circle_track(60.0, 2.5)
    calls = []
    res = min_lap_time(tr, IAC, config=LapTimeConfig(grid_m=6.0), progress=calls.append)
    # one call per iteration of each grid, iteration 0 included
    assert len(calls) == res.iterations + len(res.stages)
    assert [c.grid_m for c in calls][0] == pytest.approx(res.stages[0][0])
    last = calls[-1]
    assert last.grid_m == pytest.approx(res.grid_m) and last.iteration == res.stages[-1][2]
    assert last.infeasibility < 1e-6
    # the objective is the lap time plus a small regulariser
    assert res.lap_time_s <= last.objective_s < 1.01 * res.lap_time_s
    shares = []
    sim = simulate_tracking(res, IAC, default_tires(IAC), progress=shares.append)
    assert sim.completed and len(shares) >= 3
    assert all(0.0 <= x <= 1.0 for x in shares) and shares[-1] > 0.5
