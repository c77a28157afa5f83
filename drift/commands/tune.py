"""``drift tune``: sweep the racing reward's weights; each trial trains the QR-SAC agent and scores its laps.

    drift tune --track Norisring --trials 20 --steps-per-trial 200000 --search tpe
    drift tune ... --workers 2                      # two trials at a time, one study (SQLite)
    drift tune ... --backend ray [--address ADDR]   # Ray Tune (pip install 'drift[ray]')
    drift tune --resume RUN_DIR                     # continue an interrupted sweep

The run folder holds the study (``study.db``; watch it live with the printed ``optuna-dashboard``
command), the search space and agent settings it ran with, every trial's agent run folder
(``trials/trial-NNNN``), ``trials.csv``, ``best_reward.yaml`` (for ``drift race train --reward``), the plots
and ``metrics.json``. Details: :mod:`drift.tune`, ``docs/tune.md``.
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from drift.commands import options_from_yaml, write_options
from drift.errors import ConfigError, DriftError


@dataclass(frozen=True)
class Options:
    """Sweep the racing reward's weights (and optionally QR-SAC's settings): each trial trains an agent and
    is scored by the laps it drives."""

    track: str = "Norisring"
    """track name (drift race tracks) or path to a TUM-format CSV"""
    preset: Literal["iac", "f1tenth"] = "iac"
    """environment preset and vehicle (configs/racing/env.yaml)"""
    trials: int = 20
    """finished trials (complete, pruned or failed) the sweep ends with"""
    steps_per_trial: int = 200_000
    """car steps each trial trains (QR-SAC's default budget)"""
    search: Literal["tpe", "random", "grid"] = "tpe"
    """optuna sampler"""
    pruner: Literal["median", "halving", "none"] = "median"
    """stop trials early on their evaluations: median rule, successive halving, or none"""
    evals_per_trial: int = 4
    """deterministic evaluations during a trial (the pruner's intermediate values)"""
    space: Path | None = None
    """search-space YAML (None: configs/tune/space.yaml)"""
    agent: Path | None = None
    """QR-SAC settings YAML, keys of QRSACConfig (None: its defaults); swept agent keys replace them"""
    off_course: Literal["penalty", "constraint"] = "penalty"
    """off-course time: added to the lap time (penalty) or bounded by --max-off-course-s (constraint)"""
    off_course_penalty: float = 1.0
    """seconds added to the score per second off course (penalty)"""
    max_off_course_s: float = 0.0
    """most time off course (s) of a feasible trial (constraint)"""
    workers: int = 1
    """trials run at a time: processes sharing the study (local), or concurrent Ray trials (ray)"""
    backend: Literal["local", "ray"] = "local"
    """local (optuna in processes on this machine) or ray (Ray Tune with optuna's search; pip install
    'drift[ray]')"""
    address: str | None = None
    """with --backend ray: the Ray cluster to join (None: a local Ray instance)"""
    resume: Path | None = None
    """continue this interrupted sweep with its own settings; finished trials are kept, not rerun"""
    seed: int = 0
    """seed of the sampler and of every trial's training"""
    threads: int = 1
    """torch CPU threads per trial"""
    quiet: bool = False
    """no per-trial lines"""
    out: Path | None = None
    """run folder (None: runs/tune-<timestamp>)"""
    config: Path | None = None
    """YAML file with these options' keys; flags given as well override it"""


def _agent_settings(path: Path | None) -> dict:
    from controllers.qrsac import QRSACConfig

    if path is None:
        return QRSACConfig().to_dict()
    try:
        d = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"--agent {path}: cannot read it ({e})") from None
    known = {f.name for f in dataclasses.fields(QRSACConfig)}
    if not isinstance(d, dict) or set(d) - known:
        bad = sorted(set(d) - known) if isinstance(d, dict) else d
        raise ConfigError(f"--agent {path}: unknown QRSACConfig keys {bad}")
    try:
        return QRSACConfig(**d).to_dict()
    except (TypeError, ValueError) as e:  # e.g. hidden: [a, b]
        raise ConfigError(f"--agent {path}: invalid QR-SAC settings ({e})") from None


