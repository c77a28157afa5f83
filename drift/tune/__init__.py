"""``drift tune``: sweeps over the racing reward's weights (and QR-SAC's settings) that score the laps
the trained agents drive. optuna on one machine (:mod:`drift.tune.sweep`), Ray Tune on a cluster
(:mod:`drift.tune.ray_sweep`); the search space in YAML (:mod:`drift.tune.space`), the score in
:mod:`drift.tune.objective`."""

from drift.tune.objective import ObjectiveConfig, score
from drift.tune.space import SearchSpace, load_space
from drift.tune.sweep import SweepConfig, run_trial, sweep_local, write_report

__all__ = [
    "ObjectiveConfig",
    "SearchSpace",
    "SweepConfig",
    "load_space",
    "run_trial",
    "score",
    "sweep_local",
    "write_report",
]
