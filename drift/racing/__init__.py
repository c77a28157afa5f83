"""Racing on real tracks: track geometry (:mod:`drift.racing.track`), the simulator and gymnasium
environments (:mod:`drift.racing.env`), the onboard camera (:mod:`drift.racing.camera`) and the reward
(:mod:`drift.racing.reward`).

Names are imported lazily, so ``import drift.racing.track`` does not pull in gymnasium or torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Track": "drift.racing.track",
    "RaceLine": "drift.racing.track",
    "load_track": "drift.racing.track",
    "make_track": "drift.racing.track",
    "track_names": "drift.racing.track",
    "TrackError": "drift.racing.track",
    "RacingConfig": "drift.racing.env",
    "RacingSim": "drift.racing.env",
    "RacingEnv": "drift.racing.env",
    "VecRacingEnv": "drift.racing.env",
    "LapRun": "drift.racing.env",
    "run_laps": "drift.racing.env",
    "load_config": "drift.racing.env",
    "TrackCamera": "drift.racing.camera",
    "CameraConfig": "drift.racing.camera",
    "RewardWeights": "drift.racing.reward",
    "load_reward_weights": "drift.racing.reward",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'drift.racing' has no attribute {name!r}")
