"""Vectorised gymnasium environment :class:`VecRacingEnv`: many cars stepped in one batched numpy call.

It follows gymnasium 1.x's vector conventions, and gives what ``gymnasium.vector.SyncVectorEnv`` gives over
the same :class:`drift.racing.env.RacingEnv` cars (with the same seeds, the same numbers), only faster:

- ``metadata["autoreset_mode"]`` (:class:`gymnasium.vector.AutoresetMode`), ``SAME_STEP`` by default:
  a car that finished is reset within the step; the returned observation is its first of the new episode,
  and its last observation and info are in ``info["final_obs"]`` (object array of per-car observation
  dicts) and ``info["final_info"]`` (dict of arrays), valid where ``info["_final_obs"]`` /
  ``info["_final_info"]``. ``NEXT_STEP`` (gymnasium's default) resets it at the next step instead (reward 0,
  not terminated nor truncated); ``DISABLED`` leaves resets to ``reset(options={"reset_mask": mask})``.
- ``info`` is a dict of (num_envs,) arrays, nested dicts for ``reward_terms`` and
  ``reward_terms_unweighted``, each key ``k`` with a boolean mask ``info["_k"]`` of the cars it is valid
  for (a car reset in the step reports its reset info, which is empty).
- ``truncated``: the time limit ``max_episode_steps`` (``gymnasium.make_vec`` passes the registered one)
  or a stuck car (``info["stuck"]``, as :class:`drift.racing.env.RacingEnv`).
- ``reset(seed=s)`` seeds car ``i`` with ``s + i``, as gymnasium seeds the sub-environments.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

from drift.errors import ConfigError, DriftError
from drift.racing.config import RacingConfig
from drift.racing.env import env_config
from drift.racing.reward import RewardWeights
from drift.racing.sim import RacingSim
from drift.racing.track import Track
from drift.vehicle.params import VehicleParams
from tire_models import AxleTires

__all__ = ["VecRacingEnv"]


def _masked(info: dict, mask: np.ndarray) -> dict:
    """Info arrays with their ``_key`` masks, zero where ``mask`` is False (as gymnasium's ``_add_info``
    builds them); no keys at all when no car reports."""
    out: dict = {}
    if not mask.any():
        return out
    for k, v in info.items():
        out[k] = _masked(v, mask) if isinstance(v, dict) else np.where(mask, v, np.zeros_like(v))
        out[f"_{k}"] = mask.copy()
    return out


class VecRacingEnv(gym.vector.VectorEnv):
    """``num_envs`` cars on one track, stepped in one batched call (see module docstring).

    Args:
        num_envs: number of cars B.
        preset, track, vehicle, tires, camera, image_px, steering, reward, **settings: as
            :class:`drift.racing.env.RacingEnv`.
        max_episode_steps: time limit in control steps (None: none).
        autoreset_mode: :class:`gymnasium.vector.AutoresetMode` or its value.
        seed: seed of the cars' reset generators (car i: ``seed + i``).
        render_mode: None or ``rgb_array`` (``render()`` gives the (B, H, W, 3) camera images).

    ``step(actions (B, 2))`` returns ``obs`` (dict of (B, ...) arrays), ``reward`` (B,) float64,
    ``terminated`` (B,) bool, ``truncated`` (B,) bool and ``info``.

    Raises:
        ConfigError: as :class:`RacingEnv`; an unknown autoreset mode.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        num_envs: int = 1,
        preset: str = "iac",
        track: str | Path | Track = "Monza",
        vehicle: str | VehicleParams | None = None,
        tires: AxleTires | str | Path | None = None,
        camera: bool = True,
        image_px: int = 64,
        steering: str = "absolute",
        reward: RewardWeights | None = None,
        max_episode_steps: int | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.SAME_STEP,
        seed: int | None = None,
        render_mode: str | None = None,
        **settings,
    ):
        cfg, tr, veh = env_config(
            preset, track, vehicle, camera, image_px, steering, reward, settings, caller="VecRacingEnv"
        )
        self._setup(num_envs, cfg, tr, veh, tires, max_episode_steps, autoreset_mode, seed, render_mode)

    @classmethod
    def from_config(
        cls,
        num_envs: int,
        config: RacingConfig,
        *,
        track: Track | None = None,
        vehicle: VehicleParams | None = None,
        tires: AxleTires | str | Path | None = None,
        max_episode_steps: int | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.SAME_STEP,
        seed: int | None = None,
        render_mode: str | None = None,
    ) -> VecRacingEnv:
        """The vector environment of a complete :class:`RacingConfig` (``track``, ``vehicle``: objects that
        replace the config's names)."""
        env = cls.__new__(cls)
        env._setup(
            num_envs, config, track, vehicle, tires, max_episode_steps, autoreset_mode, seed, render_mode
        )
        return env

    def _setup(
        self, num_envs, cfg, track, vehicle, tires, max_episode_steps, autoreset_mode, seed, render_mode
    ):
        try:
            self.autoreset_mode = AutoresetMode(autoreset_mode)
        except ValueError:
            raise ConfigError(
                f"autoreset_mode must be one of {[m.value for m in AutoresetMode]}, got {autoreset_mode!r}"
            ) from None
        if max_episode_steps is not None and max_episode_steps < 1:
            raise ConfigError(f"max_episode_steps must be >= 1 or None, got {max_episode_steps}")
        self.metadata = {**type(self).metadata, "autoreset_mode": self.autoreset_mode}
        self.sim = RacingSim(cfg, num_envs, track=track, vehicle=vehicle, tires=tires, seed=seed)
        self.cfg = self.sim.cfg
        self.num_envs = int(num_envs)
        self.max_episode_steps = max_episode_steps
        self.render_mode = render_mode
        self.single_observation_space = self.sim.observation_space()
        self.single_action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, self.num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, self.num_envs)
        self._autoreset = np.zeros(self.num_envs, dtype=bool)

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict | None = None):
        """Reset all cars, or those of ``options["reset_mask"]`` ((B,) bool); the other options go to
        :meth:`RacingSim.reset`. ``seed``: int (car i gets ``seed + i``) or one per car. Returns
        ``(obs of (B, ...), {})``."""
        B = self.num_envs
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        if mask is None:
            mask = np.ones(B, dtype=bool)
        elif not (
            isinstance(mask, np.ndarray) and mask.dtype == np.bool_ and mask.shape == (B,) and mask.any()
        ):
            raise DriftError(
                f"options['reset_mask'] must be a bool numpy array of shape ({B},) with a True value"
            )
        idx = np.flatnonzero(mask)
        if seed is not None:
            seeds = list(seed) if isinstance(seed, list | tuple) else [seed + i for i in range(B)]
            if len(seeds) != B:
                raise DriftError(f"{len(seeds)} seeds for {B} cars")
            self.sim.seed([seeds[i] for i in idx], idx)
        self.sim.reset(idx, **options)
        self._autoreset[idx] = False
        return self.sim.observe(), {}

    def step(self, actions):
        """Step every car with ``actions`` (B, 2) in [-1, 1] (``[steer, throttle_brake]``).

        Returns gymnasium 1.x's ``(obs, reward (B,), terminated (B,), truncated (B,), info)``: ``info`` a dict
        of (B,) arrays with ``_key`` masks; with SAME_STEP autoreset the finished cars are reset at once and
        their last observation and info are in ``info["final_obs"]`` / ``info["final_info"]``.

        Raises:
            DriftError: actions of the wrong shape or not finite, or stepping a finished car with
                autoreset DISABLED.
        """
        B, sim = self.num_envs, self.sim
        if self.autoreset_mode == AutoresetMode.DISABLED and self._autoreset.any():
            raise DriftError(
                f"cars {np.flatnonzero(self._autoreset).tolist()} finished with autoreset_mode DISABLED: "
                "reset them with reset(options={'reset_mask': mask}) before stepping"
            )
        rew, term, info = sim.step(actions)
        trunc = info["stuck"].copy()
        if self.max_episode_steps:
            trunc |= sim.steps >= self.max_episode_steps
        mode = self.autoreset_mode
        if mode == AutoresetMode.NEXT_STEP:
            waiting = self._autoreset.copy()
            if waiting.any():  # cars that finished last step start again instead (their step is discarded)
                sim.reset(np.flatnonzero(waiting))
                rew[waiting], term[waiting], trunc[waiting] = 0.0, False, False
            infos = _masked(info, ~waiting)
            obs = sim.observe()
        elif mode == AutoresetMode.SAME_STEP:
            done = term | trunc
            obs = sim.observe()
            infos = _masked(info, ~done)
            if done.any():
                idx = np.flatnonzero(done)
                final_obs = np.full(B, None, dtype=object)
                for i in idx:
                    final_obs[i] = {k: v[i].copy() for k, v in obs.items()}
                infos.update(final_obs=final_obs, _final_obs=done.copy())
                infos.update(final_info=_masked(info, done), _final_info=done.copy())
                sim.reset(idx)
                for k, v in sim.observe(idx).items():  # only the reset cars are observed again
                    obs[k][idx] = v
        else:
            infos = _masked(info, np.ones(B, dtype=bool))
            obs = sim.observe()
        self._autoreset = term | trunc
        return obs, rew, term, trunc, infos

    def render(self):
        """The onboard camera images of all cars, (B, H, W, 3) uint8, or None when the camera is off."""
        if self.sim.camera is None:
            return None
        x = self.sim.x
        return self.sim.camera.render(x[:, 0], x[:, 1], x[:, 2])
