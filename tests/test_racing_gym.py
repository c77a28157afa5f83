"""The racing environments as gymnasium sees them: registration, time limit, observation bounds, info keys,
and the vector environment against gymnasium's own SyncVectorEnv."""

import inspect
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env, data_equivalence
from gymnasium.vector import AutoresetMode

from drift.errors import ConfigError, DriftError
from drift.racing import RacingEnv, RacingSim, VecRacingEnv, load_config
from drift.racing.observations import observation_bounds, top_speed_mps
from drift.racing.registration import ENVS, MAX_EPISODE_STEPS, register_envs
from drift.racing.reward import TERMS
from tests.test_racing_env import stadium


@pytest.fixture(scope="module")
def track():
    return stadium()


def test_make_from_a_fresh_interpreter():
    code = (
        "import gymnasium as gym\n"
        "env = gym.make('drift.racing:drift/Racing-v0', camera=False)\n"
        "obs, _ = env.reset(seed=0)\n"
        "print(env.spec.max_episode_steps, sorted(obs), env.spec.kwargs['track'], env.unwrapped.sim.p.name)\n"
        "import drift.racing\n"
        "print(gym.make('drift/RacingF1tenth-v0', camera=False).unwrapped.cfg.track_scale)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    first, second = res.stdout.split("\n")[:2]
    assert first == f"{MAX_EPISODE_STEPS} ['privileged', 'proprio'] Monza iac"
    assert second == "0.1"


def test_registered_kwargs_are_the_visible_defaults():
    register_envs()  # idempotent: a second call leaves the specs alone
    sig = inspect.signature(RacingEnv).parameters
    for env_id, kwargs in ENVS.items():
        spec = gym.spec(env_id)
        assert spec.kwargs == kwargs and spec.max_episode_steps == MAX_EPISODE_STEPS
        assert spec.entry_point == "drift.racing.env:RacingEnv"
        assert spec.vector_entry_point == "drift.racing.vector:VecRacingEnv"
        assert {"track", "vehicle", "camera", "tires", "preset"} <= set(kwargs)
    assert {k: sig[k].default for k in ENVS["drift/Racing-v0"]} == ENVS["drift/Racing-v0"]
    env = gym.make("drift/Racing-v0", camera=False, physics_hz=50.0)
    assert env.unwrapped.cfg.substeps == 5 and env.unwrapped.sim.camera is None
    with pytest.raises(ConfigError, match="unknown keys"):
        RacingEnv(camera=False, physic_hz=50.0)
    with pytest.raises(ConfigError, match="from_config"):
        RacingEnv(load_config("iac"))


def test_time_limit_truncates_and_the_simulator_has_none(track):
    env = gym.make("drift/Racing-v0", track=track, camera=False, max_episode_steps=5)
    env.reset(seed=0, options={"s_m": 100.0, "n_m": 0.0, "speed_mps": 30.0, "heading_err_rad": 0.0})
    flags = [env.step(np.array([0.0, 0.5], np.float32))[2:4] for _ in range(5)]
    assert flags == [(False, False)] * 4 + [(False, True)]
    assert not hasattr(env.unwrapped.cfg, "max_episode_steps")
    bare = RacingEnv(track=track, camera=False)  # no TimeLimit: never truncated
    bare.reset(seed=0, options={"s_m": 100.0, "n_m": 0.0, "speed_mps": 30.0, "heading_err_rad": 0.0})
    assert not any(bare.step(np.array([0.0, 0.3], np.float32))[3] for _ in range(MAX_EPISODE_STEPS // 100))


def test_a_second_time_limit_in_the_presets_is_refused(tmp_path):
    p = tmp_path / "env.yaml"
    p.write_text(f"iac:\n  vehicle: iac\n  max_episode_steps: {MAX_EPISODE_STEPS}\n")
    assert load_config("iac", path=p).vehicle == "iac"  # the same value: accepted
    p.write_text("iac:\n  vehicle: iac\n  max_episode_steps: 500\n")
    with pytest.raises(ConfigError, match="max_episode_steps"):
        load_config("iac", path=p)


@pytest.mark.parametrize("preset", ["iac", "f1tenth"])
def test_observations_stay_within_physical_bounds(preset):
    """Driven hard with random actions, no observation leaves its bounds (checked on unclipped values)."""
    c = load_config(preset, camera=False, max_backwards_m=1e9, stuck_time_s=1e9)
    sim = RacingSim(c, 64, seed=0)
    bounds = observation_bounds(sim)
    sim.obs_bounds = {
        k: (np.full_like(lo, -np.inf), np.full_like(hi, np.inf)) for k, (lo, hi) in bounds.items()
    }
    rng = np.random.default_rng(0)
    seen = {k: [] for k in bounds}
    for k in range(80):
        a = (
            np.column_stack([rng.uniform(-1, 1, 64), rng.uniform(-0.5, 1.0, 64)])
            if k % 10
            else np.zeros((64, 2))
        )
        sim.step(a)
        for name, v in sim.observe().items():
            seen[name].append(v)
    for name, (lo, hi) in bounds.items():
        v = np.concatenate(seen[name])
        assert np.all(v >= lo) and np.all(v <= hi), name
    # the bounds are physical, not arbitrary: speed up to the power-limited top speed
    p = sim.p
    v_top = top_speed_mps(p)
    assert bounds["proprio"][1][0] == pytest.approx(max(v_top, c.reset_speed_max_mps) / c.v_ref_mps, rel=1e-6)
    if preset == "iac":  # drag and rolling resistance use up P_max at ~77 m/s
        assert p.P_max == pytest.approx(v_top * (p.c_drag * v_top**2 + p.c_roll * p.m * p.g), rel=1e-6)
        assert 70.0 < v_top < 85.0 and bounds["proprio"][1][0] < 1.0


def test_observation_space_of_the_env_uses_the_bounds(track):
    env = RacingEnv(track=track, camera=False)
    lo, hi = observation_bounds(env.sim)["proprio"]
    assert np.array_equal(env.observation_space["proprio"].high, hi) and np.all(np.isfinite(hi))
    assert env.observation_space["proprio"].low[0] == 0.0  # speed is never negative
    assert np.all(np.abs(env.observation_space["privileged"].high) < 100.0)
    check_env(env, skip_render_check=True)


def test_info_keys_name_what_they_are(track):
    env = RacingEnv(track=track, camera=False)
    env.reset(seed=0, options={"s_m": 100.0, "n_m": 0.0, "speed_mps": 30.0, "heading_err_rad": 0.0})
    total = 0.0
    for _ in range(5):
        _, r, _, _, info = env.step(np.array([0.1, 0.5], np.float32))
        total += info["progress_m"]
        assert np.isclose(r, sum(info["reward_terms"].values()))
    for flag in ("off_course", "wall_contact", "lap_completed", "lap_valid"):
        assert type(info[flag]) is bool, flag
    assert set(info["reward_terms"]) == set(TERMS) == set(info["reward_terms_unweighted"])
    assert info["progress_total_m"] == pytest.approx(total) and 14.0 < total < 17.0  # ~30 m/s for 0.5 s
    assert type(info["lap_count"]) is int


def _vec_pair(track, mode, n=3, **kw):
    """Our batched env and gymnasium's SyncVectorEnv over gym.make'd single envs, same settings."""
    kw = dict(track=track, camera=False, max_episode_steps=5, **kw)
    ours = gym.make_vec(
        "drift/Racing-v0", num_envs=n, vectorization_mode="vector_entry_point", autoreset_mode=mode, **kw
    )
    theirs = gym.vector.SyncVectorEnv([lambda: gym.make("drift/Racing-v0", **kw)] * n, autoreset_mode=mode)
    return ours, theirs


@pytest.mark.parametrize("mode", [AutoresetMode.SAME_STEP, AutoresetMode.NEXT_STEP])
def test_vector_env_gives_what_sync_vector_env_gives(track, mode):
    # stuck below 25 m/s for 0.3 s truncates: the slower random starts are truncated at step 3, the others
    # by the time limit at step 5, so finished and running cars mix
    ours, theirs = _vec_pair(track, mode, stuck_speed_mps=25.0, stuck_time_s=0.3)
    assert isinstance(ours, VecRacingEnv) and ours.metadata["autoreset_mode"] == mode
    assert ours.max_episode_steps == 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the passive checker's notes on the single envs
        a, b = ours.reset(seed=7), theirs.reset(seed=7)
        assert data_equivalence(a, b)
        rng = np.random.default_rng(0)
        seen_stuck = seen_mixed = False
        for _ in range(12):
            act = np.column_stack([rng.uniform(-0.2, 0.2, 3), rng.uniform(-0.3, 0.3, 3)]).astype(np.float32)
            a, b = ours.step(act), theirs.step(act)
            for x, y, what in zip(a, b, ("obs", "reward", "terminated", "truncated", "info"), strict=True):
                assert data_equivalence(x, y), what
            assert not a[2].any()  # a stuck car's episode ends, but not in a terminal state
            seen_stuck |= bool(a[4].get("final_info", a[4]).get("stuck", np.zeros(1)).any())
            seen_mixed |= a[3].any() and not a[3].all()
    assert seen_mixed and seen_stuck
    assert "final_obs" not in a[4] or mode == AutoresetMode.SAME_STEP


def test_vector_env_partial_reset_and_disabled_autoreset(track):
    env = VecRacingEnv(4, track=track, camera=False, max_episode_steps=2, autoreset_mode="Disabled", seed=0)
    env.reset(seed=1)
    s0 = env.sim.s.copy()
    for _ in range(2):
        *_, trunc, info = env.step(np.zeros((4, 2)))
    assert trunc.all() and "final_obs" not in info and info["_speed_mps"].all()
    with pytest.raises(DriftError, match="reset_mask"):
        env.step(np.zeros((4, 2)))
    mask = np.array([True, False, True, False])
    env.reset(options={"reset_mask": mask})
    assert (env.sim.steps == np.where(mask, 0, 2)).all()
    env.reset(seed=1, options={"reset_mask": ~mask})  # car i reseeded with 1 + i: its start comes back
    assert np.allclose(env.sim.s[~mask], s0[~mask])


def test_bad_actions_are_refused_with_the_expected_form():
    from drift.errors import DriftError
    from drift.racing import RacingEnv, VecRacingEnv

    vec = VecRacingEnv(2, camera=False)
    vec.reset(seed=0)
    s_before = vec.sim.s.copy()
    for bad in (np.zeros(3), np.full((2, 2), np.nan)):
        with pytest.raises(DriftError, match=r"2 x \[steer, throttle_brake\], finite"):
            vec.step(bad)
    assert np.array_equal(vec.sim.s, s_before)  # nothing was stepped
    one = RacingEnv(camera=False)
    one.reset(seed=0)
    with pytest.raises(DriftError, match="finite"):
        one.step(np.array([np.inf, 0.0]))
