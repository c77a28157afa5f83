"""A fitted car on another track (issue 18): fit on track A, calibrate and predict track B.

Runs :func:`tire_models.fit.transfer.transfer_check` (two simulated recordings of one car, see
``drift.simulate.RECORDINGS``) and prints the held-out errors on track B of a fit on B itself, a fit
on A calibrated on B's first minute, and the fit on A with only its sideslip offsets re-estimated,
with the ratio to the fit on B. Usage: ``python benchmarks/fit_transfer.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from tire_models.fit.transfer import transfer_check


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="run folder (default: a temporary one)")
    ap.add_argument("--model", default="pacejka")
    args = ap.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="fit_transfer-")
    t0 = time.perf_counter()
    m = transfer_check(out, model=args.model)
    same = m["same_track"]["heldout"]
    print(f"held-out on track B ({m['same_track']['heldout_samples']} samples; vx, vy m/s, r rad/s)")
    print(f"{'fit':34s} {'1-step vx / vy / r':>26s} {'1 s vx / vy / r':>26s}  ratio to fit on B (1 s)")
    for key, label in (
        ("same_track", "on B"),
        ("transfer", "on A, --calibrate all"),
        ("offsets_only", "on A, --calibrate offsets"),
    ):
        h = m[key]["heldout"]
        one = " / ".join(f"{h['one_step_rmse'][c]:.4f}" for c in ("vx", "vy", "r"))
        multi = " / ".join(f"{h['multi_step_rmse'][c]:.4f}" for c in ("vx", "vy", "r"))
        ratio = " / ".join(
            f"{h['multi_step_rmse'][c] / same['multi_step_rmse'][c]:.2f}" for c in ("vx", "vy", "r")
        )
        print(f"{label:34s} {one:>26s} {multi:>26s}  {ratio}")
    p = m["same_track"]["baselines"]["persistence"]
    print(
        "persistence                        "
        + " / ".join(f"{p['one_step_rmse'][c]:.4f}" for c in ("vx", "vy", "r"))
        + "   "
        + " / ".join(f"{p['multi_step_rmse'][c]:.4f}" for c in ("vx", "vy", "r"))
    )
    cal = m["transfer"]["calibration"]
    print("calibration of the fit on A on B's first minute (truth: drift.simulate.RECORDINGS['banked']):")
    for k, v in cal[args.model].items():
        print(f"  {k}: {v['before']:.4g} -> {v['after']:.4g}")
    print(f"  steer_delay_s: {cal['steer_delay_s']['before']:.2f} -> {cal['steer_delay_s']['after']:.2f}")
    print(f"run folders under {out} ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
