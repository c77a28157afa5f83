"""Benchmark: learned tyres (exptanh, neural_ode) against the baselines on the shared IAC log.

Part 1 (our protocol, issue 3): ``drift fit`` pipeline, first ``--minutes`` (3) of driving for
training, the rest held out; prints every model's held-out one-step and 1 s multi-step RMSE of
``vx, vy, r``, its fit time and the ratio to the fitted Pacejka model, plus persistence.

Part 2 (Deep Dynamics protocol, Chrosniak et al. RA-L 2024; issue 3 "Peer comparison"): only the
first contiguous stretch with ``vx >= 5 m/s``; windows of 15 samples of history plus the next
step. Our models are state-space models: they predict from the last state of the history with the
logged inputs (zero-order hold), so the history is not used. Cases:

* ``random``: windows split 80/20 at random (``torch.manual_seed(0)``; ``torch.randperm``); the
  model is fitted on the samples the training windows cover (nearly all of them: the split leaks);
* ``chrono``: first 80 % of the windows for training, last 20 % for testing, one-step and 15-step
  (0.6 s at 25 Hz) open-loop rollouts;
* ``chrono-3min``: the same test windows, the model fitted on only the first 3 minutes.

Deep Dynamics' own figures (from the issue, trained 27 min on 2 cores) are printed alongside.
Rows ``H=15`` pool the errors of steps 1..15; rows ``step 15`` are the error of the 15th step
alone, which is what the issue's 15-step figures are: its persistence row (0.724 / 0.049 / 0.028)
is reproduced exactly by the step-15 error of persistence on these windows, not by the pooled one
(0.442 / 0.034 / 0.018). Compare with Deep Dynamics' 15-step figures on the ``step 15`` rows.

Steering delay: the pipeline now FITS it (``FitConfig.steer_delay_s=None``, the default; see
:mod:`tire_models.fit.delay`: 0.16 s on this log, chosen on the training minutes by the rollout
error) and applies it to every model; ``--steer-delay N`` delays ``delta`` by N more samples on
top of it (default 0). History: the IAC log's steering command leads the measured yaw
response. With an ExpTanh fitted on the first 3 minutes WITHOUT delay, the 1 s open-loop RMSE of
``r`` on those TRAINING minutes is 0.0152 / 0.0083 / 0.0069 / 0.0099 rad/s for a delay of
0 / 3 / 5 / 7 samples (0.04 s each), so 5 samples (0.2 s) is chosen on training data only and
applied to every model alike (the comparison stays fair). ``--steer-delay auto`` instead picks
the delay by the equation error of ``dr/dt`` (it prefers 1 sample on this log: the smoothed
derivative is a weaker criterion than the rollouts the targets are measured on).

Run: ``python benchmarks/fit_learned.py [--log PATH] [--quick]`` (``--quick``: fewer epochs, a
smoke run; the figures in the report come from the default).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

DD = {  # Deep Dynamics figures from issue 3 (RMSE vx, vy, r)
    "random one-step": (0.024, 0.014, 0.0044),
    "chrono one-step": (0.028, 0.016, 0.0052),
    "chrono step 15": (0.194, 0.039, 0.0096),  # the 15th step of the rollout (see the docstring)
}
DEFAULT_LOG = (
    Path(__file__).resolve().parents[1].parent / "shared/data/driving/iac/Putnam_park2023_run4_2.csv"
)


def _fmt(r: dict) -> str:
    return "  ".join(f"{c} {r[c]:.4f}" for c in ("vx", "vy", "r"))


def part1(log, models, cfg_kw, out: Path) -> dict:
    from tire_models.fit.pipeline import FitConfig
    from tire_models.fit.run import run_fit

    cfg = FitConfig(model=models[0], baselines=tuple(models[1:]), **cfg_kw)
    metrics = run_fit(log, cfg, out, echo=lambda *a: None, show_progress=False)
    b = metrics["baselines"]
    print(
        f"\n== held-out ({cfg.minutes} min train, rest held out; {metrics['heldout_samples']} samples), "
        f"multi-step horizon {b['persistence']['horizon_s']:.2f} s =="
    )
    pj = b.get("pacejka")
    for name in ["persistence", *models]:
        m = b[name]
        fit = f"fit {m['fit_s']:7.1f} s" if "fit_s" in m else " " * 14
        one, multi = _fmt(m["one_step_rmse"]), _fmt(m["multi_step_rmse"])
        line = f"{name:12s} {fit}  one-step [{one}]  multi-step [{multi}]"
        if pj is not None and name != "pacejka":
            ratio = {c: m["multi_step_rmse"][c] / pj["multi_step_rmse"][c] for c in ("vx", "vy", "r")}
            line += "  ratio to pacejka (multi) " + " ".join(f"{c} {v:.3f}" for c, v in ratio.items())
        print(line)
    if "neural_ode" in models:
        _distilled(log, cfg, out, pj)
    return metrics


def _distilled(log, cfg, out: Path, pj) -> None:
    """ExpTanh distilled from the fitted neural_ode (with its sensor terms), on the same held-out data."""
    import dataclasses

    from drift.vehicle import load_vehicle
    from tire_models.distill import distill_axles
    from tire_models.fit.evaluate import model_metrics
    from tire_models.fit.pipeline import prepare
    from tire_models.fit.run import _load_result

    p = load_vehicle(cfg.vehicle)
    train_log, test_log = log.split(cfg.minutes, cfg.min_speed_mps)
    lon = _lon_map(train_log, p, log.source)
    test = _pipeline_delay(prepare(test_log, lon), out)
    res = _load_result(out / "baselines" / "neural_ode")
    t0 = time.perf_counter()
    tires, errs = distill_axles(res.tires, p.m * p.g * p.lr / p.L, p.m * p.g * p.lf / p.L)
    dist_s = time.perf_counter() - t0
    m = model_metrics(dataclasses.replace(res, model="exptanh", tires=tires), p, test, cfg.eval_horizon_s)
    one, multi = _fmt(m["one_step_rmse"]), _fmt(m["multi_step_rmse"])
    line = f"{'distilled':12s} +{dist_s:6.1f} s  one-step [{one}]  multi-step [{multi}]"
    if pj is not None:
        ratio = {c: m["multi_step_rmse"][c] / pj["multi_step_rmse"][c] for c in ("vx", "vy", "r")}
        line += "  ratio to pacejka (multi) " + " ".join(f"{c} {v:.3f}" for c, v in ratio.items())
    gap = max(errs["front_max_err_mu"], errs["rear_max_err_mu"])
    print(line + f"   (exptanh distilled from neural_ode; max curve gap {gap:.3f} mu Fz)")


def _subset_log(log, keep: np.ndarray):
    """A DrivingLog of the rows ``keep`` (bool, (T,)); removed rows break segments."""
    from drift.logs import DrivingLog

    idx = np.flatnonzero(keep)
    seg_old = np.asarray(log.segment)[idx]
    brk = np.concatenate([[0], ((np.diff(idx) != 1) | (np.diff(seg_old) != 0)).astype(np.int64)])
    data = {k: np.asarray(log[k])[idx] for k in log.data}
    return DrivingLog.from_arrays(
        np.asarray(log.t)[idx], data, source=log.source, segment=np.cumsum(brk), zero_time=False
    )


def part2(log, models, cfg_kw, run_dir: Path, dt_hist: int = 15) -> dict:
    """Deep Dynamics protocol cases; ``run_dir``: the part-1 run (its fitted steering delay is applied)."""
    from drift.vehicle import load_vehicle
    from tire_models.fit.evaluate import predictions
    from tire_models.fit.pipeline import FitConfig, fit_one, prepare, targets

    p = load_vehicle(cfg_kw.get("vehicle", "iac"))
    stretch = log.select(min_speed_mps=5.0).segments()[0]
    T = len(stretch.t)
    # window j: history rows j .. j+14, target row j+15; our prediction starts at row j+14
    last = np.arange(dt_hist - 1, T - 1)
    n = len(last)
    torch.manual_seed(0)
    perm = torch.randperm(n).numpy()
    n_tr = int(0.8 * n)
    cases = {
        "random": (np.sort(last[perm[:n_tr]]), np.sort(last[perm[n_tr:]])),
        "chrono": (last[:n_tr], last[n_tr:]),
    }
    three_min = int(round(180.0 / stretch.dt))
    out = {}
    print(
        f"\n== Deep Dynamics protocol: first stretch with vx >= 5 m/s, {T} samples ({T * stretch.dt:.0f} s), "
        f"{n} windows =="
    )
    fits: dict[tuple[str, str], object] = {}
    for case, (tr_last, te_last) in [*cases.items(), ("chrono-3min", (None, cases["chrono"][1]))]:
        keep = np.zeros(T, dtype=bool)
        if tr_last is None:
            keep[:three_min] = True
            keep[te_last.min() - dt_hist + 1 :] = False  # never train on test rows
        else:
            for j in tr_last:  # rows used by the training windows (history + target)
                keep[j - dt_hist + 1 : j + 2] = True
        train_log = _subset_log(stretch, keep)
        lon = _lon_map(train_log, p, log.source)
        train = _pipeline_delay(prepare(train_log, lon), run_dir)  # same fitted delay in training and test
        full = _pipeline_delay(prepare(stretch, lon), run_dir)
        cfg = FitConfig(model=models[0], baselines=(), **cfg_kw)
        meas = full.meas()
        res_case = {}
        for H in (1,) if case == "random" else (1, 15):
            starts = te_last[te_last + H < T]
            res_case.update(_scores("persistence", targets(full, starts, H) - meas[starts][:, None, :]))
        for name in models:
            t0 = time.perf_counter()
            res = fit_one(name, train, p, cfg)
            fit_s = time.perf_counter() - t0
            fits[(case, name)] = res
            for H in (1,) if case == "random" else (1, 15):
                starts = te_last[te_last + H < T]
                pred = predictions(res, p, full, starts, H)
                res_case.update(_scores(name, pred - targets(full, starts, H), fit_s=fit_s))
        print(f"-- {case}: train rows {int(keep.sum())}, test windows {len(te_last)}", flush=True)
        for k, v in res_case.items():
            extra = f"  fit {v['fit_s']:.1f} s" if "fit_s" in v else ""
            print(f"   {k:22s} {_fmt(v)}{extra}", flush=True)
        out[case] = res_case
    print("-- Deep Dynamics (issue 3, 400 epochs, 27 min on 2 cores):")
    for k, v in DD.items():
        print(f"   {k:22s} vx {v[0]:.4f}  vy {v[1]:.4f}  r {v[2]:.4f}")
    return out


def delay_steering(log, k: int):
    """The log with ``delta`` delayed by ``k`` samples inside each segment (first value held)."""
    from drift.logs import DrivingLog

    d = {n: np.asarray(log[n]).copy() for n in log.data}
    seg = np.asarray(log.segment)
    src = np.arange(len(seg)) - k
    for s_id in np.unique(seg):
        idx = np.flatnonzero(seg == s_id)
        src[idx] = np.maximum(src[idx], idx[0])
    d["delta"] = np.asarray(log["delta"])[src]
    return DrivingLog.from_arrays(log.t, d, source=log.source, segment=seg, zero_time=False)


def estimate_steering_delay(log, vehicle: str, minutes: float, max_samples: int = 10) -> int:
    """Steering delay (samples) that best explains the yaw acceleration on the TRAINING part only.

    For each delay ``k`` the measured ``dr/dt`` (Savitzky-Golay) is regressed on the linear-tyre
    yaw-moment features ``[Fzf alpha_f(delta delayed by k), Fzr alpha_r, 1]``; the ``k`` with the
    highest ``R^2`` wins. (Rajamani Sec. 2.3; the features are those of a linear single-track model.)
    """
    from drift.vehicle import load_vehicle
    from drift.vehicle.dynamics import axle_loads, slip_angles
    from tire_models.fit.forces import smooth_derivative

    p = load_vehicle(vehicle)
    train, _ = log.split(minutes, 5.0)
    seg = np.asarray(train.segment)
    r_dot = smooth_derivative(np.asarray(train["r"]), train.dt, seg)
    best, best_k = -np.inf, 0
    for k in range(max_samples + 1):
        tk = delay_steering(train, k)
        af, ar = slip_angles(tk["vx"], tk["vy"], tk["r"], tk["delta"], p)
        Fzf, Fzr = axle_loads(tk["vx"], 0.0, p)
        X = np.stack([Fzf * af, Fzr * ar, np.ones_like(af)], -1)
        coef, *_ = np.linalg.lstsq(X, r_dot, rcond=None)
        r2 = 1 - np.var(r_dot - X @ coef) / np.var(r_dot)
        print(f"   steering delay {k} samples ({k * train.dt:.2f} s): R^2 of dr/dt {r2:.4f}")
        if r2 > best:
            best, best_k = r2, k
    return best_k


def part2_from_part1(log, out: Path, models, dt_hist: int = 15) -> dict:
    """Deep Dynamics chronological test windows scored with the part-1 models (trained on 3 min)."""
    from drift.vehicle import load_vehicle
    from tire_models.fit.evaluate import predictions
    from tire_models.fit.pipeline import FitConfig, load_config, prepare, targets
    from tire_models.fit.run import _load_result

    cfg, _ = load_config(out)
    assert isinstance(cfg, FitConfig)
    p = load_vehicle(cfg.vehicle)
    train_log, _ = log.split(cfg.minutes, cfg.min_speed_mps)
    lon = _lon_map(train_log, p, log.source)
    stretch = log.select(min_speed_mps=5.0).segments()[0]
    T = len(stretch.t)
    last = np.arange(dt_hist - 1, T - 1)
    te_last = last[int(0.8 * len(last)) :]
    full = _pipeline_delay(prepare(stretch, lon), out)
    meas = full.meas()
    res_case = {}
    print(
        f"\n== Deep Dynamics chronological test windows ({len(te_last)}, last 20 % of the first stretch), "
        f"models trained on the first {cfg.minutes} min =="
    )
    for H in (1, 15):
        starts = te_last[te_last + H < T]
        tg = targets(full, starts, H)
        res_case.update(_scores("persistence", tg - meas[starts][:, None, :]))
        for name in models:
            res = _load_result(out / "baselines" / name)
            res_case.update(_scores(name, predictions(res, p, full, starts, H) - tg))
    for k, v in res_case.items():
        print(f"   {k:22s} {_fmt(v)}", flush=True)
    print("-- Deep Dynamics (issue 3, 400 epochs, 27 min on 2 cores):")
    for k, v in DD.items():
        print(f"   {k:22s} vx {v[0]:.4f}  vy {v[1]:.4f}  r {v[2]:.4f}")
    return res_case


def _lon_map(train_log, p, source):
    """The pipeline's throttle/brake -> Fx map fitted on ``train_log`` only."""
    from tire_models.fit.forces import fit_longitudinal_map

    data = {k: np.asarray(train_log[k]) for k in train_log.data}
    return fit_longitudinal_map(data, np.asarray(train_log.segment), train_log.dt, p, source=str(source))


