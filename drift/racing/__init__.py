"""Racing on real tracks: track geometry (:mod:`drift.racing.track`), settings (:mod:`drift.racing.config`),
the batched simulator (:mod:`drift.racing.sim`) with its observations (:mod:`drift.racing.observations`)
and reward (:mod:`drift.racing.reward`), the gymnasium environments (:mod:`drift.racing.env`,
:mod:`drift.racing.vector`, registered by :mod:`drift.racing.registration`), lap runs
(:mod:`drift.racing.laps`) and the onboard camera (:mod:`drift.racing.camera`).

Names are imported lazily, so ``import drift.racing.track`` does not pull in torch. Importing the package
registers the gymnasium ids (``drift/Racing-v0``, ...), so ``gymnasium.make("drift.racing:drift/Racing-v0")``
works from a fresh interpreter.
"""

from __future__ import annotations

import importlib

from drift.racing.registration import register_envs

_EXPORTS = {
    "Track": "drift.racing.track",
    "RaceLine": "drift.racing.track",
    "load_track": "drift.racing.track",
    "make_track": "drift.racing.track",
    "scaled_track": "drift.racing.track",
    "track_names": "drift.racing.track",
    "TrackError": "drift.racing.track",
    "RacingConfig": "drift.racing.config",
    "load_config": "drift.racing.config",
    "RacingSim": "drift.racing.sim",
    "RacingEnv": "drift.racing.env",
    "VecRacingEnv": "drift.racing.vector",
    "LapRun": "drift.racing.laps",
    "run_laps": "drift.racing.laps",
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


register_envs()
