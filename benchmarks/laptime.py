"""Minimum-lap-time OCP on every shared track: lap time, solve time, simulator check, pure pursuit.

Run with ``nice OMP_NUM_THREADS=1 python benchmarks/laptime.py [--grid-m 3] [--tracks Monza,IMS]
[--no-baseline] [--no-sim] [--k-r 0.6] [--no-cascade]``. Prints one line per track:

- ``solve_s``: IPOPT time of all grids; ``wall_s``: the whole ``min_lap_time`` call, graph
  building included; ``iter``: coarse + fine IPOPT iterations;
- ``sim_s``: the simulator's lap when tracking the optimum; ``max_e_m``: the tracker's largest
  distance from the optimal line;
- ``pp_s``: the pure-pursuit baseline's lap in the racing simulator (measured in the same run); only
  a valid lap (no time off course, as the simulator judges it) is reported, an invalid one prints
  NaN and a note with its time off course and at the wall.

Then the issue's targets (converged, solve under 120 s, simulator within 2 %, faster than pure
pursuit) and the ratio of the pure-pursuit lap time to the optimal lap (valid laps only). The load average is
printed at the start and the end (solve times are only comparable on a quiet machine).
"""

from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--grid-m", type=float, default=3.0)
    ap.add_argument("--tracks", default="", help="comma-separated names (default: all)")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--no-sim", action="store_true")
    ap.add_argument("--k-r", type=float, default=0.6, help="tracker yaw-rate gain (rad per rad/s)")
    ap.add_argument(
        "--no-cascade",
        action="store_true",
        help="tracker damps r - r* (the earlier design) instead of r - r_cmd",
    )
    args = ap.parse_args()

    from controllers.baselines import pure_pursuit_lap
    from controllers.laptime import min_lap_time, simulate_tracking
    from drift.racing.track import load_track, track_names
    from drift.vehicle import load_vehicle
    from drift.vehicle.tires import default_tires

    p = load_vehicle("iac")
    tires = default_tires(p)
    names = [n for n in args.tracks.split(",") if n] or track_names()
    rows = []
    print("load average (1, 5, 15 min) at start: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    t_all = time.perf_counter()
    print(
        f"{'track':14s} {'conv':>5s} {'lap_s':>8s} {'solve_s':>8s} {'build_s':>8s} {'wall_s':>7s} "
        f"{'iter':>9s} {'sim_s':>8s} {'sim_gap%':>8s} {'max_e_m':>7s} {'pp_s':>8s} {'pp/ocp':>7s}",
        flush=True,
    )
    for name in names:
        tr = load_track(name)
        t0 = time.perf_counter()
        res = min_lap_time(tr, p, tires, grid_m=args.grid_m, raise_on_failure=False)
        wall = time.perf_counter() - t0
        sim_s, max_e, why = math.nan, math.nan, ""
        if res.converged and not args.no_sim:
            sim = simulate_tracking(res, p, tires, k_r=args.k_r, cascade=not args.no_cascade)
            sim_s, max_e, why = sim.lap_time_s, sim.max_lateral_error_m, sim.reason
        pp_s, pp_note = math.nan, ""
        if not args.no_baseline:
            base = pure_pursuit_lap(tr, p, tires)
            pp_s = base["lap_time_s"] if base and base["valid"] else math.nan
            if base is None:
                pp_note = "  (pure pursuit: no lap)"
            elif not base["valid"]:
                pp_note = (
                    f"  (pure pursuit lap {base['lap_time_s']:.2f} s INVALID: off course "
                    f"{base['off_course_s']:.1f} s, wall contact {base['wall_contact_s']:.1f} s)"
                )
        gap = 100 * (sim_s / res.lap_time_s - 1) if np.isfinite(sim_s) else math.nan
        ratio = pp_s / res.lap_time_s if np.isfinite(pp_s) and res.converged else math.nan
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
                res.status,
                bool(pp_note),
            )
        )
        its = "+".join(str(it) for _, _, it in res.stages)
        print(
            f"{name:14s} {str(res.converged):>5s} {res.lap_time_s:8.2f} {res.solve_s:8.1f} "
            f"{res.build_s:8.1f} {wall:7.1f} {its:>9s} {sim_s:8.2f} {gap:8.2f} {max_e:7.2f} {pp_s:8.2f} "
            f"{ratio:7.3f}"
            + ("" if res.converged else f"  ({res.reason})")
            + (f"  (sim: {why})" if why else "")
            + pp_note,
            flush=True,
        )
    conv = [r for r in rows if r[1]]
    print(f"benchmark wall time: {time.perf_counter() - t_all:.0f} s")
    print("load average (1, 5, 15 min) at end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    statuses = {}
    for r in rows:
        statuses[r[11]] = statuses.get(r[11], 0) + 1
    print(f"converged: {len(conv)}/{len(rows)} tracks; IPOPT status (fine grid): {statuses}")
    if conv:
        print(
            f"median solve_s: {np.median([r[3] for r in conv]):.1f}  "
            f"max solve_s: {max(r[3] for r in conv):.1f}  "
            f"median wall_s (build + solve): {np.median([r[10] for r in conv]):.1f}  "
            f"max wall_s: {max(r[10] for r in conv):.1f}  "
            f"under 120 s (wall): {sum(r[10] < 120 for r in conv)}/{len(rows)}"
        )
        ok_sim = [r for r in conv if np.isfinite(r[7])]
        print(
            f"simulator check completed: {len(ok_sim)}/{len(conv)}; within 2 %: "
            f"{sum(abs(r[7]) <= 2 for r in ok_sim)}"
        )
        rat = [r[9] for r in conv if np.isfinite(r[9])]
        if rat:
            print(
                f"ratio pure-pursuit / optimal lap time: median {np.median(rat):.3f}, min {min(rat):.3f}, "
                f"max {max(rat):.3f} (optimum faster on {sum(x > 1 for x in rat)}/{len(rat)} valid laps)"
            )
        print(f"pure-pursuit laps invalid or missing: {sum(r[12] for r in rows)}/{len(rows)}")


if __name__ == "__main__":
    main()
