"""Rollout workers of QR-SAC on Ray: a fleet of simulators feeding one learner (GT Sophy's consoles).

Each worker (:class:`RolloutWorker`, run as a Ray actor) holds its own ``VecRacingEnv`` of ``num_envs``
cars, seeded ``seed + 1000 * (index + 1)``, and a CPU copy of the actor network. ``rollout(k, explore)``
steps ``k`` vector steps (uniform random actions while ``explore``, else the actor's stochastic ones) and
returns the transitions as the replay buffer stores them, with the per-step episode values the learner
logs. :class:`RayFleet` starts the workers (a local Ray instance, or a cluster at ``address``), runs their
rounds, broadcasts the actor's weights (``ray.put`` once, every worker reads it) and stops them.

The training loop that uses it is :func:`controllers.qrsac.train` (``workers > 0``, backend ``ray``).
Nothing here imports Ray until a fleet starts, so ``import drift`` never does.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from drift.errors import DriftError

__all__ = ["RolloutWorker", "RayFleet", "import_ray", "worker_seed"]


def import_ray():
    """The ``ray`` module, or a DriftError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise DriftError(
            "backend 'ray' needs Ray, which is not installed: pip install 'drift[ray]'"
        ) from None
    return ray


def worker_seed(seed: int, index: int) -> int:
    """Seed of worker ``index``'s cars, actions and sampling: streams differ and are reproducible."""
    return int(seed) + 1000 * (int(index) + 1)


class RolloutWorker:
    """One rollout worker: ``num_envs`` cars and the actor (plain class; :class:`RayFleet` makes it an actor).

    Args:
        config: the run's :class:`~controllers.qrsac.QRSACConfig`. shapes: one car's stored observation
            shapes. env_kwargs: the ``VecRacingEnv`` keywords (as :func:`controllers.qrsac.train` resolves
            them). index: worker number. seed: the run's seed (see :func:`worker_seed`).
        actor_state: the actor's initial ``state_dict`` (None: a fresh actor).
    """

    def __init__(self, config, shapes: dict, env_kwargs: dict, index: int, seed: int, actor_state=None):
        from controllers.qrsac.networks import Actor
        from drift.racing.vector import VecRacingEnv

        torch.set_num_threads(1)  # one core per worker
        s = worker_seed(seed, index)
        torch.manual_seed(s)
        self.index, self.config = int(index), config
        self.keys = config.stored_keys
        self.dtypes = {k: np.uint8 if k == "image" else np.float32 for k in self.keys}
        self.actor = Actor(config.actor_keys, shapes, config.hidden, config.image_features)
        if actor_state is not None:
            self.set_weights(actor_state)
        self.rng = np.random.default_rng(s)
        self.envs = VecRacingEnv(num_envs=config.num_envs, seed=s, autoreset_mode="SameStep", **env_kwargs)
        self.obs, _ = self.envs.reset(seed=s)

    def set_weights(self, actor_state: dict) -> None:
        self.actor.load_state_dict(actor_state)

    def get_weights(self) -> dict:
        return {k: v.detach().clone() for k, v in self.actor.state_dict().items()}

    @torch.no_grad()
    def rollout(self, k: int, explore: bool) -> dict[str, Any]:
        """Step ``k`` vector steps of the cars.

        Returns:
            dict: ``obs`` (dict of (k, B, ...) stored observations before each step, images uint8),
            ``action`` (k, B, 2), ``reward`` (k, B) unscaled, ``terminated``, ``truncated`` (k, B) bool,
            ``final_obs`` (k entries: None, or an object array of the finished cars' stored observations),
            ``values`` (k dicts of per-car episode values, as ``_step_values``), ``index``.
        """
        from controllers.qrsac.qrsac import _step_values, _tensors

        T, B = int(k), self.config.num_envs
        obs = {key: np.empty((T, B, *self.obs[key].shape[1:]), self.dtypes[key]) for key in self.keys}
        action = np.empty((T, B, 2))
        reward = np.empty((T, B))
        term = np.empty((T, B), bool)
        trunc = np.empty((T, B), bool)
        finals: list = []
        values: list = []
        for t in range(T):
            for key in self.keys:
                obs[key][t] = self.obs[key]
            if explore:
                a = self.rng.uniform(-1.0, 1.0, (B, 2))
            else:
                x = _tensors(self.obs, self.actor.keys, "cpu")
                a = self.actor.sample(x)[0].numpy().astype(np.float64)
            self.obs, reward[t], term[t], trunc[t], info = self.envs.step(a)
            action[t] = a
            fo = info.get("final_obs")
            if fo is not None:  # only the stored keys of the finished cars
                kept = np.full(B, None, dtype=object)
                for i in np.flatnonzero(term[t] | trunc[t]):
                    kept[i] = {key: fo[i][key] for key in self.keys}
                fo = kept
            finals.append(fo)
            values.append(_step_values(info))
        return dict(
            obs=obs,
            action=action,
            reward=reward,
            terminated=term,
            truncated=trunc,
            final_obs=finals,
            values=values,
            index=self.index,
        )


