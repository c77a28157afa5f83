"""Reward-weight sweeps: each trial trains QR-SAC with sampled weights and scores the laps it drives.

Search and pruning are optuna's (TPE, random or grid samplers; a median or successive-halving pruner on
the trial's evaluations), the study lives in SQLite in the run folder (``study.db``), so a sweep killed at
any point resumes from it: finished trials stay as they are, trials that were running are marked failed
("interrupted") and their parameters are tried again first. Each trial's agent run folder
(``trials/trial-NNNN``: checkpoints, evaluations, TensorBoard) is kept. With ``workers > 1`` the trials run
in that many processes sharing the study. The Ray Tune backend is :mod:`drift.tune.ray_sweep`.

Report (:func:`write_report`): ``trials.csv`` (and the printed table), ``best_reward.yaml`` (takes
``drift race train --reward``), ``optimization_history.png``, ``param_importances.png``,
``best_learning_curve.png`` and ``metrics.json``.
"""

from __future__ import annotations

import csv
import json
import math
import multiprocessing as mp
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from drift.errors import ConfigError, DriftError
from drift.tune.objective import ObjectiveConfig, score
from drift.tune.space import SearchSpace

__all__ = ["SweepConfig", "run_trial", "sweep_local", "write_report", "STUDY_NAME"]

STUDY_NAME = "drift-tune"
SEARCHES = ("tpe", "random", "grid")
PRUNERS = ("median", "halving", "none")


@dataclass(frozen=True)
class SweepConfig:
    """One sweep: what each trial trains and how trials are chosen and scored.

    Attributes:
        track, preset: the track and racing preset (``iac``, ``f1tenth``) every trial trains on.
        trials: finished trials (complete, pruned or failed) the sweep ends with.
        steps_per_trial: car steps each trial trains. evals_per_trial: deterministic evaluations during a
            trial (the intermediate values the pruner sees; the last at the end).
        search: ``tpe``, ``random`` or ``grid``. pruner: ``median``, ``halving`` (successive halving) or
            ``none``. seed: seed of the sampler and of every trial's training.
        space: the search space. objective: :class:`ObjectiveConfig`.
        qrsac: the agent's settings (a :class:`controllers.qrsac.QRSACConfig` as a dict); swept agent
            keys replace them per trial.
        threads: torch CPU threads per trial.
    """

    track: str
    preset: str
    trials: int
    steps_per_trial: int
    space: SearchSpace
    evals_per_trial: int = 4
    search: str = "tpe"
    pruner: str = "median"
    seed: int = 0
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    qrsac: dict[str, Any] = field(default_factory=dict)
    threads: int = 1

    def __post_init__(self):
        if self.search not in SEARCHES:
            raise ConfigError(f"search must be one of {SEARCHES}, got {self.search!r}")
        if self.pruner not in PRUNERS:
            raise ConfigError(f"pruner must be one of {PRUNERS}, got {self.pruner!r}")
        if min(self.trials, self.steps_per_trial, self.evals_per_trial, self.threads) < 1:
            raise ConfigError("trials, steps_per_trial, evals_per_trial and threads must be >= 1")


