"""A trained agent as a driver of :func:`drift.racing.run_laps` (and of anything that steps a
:class:`drift.racing.sim.RacingSim`)."""

from __future__ import annotations

import numpy as np


class AgentDriver:
    """``driver(sim) -> (B, 2)`` actions in [-1, 1]: the policy's deterministic action from the
    observation the environment gives the cars of ``sim`` (:func:`drift.racing.observations.observe`).

    Args:
        policy: anything with ``act(obs: dict[str, np.ndarray], deterministic=True) -> (B, 2)``, e.g. a
            :class:`controllers.qrsac.Agent`; it reads only the observation keys it was built for.
    """

    def __init__(self, policy):
        self.policy = policy

    def __call__(self, sim) -> np.ndarray:
        from drift.racing.observations import observe

        return np.asarray(self.policy.act(observe(sim), deterministic=True), dtype=float)
