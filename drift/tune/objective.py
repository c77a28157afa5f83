"""What a reward sweep minimises: the lap the trained agent drives, not the return (which the weights
being tuned change).

The score of one deterministic evaluation (:func:`controllers.qrsac.evaluate`), in seconds:

- a valid lap: its best valid lap time, plus ``off_course_penalty`` seconds per second the car spent off
  course during the evaluation (``off_course: penalty``);
- no valid lap: ``(2 - f) T`` with ``f`` the share of one lap driven (progress / lap length, in [0, 1])
  and ``T`` the evaluation's time limit: worse than any lap, and better the farther the car got, so
  that a search whose trials do not lap yet still learns where progress lies.

With ``off_course: constraint`` the penalty is replaced by a constraint ``off_course_s <=
max_off_course_s`` that optuna's samplers (TPE, random) respect; the trial's value is then the lap alone.
A trial's value is its best (lowest) score over its evaluations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from drift.errors import ConfigError

__all__ = ["ObjectiveConfig", "score"]


@dataclass(frozen=True)
class ObjectiveConfig:
    """How evaluations score (module doc).

    Attributes:
        off_course: ``penalty`` or ``constraint``.
        off_course_penalty: seconds added per second off course (``penalty``).
        max_off_course_s: the most time off course (s) a feasible trial may have (``constraint``).
    """

    off_course: str = "penalty"
    off_course_penalty: float = 1.0
    max_off_course_s: float = 0.0

    def __post_init__(self):
        if self.off_course not in ("penalty", "constraint"):
            raise ConfigError(f"off_course must be 'penalty' or 'constraint', got {self.off_course!r}")
        if not (self.off_course_penalty >= 0 and self.max_off_course_s >= 0):
            raise ConfigError("off_course_penalty and max_off_course_s must be >= 0")


def score(ev: dict, lap_length_m: float, time_limit_s: float, cfg: ObjectiveConfig) -> float:
    """The score (s, lower is better) of evaluation ``ev`` (``best_valid_lap_s``, ``progress_m``,
    ``off_course_s``) on a lap of ``lap_length_m`` with an evaluation time limit of ``time_limit_s``."""
    lap = ev.get("best_valid_lap_s")
    if lap is None or not math.isfinite(lap):
        f = min(max(ev.get("progress_m", 0.0) / lap_length_m, 0.0), 1.0)
        return (2.0 - f) * time_limit_s
    if cfg.off_course == "penalty":
        return lap + cfg.off_course_penalty * ev.get("off_course_s", 0.0)
    return lap
