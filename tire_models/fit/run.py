"""``drift fit`` end to end: split, fit every model, evaluate, write the run folder."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from drift.errors import DriftError
from drift.runs import write_metrics
from drift.vehicle import load_vehicle
from drift.vehicle.params import VehicleParams
from tire_models.fit.delay import choose_steer_delay, delay_steering
from tire_models.fit.evaluate import model_metrics, peak_check, persistence_metrics, predictions, step_rmse
from tire_models.fit.forces import LongitudinalMap, fit_longitudinal_map
from tire_models.fit.pipeline import (
    RECORDING_TERMS,
    FitConfig,
    FitInterrupted,
    FitResult,
    LogArrays,
    calibrate_recording,
    fit_one,
    force_samples,
    load_config,
    prepare,
    save_config,
    straight_line_vy_offset,
)
from tire_models.fit.sensor import SensorTerms, default_bounds
from tire_models.io import load_tires, read_model_yaml, save_tires

SENSOR_UNITS = {
    "x_s_m": "m",
    "delta_offset_rad": "rad",
    "delta_scale": "-",
    "vy_offset_per_vx": "-",
    "vy_bias_mps": "m/s",
    "Iz_kgm2": "kg m^2",
    "Fyf_offset_N": "N",
    "Fyr_offset_N": "N",
}


def _extra(
    res: FitResult,
    p: VehicleParams,
    lon: LongitudinalMap,
    source: str,
    delay: dict[str, Any],
    road: list[str],
) -> dict[str, Any]:
    """``model.yaml``'s sections beside the tyres: what belongs to the car (``vehicle``, ``car``), and what
    belongs to the recording it was fitted on (``recording``: the log, its sensor mounting and
    steering channel, steering delay, longitudinal map and road), which ``drift eval --calibrate``
    re-estimates on another log."""
    b = default_bounds(p)
    terms = res.sensor.to_dict()
    return {
        "vehicle": p.to_dict(),
        "car": {k: float(v) for k, v in terms.items() if k not in RECORDING_TERMS},
        "recording": {
            "log": source,
            **{k: float(v) for k, v in terms.items() if k in RECORDING_TERMS},
            **{k: v for k, v in delay.items() if k != "steer_delay_fit_s"},  # a timing, in metrics.json
            "longitudinal_map": lon.to_dict(),
            "road": list(road),
        },
        "sensor_bounds": {k: [float(lo), float(hi)] for k, (lo, hi) in b.items()},
        "bounds_hit": list(res.at_bounds),
        "fit_s": float(res.fit_s),
    }


def read_fit_sections(d: dict) -> tuple[SensorTerms, dict]:
    """``(sensor terms, recording section)`` of a parsed ``model.yaml``; also of one written before the
    car/recording split (flat ``sensor``, ``longitudinal_map`` and ``steer_delay_*`` at the top)."""
    if "car" in d:
        rec = dict(d["recording"])
        return SensorTerms.from_dict({**d["car"], **rec}), rec
    old = {k: d[k] for k in ("log", "longitudinal_map", "steer_delay_s", "steer_delay_samples") if k in d}
    return SensorTerms.from_dict(d["sensor"]), old


def _load_result(folder: Path) -> FitResult:
    d, _ = read_model_yaml(folder)
    return FitResult(
        d["model"],
        load_tires(folder),
        read_fit_sections(d)[0],
        list(d.get("bounds_hit", [])),
        float(d["fit_s"]),
        {},
    )


def run_fit(
    log,
    cfg: FitConfig,
    run_dir: str | Path,
    resume: bool = False,
    stop_after_epoch: int | None = None,
    echo=print,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Fit ``cfg.models`` on the first ``cfg.minutes`` of ``log`` and evaluate on the rest.

    Writes into ``run_dir``: ``model.yaml`` (+ ``weights.pt``) of ``cfg.model``, ``baselines/<name>/``
    for every model, ``metrics.json``, ``curves.png``, ``timeseries.png``, ``fit_config.json`` and
    ``checkpoints/`` (one per model, updated after every stage-2 epoch).

    Args:
        log: a :class:`drift.logs.DrivingLog`.
        cfg: fit options (with ``resume`` they are read back from ``run_dir/fit_config.json``).
        run_dir: run folder.
        resume: continue an interrupted fit in ``run_dir``; finished models are loaded, not refitted.
        stop_after_epoch: stop each unfinished model after this epoch (tests of resume).
        echo: where to print messages.
    Returns:
        The metrics written to ``metrics.json``.
    Raises:
        DriftError: bad options, too little data, a missing ``fit_config.json`` on resume.
        FitInterrupted: when ``stop_after_epoch`` stopped a fit.
    """
    torch.set_num_threads(max(1, min(torch.get_num_threads(), 2)))
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume:
        cfg, _ = load_config(run_dir)
    else:
        # a fresh fit never continues from checkpoints left in the folder by an earlier run
        for name in cfg.models:
            (run_dir / "checkpoints" / f"{name}.pt").unlink(missing_ok=True)
        save_config(cfg, run_dir, {"log": str(log.source)})
    p = load_vehicle(cfg.vehicle)
    train_log, test_log = log.split(cfg.minutes, cfg.min_speed_mps)
    seg = np.asarray(train_log.segment)
    lon = fit_longitudinal_map(
        {k: np.asarray(train_log[k]) for k in train_log.data}, seg, train_log.dt, p, source=str(log.source)
    )
    if lon.kind != "logged":
        lo, hi = lon.vx_range_mps
        echo(
            f"longitudinal map throttle/brake -> Fx: R^2 {lon.r2:.2f}, delay {lon.delay_s:.2f} s, "
            f"fitted at {lo:.0f}-{hi:.0f} m/s"
        )
    train, test = prepare(train_log, lon, max_wheel_slip=cfg.max_wheel_slip), prepare(test_log, lon)
    for note in train.notes:
        echo(note)
    if train.fit_mask is not None:
        echo(
            f"wheel spin: {int((~train.fit_mask).sum())} of {len(train)} training samples have a driven-"
            f"wheel slip beyond {cfg.max_wheel_slip:g} and are left out of the fit (kept in the evaluation)"
        )
    # steering delay: chosen on the training data only, then applied to every model and persistence
    t_delay = time.perf_counter()
    if cfg.steer_delay_s is None:
        from tqdm.auto import tqdm

        n_cand = int(round(cfg.max_steer_delay_s / train.dt)) + 1
        with tqdm(total=n_cand, desc="steering delay probe", disable=not show_progress) as pb:
            delay_s, scores = choose_steer_delay(
                train,
                p,
                cfg.sensor_terms,
                cfg.max_steer_delay_s,
                cfg.eval_horizon_s,
                progress=lambda: pb.update(1),
            )
        k = int(round(delay_s / train.dt))
        echo(
            f"steering delay {delay_s:.2f} s ({k} samples; fitted on the training data by the "
            f"{cfg.eval_horizon_s:g} s rollout error, box 0..{cfg.max_steer_delay_s:g} s)"
        )
    else:
        k, scores = int(round(cfg.steer_delay_s / train.dt)), {}
    delay = {
        "steer_delay_s": k * train.dt,
        "steer_delay_samples": k,
        "steer_delay_fitted": cfg.steer_delay_s is None,
        "steer_delay_bounds_s": [0.0, float(cfg.max_steer_delay_s)],
        "steer_delay_scores": scores,
        "steer_delay_fit_s": time.perf_counter() - t_delay,
    }
    if cfg.steer_delay_s is None and k >= int(round(cfg.max_steer_delay_s / train.dt)) > 0:
        echo(f"note: the fitted steering delay is at its bound {cfg.max_steer_delay_s:g} s")
    train, test = delay_steering(train, k), delay_steering(test, k)
    if len(test.window_starts(1)) == 0:
        raise DriftError(
            f"{log.source}: no held-out data after the first {cfg.minutes} min; use fewer --minutes"
        )

    from tqdm.auto import tqdm

    H = max(1, int(round(cfg.horizon_s / train.dt)))
    steps = cfg.epochs * int(np.ceil(len(train.fit_starts(H)) / cfg.batch))
    bar = tqdm(
        total=steps * len(cfg.models),
        desc="fit (stage 2 steps)",
        unit="step",
        disable=not show_progress,
        mininterval=1.0,
    )
    results: dict[str, FitResult] = {}
    try:
        for name in cfg.models:
            folder = run_dir / "baselines" / name
            if resume and (folder / "model.yaml").exists():
                results[name] = _load_result(folder)
                bar.update(steps)
                continue
            bar.set_description(f"fit {name}")
            res = fit_one(
                name,
                train,
                p,
                cfg,
                ckpt=run_dir / "checkpoints" / f"{name}.pt",
                progress=bar.update,
                stop_after_epoch=stop_after_epoch,
            )
            save_tires(res.tires, folder, _extra(res, p, lon, str(log.source), delay, train.notes))
            results[name] = res
    except KeyboardInterrupt:
        bar.close()
        raise DriftError(
            f"interrupted; checkpoints are in {run_dir}/checkpoints: continue with --resume {run_dir}"
        ) from None
    except FitInterrupted:
        bar.close()
        raise
    bar.close()

    main = results[cfg.model]
    save_tires(main.tires, run_dir, _extra(main, p, lon, str(log.source), delay, train.notes))

    # ---- evaluation --------------------------------------------------------------------
    baselines: dict[str, Any] = {"persistence": persistence_metrics(test, cfg.eval_horizon_s)}
    for name, res in results.items():
        t0 = time.perf_counter()
        baselines[name] = {
            **model_metrics(res, p, test, cfg.eval_horizon_s, cfg.substeps),
            "fit_s": res.fit_s,
            "eval_s": time.perf_counter() - t0,
            "sensor": res.sensor.to_dict(),
            "bounds_hit": list(res.at_bounds),
        }
    held = baselines[cfg.model]
    # each model against the force samples under its own sensor terms
    peaks = {n: peak_check(_fit_samples(r, p, train), r.tires) for n, r in results.items()}
    metrics = {
        "model": cfg.model,
        "train_minutes": cfg.minutes,
        "fit_s": main.fit_s,
        "heldout": {k: held[k] for k in ("one_step_rmse", "multi_step_rmse", "horizon_s")},
        "baselines": baselines,
        "sensor": main.sensor.to_dict(),
        "bounds_hit": list(main.at_bounds),
        "peak_check": peaks,
        "train_samples_left_out_wheel_spin": int((~train.mask()).sum()),
        "road": list(train.notes),
        "longitudinal_map": lon.to_dict(),
        **delay,
        "train_samples": len(train),
        "heldout_samples": len(test),
        "log": str(log.source),
        "vehicle": p.name,
        "beats_persistence_multi_step": {
            c: held["multi_step_rmse"][c] < baselines["persistence"]["multi_step_rmse"][c]
            for c in ("vx", "vy", "r")
        },
    }
    write_metrics(run_dir, metrics)
    _plots(results, p, train, test, cfg, run_dir)
    _report(metrics, results, cfg, echo)
    return metrics