# ------------------------------------------------------------------ one trial
def run_trial(
    values: dict[str, Any],
    cfg: SweepConfig,
    trial_dir: Path,
    report: Callable[[dict[str, Any]], None] | None = None,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train one agent with the trial's ``values`` (``{"reward.w_wall": 3.0, ...}``) into ``trial_dir``.

    ``report(best)`` is called after each evaluation with the best-scoring evaluation so far, ``{"score_s",
    "lap_s", "off_course_s", "progress_m", "step"}``, plus ``"at_step"`` (the training step now); it may
    raise to stop the trial (e.g. ``optuna.TrialPruned``). ``say`` gets a progress line at every tenth of
    the trial. Returns the best dict.

    Raises:
        ConfigError: reward or agent values that are not valid (e.g. a negative weight), and whatever
            training raises.
    """
    import torch

    from controllers.qrsac import QRSACConfig, train
    from drift.racing import load_config
    from drift.racing.reward import RewardWeights
    from drift.racing.track import scaled_track

    reward, agent = cfg.space.split(values)
    weights = RewardWeights.from_dict({**RewardWeights().to_dict(), **reward}, source="trial")
    every = max(1, cfg.steps_per_trial // cfg.evals_per_trial)
    qc = QRSACConfig(**{**cfg.qrsac, **agent}).replace(
        seed=cfg.seed, eval_every=every, checkpoint_every=every, log_every=min(every, 1000)
    )
    racing = load_config(cfg.preset, track=cfg.track)
    lap_m = scaled_track(cfg.track, racing.track_scale).length_m
    limit_s = qc.eval_max_steps * racing.dt_s
    best: dict[str, Any] = {}

    def on_eval(ev: dict) -> None:
        s = score(ev, lap_m, limit_s, cfg.objective)
        if not best or s < best["score_s"]:
            best.update(
                score_s=s,
                lap_s=ev.get("best_valid_lap_s"),
                off_course_s=ev.get("off_course_s"),
                progress_m=ev.get("progress_m"),
                step=ev.get("step"),
            )
        if report is not None:
            report({**best, "at_step": int(ev["step"])})

    tenth = {"next": cfg.steps_per_trial / 10}

    def progress(d: dict) -> None:
        if say is not None and d["step"] >= tenth["next"]:
            tenth["next"] += cfg.steps_per_trial / 10
            rate = d["steps_per_s"] or 0.0
            say(f"  {trial_dir.name}: step {d['step']} of {cfg.steps_per_trial} ({rate:.0f} steps/s)")

    torch.set_num_threads(cfg.threads)
    env_kwargs = {"preset": cfg.preset, "vehicle": cfg.preset, "track": cfg.track, "reward": weights}
    train(qc, trial_dir, cfg.steps_per_trial, env_kwargs=env_kwargs, progress=progress, on_evaluation=on_eval)
    return best


# ------------------------------------------------------------------ optuna, one machine
def _sampler(cfg: SweepConfig, worker: int, resumed_at: int = 0):
    """The sampler of worker ``worker``; ``resumed_at`` trials already in the study shift its seed, so a
    resumed sweep does not draw its first trials' parameters again."""
    import optuna

    seed = cfg.seed + 1000 * worker + 7919 * resumed_at
    constraints = None
    if cfg.objective.off_course == "constraint":
        constraints = _constraint
    if cfg.search == "grid":
        return optuna.samplers.GridSampler(cfg.space.grid(), seed=seed)
    if cfg.search == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, constraints_func=constraints)


def _constraint(trial) -> tuple[float]:
    return (trial.user_attrs.get("constraint", math.inf),)


def _pruner(cfg: SweepConfig):
    import optuna

    if cfg.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    if cfg.pruner == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def storage_url(run_dir: Path) -> str:
    """The SQLite URL of the sweep's study, ``sqlite:///<run_dir>/study.db`` (absolute)."""
    return f"sqlite:///{Path(run_dir).resolve() / 'study.db'}"


def open_study(run_dir: Path, cfg: SweepConfig, worker: int = 0):
    """The sweep's optuna study in ``run_dir/study.db`` (created, or loaded to resume). A reader that
    opens a new database at the same moment (optuna-dashboard, another worker) can make the first
    creation of its tables fail; it is retried."""
    import optuna
    import sqlalchemy.exc

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for attempt in range(5):
        try:
            try:
                n = len(optuna.load_study(study_name=STUDY_NAME, storage=storage_url(run_dir)).trials)
            except KeyError:  # a new sweep
                n = 0
            return optuna.create_study(
                study_name=STUDY_NAME,
                storage=storage_url(run_dir),
                direction="minimize",
                sampler=_sampler(cfg, worker, n),
                pruner=_pruner(cfg),
                load_if_exists=True,
            )
        except sqlalchemy.exc.SQLAlchemyError:
            if attempt == 4:
                raise
            time.sleep(0.5)


def _suggest(trial, space: SearchSpace) -> dict[str, Any]:
    out = {}
    for p in space.params:
        if p.choices is not None:
            out[p.key] = trial.suggest_categorical(p.key, list(p.choices))
        elif p.integer:
            out[p.key] = trial.suggest_int(p.key, int(p.low), int(p.high), log=p.log)
        else:
            out[p.key] = trial.suggest_float(p.key, float(p.low), float(p.high), log=p.log)
    return out


