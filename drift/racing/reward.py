"""Racing reward with the terms of the Gran Turismo agents, every term reported separately.

``reward = w_progress * progress - w_off_course * off_course - w_wall * wall - w_steer_change * steer_change
- w_steer_history * steer_history - w_tyre_slip * tyre_slip`` per control step, with (all (B,) arrays):

- ``progress``: centre-line distance gained this step (m, signed; Fuchs et al. 2021, Wurman et al. 2022).
- ``off_course``: time off course times speed, ``dt_off * v`` (m) (vision paper: Vasco et al. 2024).
- ``wall``: time in wall contact times the speed the car reaches the wall with, ``dt_wall * v_impact``
  (m), before the wall takes the speed into it away (so a head-on stop is not free). (GT Sophy uses
  kinetic energy; the vision paper a contact penalty; time x speed keeps the scale of the off-course
  term.)
- ``steer_change``: ``|delta_t - delta_{t-1}| / delta_max`` (dimensionless).
- ``steer_history``: ``|delta_t - 2 delta_{t-1} + delta_{t-2}| / delta_max``, oscillation of the steering
  history (dimensionless).
- ``tyre_slip``: ``sum over axles of max(|alpha| - alpha_free, 0)`` (rad; GT Sophy tyre-slip penalty).

On a scaled track the terms in metres count full-scale metres (divided by ``track_scale``), so the
weights keep their balance at 1:10.

Default weights (``configs/racing/reward.yaml``) are the vision paper's: progress 1, off-course 10,
wall 10, steering change 3, steering history 5; tyre slip 0 (GT Sophy's term, off by default).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from drift.config import config_dir
from drift.errors import ConfigError

TERMS = ("progress", "off_course", "wall", "steer_change", "steer_history", "tyre_slip")


@dataclass(frozen=True)
class RewardWeights:
    """Weights of the reward terms (dimensionless multipliers; see module docstring for term units)."""

    progress: float = 1.0
    off_course: float = 10.0
    wall: float = 10.0
    steer_change: float = 3.0
    steer_history: float = 5.0
    tyre_slip: float = 0.0
    #: slip angle (rad) below which the tyre-slip term is zero
    alpha_free_rad: float = 0.10

    @staticmethod
    def from_dict(d: dict, source: str = "<dict>") -> RewardWeights:
        """Build from YAML keys ``w_<term>`` (and ``alpha_free_rad``); unknown keys raise ConfigError."""
        names = {f"w_{t}": t for t in TERMS}
        names["alpha_free_rad"] = "alpha_free_rad"
        kw = {}
        for k, v in (d or {}).items():
            if k not in names:
                raise ConfigError(f"{source}: unknown reward key {k!r}; known: {sorted(names)}")
            try:
                kw[names[k]] = float(v)
            except (TypeError, ValueError):
                raise ConfigError(f"{source}: {k} must be a number, got {v!r}") from None
        return RewardWeights(**kw)

    def to_dict(self) -> dict:
        d = {f"w_{t}": getattr(self, t) for t in TERMS}
        d["alpha_free_rad"] = self.alpha_free_rad
        return d

    def replace(self, **kw) -> RewardWeights:
        return dataclasses.replace(self, **kw)


def load_reward_weights(path: str | Path | None = None) -> RewardWeights:
    """Load weights from a YAML file (default ``configs/racing/reward.yaml``).

    Raises:
        ConfigError: missing file, invalid YAML, not a mapping of ``w_<term>`` keys, bad values.
    """
    p = Path(path) if path is not None else config_dir() / "racing" / "reward.yaml"
    if not p.is_file():
        raise ConfigError(f"reward config {p} does not exist")
    try:
        d = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML ({e})") from None
    if not isinstance(d, dict):
        raise ConfigError(f"{p}: expected a mapping of w_<term> keys: {[f'w_{t}' for t in TERMS]}")
    return RewardWeights.from_dict(d, source=str(p))


def reward_terms(
    progress_m: np.ndarray,
    off_time_s: np.ndarray,
    wall_time_s: np.ndarray,
    speed_mps: np.ndarray,
    impact_speed_mps: np.ndarray,
    delta_hist_rad: np.ndarray,
    delta_max_rad: float,
    alpha_f_rad: np.ndarray,
    alpha_r_rad: np.ndarray,
    weights: RewardWeights,
    length_scale: float = 1.0,
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Compute the reward and its terms.

    The terms in metres (progress, off course, wall) are divided by ``length_scale``, the track's scale:
    on a 1:10 track they count full-scale metres, so the weights, set for full-scale cars, keep their
    balance against the dimensionless steering terms.

    Args:
        progress_m: (B,) centre-line progress this step (m).
        off_time_s, wall_time_s: (B,) time off course / in wall contact during the step (s).
        speed_mps: (B,) speed (m/s).
        impact_speed_mps: (B,) speed (m/s) at which the car reached the wall this step, before the contact
            took its velocity into the wall (used only where ``wall_time_s > 0``).
        delta_hist_rad: (B, H>=3) steering angles, newest first: ``[delta_t, delta_{t-1}, delta_{t-2}, ...]``.
        delta_max_rad: steering limit used to normalise (rad).
        alpha_f_rad, alpha_r_rad: (B,) slip angles (rad).
        length_scale: the track's scale (``RacingConfig.track_scale``, > 0).
    Returns:
        ``(reward, weighted, unweighted)``: reward (B,); ``weighted`` a dict of each term as it enters the
        reward (weight times term, penalties negative; they sum to the reward); ``unweighted`` the terms
        before weighting (units above). Keys: :data:`TERMS`.
    Raises:
        ValueError: ``length_scale`` or ``delta_max_rad`` not positive (the terms would change sign or be
            infinite).
    """
    if not (length_scale > 0 and delta_max_rad > 0):
        raise ValueError(
            f"length_scale ({length_scale}) and delta_max_rad ({delta_max_rad}) must be positive"
        )
    d0, d1, d2 = delta_hist_rad[:, 0], delta_hist_rad[:, 1], delta_hist_rad[:, 2]
    raw = {
        "progress": progress_m / length_scale,
        "off_course": off_time_s * speed_mps / length_scale,
        "wall": wall_time_s * impact_speed_mps / length_scale,
        "steer_change": np.abs(d0 - d1) / delta_max_rad,
        "steer_history": np.abs(d0 - 2.0 * d1 + d2) / delta_max_rad,
        "tyre_slip": np.maximum(np.abs(alpha_f_rad) - weights.alpha_free_rad, 0.0)
        + np.maximum(np.abs(alpha_r_rad) - weights.alpha_free_rad, 0.0),
    }
    weighted = {t: (1.0 if t == "progress" else -1.0) * getattr(weights, t) * raw[t] for t in TERMS}
    total = np.zeros_like(progress_m, dtype=float)
    for t in TERMS:
        total = total + weighted[t]
    return total, weighted, raw
