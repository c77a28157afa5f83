"""QR-SAC (quantile-regression soft actor-critic with a privileged critic) for the racing simulator.

The algorithm and the training loop are in one file, :mod:`controllers.qrsac.qrsac`; the networks in
:mod:`controllers.qrsac.networks`, the replay buffer in :mod:`controllers.qrsac.buffer`, the rollout
workers on Ray (optional: ``pip install 'drift[ray]'``) in :mod:`controllers.qrsac.workers`.
"""

from controllers.qrsac.qrsac import (
    Agent,
    QRSACConfig,
    evaluate,
    load_agent,
    lower_mean,
    nstep_target,
    quantile_fractions,
    quantile_huber_loss,
    train,
)

__all__ = [
    "Agent",
    "QRSACConfig",
    "evaluate",
    "load_agent",
    "lower_mean",
    "nstep_target",
    "quantile_fractions",
    "quantile_huber_loss",
    "train",
]
