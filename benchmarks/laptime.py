"""Minimum-lap-time OCP on every shared track: lap time, solve time, simulator check, pure pursuit.

Run with ``nice OMP_NUM_THREADS=1 python benchmarks/laptime.py [--grid-m 3] [--tracks Monza,IMS]
[--no-baseline] [--no-sim]``. Prints one line per track, then medians and the ratio of the optimal
lap time to the pure-pursuit baseline's lap in the racing simulator (measured in the same run).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--grid-m", type=float, default=3.0)
    ap.add_argument("--tracks", default="", help="comma-separated names (default: all)")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--no-sim", action="store_true")
    args = ap.parse_args()

    from controllers.laptime import default_tires, min_lap_time, simulate_tracking
    from drift.commands.laptime import _baseline_lap
    from drift.racing.track import load_track, track_names
    from drift.vehicle import load_vehicle

    p = load_vehicle("iac")
    tires = default_tires(p)
    names = [n for n in args.tracks.split(",") if n] or track_names()
    rows = []
    print(
        f"{'track':14s} {'conv':>5s} {'lap_s':>8s} {'solve_s':>8s} {'build_s':>8s} {'iter':>5s} "
        f"{'sim_s':>8s} {'sim_gap%':>8s} {'pp_s':>8s} {'ocp/pp':>7s}",
        flush=True,
    )
    for name in names:
        tr = load_track(name)
        t0 = time.perf_counter()
        res = min_lap_time(tr, p, tires, grid_m=args.grid_m, raise_on_failure=False)
        wall = time.perf_counter() - t0
        sim_s = math.nan
        if res.converged and not args.no_sim:
            sim = simulate_tracking(res, p, tires)
            sim_s = sim.lap_time_s
        pp_s = math.nan
        if not args.no_baseline:
            base = _baseline_lap(tr, p, tires)
            pp_s = base["lap_time_s"] if base else math.nan
        gap = 100 * (sim_s / res.lap_time_s - 1) if np.isfinite(sim_s) else math.nan
        ratio = res.lap_time_s / pp_s if np.isfinite(pp_s) else math.nan
        rows.append(
            (
                name,
                res.converged,
                res.lap_time_s,
                res.solve_s,
                res.build_s,
                res.iterations,
                sim_s,
                gap,
                pp_s,
                ratio,
                wall,
            )
        )
        print(
            f"{name:14s} {str(res.converged):>5s} {res.lap_time_s:8.2f} {res.solve_s:8.1f} "
            f"{res.build_s:8.1f} {res.iterations:5d} {sim_s:8.2f} {gap:8.2f} {pp_s:8.2f} {ratio:7.3f}"
            + ("" if res.converged else f"  ({res.reason})"),
            flush=True,
        )
    conv = [r for r in rows if r[1]]
    print(f"converged: {len(conv)}/{len(rows)} tracks")
    if conv:
        print(
            f"median solve_s: {np.median([r[3] for r in conv]):.1f}  "
            f"max solve_s: {max(r[3] for r in conv):.1f}  "
            f"median total wall_s (build + solve): {np.median([r[10] for r in conv]):.1f}"
        )
        ok_sim = [r for r in conv if np.isfinite(r[7])]
        print(
            f"simulator check completed: {len(ok_sim)}/{len(conv)}; within 2 %: "
            f"{sum(abs(r[7]) <= 2 for r in ok_sim)}"
        )
        rat = [r[9] for r in conv if np.isfinite(r[9])]
        if rat:
            print(
                f"ratio optimal / pure-pursuit lap time: median {np.median(rat):.3f}, max {max(rat):.3f} "
                f"(faster on {sum(x < 1 for x in rat)}/{len(rat)} tracks)"
            )


if __name__ == "__main__":
    main()