def _pipeline_delay(a, out: Path):
    """``a`` with the steering delay the part-1 pipeline fitted (``model.yaml``) applied."""
    from tire_models.fit.delay import delay_steering
    from tire_models.fit.run import read_fit_sections
    from tire_models.io import read_model_yaml

    d, _ = read_model_yaml(out)
    return delay_steering(a, int(read_fit_sections(d)[1].get("steer_delay_samples", 0)))


def _scores(name: str, err: torch.Tensor, **extra) -> dict:
    """``(B, H, 3)`` errors -> ``{"<name> H=<H>": RMSE over the horizon (+ extra), "<name> step <H>":
    RMSE of the last step}`` (the second only for ``H > 1``: Deep Dynamics' 15-step figure)."""
    H = err.shape[1]
    out = {f"{name} H={H}": {**_rmse(err), **extra}}
    if H > 1:
        out[f"{name} step {H}"] = _rmse(err[:, -1:])
    return out


def _rmse(err: torch.Tensor) -> dict:
    r = err.pow(2).mean(dim=(0, 1)).sqrt()
    return {c: float(v) for c, v in zip(("vx", "vy", "r"), r, strict=True)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--log", default=str(DEFAULT_LOG))
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--quick", action="store_true", help="1 epoch, fewer stage-1 iterations (smoke run)")
    ap.add_argument("--skip-dd", action="store_true", help="only part 1")
    ap.add_argument("--skip-heldout", action="store_true", help="only part 2")
    ap.add_argument("--out", default=None, help="folder for the part-1 run and benchmark.json")
    ap.add_argument("--models", default="exptanh,neural_ode,linear,fiala,pacejka", help="models of part 1")
    ap.add_argument("--epochs", type=int, default=None, help="stage-2 epochs (default: the pipeline's)")
    ap.add_argument(
        "--loss-norm", default=None, choices=("channel", "step"), help="stage-2 loss norm (all models)"
    )
    ap.add_argument("--seed", type=int, default=None, help="fit seed (default: the pipeline's)")
    ap.add_argument(
        "--dd-models", default="exptanh,neural_ode,linear,pacejka", help="models of part 2 (comma list)"
    )
    ap.add_argument(
        "--dd-epochs", type=int, default=None, help="stage-2 epochs in part 2 (default: as part 1)"
    )
    ap.add_argument(
        "--steer-delay",
        default="0",
        help="EXTRA delay of delta by N samples on top of the pipeline's fitted one, or 'auto' "
        "(equation-error estimate on the training minutes only); applied to every model alike",
    )
    ap.add_argument(
        "--dd-from-heldout",
        action="store_true",
        help="part 2 only as the chrono-3min case, scored with the part-1 models (no extra fits)",
    )
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    torch.set_num_threads(max(1, int(os.environ["OMP_NUM_THREADS"])))
    from tire_models.fit.run import load_fit_log

    log = load_fit_log(args.log)
    cfg_kw = {"vehicle": "iac", "minutes": args.minutes}
    if args.quick:
        cfg_kw.update(epochs=1, stage1_iters=20)
    if args.epochs is not None:
        cfg_kw["epochs"] = args.epochs
    if args.loss_norm is not None:
        cfg_kw["loss_norm"] = args.loss_norm
    if args.seed is not None:
        cfg_kw["seed"] = args.seed
    out = Path(args.out or tempfile.mkdtemp(prefix="bench-fit-learned-"))
    print(f"log {log.source}; run folder {out}")
    result = {}
    k = (
        estimate_steering_delay(log, "iac", args.minutes)
        if args.steer_delay == "auto"
        else int(args.steer_delay)
    )
    if k:
        print(f"steering input delayed by {k} samples ({k * log.dt:.2f} s) for every model")
        log = delay_steering(log, k)
    result["steer_delay_samples"] = k
    if not args.skip_heldout:
        m = part1(log, args.models.split(","), cfg_kw, out)
        result["heldout"] = m["baselines"]
    if args.dd_from_heldout:
        result["deep_dynamics_chrono_3min"] = part2_from_part1(log, out, args.models.split(","))
    elif not args.skip_dd:
        kw = dict(cfg_kw, **({"epochs": args.dd_epochs} if args.dd_epochs is not None else {}))
        result["deep_dynamics_protocol"] = part2(log, args.dd_models.split(","), kw, out)
    (out / "benchmark.json").write_text(json.dumps(result, indent=1, default=float))
    print(f"\nwritten {out / 'benchmark.json'}")


if __name__ == "__main__":
    main()
