"""Settings of the racing simulator: :class:`RacingConfig` and the presets of ``configs/racing/env.yaml``.

Two presets ship: ``iac`` (the full-scale Dallara AV-21 on full-scale tracks) and ``f1tenth`` (the
1:10 car on tracks scaled by 0.1). A preset holds every setting; keyword overrides replace single ones.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from drift.config import config_dir
from drift.errors import ConfigError
from drift.racing.reward import RewardWeights, load_reward_weights

__all__ = ["RacingConfig", "load_config", "PRESETS", "CAMERA_GEOMETRY"]

#: presets of ``configs/racing/env.yaml``
PRESETS = ("iac", "f1tenth")
#: the settings that place the camera: an image agent sees the world through them
CAMERA_GEOMETRY = ("camera_height_m", "camera_pitch_rad", "camera_fov_rad")


@dataclass(frozen=True)
class RacingConfig:
    """Settings of the racing simulator (SI units; ``configs/racing/env.yaml`` holds the presets).

    Attributes:
        vehicle: vehicle preset name (:func:`drift.vehicle.load_vehicle`). track: track name or TUM CSV path.
        track_scale: factor on the track's lengths, walls and camera (0.1 for 1:10 cars).
        dt_s: control step (s). physics_hz: physics substep rate (Hz), rounded up to whole substeps.
        integrator: ``rk4`` or ``euler``. steering: ``absolute`` or ``rate`` (``steer_step_rad`` per step).
        horizon_min_s, horizon_max_s, n_ahead: times ahead of the privileged course points.
        camera, image_px, camera_sampling: onboard camera on/off, image size (px), ``bilinear``/``nearest``.
        camera_height_m, camera_pitch_rad, camera_fov_rad: camera height above the ground (m, scaled),
            downward pitch (rad), horizontal field of view (rad) (:class:`drift.racing.camera.CameraConfig`).
        wall_margin_m: walls this far beyond the boundaries (m, scaled); wall_speed_factor: share of the
            speed along a wall kept per 0.1 s in contact.
        friction_use, brake_rear_use: share of axle friction that drive/brakes and the rear brakes may use.
        reset_speed_min_mps, reset_speed_max_mps, reset_offset_frac: random reset speeds and lateral offset
            (share of the half width).
        v_ref_mps: speed scale of the observations. v_min_lookahead_mps: least speed of the course points.
        v_kinematic_mps: below this speed vy and r follow the kinematic bicycle.
        max_backwards_m, stuck_speed_mps, stuck_time_s: termination when the car lost this much progress
            (m, scaled), or stayed slower than ``stuck_speed_mps`` for ``stuck_time_s``.
        steer_history: steering angles kept (>= 3: the reward's steering-history term needs three).
        reward: :class:`RewardWeights`.

    The episode time limit is not a setting of the simulator: it is the ``max_episode_steps`` of the
    registered environments (:mod:`drift.racing.registration`), applied by gymnasium's ``TimeLimit``.
    """

    vehicle: str = "iac"
    track: str = "Monza"
    track_scale: float = 1.0
    dt_s: float = 0.1
    physics_hz: float = 100.0
    integrator: str = "rk4"
    steering: str = "absolute"
    steer_step_rad: float = float(np.radians(3.0))
    horizon_min_s: float = 0.1
    horizon_max_s: float = 6.0
    n_ahead: int = 59
    camera: bool = True
    image_px: int = 64
    camera_sampling: str = "bilinear"
    camera_height_m: float = 2.0
    camera_pitch_rad: float = 0.06
    camera_fov_rad: float = 1.4
    wall_margin_m: float = 2.0
    wall_speed_factor: float = 0.8
    friction_use: float = 0.9
    brake_rear_use: float = 0.9
    reset_speed_min_mps: float = 10.0
    reset_speed_max_mps: float = 45.0
    reset_offset_frac: float = 0.5
    v_ref_mps: float = 80.0
    v_min_lookahead_mps: float = 5.0
    v_kinematic_mps: float = 1.0
    max_backwards_m: float = 50.0
    stuck_speed_mps: float = 1.0
    stuck_time_s: float = 5.0
    steer_history: int = 4
    reward: RewardWeights = field(default_factory=RewardWeights)

    @property
    def substeps(self) -> int:
        """Physics substeps per control step, ``ceil(physics_hz * dt_s)``."""
        return max(1, int(np.ceil(self.physics_hz * self.dt_s - 1e-9)))

    @property
    def camera_geometry(self) -> dict[str, float]:
        """The :data:`CAMERA_GEOMETRY` settings by name."""
        return {k: getattr(self, k) for k in CAMERA_GEOMETRY}

    def replace(self, **kw) -> RacingConfig:
        return dataclasses.replace(self, **kw)

    def __post_init__(self):
        if self.steering not in ("absolute", "rate"):
            raise ConfigError(f"steering must be 'absolute' or 'rate', got {self.steering!r}")
        if self.integrator not in ("rk4", "euler"):
            raise ConfigError(f"integrator must be 'rk4' or 'euler', got {self.integrator!r}")
        if not (self.dt_s > 0 and self.physics_hz > 0 and self.track_scale > 0):
            raise ConfigError("dt_s, physics_hz and track_scale must be positive")
        if not (
            self.camera_height_m > 0
            and 0 < self.camera_fov_rad < np.pi
            and abs(self.camera_pitch_rad) < np.pi / 2
        ):
            raise ConfigError(
                "camera_height_m must be positive, camera_fov_rad within (0, pi) and camera_pitch_rad within "
                f"(-pi/2, pi/2); got {self.camera_height_m}, {self.camera_fov_rad}, {self.camera_pitch_rad}"
            )
        if self.n_ahead < 1 or self.steer_history < 3:
            raise ConfigError("n_ahead must be >= 1 and steer_history >= 3")


def load_config(preset: str = "iac", path: str | Path | None = None, **overrides) -> RacingConfig:
    """Config of a preset (``iac`` or ``f1tenth``) from ``configs/racing/env.yaml`` (or ``path``),
    with the reward weights of ``configs/racing/reward.yaml`` and keyword ``overrides`` (any
    :class:`RacingConfig` field, ``reward`` a :class:`RewardWeights`).

    Raises:
        ConfigError: unreadable YAML, unknown preset or keys, invalid values.
    """
    p = Path(path) if path is not None else config_dir() / "racing" / "env.yaml"
    try:
        d = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read racing config {p}: {e}") from None
    if not isinstance(d, dict) or preset not in d:
        raise ConfigError(f"{p}: no preset {preset!r}; presets: {sorted(d or {})}")
    sec = dict(d[preset])
    _drop_time_limit(sec, p)
    known = {f.name for f in dataclasses.fields(RacingConfig)}
    for keys, where in ((sec, f"{p}: preset {preset!r}"), (overrides, "keyword overrides")):
        bad = sorted(set(keys) - known)
        if bad:
            raise ConfigError(f"{where}: unknown keys {bad}; known: {sorted(known)}")
    reward = overrides.pop("reward", None) or load_reward_weights()
    sec.update(overrides)
    return RacingConfig(**sec, reward=reward)


def _drop_time_limit(sec: dict, source: Path) -> None:
    # The time limit has one source, the registration; a preset may still carry the same value (older
    # env.yaml), any other value would be a second, contradicting source.
    from drift.racing.registration import MAX_EPISODE_STEPS

    n = sec.pop("max_episode_steps", MAX_EPISODE_STEPS)
    if n != MAX_EPISODE_STEPS:
        raise ConfigError(
            f"{source}: max_episode_steps {n} is not the registered time limit {MAX_EPISODE_STEPS}; the "
            "time limit is gymnasium's: remove the key and pass gym.make(..., max_episode_steps=N)"
        )