def _fit_samples(res: FitResult, p: VehicleParams, train: LogArrays) -> dict[str, np.ndarray]:
    """The force samples the fit used (``train.fit_mask``), under the sensor terms of ``res``."""
    keep = train.mask()
    return {k: v[keep] for k, v in force_samples(res.module(p), train).items()}


def _plots(
    results: dict[str, FitResult],
    p: VehicleParams,
    train: LogArrays,
    test: LogArrays,
    cfg: FitConfig,
    run_dir: Path,
) -> None:
    from tire_models.fit.plots import plot_curves, plot_timeseries

    main = results[cfg.model]
    samples = _fit_samples(main, p, train)
    plot_curves(
        samples,
        {n: r.tires for n, r in results.items()},
        run_dir / "curves.png",
        title=f"fitted tyre curves over force samples (sensor terms of {cfg.model})",
    )
    # open-loop rollouts restarted from the log every eval horizon, first 60 s of the held-out part
    H = max(1, int(round(cfg.eval_horizon_s / test.dt)))
    n = min(len(test), int(60.0 / test.dt))
    starts = np.array([k for k in range(0, n - H, H) if test.segment[k] == test.segment[k + H]], dtype=int)
    meas = test.meas().numpy()[:n]
    preds = {}
    for name, res in results.items():
        y = np.full((n, 3), np.nan)
        if len(starts):
            pr = predictions(res, p, test, starts, H, cfg.substeps).numpy()
            for i, k in enumerate(starts):
                y[k + 1 : k + H + 1] = pr[i]
        preds[name] = y
    plot_timeseries(
        test.t[:n],
        meas,
        preds,
        run_dir / "timeseries.png",
        title=f"held-out: {cfg.eval_horizon_s:g} s open-loop rollouts restarted from the log",
    )


