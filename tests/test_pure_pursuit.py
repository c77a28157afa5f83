"""Baseline driver: speed profile physics and a complete Monza lap without leaving the track."""

import numpy as np
import pytest

from controllers.baselines import PurePursuit, critical_speed, speed_profile
from drift.racing.env import RacingSim, load_config, run_laps
from drift.racing.track import make_path
from drift.vehicle import load_vehicle


def test_speed_profile_on_circle_is_friction_limit():
    R, mu = 100.0, 0.9
    th = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    path = make_path(np.stack([R * np.cos(th), R * np.sin(th)], 1))
    p = load_vehicle("iac").replace(c_down=0.0)
    v = speed_profile(path, p, mu)
    assert np.allclose(v, np.sqrt(mu * p.g * R), rtol=0.01)
    # downforce raises the cornering speed: v^2 / R = mu (g + c_down v^2 / m)
    p2 = load_vehicle("iac")
    v2 = speed_profile(path, p2, mu)
    expect = np.sqrt(mu * p2.g / (1 / R - mu * p2.c_down / p2.m))
    assert np.allclose(v2, expect, rtol=0.01)


def test_speed_profile_respects_braking_limit():
    # a long straight into a tight hairpin: the speed before the hairpin obeys v^2 <= v_c^2 + 2 a d
    L, R = 1000.0, 20.0
    n = 400
    a = np.stack([np.linspace(0, L, n, endpoint=False), np.zeros(n)], 1)
    th = np.linspace(-np.pi / 2, np.pi / 2, 60, endpoint=False)
    b = np.stack([L + R * np.cos(th), R + R * np.sin(th)], 1)
    c = np.stack([np.linspace(L, 0, n, endpoint=False), np.full(n, 2 * R)], 1)
    d = np.stack([R * np.cos(th + np.pi), R + R * np.sin(th + np.pi)], 1)
    path = make_path(np.vstack([a, b, c, d]))
    p = load_vehicle("iac").replace(c_down=0.0, c_drag=0.0, c_roll=0.0)
    mu = 1.0
    v = speed_profile(path, p, mu, v_max_mps=80.0)
    vc = np.sqrt(mu * p.g * R)
    a_brk = min(p.Fx_brake_max / p.m, mu * p.g)
    s = path.s
    i_entry = np.argmin(np.abs(s - (L - 5.0)))  # just before the hairpin
    dist = s[i_entry] - s[np.argmin(np.abs(s - 500.0))]
    assert v[np.argmin(np.abs(s - 500.0))] <= np.sqrt(v[i_entry] ** 2 + 2 * a_brk * dist) * 1.01
    # (the smoothed junction of straight and arc overshoots the curvature 1/R slightly)
    assert v.max() == pytest.approx(80.0) and v.min() == pytest.approx(vc, rel=0.05)


def test_critical_speed_of_oversteering_car():
    from drift.vehicle.tires import default_tires

    p = load_vehicle("f1tenth")
    v = critical_speed(p, default_tires(p))
    # linear theory with the Pacejka cornering stiffness B C D Fz (Fz static axle loads)
    Fzf, Fzr = p.m * p.g * p.lr / p.L, p.m * p.g * p.lf / p.L
    Cf, Cr = 12.0 * 1.5 * p.mu * Fzf, 11.0 * 1.5 * p.mu * Fzr
    K = p.m / p.L * (p.lr / Cf - p.lf / Cr)
    assert K < 0 and v == pytest.approx(np.sqrt(p.L / -K), rel=0.02)


def test_pure_pursuit_completes_monza_lap_on_track():
    # explicit Euler at 100 Hz keeps it fast; the RK4 lap time agrees to ~10 ms (see docs/laptime.md)
    cfg = load_config("iac", camera=False, integrator="euler")
    run = run_laps(PurePursuit(), laps=1, config=cfg, track="Monza")
    assert len(run.lap_times_s) == 1 and run.lap_valid == [True]
    assert run.off_course_s == 0.0 and run.wall_contact_s == 0.0
    assert not run.trajectory["off_course"].any()
    # a plausible lap: average speed between 30 and 80 m/s
    v_avg = run.track.length_m / run.lap_times_s[0]
    assert 30.0 < v_avg < 80.0
    assert run.max_slip_deg < 10.0


def test_pure_pursuit_batched_steering_points_at_race_line():
    sim = RacingSim(load_config("iac", camera=False), 2, seed=0)
    pp = PurePursuit()
    pp.reset(sim)
    s0 = 500.0
    sim.reset(s_m=[s0, s0], n_m=[3.0, -3.0], speed_mps=30.0, heading_err_rad=0.0)
    a = pp(sim)
    assert a.shape == (2, 2) and np.all(np.abs(a) <= 1.0)
    # displaced left of the line -> steer right (negative), and vice versa
    _, n_rl = sim.track.project(sim.track.raceline.position(sim.track.raceline.project(sim.x[:, :2])[0]))
    assert np.sign(a[0, 0]) == np.sign(n_rl[0] - 3.0) and np.sign(a[1, 0]) == np.sign(n_rl[1] + 3.0)


@pytest.mark.slow
def test_pure_pursuit_rk4_two_laps_and_f1tenth():
    run = run_laps(PurePursuit(), laps=2, config=load_config("iac", camera=False), track="Monza")
    assert len(run.lap_times_s) == 2 and all(run.lap_valid) and run.off_course_s == 0.0
    assert abs(run.lap_times_s[0] - run.lap_times_s[1]) < 1.0
    small = run_laps(PurePursuit(), laps=1, config=load_config("f1tenth", camera=False), track="Monza")
    assert len(small.lap_times_s) == 1


def test_pure_pursuit_follows_given_path_and_speed():
    from drift.racing.track import make_track

    # stadium track; the driver follows its centre line at a constant 20 m/s (given, not the profile)
    th = np.linspace(-np.pi / 2, np.pi / 2, 40, endpoint=False)
    a = np.stack([np.linspace(-150, 150, 60, endpoint=False), np.zeros(60)], 1)
    b = np.stack([150 + 60 * np.cos(th), 60 + 60 * np.sin(th)], 1)
    c = np.stack([np.linspace(150, -150, 60, endpoint=False), np.full(60, 120.0)], 1)
    d = np.stack([-150 + 60 * np.cos(th + np.pi), 60 + 60 * np.sin(th + np.pi)], 1)
    xy = np.roll(np.vstack([a, b, c, d]), -30, axis=0)
    tr = make_track(xy, np.full(len(xy), 6.0), np.full(len(xy), 6.0))
    pp = PurePursuit(path_xy=tr.xy[::3], speed_mps=np.full(len(tr.xy[::3]), 20.0))
    run = run_laps(
        pp,
        laps=1,
        config=load_config("iac", camera=False, integrator="euler"),
        track=tr,
        start_speed_mps=20.0,
    )
    assert run.lap_valid == [True] and run.off_course_s == 0.0
    assert run.lap_times_s[0] == pytest.approx(tr.length_m / 20.0, rel=0.02)
    assert np.abs(run.trajectory["n_m"]).max() < 1.0  # stays on the given path
