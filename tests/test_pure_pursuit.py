"""Baseline driver: speed profile physics, look-ahead and slip compensation, valid laps on the tracks."""

import numpy as np
import pytest

from controllers.baselines import PurePursuit, critical_speed, pure_pursuit_lap, speed_profile
from drift.racing import RacingSim, load_config, run_laps
from drift.racing.track import make_path, track_names
from drift.vehicle import load_vehicle
from drift.vehicle.tires import default_tires
from tire_models import AxleTires
from tire_models.pacejka import Pacejka


def _profile(path, p, mu, **kw):
    return speed_profile(np.diff(np.append(path.s, path.length_m)), path.kappa, p, mu, **kw)


def test_speed_profile_on_circle_is_friction_limit():
    R, mu = 100.0, 0.9
    th = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    path = make_path(np.stack([R * np.cos(th), R * np.sin(th)], 1))
    p = load_vehicle("iac").replace(c_down=0.0)
    v = _profile(path, p, mu)
    assert np.allclose(v, np.sqrt(mu * p.g * R), rtol=0.01)
    # a friction margin m leaves (1 - m) mu: the speed drops by sqrt(1 - m)
    assert np.allclose(_profile(path, p, mu, friction_margin=0.2), np.sqrt(0.8 * mu * p.g * R), rtol=0.01)
    # downforce raises the cornering speed: v^2 / R = mu (g + c_down v^2 / m)
    p2 = load_vehicle("iac")
    v2 = _profile(path, p2, mu)
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
    v = _profile(path, p, mu, v_max_mps=80.0)
    vc = np.sqrt(mu * p.g * R)
    a_brk = min(p.Fx_brake_max / p.m, mu * p.g)
    s = path.s
    i_entry = np.argmin(np.abs(s - (L - 5.0)))  # just before the hairpin
    dist = s[i_entry] - s[np.argmin(np.abs(s - 500.0))]
    assert v[np.argmin(np.abs(s - 500.0))] <= np.sqrt(v[i_entry] ** 2 + 2 * a_brk * dist) * 1.01
    # (the smoothed junction of straight and arc overshoots the curvature 1/R slightly)
    assert v.max() == pytest.approx(80.0) and v.min() == pytest.approx(vc, rel=0.05)


def test_critical_speed_of_oversteering_car():
    # explicit oversteering tyres: the rear's cornering stiffness B C D per unit load is the lower one
    p = load_vehicle("f1tenth")
    tires = AxleTires(Pacejka(B=12.0, C=1.5, D=p.mu, E=0.3), Pacejka(B=11.0, C=1.5, D=p.mu, E=0.3))
    v = critical_speed(p, tires)
    # linear theory with the Pacejka cornering stiffness B C D Fz (Fz static axle loads)
    Fzf, Fzr = p.m * p.g * p.lr / p.L, p.m * p.g * p.lf / p.L
    Cf, Cr = 12.0 * 1.5 * p.mu * Fzf, 11.0 * 1.5 * p.mu * Fzr
    K = p.m / p.L * (p.lr / Cf - p.lf / Cr)
    assert K < 0 and v == pytest.approx(np.sqrt(p.L / -K), rel=0.02)
    # the default tyres understeer (K > 0): straight driving is stable at every speed
    assert critical_speed(p, default_tires(p)) == float("inf")