def _report(metrics: dict, results: dict[str, FitResult], cfg: FitConfig, echo) -> None:
    from rich.console import Console
    from rich.table import Table

    base = metrics["baselines"]
    pers = base["persistence"]
    tab = Table(
        title=f"held-out RMSE ({metrics['heldout_samples']} samples; multi-step over "
        f"{pers['horizon_s']:.2f} s; vx, vy in m/s, r in rad/s; * = worse than persistence)"
    )
    tab.add_column("model", no_wrap=True)
    for c in ("vx", "vy", "r"):
        tab.add_column(f"1-step {c}", justify="right", no_wrap=True)
    for c in ("vx", "vy", "r"):
        tab.add_column(f"{pers['horizon_s']:.0f} s {c}", justify="right", no_wrap=True)
    tab.add_column("fit s", justify="right", no_wrap=True)
    for name, m in base.items():
        cells = []
        for key in ("one_step_rmse", "multi_step_rmse"):
            for c in ("vx", "vy", "r"):
                v = m[key][c]
                worse = name != "persistence" and v >= pers[key][c]
                cells.append(f"[red]{v:.4f}*[/red]" if worse else f"{v:.4f}")
        tab.add_row(
            name + (" (main)" if name == cfg.model else ""),
            *cells,
            f"{m['fit_s']:.1f}" if "fit_s" in m else "-",
        )
    Console(width=max(Console().width, 110)).print(tab)
    for name, axles in metrics["peak_check"].items():
        for axle, c in axles.items():
            if c["curve_peak"] is None:
                continue
            line = (
                f"{name}: {axle} peak Fy/Fz {c['curve_peak']:.2f}, force samples {c['sample_peak']:.2f} "
                f"({100 * c['rel_diff']:+.0f} %, slip up to {c['slip_max_deg']:.0f} deg)"
            )
            if not c["ok"]:
                echo(f"warning: {line}: the curve misses its samples by more than 10 %; see curves.png")
            elif name == cfg.model:
                echo(line + ("" if c["judged"] else ": not judged, the samples do not saturate"))
    for name, res in results.items():
        if res.at_bounds:
            echo(
                f"note: {name}: fitted terms at their bounds: {', '.join(res.at_bounds)} "
                "(the data pushes them to the edge of their physical box; see model.yaml)"
            )
    s = results[cfg.model].sensor
    echo(
        "sensor terms ("
        + cfg.model
        + "): "
        + ", ".join(f"{k}={v:.4g} {SENSOR_UNITS[k]}" for k, v in s.to_dict().items())
    )


