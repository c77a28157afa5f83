"""Benchmark: held-out multi-step RMSE and fit time of every baseline tyre model on the real IAC log.

Protocol (issue 2): train on the first 3 minutes with vx >= 5 m/s, evaluate 1 s open-loop rollouts
from every held-out sample (rollouts never cross a gap). Prints each model's RMSE, fit time, and the
ratio of its error to the linear model's (and to persistence), all measured in this run.

    python benchmarks/fit_baselines.py [--log PATH] [--epochs 6] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--log",
        default=str(
            Path(__file__).resolve().parents[2] / "shared/data/driving/iac/Putnam_park2023_run4_2.csv"
        ),
    )
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)

    from drift.logs import load_log
    from tire_models.fit import FitConfig, run_fit

    out = Path(args.out or tempfile.mkdtemp(prefix="fit_baselines-"))
    cfg = FitConfig(model="linear", baselines=("fiala", "pacejka"), minutes=args.minutes, epochs=args.epochs)
    m = run_fit(load_log(args.log), cfg, out, show_progress=False, echo=lambda *a: None)
    base = m["baselines"]
    lin, pers = base["linear"]["multi_step_rmse"], base["persistence"]["multi_step_rmse"]
    print(
        f"\nlog {args.log}: train {args.minutes} min, held-out {m['heldout_samples']} samples, "
        f"horizon {base['persistence']['horizon_s']:.2f} s; run folder {out}"
    )
    print(
        f"{'model':<12} {'vx m/s':>8} {'vy m/s':>8} {'r rad/s':>8} {'fit s':>7} "
        f"{'vx/lin':>7} {'vy/lin':>7} {'r/lin':>7} {'r/pers':>7}"
    )
    for name, b in base.items():
        e = b["multi_step_rmse"]
        fit_s = f"{b['fit_s']:.1f}" if "fit_s" in b else "-"
        print(
            f"{name:<12} {e['vx']:8.4f} {e['vy']:8.4f} {e['r']:8.4f} {fit_s:>7} "
            f"{e['vx'] / lin['vx']:7.2f} {e['vy'] / lin['vy']:7.2f} {e['r'] / lin['r']:7.2f} "
            f"{e['r'] / pers['r']:7.2f}"
        )


if __name__ == "__main__":
    main()