def test_slip_compensation_is_the_understeer_gradient():
    """For small lateral acceleration ``alpha_f - alpha_r = K a_y`` with the understeer gradient
    ``K = (m / L) (lr / Cf - lf / Cr)`` (Rajamani 2012, Sec. 3.3), ``C = B C D Fz`` for Pacejka tyres."""
    sim = RacingSim(load_config("iac", camera=False), 1, seed=0)
    pp = PurePursuit()
    pp.reset(sim)
    p = sim.p.replace(c_down=0.0)
    pp.vehicle = p
    tf, tr_ = default_tires(p).front, default_tires(p).rear
    Fzf, Fzr = p.m * p.g * p.lr / p.L, p.m * p.g * p.lf / p.L
    Cf, Cr = tf.B * tf.C * tf.D * Fzf, tr_.B * tr_.C * tr_.D * Fzr
    K = p.m / p.L * (p.lr / Cf - p.lf / Cr)
    v, kappa = np.array([20.0, 20.0]), np.array([1e-3, -1e-3])  # 0.4 m/s^2
    assert K > 0  # the default tyres understeer
    assert np.allclose(pp.slip_steer(kappa, v), K * v**2 * kappa, rtol=0.03)
    assert pp.slip_steer(np.array([0.0]), np.array([50.0]))[0] == 0.0


def test_lookahead_grows_with_speed_and_shrinks_in_corners():
    th = np.linspace(0, 2 * np.pi, 400, endpoint=False)
    R = 50.0
    pp = PurePursuit(lookahead_s=0.5, lookahead_min_m=8.0, corner_cut_m=0.5, lookahead_min_s=0.3)
    pp.path, pp.scale = make_path(np.stack([R * np.cos(th), R * np.sin(th)], 1)), 1.0
    s = np.zeros(3)
    ld = pp.lookahead(s, np.array([10.0, 40.0, 80.0]))
    # corner bound sqrt(2 cut R) = 7.1 m, below the minimum 8 m; the speed floor 0.3 v wins at speed
    assert np.allclose(ld, [8.0, 12.0, 24.0], rtol=0.02)
    straight = PurePursuit(lookahead_s=0.5, lookahead_min_m=8.0)
    straight.path, straight.scale = make_path(np.stack([R * 100 * np.cos(th), R * 100 * np.sin(th)], 1)), 1.0
    assert np.allclose(straight.lookahead(s[:2], np.array([10.0, 40.0])), [8.0, 20.0], rtol=0.02)


@pytest.mark.parametrize("track", ["Monza", "Oschersleben"])
def test_pure_pursuit_drives_a_valid_lap(track):
    # explicit Euler at 100 Hz keeps it fast (the slow test below drives every track with RK4);
    # Oschersleben: a long fast curve (understeer) into a braking chicane, where the old driver spun
    cfg = load_config("iac", camera=False, integrator="euler")
    run = run_laps(PurePursuit(), laps=1, config=cfg, track=track)
    assert len(run.lap_times_s) == 1 and run.lap_valid == [True]
    assert run.off_course_s == 0.0 and run.wall_contact_s == 0.0
    assert not run.trajectory["off_course"].any()
    # a plausible lap: average speed between 30 and 80 m/s, no slide
    v_avg = run.track.length_m / run.lap_times_s[0]
    assert 30.0 < v_avg < 80.0
    assert run.max_slip_deg < 10.0


@pytest.mark.slow
@pytest.mark.parametrize("track", track_names())
def test_pure_pursuit_valid_lap_on_every_track(track):
    """Issue 16: a valid lap (no time off course, RK4, default tyres) on every shipped track, with
    no slide (axle slip under 15 degrees) at a plausible pace."""
    run = run_laps(PurePursuit(), laps=1, config=load_config("iac", camera=False), track=track)
    assert run.lap_valid == [True] and run.off_course_s == 0.0 and run.wall_contact_s == 0.0
    assert run.max_slip_deg < 15.0
    assert 35.0 < run.track.length_m / run.lap_times_s[0] < 80.0


def test_pure_pursuit_lap_reports_validity_and_one_lap_of_speeds():
    lap = pure_pursuit_lap("Norisring", config=load_config("iac", camera=False, integrator="euler"))
    assert lap["valid"] and lap["off_course_s"] == 0.0
    assert np.all(np.diff(lap["s"]) >= 0) and len(lap["s"]) == len(lap["speed"])
    # the speeds of one lap at 10 Hz integrate to its time (within a step per segment)
    assert len(lap["s"]) == pytest.approx(10 * lap["lap_time_s"], abs=2)


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
