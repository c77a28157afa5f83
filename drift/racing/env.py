"""Single-car gymnasium environment :class:`RacingEnv` on the batched simulator :class:`RacingSim`.

``gymnasium.make("drift/Racing-v0", track="Monza", vehicle="iac", camera=True, ...)`` (ids and defaults:
:mod:`drift.racing.registration`). Actions, observations, reward and ``info``: :mod:`drift.racing.sim`,
:mod:`drift.racing.observations`, :mod:`drift.racing.reward` and ``docs/racing.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from drift.errors import ConfigError
from drift.racing.config import RacingConfig, load_config
from drift.racing.reward import RewardWeights
from drift.racing.sim import RacingSim
from drift.racing.track import Track
from drift.vehicle.params import VehicleParams
from tire_models import AxleTires

__all__ = ["RacingEnv", "env_config"]


def env_config(
    preset: str,
    track: str | Path | Track,
    vehicle: str | VehicleParams | None,
    camera: bool,
    image_px: int,
    steering: str,
    reward: RewardWeights | None,
    settings: dict[str, Any],
    caller: str = "RacingEnv",
) -> tuple[RacingConfig, Track | None, VehicleParams | None]:
    """The :class:`RacingConfig` of an environment's keyword arguments (the preset's settings, replaced by
    the explicit ones and by ``settings``), with the Track / VehicleParams objects passed in (else None).

    Raises:
        ConfigError: unknown preset or settings, invalid values; a RacingConfig passed as ``preset``.
    """
    if isinstance(preset, RacingConfig):
        raise ConfigError(
            f"{caller} takes keyword settings; for a RacingConfig use {caller}.from_config(config)"
        )
    track_obj = track if isinstance(track, Track) else None
    vehicle_obj = vehicle if isinstance(vehicle, VehicleParams) else None
    cfg = load_config(
        preset,
        track=track_obj.name if track_obj is not None else str(track),
        **({} if vehicle is None else {"vehicle": vehicle_obj.name if vehicle_obj is not None else vehicle}),
        camera=bool(camera),
        image_px=int(image_px),
        steering=steering,
        **({"reward": reward} if reward is not None else {}),
        **settings,
    )
    return cfg, track_obj, vehicle_obj


def _item(v):
    if isinstance(v, dict):
        return {k: _item(x) for k, x in v.items()}
    return v[0].item() if isinstance(v, np.ndarray) else v


class RacingEnv(gym.Env):
    """One car racing on a real track (gymnasium API).

    Args:
        preset: settings of ``configs/racing/env.yaml`` (``iac`` or ``f1tenth``: track scale, reset speeds,
            observation scales, walls, ...) under the explicit arguments below.
        track: track name (``drift race tracks``), path to a TUM-format CSV, or a :class:`Track` (used as
            it is, not scaled).
        vehicle: vehicle preset name or :class:`VehicleParams` (None: the preset's own, ``iac`` or
            ``f1tenth``).
        tires: None (:func:`drift.vehicle.tires.default_tires`), :class:`AxleTires`, or a ``drift fit``
            run folder / ``model.yaml``.
        camera: render the ``image`` observation; image_px: its side (px).
        steering: ``absolute`` (action = target angle / delta_max) or ``rate`` (±3° per step).
        reward: :class:`RewardWeights` (default ``configs/racing/reward.yaml``).
        render_mode: None or ``rgb_array`` (the camera image).
        **settings: any other :class:`RacingConfig` field (``physics_hz``, ``integrator``, ...).

    ``reset(seed=..., options={"s_m": ..., "n_m": ..., "speed_mps": ..., "heading_err_rad": ...})`` starts
    at random (or given) Frenet coordinates; it returns ``(obs, {})``. ``step`` never truncates: the
    registered ids add gymnasium's ``TimeLimit``. ``self.sim`` is the batched core (``sim.x``,
    ``sim.track``, ``sim.camera``).

    Raises:
        ConfigError: unknown preset or settings, invalid values, walls too close for the car.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        preset: str = "iac",
        track: str | Path | Track = "Monza",
        vehicle: str | VehicleParams | None = None,
        tires: AxleTires | str | Path | None = None,
        camera: bool = True,
        image_px: int = 64,
        steering: str = "absolute",
        reward: RewardWeights | None = None,
        render_mode: str | None = None,
        **settings,
    ):
        cfg, tr, veh = env_config(preset, track, vehicle, camera, image_px, steering, reward, settings)
        self._setup(cfg, tr, veh, tires, render_mode)

    @classmethod
    def from_config(
        cls,
        config: RacingConfig,
        *,
        track: Track | None = None,
        vehicle: VehicleParams | None = None,
        tires: AxleTires | str | Path | None = None,
        render_mode: str | None = None,
    ) -> RacingEnv:
        """The environment of a complete :class:`RacingConfig` (``track``, ``vehicle``: objects that replace
        the config's names)."""
        env = cls.__new__(cls)
        env._setup(config, track, vehicle, tires, render_mode)
        return env

    def _setup(self, cfg, track, vehicle, tires, render_mode) -> None:
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ConfigError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.sim = RacingSim(cfg, 1, track=track, vehicle=vehicle, tires=tires)
        self.cfg = self.sim.cfg
        self.observation_space = self.sim.observation_space()
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.render_mode = render_mode

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Gymnasium reset; ``options`` are keyword arguments of :meth:`RacingSim.reset` (``s_m``, ``n_m``,
        ``speed_mps``, ``heading_err_rad``; random where absent). Returns ``(obs dict, {})``."""
        super().reset(seed=seed)
        self.sim.rngs[0] = self.np_random
        self.sim.reset(**(options or {}))
        return self._obs(), {}

    def _obs(self):
        return {k: v[0] for k, v in self.sim.observe().items()}

    def step(self, action):
        """Gymnasium step with ``action`` (2,) in [-1, 1]: ``(obs, reward, terminated, truncated, info)``;
        ``truncated`` when the car is stuck (``info["stuck"]``; the time limit is gymnasium's
        ``TimeLimit``); ``info`` as :meth:`RacingSim.step` with Python scalars
        (``info["reward_terms"]["off_course"]``...)."""
        rew, term, info = self.sim.step(np.asarray(action, dtype=float)[None])
        return self._obs(), float(rew[0]), bool(term[0]), bool(info["stuck"][0]), _item(info)

    def render(self):
        """The onboard camera image, (H, W, 3) uint8 RGB, or None when the camera is off."""
        if self.sim.camera is None:
            return None
        x = self.sim.x
        return self.sim.camera.render(x[:, 0], x[:, 1], x[:, 2])[0]
