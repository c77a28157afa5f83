"""Replay buffer of the QR-SAC agent: one stream per car, n-step windows assembled at sampling time.

Layout: each of the B cars has its own circular stream of ``capacity // B`` rows. A row holds the
observation ``s_t`` (images as uint8), the action ``a_t``, the reward ``r_t`` and the flags ``terminated_t``,
``truncated_t`` of the step taken from ``s_t``. The next row of the same stream holds ``s_{t+1}``, so
observations are stored once. When an episode ends (SAME_STEP auto-reset), the car's last observation
(``info["final_obs"]``) is written as an extra *final* row (no action), and the next row is the first
observation of the new episode: the transition across the auto-reset (last observation -> reset
observation) is never a sampled transition, because an n-step window stops at the episode end and a final
row is never the start of a window.

:meth:`ReplayBuffer.sample` draws window starts uniformly over the stored rows (rejecting final rows and
each stream's newest row, whose next observation is not stored yet) and walks up to ``n`` rows forward. It
returns the rewards and flags of the window (:class:`Batch`); the window stops at a termination, at a
time-limit truncation (bootstrapping from the final observation), or where the stream's stored data end
(reported as a truncation: a shorter n-step target, still unbiased).

With rollout workers (:mod:`controllers.qrsac.workers`) the buffer holds one stream per car per worker
(``num_envs = workers * cars``); a worker's vector step is added at its stream offset (``add(...,
offset=w * cars)``), and :meth:`ReplayBuffer.end_streams` closes every stream's open episode when the cars
restart without their state (a resumed run whose workers start new episodes).
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple

import numpy as np

from drift.errors import DriftError

__all__ = ["Batch", "ReplayBuffer", "machine_memory_bytes"]


class Batch(NamedTuple):
    """A sampled batch of ``M`` n-step windows (numpy arrays).

    obs: dict of (M, ...) observations ``s_t``; action: (M, 2) ``a_t``; rewards: (M, n) ``r_t..r_{t+n-1}``
    (zeros after the window's end); terminated, truncated: (M, n) bool, the step where the window ends
    (truncated also marks the end of the stored data); next_obs: dict of (M, ...) bootstrap observations
    (the observation after the window's last step).
    """

    obs: dict[str, np.ndarray]
    action: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    next_obs: dict[str, np.ndarray]


def machine_memory_bytes() -> int:
    """Memory this machine has (bytes): ``MemAvailable`` of ``/proc/meminfo``, else the physical pages."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 2**62


class ReplayBuffer:
    """Per-car circular streams (see the module docstring).

    Args:
        capacity: total rows (transitions plus one final row per finished episode), split evenly over cars.
        num_envs: streams B: the cars (with rollout workers: workers x cars per worker).
        shapes, dtypes: per stored observation key, one car's shape and numpy dtype (images uint8).
        n_step: window length n. seed: seed of the sampling generator.
    Raises:
        DriftError: a capacity below ``2 * num_envs``, or one whose memory exceeds what the machine has.
    """

    def __init__(
        self,
        capacity: int,
        num_envs: int,
        shapes: dict[str, tuple[int, ...]],
        dtypes: dict[str, np.dtype],
        n_step: int,
        seed: int = 0,
    ):
        if capacity < 2 * num_envs:
            raise DriftError(f"buffer capacity {capacity} is below 2 rows per car ({num_envs} cars)")
        self.B, self.C, self.n = int(num_envs), int(capacity) // int(num_envs), int(n_step)
        self.shapes = {k: tuple(v) for k, v in shapes.items()}
        self.dtypes = {k: np.dtype(v) for k, v in dtypes.items()}
        need = self.memory_bytes(capacity, shapes, dtypes)
        have = machine_memory_bytes()
        if need > have:
            raise DriftError(
                f"a replay buffer of {capacity} rows needs {need / 2**30:.2f} GiB but this machine has "
                f"{have / 2**30:.2f} GiB available: lower buffer_capacity to at most "
                f"{int(capacity * have / need * 0.9)}"
            )
        B, C = self.B, self.C
        self.obs = {k: np.zeros((B, C, *s), dtype=self.dtypes[k]) for k, s in self.shapes.items()}
        self.action = np.zeros((B, C, 2), dtype=np.float32)
        self.reward = np.zeros((B, C), dtype=np.float32)
        self.term = np.zeros((B, C), dtype=bool)
        self.trunc = np.zeros((B, C), dtype=bool)
        self.final = np.zeros((B, C), dtype=bool)
        self.head = np.zeros(B, dtype=np.int64)  # next row to write, per car
        self.count = np.zeros(B, dtype=np.int64)  # rows stored, per car
        self.rng = np.random.default_rng(seed)

    @staticmethod
    def row_bytes(shapes: dict[str, tuple[int, ...]], dtypes: dict[str, np.dtype]) -> int:
        """Bytes of one row: the observations, action (2 float32), reward (float32) and three flags."""
        obs = sum(math.prod(s) * np.dtype(dtypes[k]).itemsize for k, s in shapes.items())
        return int(obs + 8 + 4 + 3)

    @classmethod
    def memory_bytes(cls, capacity: int, shapes: dict, dtypes: dict) -> int:
        """Memory of a buffer of ``capacity`` rows (bytes)."""
        return int(capacity) * cls.row_bytes(shapes, dtypes)

    @property
    def nbytes(self) -> int:
        """Memory of this buffer's arrays (bytes)."""
        arrays = [*self.obs.values(), self.action, self.reward, self.term, self.trunc, self.final]
        return int(sum(a.nbytes for a in arrays))

    def __len__(self) -> int:
        return int(self.count.sum())

    def _write(self, cars: np.ndarray, obs: dict, action, reward, term, trunc, final: bool) -> None:
        rows = self.head[cars]
        for k in self.obs:
            self.obs[k][cars, rows] = obs[k]
        self.action[cars, rows] = action
        self.reward[cars, rows] = reward
        self.term[cars, rows] = term
        self.trunc[cars, rows] = trunc
        self.final[cars, rows] = final
        self.head[cars] = (rows + 1) % self.C
        self.count[cars] = np.minimum(self.count[cars] + 1, self.C)

    def add(self, obs, action, reward, terminated, truncated, final_obs=None, offset: int = 0) -> None:
        """Store one vector step of ``b`` cars (all B streams by default) in streams ``offset .. offset+b-1``.

        Args:
            obs: dict of (b, ...) observations the actions were taken from (before the step).
            action: (b, 2); reward: (b,) (as learned, e.g. scaled); terminated, truncated: (b,) bool.
            final_obs: for the cars that finished, ``info["final_obs"]`` of a SAME_STEP vector env (object
                array of per-car dicts, None elsewhere); required when a car finished.
            offset: first stream (a rollout worker's ``w * cars``).
        """
        b = len(reward)
        if offset < 0 or offset + b > self.B:
            raise DriftError(f"streams {offset}..{offset + b - 1} outside the buffer's {self.B} streams")
        cars = offset + np.arange(b)
        done = np.asarray(terminated, bool) | np.asarray(truncated, bool)
        self._write(cars, obs, action, reward, terminated, truncated, final=False)
        if done.any():
            if final_obs is None:
                raise DriftError("cars finished but no final_obs was given (use autoreset_mode SAME_STEP)")
            idx = np.flatnonzero(done)
            fo = {k: np.stack([final_obs[i][k] for i in idx]) for k in self.obs}
            z = np.zeros(len(idx))
            self._write(offset + idx, fo, np.zeros((len(idx), 2)), z, False, False, final=True)

    def end_streams(self) -> None:
        """Close every stream's open episode at its newest stored observation, as a time-limit truncation,
        before its car restarts in a new episode whose first observation would otherwise follow it.

        The newest row (``s_t``, whose step ``a_t`` has no stored next observation) becomes the final row of
        the episode and the row before it is marked truncated, so windows bootstrap from ``s_t``; the step
        taken from ``s_t`` is dropped. Streams that are empty or already end with a final row are unchanged.
        """
        for car in np.flatnonzero(self.count > 0):
            last = (self.head[car] - 1) % self.C
            if self.final[car, last]:
                continue
            self.final[car, last] = True
            self.action[car, last] = 0.0
            self.reward[car, last] = 0.0
            self.term[car, last] = self.trunc[car, last] = False
            prev = (last - 1) % self.C
            if self.count[car] >= 2 and not self.final[car, prev]:
                self.trunc[car, prev] = True

    def _age(self, cars: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Rows written after ``rows`` in each car's stream."""
        return (self.head[cars] - 1 - rows) % self.C

    def valid_starts(self) -> int:
        """Number of rows that can start a window."""
        cars, rows = np.nonzero(np.arange(self.C)[None, :] < self.count[:, None])
        ok = ~self.final[cars, rows] & (self._age(cars, rows) >= 1)
        return int(ok.sum())

    def sample(self, batch_size: int) -> Batch:
        """``batch_size`` n-step windows with uniformly drawn starts (see the module docstring).

        Raises:
            DriftError: no stored row can start a window yet.
        """
        if self.valid_starts() == 0:
            raise DriftError("the replay buffer holds no complete transition yet")
        M = int(batch_size)
        cars = np.empty(M, dtype=np.int64)
        rows = np.empty(M, dtype=np.int64)
        todo = np.arange(M)
        while len(todo):  # rejection sampling: a final row or a stream's newest row cannot start a window
            c = self.rng.integers(0, self.B, len(todo))
            r = (self.rng.random(len(todo)) * self.count[c]).astype(np.int64)
            ok = (self.count[c] > 0) & ~self.final[c, r] & (self._age(c, r) >= 1)
            cars[todo[ok]], rows[todo[ok]] = c[ok], r[ok]
            todo = todo[~ok]
        n = self.n
        rewards = np.zeros((M, n), dtype=np.float32)
        term = np.zeros((M, n), dtype=bool)
        trunc = np.zeros((M, n), dtype=bool)
        active = np.ones(M, dtype=bool)
        boot = (rows + n) % self.C  # bootstrap row where the window runs its full length
        for k in range(n):
            idx = (rows + k) % self.C
            if k > 0:  # stored data end here: bootstrap from this row's observation after k steps
                cut = active & (self._age(cars, idx) == 0)
                trunc[cut, k - 1] = True
                boot[cut] = idx[cut]
                active &= ~cut
            a = active
            rewards[a, k] = self.reward[cars[a], idx[a]]
            term[a, k] = self.term[cars[a], idx[a]]
            trunc[a, k] = self.trunc[cars[a], idx[a]]
            end = a & (term[:, k] | trunc[:, k])
            boot[end] = (idx[end] + 1) % self.C  # the final row: the truncated state
            active &= ~end
        obs = {k: v[cars, rows] for k, v in self.obs.items()}
        next_obs = {k: v[cars, boot] for k, v in self.obs.items()}
        return Batch(obs, self.action[cars, rows], rewards, term, trunc, next_obs)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        """The stored rows (only the used part of each stream) and the sampling generator's state."""
        used = int(self.count.max())
        arrays = {f"obs/{k}": v[:, :used] for k, v in self.obs.items()}
        arrays.update(action=self.action[:, :used], reward=self.reward[:, :used], term=self.term[:, :used])
        arrays.update(
            trunc=self.trunc[:, :used], final=self.final[:, :used], head=self.head, count=self.count
        )
        return {
            "arrays": {k: np.ascontiguousarray(v) for k, v in arrays.items()},
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` saved (a checkpoint's buffer)."""
        a = state["arrays"]
        used = a["action"].shape[1]
        for k in self.obs:
            self.obs[k][:, :used] = a[f"obs/{k}"]
        self.action[:, :used] = a["action"]
        self.reward[:, :used] = a["reward"]
        self.term[:, :used] = a["term"]
        self.trunc[:, :used] = a["trunc"]
        self.final[:, :used] = a["final"]
        self.head[:] = a["head"]
        self.count[:] = a["count"]
        self.rng.bit_generator.state = state["rng"]
