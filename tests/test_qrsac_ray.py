"""QR-SAC with rollout workers (controllers.qrsac.workers): a worker's streams in the buffer, the stream cut
of a resumed run, two Ray workers filling the buffer while the learner updates and broadcasts its actor's
weights, and the clear error of --backend ray without Ray."""

import sys
import time

import numpy as np
import pytest
import torch

from controllers.qrsac import Agent, train
from controllers.qrsac.buffer import ReplayBuffer
from controllers.qrsac.workers import RolloutWorker, worker_seed
from drift.errors import DriftError
from tests.test_qrsac import tiny
from tests.test_racing_env import stadium

SHAPES = {"privileged": (365,), "proprio": (12,)}
DTYPES = {"privileged": np.float32, "proprio": np.float32}


@pytest.fixture(scope="module")
def oval():
    return stadium(straight=200.0, R=50.0, w=8.0)


def _add_rollout(buf: ReplayBuffer, ro: dict, offset: int) -> None:
    for t in range(len(ro["reward"])):
        o = {k: v[t] for k, v in ro["obs"].items()}
        buf.add(
            o,
            ro["action"][t],
            ro["reward"][t],
            ro["terminated"][t],
            ro["truncated"][t],
            ro["final_obs"][t],
            offset=offset,
        )


def test_worker_rollouts_fill_their_own_streams_without_crossing_resets(oval):
    # two workers as plain objects (no Ray): 3 cars each, streams 0-2 and 3-5 of one buffer
    cfg = tiny(workers=2, num_envs=3)
    kw = dict(track=oval, camera=False, max_episode_steps=7)
    buf = ReplayBuffer(600, 6, SHAPES, DTYPES, n_step=1, seed=0)
    workers = [RolloutWorker(cfg, SHAPES, kw, w, seed=0) for w in range(2)]
    assert worker_seed(0, 0) == 1000 and worker_seed(0, 1) == 2000
    assert not np.array_equal(workers[0].obs["privileged"], workers[1].obs["privileged"])
    rolls = [w.rollout(10, explore=True) for w in workers]
    for w, ro in enumerate(rolls):
        assert ro["obs"]["privileged"].shape == (10, 3, 365) and ro["action"].shape == (10, 3, 2)
        assert (ro["terminated"] | ro["truncated"]).any()  # episodes of 7 steps ended
        _add_rollout(buf, ro, offset=3 * w)
    assert (buf.count > 0).all()
    # each worker's rows are its own: the first row of stream 3 is worker 1's first observation
    np.testing.assert_array_equal(buf.obs["privileged"][3, 0], rolls[1]["obs"]["privileged"][0, 0])
    # a sampled next observation is never a reset observation (the first of an auto-reset episode)
    b = buf.sample(500)
    resets = {
        r["obs"]["privileged"][t + 1, car].tobytes()
        for r in rolls
        for t, car in zip(*np.nonzero(r["terminated"][:-1] | r["truncated"][:-1]), strict=True)
    }
    assert resets
    assert not any(b.next_obs["privileged"][i].tobytes() in resets for i in range(len(b.action)))
    # explore=False: the actor's stochastic actions, in [-1, 1]
    ro = workers[0].rollout(3, explore=False)
    assert np.all(np.abs(ro["action"]) <= 1.0)


def test_end_streams_closes_the_open_episode_as_a_truncation():
    # one car: observations 0, 1, 2 stored (2 the newest, its next observation lost), then the car restarts
    buf = ReplayBuffer(64, 1, {"proprio": (1,)}, {"proprio": np.float32}, n_step=3, seed=0)

    def step(v, r, term=False):
        buf.add(
            {"proprio": np.array([[v]], np.float32)},
            np.zeros((1, 2)),
            np.array([r]),
            np.array([term]),
            np.array([False]),
        )

    step(0, 1.0)
    step(1, 2.0)
    step(2, 4.0)
    buf.end_streams()
    step(10, 8.0)  # the new episode
    step(11, 16.0)
    b = buf.sample(300)
    seen = {
        float(b.obs["proprio"][i, 0]): (
            b.rewards[i].tolist(),
            b.truncated[i].tolist(),
            float(b.next_obs["proprio"][i, 0]),
        )
        for i in range(300)
    }
    F, T = False, True
    assert seen[0.0] == ([1.0, 2.0, 0.0], [F, T, F], 2.0)  # bootstraps from 2, never reaches 10
    assert seen[1.0] == ([2.0, 0.0, 0.0], [T, F, F], 2.0)
    assert seen[10.0] == ([8.0, 0.0, 0.0], [T, F, F], 11.0)  # the newest row ends the stored data
    assert set(seen) == {0.0, 1.0, 10.0}  # 2 is a final row now, 11 the newest
    count = buf.count.copy()
    buf.end_streams()
    buf.end_streams()  # idempotent
    np.testing.assert_array_equal(buf.count, count)


