"""Gymnasium registration of the racing environments (ids, their keyword defaults, the time limit).

Registered ids, each with a single-car entry point (:class:`drift.racing.env.RacingEnv`, for
``gymnasium.make``) and a batched one (:class:`drift.racing.vector.VecRacingEnv`, for
``gymnasium.make_vec``), and gymnasium's ``TimeLimit`` of :data:`MAX_EPISODE_STEPS` control steps:

- ``drift/Racing-v0``: the full-scale IAC car (preset ``iac``) on Monza, with the camera;
- ``drift/RacingF1tenth-v0``: the 1:10 F1TENTH-class car (preset ``f1tenth``) on Monza scaled by 0.1.

Every keyword default is in the spec (``gymnasium.spec(id).kwargs``) and can be overridden in
``gymnasium.make(id, **kwargs)``. gymnasium >= 1.0 loads no plugin entry points, so the ids are
registered when :mod:`drift.racing` is imported: ``gymnasium.make("drift.racing:drift/Racing-v0")`` does
that import itself, from a fresh interpreter.
"""

from __future__ import annotations

__all__ = ["MAX_EPISODE_STEPS", "ENVS", "register_envs"]

#: episode time limit (control steps): 300 s at 10 Hz, a lap of Monza at racing speed with margin
MAX_EPISODE_STEPS = 3000

_COMMON = dict(track="Monza", tires=None, camera=True, image_px=64, steering="absolute")

#: registered ids and their keyword defaults
ENVS: dict[str, dict] = {
    "drift/Racing-v0": dict(preset="iac", vehicle=None, **_COMMON),  # vehicle None: the preset's own
    "drift/RacingF1tenth-v0": dict(preset="f1tenth", vehicle=None, **_COMMON),
}


def register_envs() -> None:
    """Register the ids of :data:`ENVS` with gymnasium; ids already registered are left as they are."""
    import gymnasium as gym

    for env_id, kwargs in ENVS.items():
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point="drift.racing.env:RacingEnv",
                vector_entry_point="drift.racing.vector:VecRacingEnv",
                max_episode_steps=MAX_EPISODE_STEPS,
                kwargs=dict(kwargs),
            )
