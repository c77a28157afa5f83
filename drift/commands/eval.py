"""``drift eval``: a fitted tyre model on another log."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from drift.commands import write_options


@dataclass(frozen=True)
class Options:
    """Held-out errors of a drift fit run's models (and persistence) on another log: another track,
    another day. The same table, plots and metrics.json as drift fit, in one run folder."""

    tires: Path
    """the run folder of a drift fit (model.yaml, baselines/, fit_config.json)"""
    log: Path | None = None
    """the log to evaluate on (any format drift fit reads); None: the shipped IAC excerpt"""
    column_map: Path | None = None
    """YAML column map of a generic CSV"""
    calibrate: Literal["none", "offsets", "all"] = "none"
    """per-log calibration on the first --calibration-minutes of the log, which are then not scored:
    'offsets' the sideslip offsets from its straights, 'all' also the lever arm, steering offset,
    scale and delay (the tyres frozen); 'none' keeps the fit's terms"""
    calibration_minutes: float = 1.0
    """minutes of the log used for calibration (never scored)"""
    deep_dynamics_steps: int | None = None
    """also the Deep Dynamics protocol: one-step and step-N RMSE (their paper reports N = 15)"""
    out: Path | None = None
    """run folder (None: runs/eval-<timestamp>)"""
    config: Path | None = None
    """YAML file with these options' keys; flags given as well override it"""


def run(o: Options) -> None:
    """Run ``drift eval`` with options ``o``. Raises DriftError on bad input, before a run folder exists."""
    from drift.errors import DriftError
    from drift.runs import make_run_dir
    from drift.vehicle import load_vehicle
    from drift.vehicle.tires import fitted_vehicle
    from tire_models.fit.pipeline import load_config
    from tire_models.fit.run import load_fit_log, run_eval
    from tire_models.io import read_model_yaml

    if not (o.tires / "fit_config.json").exists():
        raise DriftError(f"--tires {o.tires}: not the run folder of a drift fit (no fit_config.json)")
    if o.deep_dynamics_steps is not None and o.deep_dynamics_steps < 1:
        raise DriftError(f"--deep-dynamics-steps must be >= 1, got {o.deep_dynamics_steps}")
    if not o.calibration_minutes > 0:
        raise DriftError(f"--calibration-minutes must be positive, got {o.calibration_minutes}")
    cfg, _ = load_config(o.tires)
    p = fitted_vehicle(read_model_yaml(o.tires)[0]) or load_vehicle(cfg.vehicle)  # the car it was fitted for
    log = load_fit_log(o.log, o.column_map, mass_kg=p.m)
    run_dir = make_run_dir("eval", o.out)
    write_options(run_dir, o)
    run_eval(log, o.tires, run_dir, o.deep_dynamics_steps, o.calibrate, o.calibration_minutes)
