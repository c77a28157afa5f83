"""Racing simulator: physics sanity, determinism, walls, lap timing, reward, batching, presets, CLI.

The gymnasium side (registration, time limit, bounds, info keys, vector conventions): test_racing_gym.py."""

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from drift.errors import ConfigError
from drift.racing import RacingConfig, RacingEnv, RacingSim, VecRacingEnv, load_config
from drift.racing.reward import TERMS, RewardWeights, load_reward_weights, reward_terms
from drift.racing.track import make_track
from drift.vehicle import load_vehicle


def stadium(straight=1500.0, R=150.0, w=6.0, ds=5.0):
    """Closed stadium track (counter-clockwise): two straights along x joined by half circles; s = 0 in
    the middle of the lower straight, driving towards +x."""
    n_s = int(straight / ds)
    n_c = int(np.pi * R / ds)
    a = np.stack([np.linspace(0, straight, n_s, endpoint=False), np.zeros(n_s)], 1)
    th = np.linspace(-np.pi / 2, np.pi / 2, n_c, endpoint=False)
    b = np.stack([straight + R * np.cos(th), R + R * np.sin(th)], 1)
    c = np.stack([np.linspace(straight, 0, n_s, endpoint=False), np.full(n_s, 2 * R)], 1)
    d = np.stack([R * np.cos(th + np.pi), R + R * np.sin(th + np.pi)], 1)
    xy = np.roll(np.vstack([a, b, c, d]), -n_s // 2, axis=0)  # start line in the middle of a straight
    return make_track(xy, np.full(len(xy), w), np.full(len(xy), w), name="stadium")


@pytest.fixture(scope="module")
def track():
    return stadium()


def cfg(**kw):
    base = dict(camera=False, integrator="rk4", physics_hz=100.0)
    base.update(kw)
    return RacingConfig(**base)


def test_check_env_passes_with_camera(track):
    env = RacingEnv(track=track, camera=True, image_px=32)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs["image"].shape == (32, 32, 3) and obs["image"].dtype == np.uint8
    assert obs["privileged"].shape == (6 * 59 + 11,)
    assert env.cfg.substeps == 10


def test_seed_determinism(track):
    def rollout(seed):
        env = RacingEnv.from_config(cfg(), track=track)
        obs, _ = env.reset(seed=seed)
        rng = np.random.default_rng(1)
        out = [obs["privileged"].copy()]
        rews = []
        for _ in range(20):
            obs, r, *_ = env.step(rng.uniform(-0.3, 1.0, 2).astype(np.float32))
            out.append(obs["privileged"].copy())
            rews.append(r)
        return np.array(out), np.array(rews)

    a, ra = rollout(5)
    b, rb = rollout(5)
    c, _ = rollout(6)
    assert np.array_equal(a, b) and np.array_equal(ra, rb)
    assert not np.allclose(a[0], c[0])


def coast_analytic(v0, t, p):
    """Speed of a car coasting straight: m dv/dt = -c_drag v^2 - c_roll m g (tanh(v/0.5) ~ 1)."""
    a, b = p.c_drag / p.m, p.c_roll * p.g
    k = np.sqrt(a * b)
    return np.sqrt(b / a) * np.tan(np.arctan(v0 * np.sqrt(a / b)) - k * t)


def test_coasting_slows_only_by_drag_and_rolling_resistance(track):
    sim = RacingSim(cfg(), 1, track=track)
    p = sim.p
    sim.reset(s_m=50.0, n_m=0.0, speed_mps=40.0, heading_err_rad=0.0)
    y0 = sim.x[0, 1]
    for _ in range(50):  # 5 s, zero steering, zero throttle
        sim.step(np.zeros((1, 2)))
    v = sim.x[0, 3]
    assert abs(v - coast_analytic(40.0, 5.0, p)) < 0.01
    assert abs(sim.x[0, 4]) < 1e-9 and abs(sim.x[0, 5]) < 1e-9 and abs(sim.x[0, 1] - y0) < 1e-4
    # the distance travelled equals the integral of the speed (energy is only lost to resistance)
    tt = np.linspace(0, 5, 2001)
    dist = np.trapezoid(coast_analytic(40.0, tt, p), tt)
    assert abs(sim.progress[0] - dist) < 0.05


def test_full_throttle_respects_power_limit(track):
    sim = RacingSim(cfg(), 1, track=track)
    p = sim.p
    sim.reset(s_m=50.0, n_m=0.0, speed_mps=20.0, heading_err_rad=0.0)
    for _ in range(30):
        sim.step(np.array([[0.0, 1.0]]))
    v = sim.x[0, 3]
    # kinetic energy gained <= P_max * t (drag and rolling resistance only take energy away)
    assert 0.5 * p.m * (v**2 - 20.0**2) <= p.P_max * 3.0
    assert v > 30.0
    # braking: decelerates, never reverses
    for _ in range(60):  # about 2.5 s of braking stop the car
        sim.step(np.array([[0.0, -1.0]]))
    assert 0.0 <= sim.x[0, 3] < 0.5


def test_a_sideways_slide_keeps_its_momentum(track):
    # a spin at speed: vx ~ 0, vy = 30 m/s. Friction slows the slide at most at the grip limit; walking-pace
    # kinematics (which would set vy from vx) must not apply and stop the car in one step
    sim = RacingSim(cfg(), 1, track=track)
    sim.reset(s_m=100.0, n_m=0.0, speed_mps=0.0, heading_err_rad=0.0)
    x = sim.x[0].copy()
    x[3:6] = [0.5, 30.0, 0.0]
    sim.set_state(x[None])
    _, _, info = sim.step(np.array([[0.0, 0.0]]))
    p = sim.p
    a_max = max(sim.mu_f, sim.mu_r) * (p.g + p.c_down * 30.0**2 / p.m)  # friction, weight and downforce
    assert 30.0 - a_max * 0.1 - 0.5 <= info["speed_mps"][0] < 30.0


def test_reward_terms_reported_and_summed(track):
    env = RacingEnv.from_config(cfg(), track=track)
    env.reset(seed=0, options={"s_m": 100.0, "n_m": 0.0, "speed_mps": 30.0, "heading_err_rad": 0.0})
    _, r, _, _, info = env.step(np.array([0.2, 0.5], np.float32))
    w, raw = info["reward_terms"], info["reward_terms_unweighted"]
    assert set(w) == set(raw) == set(TERMS)
    assert np.isclose(r, sum(w.values()))
    weights = env.cfg.reward
    for t in TERMS:
        assert w[t] == pytest.approx((1.0 if t == "progress" else -1.0) * getattr(weights, t) * raw[t])
    assert info["progress_m"] == raw["progress"] == pytest.approx(3.0, abs=0.3)  # ~30 m/s for 0.1 s
    assert raw["steer_change"] > 0 and w["steer_change"] < 0 and raw["off_course"] == 0.0
    assert info["off_course"] is False and info["wall_contact"] is False
    # off course: a car far outside the boundary gets the time x speed penalty
    env.reset(seed=0, options={"s_m": 100.0, "n_m": 7.0, "speed_mps": 10.0, "heading_err_rad": 0.0})
    _, _, _, _, info = env.step(np.zeros(2, np.float32))
    assert info["off_course"] is True
    assert info["reward_terms_unweighted"]["off_course"] == pytest.approx(0.1 * info["speed_mps"])
    assert info["reward_terms"]["off_course"] == pytest.approx(-10.0 * 0.1 * info["speed_mps"])


def test_length_terms_count_full_scale_metres_on_a_scaled_track():
    """At 1:10 the terms in metres are divided by the scale (the weights are set for full-scale metres);
    the steering terms are dimensionless and stay as they are. Hand-computed, then in the f1tenth env."""
    hist = np.array([[0.1, 0.0, 0.0]])  # rad, newest first
    one = np.ones(1)
    _, w, raw = reward_terms(
        0.5 * one, 0.1 * one, 0.05 * one, 4.0 * one, 3.0 * one, hist, 0.4, 0 * one, 0 * one,
        RewardWeights(), length_scale=0.1,
    )
    expect = {"progress": 5.0, "off_course": 4.0, "wall": 1.5, "steer_change": 0.25, "steer_history": 0.25}
    assert {k: float(raw[k][0]) for k in expect} == pytest.approx(expect)
    assert float(w["progress"][0]) == pytest.approx(5.0) and float(w["off_course"][0]) == pytest.approx(-40.0)
    env = RacingEnv(preset="f1tenth", track="Norisring", camera=False)
    env.reset(seed=0, options={"s_m": 10.0, "n_m": 0.0, "speed_mps": 3.0, "heading_err_rad": 0.0})
    _, _, _, _, info = env.step(np.array([0.0, 0.5], np.float32))
    assert info["progress_m"] == pytest.approx(0.3, abs=0.05)  # ~3 m/s for 0.1 s, on the 1:10 track
    assert info["reward_terms_unweighted"]["progress"] == pytest.approx(info["progress_m"] / 0.1)
    zero = 0 * one
    for scale, delta_max in ((0.0, 0.4), (-0.1, 0.4), (0.1, 0.0)):
        with pytest.raises(ValueError, match="must be positive"):
            reward_terms(one, zero, zero, one, zero, hist, delta_max, zero, zero, RewardWeights(), scale)


def test_a_stuck_car_is_truncated_not_terminated(track):
    """Slower than stuck_speed_mps for stuck_time_s ends the episode as a truncation (a stopped car is
    not in a terminal state; learners bootstrap through it); losing max_backwards_m terminates."""
    env = RacingEnv.from_config(cfg(stuck_time_s=0.3), track=track)
    env.reset(options={"s_m": 100.0, "n_m": 0.0, "speed_mps": 0.0, "heading_err_rad": 0.0})
    ends = [env.step(np.array([0.0, -1.0], np.float32))[2:] for _ in range(3)]
    assert [(term, trunc, info["stuck"]) for term, trunc, info in ends] == [
        (False, False, False), (False, False, False), (False, True, True)
    ]
    env = RacingEnv.from_config(cfg(max_backwards_m=1.0), track=track)
    env.reset(options={"s_m": 100.0, "n_m": 0.0, "speed_mps": 20.0, "heading_err_rad": np.pi})
    _, _, term, trunc, info = env.step(np.array([0.0, 0.0], np.float32))
    assert (term, trunc, info["stuck"]) == (True, False, False)  # 2 m backwards


def test_reward_weights_default_is_vision_paper():
    w = load_reward_weights()
    assert (w.progress, w.off_course, w.wall, w.steer_change, w.steer_history) == (1.0, 10.0, 10.0, 3.0, 5.0)
    assert RewardWeights.from_dict(w.to_dict()) == w


def test_wall_contact_slows_and_stops_at_wall(track):
    sim = RacingSim(cfg(wall_margin_m=2.0), 1, track=track)
    sim.reset(s_m=100.0, n_m=0.0, speed_mps=30.0, heading_err_rad=0.3)  # aimed at the left wall
    hits, v, wall = [], [], []
    for _ in range(20):
        _, _, info = sim.step(np.array([[0.0, 0.3]]))
        hits.append(info["wall_contact"][0])
        wall.append((info["reward_terms_unweighted"]["wall"][0], info["reward_terms"]["wall"][0]))
        v.append(info["speed_mps"][0])
        wl, _ = sim.track.widths(sim.s)
        assert sim.n[0] <= wl[0] + 2.0 - 0.5 * sim.p.width + 1e-6
    k = int(np.argmax(hits))
    assert any(hits) and v[k] < v[k - 1]
    # the term charges the speed the car reached the wall with (about the last step's), not what is left
    assert wall[k][0] == pytest.approx(0.1 * v[k - 1], rel=0.03) and wall[k][0] > 0.1 * v[k]
    assert wall[k][1] == pytest.approx(-10.0 * wall[k][0])
    assert wall[k - 1] == (0.0, 0.0)
    # head-on (72 deg to the wall): the wall takes most of the speed, the penalty still sees all of it
    sim.reset(s_m=100.0, n_m=0.0, speed_mps=30.0, heading_err_rad=1.25)
    v_before = 30.0
    for _ in range(20):
        _, _, info = sim.step(np.array([[0.0, 0.0]]))
        if info["wall_contact"][0]:
            break
        v_before = info["speed_mps"][0]
    assert info["wall_contact"][0] and info["speed_mps"][0] < 0.5 * v_before
    assert info["reward_terms_unweighted"]["wall"][0] == pytest.approx(0.1 * v_before, rel=0.03)


def test_lap_timing_interpolated_within_step(track):
    p = load_vehicle("iac").replace(c_drag=0.0, c_roll=0.0)  # constant speed on a straight
    sim = RacingSim(cfg(), 1, track=track, vehicle=p)
    L = track.length_m
    sim.reset(s_m=L - 10.0, n_m=0.0, speed_mps=40.0, heading_err_rad=0.0)
    for _ in range(4):
        sim.step(np.zeros((1, 2)))
    assert sim.lap_start[0] == pytest.approx(10.0 / 40.0, abs=2e-4)  # 0.25 s: inside the 3rd step
    # teleport just before the line again: the next crossing completes a lap
    x = sim.x[0].copy()
    x[:2] = track.position(np.array([L - 6.0]), 0.0)[0]
    sim.set_state(x[None])
    assert sim.s[0] == pytest.approx(L - 6.0)
    t_tp = sim.t[0]
    for _ in range(3):
        _, _, info = sim.step(np.zeros((1, 2)))
        if info["lap_completed"][0]:
            assert info["lap_count"][0] == 1 and info["lap_time_s"][0] == sim.laps[0][0]
    assert sim.laps[0] == [pytest.approx(t_tp + 6.0 / 40.0 - 0.25, abs=2e-4)]
    assert sim.lap_valid[0] == [True]


def test_vectorised_env_batches_and_autoresets(track):
    env = VecRacingEnv.from_config(8, cfg(camera=True, image_px=16), track=track, max_episode_steps=3, seed=0)
    obs, _ = env.reset(seed=0)
    assert obs["proprio"].shape == (8, env.sim.proprio_dim) and obs["image"].shape == (8, 16, 16, 3)
    assert env.observation_space.contains(obs)
    starts = env.sim.s.copy()
    assert len(np.unique(np.round(starts, 3))) == 8  # random places
    for _ in range(3):
        obs, r, term, trunc, info = env.step(np.tile([0.0, 0.5], (8, 1)))
        assert r.shape == (8,)
    assert trunc.all() and not term.any() and info["_final_obs"].all()
    assert (env.sim.steps == 0).all() and not np.allclose(env.sim.s, starts)
    fresh = env.sim.observe()
    for k in obs:  # the returned observation is that of the reset cars, the last one is in final_obs
        assert np.array_equal(obs[k], fresh[k])
        assert not np.array_equal(np.stack([o[k] for o in info["final_obs"]]), fresh[k])
    # same cars stepped one by one give the same result as the batch
    sim_b = RacingSim(cfg(), 3, track=track, seed=1)
    sim_1 = RacingSim(cfg(), 1, track=track, seed=1)
    x0 = sim_b.x.copy()
    a = np.array([[0.1, 0.5], [-0.2, 1.0], [0.0, -0.5]])
    sim_b.step(a)
    for i in range(3):
        sim_1.x[:] = x0[i]
        sim_1.s[:], sim_1.n[:] = track.project(x0[i : i + 1, :2])
        sim_1.delta[:] = 0.0
        sim_1.step(a[i : i + 1])
        assert np.allclose(sim_1.x[0], sim_b.x[i])


def test_presets_load():
    c = load_config("f1tenth", camera=False)
    assert c.track_scale == 0.1 and c.vehicle == "f1tenth"
    assert load_config("iac").steering == "absolute"


@pytest.mark.parametrize("cls", [RacingEnv, VecRacingEnv])
def test_a_preset_brings_its_own_vehicle(cls):
    """``preset="f1tenth"`` alone drives the 1:10 car (the full-scale car would not fit its walls)."""
    env = cls(preset="f1tenth", track="Norisring", camera=False)
    assert env.sim.p.name == "f1tenth" and env.sim.cfg.track_scale == 0.1
    assert cls(track="Norisring", camera=False).sim.p.name == "iac"


@pytest.mark.parametrize("preset", ["iac", "f1tenth"])
def test_walls_lie_beyond_off_course(preset):
    """A car must be off course before its side reaches a wall, in every preset."""
    c = load_config(preset, camera=False)
    p = load_vehicle(c.vehicle)
    assert c.wall_margin_m * c.track_scale > p.width
    with pytest.raises(ConfigError, match="wall_margin_m"):
        RacingSim(c.replace(wall_margin_m=0.9 * p.width / c.track_scale), 1)
    with pytest.raises(ConfigError, match="wall_margin_m"):
        RacingEnv(preset, vehicle=c.vehicle, camera=False, wall_margin_m=0.9 * p.width / c.track_scale)


def test_rate_steering_limits_change(track):
    sim = RacingSim(cfg(steering="rate"), 1, track=track)
    sim.reset(s_m=100.0, n_m=0.0, speed_mps=20.0, heading_err_rad=0.0)
    sim.step(np.array([[1.0, 0.0]]))
    assert sim.delta_target[0] == pytest.approx(np.radians(3.0))
    sim.step(np.array([[1.0, 0.0]]))
    assert sim.delta_target[0] == pytest.approx(np.radians(6.0))


@pytest.mark.parametrize("model", ["fiala", "exptanh"])
def test_fitted_tyres_from_run_folder(track, tmp_path, model):
    from tire_models import REGISTRY, AxleTires
    from tire_models.io import save_tires

    if model not in REGISTRY:
        pytest.skip(f"{model} tyre model not available")
    p = load_vehicle("iac")
    cls = REGISTRY[model]
    tires = AxleTires(cls.initial_guess(4000.0, mu=p.mu), cls.initial_guess(3000.0, mu=p.mu))
    save_tires(tires, tmp_path)
    sim = RacingSim(cfg(), 2, track=track, tires=tmp_path)
    assert type(sim.tires.front) is cls
    sim.reset(s_m=[100.0, 200.0], n_m=0.0, speed_mps=30.0, heading_err_rad=0.0)
    for _ in range(5):
        sim.step(np.array([[0.1, 0.5], [-0.1, 0.5]]))
    assert np.all(np.isfinite(sim.x)) and np.all(sim.x[:, 3] > 25.0)
    assert sim.x[0, 5] > 0 > sim.x[1, 5]  # left steer turns left, right steer turns right


def test_lap_invalid_after_cutting_off_course(track):
    p = load_vehicle("iac").replace(c_drag=0.0, c_roll=0.0)
    sim = RacingSim(cfg(), 1, track=track, vehicle=p)
    L = track.length_m
    sim.reset(s_m=L - 10.0, n_m=0.0, speed_mps=40.0, heading_err_rad=0.0)
    for _ in range(4):
        sim.step(np.zeros((1, 2)))
    # jump 20 m beyond the left boundary (as if cutting across the grass) and back onto the track
    sim.x[0, :2] = track.position(np.array([sim.s[0]]), np.array([track.widths(sim.s[:1])[0][0] + 20.0]))[0]
    sim.step(np.zeros((1, 2)))
    assert sim.off[0]
    sim.x[0, :2] = track.position(np.array([L - 6.0]), 0.0)[0]
    sim.s[0] = L - 6.0
    for _ in range(3):
        sim.step(np.zeros((1, 2)))
    assert len(sim.laps[0]) == 1 and sim.lap_valid[0] == [False]


def test_cli_race_sim_on_track_file(tmp_path):
    import json

    from drift.cli import run

    tr = stadium(straight=300.0, R=60.0, w=6.0)
    raw = np.column_stack([tr.xy[::5], tr.w_right[::5], tr.w_left[::5]])
    path = tmp_path / "Oval.csv"
    np.savetxt(path, raw, delimiter=",", header="x_m,y_m,w_tr_right_m,w_tr_left_m", fmt="%.4f")
    out = tmp_path / "run"
    run(
        [
            "race",
            "sim",
            "--track",
            str(path),
            "--laps",
            "1",
            "--integrator",
            "euler",
            "--physics-hz",
            "95",  # rounded up to whole substeps: 10 per 0.1 s control step
            "--gif-frames",
            "4",
            "--out",
            str(out),
        ]
    )
    m = json.loads((out / "metrics.json").read_text())
    assert m["track"] == "Oval" and len(m["lap_times_s"]) == 1 and m["lap_valid"] == [True]
    assert m["off_course_s"] == 0.0 and m["max_slip_deg"] > 0.0
    assert m["physics_hz"] == pytest.approx(100.0) and m["control_hz"] == pytest.approx(10.0)
    # the lap takes at least the length over the top speed reached
    assert m["lap_times_s"][0] > m["track_length_m"] / m["max_speed_mps"]
    assert (out / "trajectory.png").stat().st_size > 0 and (out / "camera.gif").stat().st_size > 0


def test_cli_race_sim_bad_inputs_fail_before_a_run_folder(tmp_path):
    from drift.cli import run
    from drift.errors import DriftError

    out = tmp_path / "run"
    for args, msg in (
        (["--track", "Atlantis"], "unknown track 'Atlantis'"),
        (["--tires", str(tmp_path / "none")], "no such tyre file"),
        (["--driver", "ghost"], "unknown driver 'ghost'"),
        (["--integrator", "leapfrog"], "integrator must be"),
    ):
        with pytest.raises(DriftError, match=msg):
            run(["race", "sim", *args, "--out", str(out)])
        assert not out.exists(), args


def test_privileged_course_points_in_car_frame(track):
    c = cfg()
    env = RacingEnv.from_config(c, track=track)
    obs, _ = env.reset(options={"s_m": 400.0, "n_m": 1.0, "speed_mps": 70.0, "heading_err_rad": 0.0})
    n = c.n_ahead
    pts = obs["privileged"][: 6 * n].reshape(n, 3, 2) * c.v_ref_mps  # (time, left/centre/right, xy) in m
    ahead = 70.0 * np.linspace(c.horizon_min_s, c.horizon_max_s, n)  # up to 420 m
    on_straight = ahead < 300.0  # the straight goes on for ~350 m from s = 400
    assert np.allclose(pts[on_straight, 1, 0], ahead[on_straight], atol=0.05)  # centre: straight ahead
    assert np.allclose(pts[on_straight, 1, 1], -1.0, atol=0.05)  # car 1 m left of the centre line
    assert np.allclose(pts[on_straight, 0, 1], 6.0 - 1.0, atol=0.05)  # left boundary 6 m left of centre
    assert np.allclose(pts[on_straight, 2, 1], -6.0 - 1.0, atol=0.05)
    assert pts[-1, 1, 1] > 10.0  # the straight ends ~350 m ahead and the stadium turns left
    extra = obs["privileged"][6 * n :]
    assert extra[0] == pytest.approx(5.0 / 6.0, abs=1e-3) and extra[1] == pytest.approx(7.0 / 6.0, abs=1e-3)
    prop = obs["proprio"]
    assert prop[0] == pytest.approx(70.0 / c.v_ref_mps) and prop[1] == pytest.approx(70.0 / c.v_ref_mps)


def test_physical_commands_at_100_hz_drive_the_same_car_as_actions_at_10_hz():
    """One simulator core: ten 10 ms steps of step_controls (what sim_bridge_node does with a throttle
    command) give the state of one 0.1 s step of step(action), through a steering reversal, a spin and
    braking to a stop; the command history the ROS agent keeps equals the simulator's. (A track wide
    enough for the spin to miss the walls: contact is checked once per call, 10 ms against 0.1 s.)"""
    from drift.racing.observations import CommandHistory

    track = stadium(w=15.0)
    a_sim = RacingSim(cfg(), 1, track=track)
    b_sim = RacingSim(cfg(dt_s=0.01), 1, track=track)
    for s in (a_sim, b_sim):
        s.reset(s_m=50.0, n_m=0.0, speed_mps=25.0, heading_err_rad=0.0)
    hist = CommandHistory(a_sim.cfg, a_sim.p)
    actions = [[0.3, 1.0]] * 5 + [[-1.0, 0.5]] * 3 + [[0.2, -1.0]] * 5 + [[0.0, 0.4]] * 5 + [[0.0, -1.0]] * 20
    r_max = 0.0
    for a in actions:
        a_sim.step(np.array([a]))
        for _ in range(10):
            b_sim.step_controls([hist.target_rad(a)], [a[1]], "throttle")
        hist.record(a)
        np.testing.assert_allclose(b_sim.x, a_sim.x, rtol=0, atol=1e-9)
        np.testing.assert_allclose(b_sim.acc, a_sim.acc, rtol=0, atol=1e-9)
        assert hist.delta == pytest.approx(a_sim.delta[0], abs=1e-12)
        np.testing.assert_allclose(hist.hist, a_sim.hist[0], atol=1e-12)
        r_max = max(r_max, abs(a_sim.x[0, 5]))
    assert r_max > 2.0 and not a_sim.wall_hit.any()  # it spun, clear of the walls
    assert np.hypot(a_sim.x[0, 3], a_sim.x[0, 4]) < a_sim.cfg.v_kinematic_mps  # and braked to a stop
    with pytest.raises(Exception, match="kind"):
        b_sim.step_controls([0.0], [0.0], "percent")
