"""The same sweep on Ray Tune: optuna's sampler as Ray's search algorithm (``OptunaSearch``), Ray's
schedulers as the pruner (median stopping rule, asynchronous successive halving), on a local Ray instance
or an existing cluster (``address``). Needs ``pip install 'drift[ray]'``.

Same search space, objective and output as :mod:`drift.tune.sweep`: every trial trains into
``trials/trial-<id>`` with :func:`drift.tune.sweep.run_trial`; Ray keeps its experiment in ``ray/`` (a
resume restores it and reruns only unfinished trials), and when it ends the results are written into
``study.db`` as an optuna study, from which :func:`drift.tune.sweep.write_report` makes the same table,
YAML and plots.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from drift.errors import DriftError
from drift.tune.sweep import STUDY_NAME, SweepConfig, run_trial, storage_url

__all__ = ["check_ray", "sweep_ray"]

METRIC = "score_s"


def check_ray() -> None:
    """Raise a DriftError naming the extra to install when Ray Tune is missing."""
    try:
        import ray  # noqa: F401
        from ray import tune  # noqa: F401
        from ray.tune.search.optuna import OptunaSearch  # noqa: F401
    except ImportError as e:
        raise DriftError(f"--backend ray needs Ray Tune ({e}): pip install 'drift[ray]'") from None


def _trainable(values: dict[str, Any], cfg: SweepConfig, run_dir: str) -> None:
    from ray import tune

    trial_dir = Path(run_dir) / "trials" / f"trial-{tune.get_context().get_trial_id()}"

    def report(best: dict) -> None:
        tune.report({**{k: v for k, v in best.items() if v is not None}, "run_dir": str(trial_dir)})

    run_trial(values, cfg, trial_dir, report)


def _scheduler(cfg: SweepConfig):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, MedianStoppingRule

    if cfg.pruner == "median":
        return MedianStoppingRule(time_attr="training_iteration", min_samples_required=2, grace_period=1)
    if cfg.pruner == "halving":
        return ASHAScheduler(
            time_attr="training_iteration", max_t=cfg.evals_per_trial + 1, grace_period=1
        )  # a trial reports evals_per_trial evaluations, one more when its end falls between two
    return FIFOScheduler()


def sweep_ray(
    run_dir: Path, cfg: SweepConfig, workers: int, address: str | None, resume: bool = False
) -> None:
    """Run (or, with ``resume``, restore and finish) the sweep on Ray Tune; then write ``study.db``."""
    import ray
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    from drift.tune.sweep import _sampler

    run_dir = Path(run_dir).resolve()
    started = False
    if not ray.is_initialized():
        try:
            if address:
                ray.init(address=address, log_to_driver=True)
            else:
                ray.init(address="local", include_dashboard=False, log_to_driver=True)
        except Exception as e:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ...
            where = f"the Ray cluster at {address}" if address else "a local Ray instance"
            raise DriftError(
                f"cannot start or join {where} ({type(e).__name__}: {e}); check --address "
                "(ray start --head prints it) or leave it out for a local instance"
            ) from None
        started = True
    try:
        trainable = tune.with_resources(
            tune.with_parameters(_trainable, cfg=cfg, run_dir=str(run_dir)), {"cpu": cfg.threads}
        )
        path = run_dir / "ray" / "sweep"
        if resume and tune.Tuner.can_restore(str(path)):
            tuner = tune.Tuner.restore(str(path), trainable, restart_errored=False, resume_unfinished=True)
        else:
            search = OptunaSearch(
                space=cfg.space.distributions(), metric=METRIC, mode="min", sampler=_sampler(cfg, 0)
            )
            tuner = tune.Tuner(
                trainable,
                tune_config=tune.TuneConfig(
                    search_alg=search,
                    scheduler=_scheduler(cfg),
                    metric=METRIC,
                    mode="min",
                    num_samples=cfg.trials,
                    max_concurrent_trials=max(1, workers),
                ),
                run_config=tune.RunConfig(
                    name="sweep",
                    storage_path=str(run_dir / "ray"),
                    verbose=1,
                    failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
                ),
            )
        results = tuner.fit()
    finally:
        if started:
            ray.shutdown()
    _write_study(run_dir, cfg, results)


def _write_study(run_dir: Path, cfg: SweepConfig, results) -> None:
    """The Ray results as an optuna study in ``study.db`` (rebuilt from them every time)."""
    import optuna
    from optuna.trial import TrialState, create_trial

    url = storage_url(run_dir)
    try:
        optuna.delete_study(study_name=STUDY_NAME, storage=url)
    except KeyError:
        pass
    study = optuna.create_study(study_name=STUDY_NAME, storage=url, direction="minimize")
    dists = cfg.space.distributions()
    for r in sorted(results, key=lambda r: str(r.path)):
        params = {k: v for k, v in (r.config or {}).items() if k in dists}
        m = r.metrics or {}
        attrs = {k: m.get(k) for k in ("lap_s", "off_course_s", "progress_m", "step", "run_dir") if k in m}
        stopped = m.get("training_iteration", 0) < cfg.evals_per_trial and m.get("done") is not True
        if r.error is not None:
            state, value = TrialState.FAIL, None
            attrs["error"] = f"{type(r.error).__name__}: {r.error}"[:500]
        elif METRIC in m and stopped:
            state, value = TrialState.PRUNED, None
        elif METRIC in m:
            state, value = TrialState.COMPLETE, float(m[METRIC])
        else:
            state, value = TrialState.FAIL, None
        if len(params) != len(dists):
            continue  # a trial Ray never configured
        study.add_trial(
            create_trial(params=params, distributions=dists, value=value, state=state, user_attrs=attrs)
        )