def _sweep_config(o: Options, space, agent: dict):
    from drift.tune import ObjectiveConfig, SweepConfig

    return SweepConfig(
        track=o.track,
        preset=o.preset,
        trials=o.trials,
        steps_per_trial=o.steps_per_trial,
        space=space,
        evals_per_trial=o.evals_per_trial,
        search=o.search,
        pruner=o.pruner,
        seed=o.seed,
        objective=ObjectiveConfig(o.off_course, o.off_course_penalty, o.max_off_course_s),
        qrsac=agent,
        threads=o.threads,
    )


def run(o: Options) -> None:
    """``drift tune``: bad settings fail before a run folder exists; Ctrl-C leaves a resumable sweep."""
    from drift.racing.track import load_track
    from drift.runs import make_run_dir
    from drift.tune import load_space
    from drift.tune.sweep import open_study, recover_interrupted, storage_url, sweep_local, write_report

    if o.resume is not None:
        run_dir = Path(o.resume)
        if not (run_dir / "options.yaml").is_file() or not (run_dir / "study.db").is_file():
            raise DriftError(f"--resume {run_dir}: not a drift tune run folder (no options.yaml or study.db)")
        saved = options_from_yaml(Options, run_dir / "options.yaml")
        o = dataclasses.replace(saved, resume=run_dir, address=o.address or saved.address, quiet=o.quiet)
        space = load_space(run_dir / "space.yaml")
        agent = _agent_settings(run_dir / "agent.yaml")
        print(f"run folder: {run_dir} (resumed)", flush=True)
    else:
        space = load_space(o.space)
        agent = _agent_settings(o.agent)
        if o.workers < 1:
            raise ConfigError(f"--workers must be >= 1, got {o.workers}")
        load_track(o.track)  # a bad track fails here, not in every trial
        run_dir = None
    cfg = _sweep_config(o, space, agent)
    if o.backend == "ray":
        from drift.tune.ray_sweep import check_ray

        check_ray()
    if run_dir is None:
        run_dir = make_run_dir("tune", o.out)
        shutil.copyfile(o.space if o.space is not None else _default_space(), run_dir / "space.yaml")
        (run_dir / "agent.yaml").write_text(yaml.safe_dump(agent, sort_keys=False))
        write_options(run_dir, o)
    print(f"live view: optuna-dashboard {storage_url(run_dir)}", flush=True)
    print(
        f"{cfg.trials} trials of {cfg.steps_per_trial} steps on {cfg.track} ({cfg.preset}), "
        f"{cfg.search} search, {o.workers} at a time ({o.backend}); sweeping {[p.key for p in space.params]}",
        flush=True,
    )
    try:
        if o.backend == "ray":
            from drift.tune.ray_sweep import sweep_ray

            sweep_ray(run_dir, cfg, o.workers, o.address, resume=o.resume is not None)
        else:
            if o.resume is not None:
                redo = recover_interrupted(run_dir, cfg)
                if redo:
                    print(f"interrupted trials {redo} run again first", flush=True)
            sweep_local(run_dir, cfg, o.workers, o.quiet)
    except KeyboardInterrupt:
        print(f"interrupted: the finished trials are kept; continue with drift tune --resume {run_dir}")
        write_report(run_dir, cfg, open_study(run_dir, cfg))
        raise
    m = write_report(run_dir, cfg, open_study(run_dir, cfg))
    if m["best_trial"] is not None:
        best = run_dir / "best_reward.yaml"
        print(f"best trial {m['best_trial']}: score {m['best_score_s']:.2f} s; weights: {best}")
    print(f"run folder: {run_dir}")


def _default_space() -> Path:
    from drift.config import config_dir

    return config_dir() / "tune" / "space.yaml"
