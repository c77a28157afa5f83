"""``drift fit``: fit tyre models (and sensor terms) to a driving log; evaluate on held-out data."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import tyro

from drift.commands import write_options
from tire_models.fit.pipeline import FitConfig


@dataclass(frozen=True)
class Options:
    """Fit tyre models and sensor terms to a driving log; compare with persistence on held-out data.
    Results (model.yaml, metrics.json, plots, checkpoints) go to one run folder."""

    fit: Annotated[FitConfig, tyro.conf.arg(name="")] = field(default_factory=FitConfig)
    log: Path | None = None
    """driving log (.csv, .mcap, .db3, bag folder, .npz); None: the shipped IAC excerpt"""
    column_map: Path | None = None
    """YAML column map of a generic CSV (configs/column_maps has examples)"""
    resume: Path | None = None
    """continue an interrupted fit in this run folder (its own options are used)"""
    out: Path | None = None
    """run folder (None: runs/fit-<timestamp>)"""
    config: Path | None = None
    """YAML file with these options' keys (e.g. a run's options.yaml); flags given as well override it"""


def run(o: Options) -> None:
    """Run ``drift fit`` with options ``o``. Raises DriftError on bad input, before a run folder exists."""
    from drift.errors import DriftError
    from drift.runs import make_run_dir
    from drift.vehicle import load_vehicle
    from tire_models.fit.pipeline import load_config
    from tire_models.fit.run import load_fit_log, run_fit

    if o.resume is not None:
        if not o.resume.is_dir():
            raise DriftError(
                f"--resume {o.resume}: not a folder; pass the run folder of an interrupted drift fit"
            )
        cfg, saved = load_config(o.resume)
        run_dir = make_run_dir("fit", o.resume)
        # the log recorded in fit_config.json unless --log overrides it
        log_obj = load_fit_log(o.log or saved.get("log"), o.column_map, mass_kg=load_vehicle(cfg.vehicle).m)
        run_fit(log_obj, cfg, run_dir, resume=True)
        return
    cfg = o.fit
    # the vehicle's mass turns an Ackermann bag's acceleration command into Fx (N); a bad --vehicle
    # fails here, before a run folder exists
    log_obj = load_fit_log(o.log, o.column_map, mass_kg=load_vehicle(cfg.vehicle).m)
    log_obj.split(cfg.minutes, cfg.min_speed_mps)  # so does a log too short for --minutes
    if o.log is None:
        print(
            "data: shipped excerpt (first 300 s) of the Indy Autonomous Challenge log Putnam_park2023_run4_2 "
            "from Deep Dynamics (Chrosniak et al., RA-L 2024), GPL-3.0; see drift/data/NOTICE.md"
        )
    run_dir = make_run_dir("fit", o.out)
    write_options(run_dir, o)
    run_fit(log_obj, cfg, run_dir)