def _objective(run_dir: Path, cfg: SweepConfig, say: Callable[[str], None]):
    import optuna

    def objective(trial) -> float:
        values = _suggest(trial, cfg.space)
        trial_dir = Path(run_dir) / "trials" / f"trial-{trial.number:04d}"
        trial.set_user_attr("run_dir", str(trial_dir))
        t0 = time.perf_counter()
        say(f"trial {trial.number} started: {_fmt(values)}")

        def report(best: dict) -> None:
            trial.report(best["score_s"], best["at_step"])
            if trial.should_prune():
                trial.set_user_attr("pruned_at_step", best["at_step"])
                raise optuna.TrialPruned(f"score {best['score_s']:.1f} s at step {best['at_step']}")

        try:
            best = run_trial(values, cfg, trial_dir, report, say)
        except optuna.TrialPruned:
            say(f"trial {trial.number} pruned ({time.perf_counter() - t0:.0f} s)")
            raise
        except KeyboardInterrupt:  # Ctrl-C: not the trial's fault; a resume runs it again
            trial.set_user_attr("interrupted", True)
            trial.set_user_attr("error", "interrupted: the sweep was stopped")
            raise
        except Exception as e:
            trial.set_user_attr("error", f"{type(e).__name__}: {e}")
            say(f"trial {trial.number} failed: {type(e).__name__}: {e}")
            raise
        for k, v in best.items():
            trial.set_user_attr(k, v)
        trial.set_user_attr("constraint", (best.get("off_course_s") or 0.0) - cfg.objective.max_off_course_s)
        lap = best.get("lap_s")
        lap_text = f"best valid lap {lap:.2f} s" if lap else "no valid lap"
        took = time.perf_counter() - t0
        say(f"trial {trial.number} done: score {best['score_s']:.2f} s, {lap_text} ({took:.0f} s)")
        return best["score_s"]

    return objective


def _fmt(values: dict[str, Any]) -> str:
    return ", ".join(
        f"{k.split('.', 1)[1]}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()
    )


def finished(study) -> int:
    """Trials that count towards the budget: complete, pruned or failed, not interrupted."""
    from optuna.trial import TrialState

    states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    return sum(not t.user_attrs.get("interrupted") for t in study.get_trials(deepcopy=False, states=states))


def _worker(run_dir: str, cfg: SweepConfig, worker: int, quiet: bool) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    say = (lambda line: None) if quiet else (lambda line: print(f"[worker {worker}] {line}", flush=True))
    study = open_study(Path(run_dir), cfg, worker)

    def budget(study, trial) -> None:
        if finished(study) >= cfg.trials:
            study.stop()

    if finished(study) >= cfg.trials:
        return
    study.optimize(
        _objective(Path(run_dir), cfg, say),
        n_trials=cfg.trials,
        callbacks=[budget],
        catch=(Exception,),
        gc_after_trial=True,
    )


def recover_interrupted(run_dir: Path, cfg: SweepConfig) -> list[int]:
    """Before a resume: trials a killed sweep left running become failed ("interrupted"), and the
    parameters of every interrupted trial (killed, or stopped by Ctrl-C) are queued to run first. The
    interrupted trials do not count towards the budget. Returns their numbers."""
    from optuna.trial import TrialState

    study = open_study(run_dir, cfg)
    st = study._storage  # optuna's storage API: the public Study has no way to fail another's trial
    requeued = set(study.user_attrs.get("requeued", []))  # a finished trial's attributes are frozen
    redo = []
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.RUNNING:
            st.set_trial_user_attr(t._trial_id, "interrupted", True)
            st.set_trial_user_attr(t._trial_id, "error", "interrupted: the sweep was killed")
            st.set_trial_state_values(t._trial_id, TrialState.FAIL)
        elif not t.user_attrs.get("interrupted"):
            continue
        if t.number not in requeued:
            if t.params:
                study.enqueue_trial(t.params, skip_if_exists=False)
            requeued.add(t.number)
            redo.append(t.number)
    study.set_user_attr("requeued", sorted(requeued))
    return redo


def sweep_local(run_dir: Path, cfg: SweepConfig, workers: int = 1, quiet: bool = False) -> None:
    """Run (or resume) the sweep in ``run_dir`` with ``workers`` processes sharing the study."""
    run_dir = Path(run_dir)
    open_study(run_dir, cfg)  # create it once, before the workers race to
    if workers <= 1:
        _worker(str(run_dir), cfg, 0, quiet)
        return
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=_worker, args=(str(run_dir), cfg, w, quiet), daemon=False) for w in range(workers)
    ]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
    bad = [p.exitcode for p in procs if p.exitcode]
    if bad:
        raise DriftError(
            f"{len(bad)} sweep worker(s) exited with status {bad}; resume with --resume {run_dir}"
        )