class RayFleet:
    """``config.workers`` :class:`RolloutWorker` Ray actors (one CPU each).

    Args:
        config, shapes, env_kwargs, actor_state: as :class:`RolloutWorker`. seed: the workers' base seed.
        address: a Ray cluster to join (``ray start --head`` prints it; ``auto``: the local node's); None
            starts a local Ray instance (no dashboard) with at least one CPU per worker. An already
            initialised Ray (``ray.init`` by the caller) is used as it is and left running.
    Raises:
        DriftError: Ray is not installed.

    Use as a context manager, or call :meth:`close`: it kills the workers and shuts down the Ray instance
    it started (or disconnects from the cluster it joined).
    """

    def __init__(self, config, shapes, env_kwargs, seed: int, actor_state=None, address: str | None = None):
        ray = self.ray = import_ray()
        self.workers: list = []
        self.pending: list | None = None
        self.started = not ray.is_initialized()
        if self.started:
            if address is None:  # "local": a new instance even where RAY_ADDRESS names a cluster
                cpus = max(os.cpu_count() or 1, config.workers)
                ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=address, log_to_driver=False)
        try:
            remote = ray.remote(num_cpus=1)(RolloutWorker)
            state = None if actor_state is None else ray.put(actor_state)
            self.workers = [
                remote.remote(config, shapes, env_kwargs, w, seed, state) for w in range(config.workers)
            ]
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> RayFleet:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self, k: int, explore: bool) -> None:
        """Every worker starts a rollout of ``k`` vector steps (collect them with :meth:`collect`)."""
        if self.pending is not None:
            raise RuntimeError("the previous round has not been collected")
        self.pending = [w.rollout.remote(int(k), bool(explore)) for w in self.workers]

    def collect(self) -> list[dict]:
        """The started round's rollouts, in worker order (waits for all: synchronous rounds)."""
        if self.pending is None:
            raise RuntimeError("no round started")
        refs, self.pending = self.pending, None
        return self.ray.get(refs)

    def broadcast(self, actor_state: dict) -> None:
        """Send the actor's weights to every worker (one object in Ray's store); each applies them after
        the rollout it is running."""
        ref = self.ray.put({k: v.detach().cpu() for k, v in actor_state.items()})
        for w in self.workers:
            w.set_weights.remote(ref)

    def weights(self) -> list[dict]:
        """Each worker's actor weights (after the calls sent before)."""
        return self.ray.get([w.get_weights.remote() for w in self.workers])

    def close(self) -> None:
        """Kill the workers; shut down the Ray instance this fleet started, or leave the cluster."""
        workers, self.workers, self.pending = self.workers, [], None
        for w in workers:
            try:
                self.ray.kill(w)
            except Exception:  # noqa: BLE001 (already dead)
                pass
        if self.started and self.ray.is_initialized():
            self.ray.shutdown()
        self.started = False