def test_backend_ray_without_ray_is_a_clear_error(oval, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(DriftError, match=r"pip install 'drift\[ray\]'"):
        train(tiny(workers=2), tmp_path / "r", 100, env_kwargs=dict(track=oval, camera=False), backend="ray")
    assert not (tmp_path / "r").exists()
    from drift.cli import run

    out = tmp_path / "cli"
    with pytest.raises(DriftError, match=r"pip install 'drift\[ray\]'"):
        run(["race", "train", "--track", "Monza", "--workers", "2", "--backend", "ray", "--out", str(out)])
    assert not out.exists()


def test_backend_and_workers_must_agree(oval, tmp_path):
    kw = dict(track=oval, camera=False)
    with pytest.raises(DriftError, match="need backend 'ray'"):
        train(tiny(workers=2), tmp_path / "a", 100, env_kwargs=kw)
    with pytest.raises(DriftError, match="backend must be one of local, ray"):
        train(tiny(), tmp_path / "b", 100, env_kwargs=kw, backend="mpi")
    pytest.importorskip("ray")
    with pytest.raises(DriftError, match="--workers N"):
        train(tiny(), tmp_path / "c", 100, env_kwargs=kw, backend="ray")


def test_two_ray_workers_fill_the_buffer_and_receive_the_weights(oval, tmp_path):
    ray = pytest.importorskip("ray", reason="Ray is optional: pip install 'drift[ray]'")
    from controllers.qrsac.workers import RayFleet

    t0 = time.perf_counter()
    # train() starts its own local Ray instance (address None) and shuts it down at the end
    cfg = tiny(workers=2, rollout_steps=10, broadcast_every=20, save_buffer=True)
    kw = dict(track=oval, camera=False, max_episode_steps=40)
    m = train(cfg, tmp_path / "r", 400, env_kwargs=kw, backend="ray")
    assert not ray.is_initialized()
    # 5 rounds of 2 workers x 4 cars x 10 steps; updates at utd 0.25 after 100 steps; broadcasts when the
    # updates pass 20, 40 and 60 (at the rounds ending at 240, 320 and 400 car steps: 35, 55, 75 updates)
    assert m["steps"] == 400 and m["updates"] == 75 and m["workers"] == 2 and m["broadcasts"] == 3
    assert m["episodes"] > 0
    ck = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)
    count = ck["buffer"]["arrays"]["count"].numpy()
    assert count.shape == (8,) and (count >= 50).all()  # every car of both workers: 50 steps + final rows

    # the fleet alone, in a Ray instance the caller started: rollouts, then the broadcast reaches both
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        torch.manual_seed(0)
        learner = Agent(cfg, SHAPES)
        fleet = RayFleet(cfg, SHAPES, kw, seed=0, actor_state=learner.actor.state_dict())
        fleet.start(5, explore=False)
        ros = fleet.collect()
        assert [r["index"] for r in ros] == [0, 1] and all(r["reward"].shape == (5, 4) for r in ros)
        assert not np.array_equal(ros[0]["obs"]["privileged"], ros[1]["obs"]["privileged"])
        with torch.no_grad():
            for p in learner.actor.parameters():
                p.add_(0.5)
        before = fleet.weights()
        fleet.broadcast(learner.actor.state_dict())
        after = fleet.weights()
        want = learner.actor.state_dict()
        for w in after:
            assert all(torch.equal(w[k], want[k]) for k in want)
        assert not all(torch.equal(before[0][k], want[k]) for k in want)
        fleet.close()
        assert ray.is_initialized()  # the caller's instance stays
    finally:
        ray.shutdown()
    print(f"ray test: {time.perf_counter() - t0:.1f} s")


@pytest.mark.slow
def test_a_ray_run_resumes_from_its_checkpoint(oval, tmp_path):
    # about 30 s more (two Ray starts): a resumed Ray run continues from the checkpoint, not exactly (the
    # workers' cars restart in new episodes; the buffer's open episodes end as truncations)
    pytest.importorskip("ray", reason="Ray is optional: pip install 'drift[ray]'")
    cfg = tiny(workers=2, rollout_steps=10, broadcast_every=20, save_buffer=True)
    kw = dict(track=oval, camera=False, max_episode_steps=15)
    train(cfg, tmp_path / "r", 240, env_kwargs=kw, backend="ray")
    before = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)
    m = train(cfg, tmp_path / "r", 400, env_kwargs=kw, backend="ray", resume=True)
    assert m["steps"] == 400 and m["updates"] == 75 and m["broadcasts"] == 2  # at 40 and 60 updates
    after = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)
    assert after["counters"]["episodes"] > before["counters"]["episodes"]
    assert (after["buffer"]["arrays"]["count"] > before["buffer"]["arrays"]["count"]).all()