def run_eval(
    log,
    fit_dir: str | Path,
    run_dir: str | Path,
    dd_steps: int | None = None,
    calibrate: str = "none",
    calibration_minutes: float = 1.0,
    echo=print,
) -> dict:
    """Held-out errors of a ``drift fit`` run's models on another log (``drift eval``).

    Every model of the run (``model.yaml`` and ``baselines/``) with its own sensor terms, the run's
    steering delay and longitudinal map, on ``log`` above the run's ``min_speed_mps``; against
    persistence on the same windows. Writes ``metrics.json`` (the keys of :func:`run_fit`'s
    evaluation), ``timeseries.png`` and ``curves.png`` (the fitted curves over this log's force samples)
    into ``run_dir`` and prints the table.

    Per-log calibration, on the first ``calibration_minutes`` of ``log``, which are then not scored:
    the sensor terms that belong to a recording, not to the car (:data:`~tire_models.fit.pipeline.
    RECORDING_TERMS`). ``"offsets"``: the sideslip offsets from the straights
    (:func:`~tire_models.fit.pipeline.straight_line_vy_offset`); ``"all"``: every recording term and the
    steering delay, the tyres frozen (:func:`~tire_models.fit.pipeline.calibrate_recording`); ``"none"``:
    the whole log with the run's terms. ``metrics["calibration"]`` reports every change.

    Args:
        log: a :class:`drift.logs.DrivingLog`. fit_dir: the run folder of ``drift fit``.
        dd_steps: also the Deep Dynamics protocol: one-step and step-``dd_steps`` RMSE (e.g. 15),
            ``metrics["deep_dynamics"]``.
        calibrate: ``"none"``, ``"offsets"`` or ``"all"``. calibration_minutes: the calibration part (min).
    Raises:
        DriftError: not a fit run folder; the log lacks the inputs the run's longitudinal map needs;
            an unknown ``calibrate``; too little log for the calibration minutes.
    """
    if calibrate not in ("none", "offsets", "all"):
        raise DriftError(f"--calibrate must be 'none', 'offsets' or 'all', got {calibrate!r}")
    if calibrate != "none" and not calibration_minutes > 0:
        raise DriftError(f"--calibration-minutes must be positive, got {calibration_minutes}")
    from tire_models.fit.pipeline import load_config

    fit_dir, run_dir = Path(fit_dir), Path(run_dir)
    if not (fit_dir / "model.yaml").exists() or not (fit_dir / "fit_config.json").exists():
        raise DriftError(f"--tires {fit_dir}: not a drift fit run folder (model.yaml, fit_config.json)")
    cfg, saved = load_config(fit_dir)
    y, _ = read_model_yaml(fit_dir)
    rec = read_fit_sections(y)[1]
    from drift.vehicle.tires import fitted_vehicle

    p = fitted_vehicle(y) or load_vehicle(cfg.vehicle)
    lon = LongitudinalMap.from_dict(rec.get("longitudinal_map", {"kind": "logged"}))
    missing = [k for k in lon.needs() if not log.has(k)]
    if missing:
        raise DriftError(
            f"{log.source}: the fit's longitudinal map ({lon.kind}) needs {missing}; map them in --column-map"
        )
    vx_hi = float(np.percentile(np.asarray(log["vx"]), 99))
    if lon.vx_range_mps is not None and vx_hi > 1.2 * lon.vx_range_mps[1]:
        echo(
            f"note: this log reaches {vx_hi:.0f} m/s; the longitudinal map was fitted at "
            f"{lon.vx_range_mps[0]:.0f}-{lon.vx_range_mps[1]:.0f} m/s and extrapolates beyond"
        )
    if calibrate == "none":
        scored, cal = log.select(min_speed_mps=cfg.min_speed_mps), None
    else:
        cal, scored = log.split(calibration_minutes, cfg.min_speed_mps)
    delay = int(rec.get("steer_delay_samples", 0))
    results = {cfg.model: _load_result(fit_dir)}
    for name in cfg.baselines:
        if name != cfg.model and (fit_dir / "baselines" / name / "model.yaml").exists():
            results[name] = _load_result(fit_dir / "baselines" / name)
    calibration = None
    if cal is not None:
        a_cal = prepare(cal, lon)
        before = {n: r.sensor.to_dict() for n, r in results.items()}
        if calibrate == "offsets":
            kb = straight_line_vy_offset(a_cal)
            if kb is None:
                echo(f"calibration: too few straights in {calibration_minutes:g} min; the fit's offsets kept")
            for name, res in results.items():
                if kb is not None:
                    new = dataclasses.replace(res.sensor, vy_offset_per_vx=kb[0], vy_bias_mps=kb[1])
                    results[name] = dataclasses.replace(res, sensor=new)
        else:  # the main model picks the delay, as in the fit; every model gets its own terms
            K = int(round(cfg.max_steer_delay_s / a_cal.dt))
            terms, delay, scores = calibrate_recording(results[cfg.model], p, a_cal, range(K + 1))
            results[cfg.model] = dataclasses.replace(results[cfg.model], sensor=terms)
            for name, res in results.items():
                if name != cfg.model:
                    terms, _, _ = calibrate_recording(res, p, a_cal, (delay,))
                    results[name] = dataclasses.replace(res, sensor=terms)
        changed = {
            n: {
                k: {"before": before[n][k], "after": float(getattr(r.sensor, k))}
                for k in before[n]
                if abs(before[n][k] - getattr(r.sensor, k)) > 1e-6 * max(1.0, abs(before[n][k]))
            }
            for n, r in results.items()
        }
        calibration = {
            "minutes": calibration_minutes,
            "steer_delay_s": {"before": float(rec.get("steer_delay_s", 0.0)), "after": delay * a_cal.dt},
            **({"steer_delay_scores": scores} if calibrate == "all" else {}),
            **changed,
        }
        echo(f"calibration on the first {calibration_minutes:g} min of the log (not scored), {cfg.model}:")
        for k, v in calibration[cfg.model].items():
            echo(f"  {k}: {v['before']:.4g} -> {v['after']:.4g}")
        if calibrate == "all":
            echo(f"  steer_delay_s: {calibration['steer_delay_s']['before']:.2f} -> {delay * a_cal.dt:.2f}")
    a = delay_steering(prepare(scored, lon), delay)
    for note in a.notes:
        echo(note)
    if len(a.window_starts(1)) == 0:
        raise DriftError(f"{log.source}: no window of two samples above {cfg.min_speed_mps} m/s to evaluate")
    run_dir.mkdir(parents=True, exist_ok=True)
    baselines: dict[str, Any] = {"persistence": persistence_metrics(a, cfg.eval_horizon_s)}
    for name, res in results.items():
        baselines[name] = model_metrics(res, p, a, cfg.eval_horizon_s, cfg.substeps)
    held = baselines[cfg.model]
    metrics = {
        "model": cfg.model,
        "fit_run": str(fit_dir),
        "fit_log": saved.get("log"),
        "log": str(log.source),
        "vehicle": p.name,
        "heldout": {k: held[k] for k in ("one_step_rmse", "multi_step_rmse", "horizon_s")},
        "baselines": baselines,
        "heldout_samples": len(a),
        "steer_delay_s": delay * a.dt,
        "road": list(a.notes),
        "peak_check": {n: peak_check(_fit_samples(r, p, a), r.tires) for n, r in results.items()},
        "calibrate": calibrate,
        "calibration": calibration,
    }
    if dd_steps:
        metrics["deep_dynamics"] = {
            name: {
                "one_step_rmse": m["one_step_rmse"],
                f"step_{dd_steps}_rmse": step_rmse(results.get(name), p, a, dd_steps, cfg.substeps),
            }
            for name, m in baselines.items()
        }
    write_metrics(run_dir, metrics)
    _plots(results, p, a, a, cfg, run_dir)
    _report(metrics, results, cfg, echo)
    if dd_steps:
        echo(f"Deep Dynamics protocol (one step and step {dd_steps}; vx, vy m/s, r rad/s):")
        for name, m in metrics["deep_dynamics"].items():
            one, last = m["one_step_rmse"], m[f"step_{dd_steps}_rmse"]
            echo(
                f"  {name:12s} 1-step {one['vx']:.4f} / {one['vy']:.4f} / {one['r']:.4f}   "
                f"step-{dd_steps} {last['vx']:.4f} / {last['vy']:.4f} / {last['r']:.4f}"
            )
    return metrics


def load_fit_log(path, column_map=None, mass_kg: float | None = None):
    """Load the log for ``drift fit`` (``None``: the shipped IAC excerpt).

    Args:
        path: log file or bag directory (see :func:`drift.logs.load_log`), or ``None``.
        column_map: YAML column map for a generic CSV.
        mass_kg: vehicle mass (kg); turns the ``acceleration`` of Ackermann drive commands in a rosbag2
            recording into ``Fx = mass_kg * acceleration`` (N). Ignored by the other readers.
    Raises:
        LogError: see :func:`drift.logs.load_log`.
    """
    from drift.logs import load_log

    kw = {"mass_kg": mass_kg} if mass_kg is not None else {}
    return load_log(path, column_map=column_map, **kw)