# ------------------------------------------------------------------ report
def trial_rows(study) -> list[dict[str, Any]]:
    """One row per trial: number, state, value, parameters and the best evaluation's figures."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        u = t.user_attrs
        rows.append(
            {
                "trial": t.number,
                "state": "interrupted" if u.get("interrupted") else t.state.name.lower(),
                "score_s": t.value,
                **{k: t.params.get(k) for k in sorted(_all_params(study))},
                "lap_s": u.get("lap_s"),
                "off_course_s": u.get("off_course_s"),
                "progress_m": u.get("progress_m"),
                "step": u.get("step") or u.get("pruned_at_step"),
                "duration_s": t.duration.total_seconds() if t.duration else None,
                "error": u.get("error", ""),
                "run_dir": u.get("run_dir", ""),
            }
        )
    return rows


def _all_params(study) -> set[str]:
    return {k for t in study.get_trials(deepcopy=False) for k in t.params}


def write_report(run_dir: Path, cfg: SweepConfig, study, print_table: bool = True) -> dict[str, Any]:
    """Write the sweep's table, best reward YAML, plots and metrics (module doc); return the metrics."""
    from optuna.trial import TrialState

    run_dir = Path(run_dir)
    rows = trial_rows(study)
    with open(run_dir / "trials.csv", "w", newline="") as fh:
        if rows:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    metrics: dict[str, Any] = {
        "trials": len(rows),
        "complete": len(complete),
        "pruned": sum(r["state"] == "pruned" for r in rows),
        "failed": sum(r["state"] == "fail" for r in rows),
        "interrupted": sum(r["state"] == "interrupted" for r in rows),
        "best_trial": None,
        "best_score_s": None,
        "best_lap_s": None,
        "study": storage_url(run_dir),
    }
    if complete:
        best = min(complete, key=lambda t: t.value)
        reward, _ = cfg.space.split(best.params)
        from drift.racing.reward import RewardWeights

        weights = RewardWeights.from_dict({**RewardWeights().to_dict(), **reward}, source="best trial")
        (run_dir / "best_reward.yaml").write_text(
            f"# drift tune: best trial {best.number} of {run_dir} (score {best.value:.3f} s)\n"
            + yaml.safe_dump(weights.to_dict(), sort_keys=False)
        )
        metrics.update(
            best_trial=best.number,
            best_score_s=best.value,
            best_lap_s=best.user_attrs.get("lap_s"),
            best_params=best.params,
            best_run_dir=best.user_attrs.get("run_dir"),
        )
        _plots(run_dir, study, best)
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str) + "\n")
    if print_table:
        _print_table(rows)
    return metrics


def _plots(run_dir: Path, study, best) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import warnings

    import matplotlib.pyplot as plt
    import optuna
    import optuna.visualization.matplotlib as ovm

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

    ax = ovm.plot_optimization_history(study)
    ax.set_ylabel("score (s, lower is better)")
    ax.figure.savefig(run_dir / "optimization_history.png", dpi=120, bbox_inches="tight")
    plt.close("all")
    try:
        ax = ovm.plot_param_importances(study)
        ax.figure.savefig(run_dir / "param_importances.png", dpi=120, bbox_inches="tight")
    except (ValueError, RuntimeError, ZeroDivisionError) as e:  # too few complete trials to tell
        fig, ax = plt.subplots(figsize=(5, 2))
        ax.text(0.5, 0.5, f"parameter importances need more complete trials\n({e})", ha="center", va="center")
        ax.set_axis_off()
        fig.savefig(run_dir / "param_importances.png", dpi=120)
    plt.close("all")
    evals = Path(best.user_attrs.get("run_dir", "")) / "evaluations.json"
    fig, ax = plt.subplots(figsize=(6, 3.5))
    if evals.is_file():
        ev = json.loads(evals.read_text())
        ax.plot([e["step"] for e in ev], [e["progress_m"] for e in ev], "o-", label="progress (m)")
        laps = [(e["step"], e["best_valid_lap_s"]) for e in ev if e.get("best_valid_lap_s")]
        if laps:
            ax2 = ax.twinx()
            ax2.plot(*zip(*laps, strict=True), "s--", color="C1", label="best valid lap (s)")
            ax2.set_ylabel("best valid lap (s)")
    ax.set_xlabel("car steps")
    ax.set_ylabel("evaluation progress (m)")
    ax.set_title(f"best trial {best.number}: learning curve")
    fig.savefig(run_dir / "best_learning_curve.png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def _print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    if not rows:
        return
    params = [k for k in rows[0] if "." in k]
    t = Table(title="drift tune: trials (score: lower is better)")
    for col in ("trial", "state", "score_s", *(p.split(".", 1)[1] for p in params), "lap_s", "off_course_s"):
        t.add_column(col)

    def f(v):
        return "-" if v is None or v == "" else f"{v:.4g}" if isinstance(v, float) else str(v)

    for r in rows:
        t.add_row(
            f(r["trial"]),
            r["state"],
            f(r["score_s"]),
            *(f(r[p]) for p in params),
            f(r["lap_s"]),
            f(r["off_course_s"]),
        )
    Console().print(t)
