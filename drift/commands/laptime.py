"""``drift laptime``: the minimum-lap-time optimal lap of a car on a track (the physical limit)."""

from __future__ import annotations

from pathlib import Path

import typer


def command(
    track: str = typer.Option(
        "Monza", "--track", help="track name (TUM database) or path to a TUM-format CSV"
    ),
    vehicle: str = typer.Option("iac", "--vehicle", help="vehicle preset name or YAML path"),
    tires: Path = typer.Option(None, "--tires", help="fit run folder (or model.yaml) of a fitted tyre model"),  # noqa: B008
    grid_m: float = typer.Option(3.0, "--grid-m", help="collocation grid spacing along the centre line (m)"),
    max_iter: int = typer.Option(1500, "--max-iter", min=1, help="IPOPT iteration limit per grid"),
    baseline: bool = typer.Option(
        True, "--baseline/--no-baseline", help="also drive the pure-pursuit baseline"
    ),
    out: Path = typer.Option(None, "--out", help="run folder (default runs/laptime-<timestamp>)"),  # noqa: B008
):
    """Minimum-lap-time optimal control (CasADi + IPOPT), checked in the simulator against pure pursuit.

    A solve that does not converge still writes the run folder (``converged: false``, ``lap_time_s``
    null, ``reason`` and the active constraints in metrics.json) and exits with status 1.
    """
    import time

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from controllers.laptime import LapTimeConfig, min_lap_time, simulate_tracking
    from drift.racing.track import load_track
    from drift.runs import make_run_dir, write_metrics
    from drift.vehicle import load_vehicle
    from drift.vehicle.tires import resolve_tires

    if tires is not None and not Path(tires).exists():
        from drift.errors import DriftError

        raise DriftError(
            f"--tires {tires}: no such folder or file (give a `drift fit` run folder or model.yaml)"
        )
    tr = load_track(track)
    p = load_vehicle(vehicle)
    axle = resolve_tires(tires, p)
    run = make_run_dir("laptime", out)
    print(f"solving the minimum-time lap on {tr.name} ({tr.length_m:.0f} m, grid {grid_m} m) ...", flush=True)
    cfg = LapTimeConfig(grid_m=grid_m, max_iter=max_iter)
    res = min_lap_time(tr, p, axle, config=cfg, raise_on_failure=False)
    print(res.summary(), flush=True)
    metrics = {
        "track": tr.name,
        "vehicle": p.name,
        "tires": axle.name,
        "length_m": tr.length_m,
        "grid_m": res.grid_m,
        "converged": res.converged,
        "status": res.status,
        "reason": res.reason,
        "lap_time_s": res.lap_time_s,
        "last_iterate_lap_time_s": res.last_lap_time_s,
        "solve_s": res.solve_s,
        "build_s": res.build_s,
        "iterations": res.iterations,
        "stages": [{"grid_m": g, "status": st, "iterations": it} for g, st, it in res.stages],
        "active_constraints": res.active,
        "max_speed_mps": float(np.max(res.speed)),
        "min_speed_mps": float(np.min(res.speed)),
        "mean_grip_usage": float(np.mean(np.maximum(res.grip_front, res.grip_rear))),
    }
    res.to_csv(run / "optimal_lap.csv")
    sim_lap = float("nan")
    if res.converged:
        t0 = time.perf_counter()
        sim = simulate_tracking(res, p, axle)
        sim_lap = sim.lap_time_s
        metrics.update(
            {
                "sim_lap_time_s": sim.lap_time_s,
                "sim_completed": sim.completed,
                "sim_failure": sim.reason,
                "sim_gap_pct": 100.0 * (sim.lap_time_s / res.lap_time_s - 1.0)
                if sim.completed
                else float("nan"),
                "sim_max_lateral_error_m": sim.max_lateral_error_m,
                "sim_wall_s": time.perf_counter() - t0,
            }
        )
        print(
            f"simulator check: {sim.lap_time_s:.3f} s"
            if sim.completed
            else f"simulator check failed: {sim.reason}"
        )
    else:
        metrics["sim_lap_time_s"] = float("nan")
    base = None
    if baseline:
        base = _baseline_lap(tr, p, axle)
        metrics["baseline_lap_time_s"] = base["lap_time_s"] if base else float("nan")
        metrics["baseline_off_course_s"] = base["off_course_s"] if base else float("nan")
        metrics["baseline_wall_contact_s"] = base["wall_contact_s"] if base else float("nan")
        if base and res.converged:
            metrics["ocp_vs_baseline_pct"] = 100.0 * (res.lap_time_s / base["lap_time_s"] - 1.0)
        print(f"pure-pursuit baseline: {metrics['baseline_lap_time_s']:.3f} s", flush=True)
    _plot_line(res, tr, run / "optimal_line.png", plt)
    _plot_speed(res, base, run / "speed.png", plt, sim_lap)
    write_metrics(run, metrics)
    if res.converged:
        print(f"optimal lap {res.lap_time_s:.3f} s; results in {run}")
    else:
        print(f"NOT converged ({res.reason}); metrics.json marks converged=false; results in {run}")
        raise typer.Exit(code=1)


def resolve_baseline():  # pragma: no cover - thin import helper
    from controllers.baselines import PurePursuit

    return PurePursuit


def _baseline_lap(tr, p, axle):
    """Lap time (s) and speed trace of the pure-pursuit baseline in the racing simulator, or None."""
    import numpy as np

    from drift.racing.env import load_config, run_laps

    try:
        PurePursuit = resolve_baseline()
        run = run_laps(
            PurePursuit(), laps=1, config=load_config("iac", camera=False), track=tr, vehicle=p, tires=axle
        )
    except Exception as e:  # the baseline is context, never a reason to lose the optimum
        print(f"pure-pursuit baseline failed: {e}")
        return None
    if not run.lap_times_s:
        return None
    tj = run.trajectory
    t_start = tj["t_s"][-1] - run.lap_times_s[-1]
    keep = tj["t_s"] >= t_start
    s_m, speed = np.asarray(tj["s_m"][keep]), np.asarray(tj["speed_mps"][keep])
    order = np.argsort(s_m)  # one lap, ordered by position (the lap starts and ends at the line)
    dt = float(np.median(np.diff(tj["t_s"]))) if len(tj["t_s"]) > 1 else 0.0
    off = np.asarray(tj["off_course"], float)[keep] if "off_course" in tj else np.zeros(int(keep.sum()))
    wall = np.asarray(tj["wall_contact"], float)[keep] if "wall_contact" in tj else np.zeros(int(keep.sum()))
    return {
        "lap_time_s": float(run.lap_times_s[-1]),
        "s": s_m[order],
        "speed": speed[order],
        "off_course_s": dt * float(np.sum(off > 0)),
        "wall_contact_s": dt * float(np.sum(wall > 0)),
    }


def _plot_line(res, tr, path, plt):
    import numpy as np

    fig, ax = plt.subplots(figsize=(8, 7))
    for b in (tr.left, tr.right):
        bb = np.vstack([b, b[:1]])
        ax.plot(bb[:, 0], bb[:, 1], color="0.3", lw=0.8)
    sc = ax.scatter(res.x, res.y, c=res.speed * 3.6, s=3, cmap="turbo")
    fig.colorbar(sc, ax=ax, label="speed (km/h)")
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    title = (
        f"{res.track_name}: optimal lap {res.lap_time_s:.2f} s"
        if res.converged
        else f"{res.track_name}: NOT converged ({res.reason})"
    )
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def _plot_speed(res, base, path, plt, sim_lap):
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    a1.plot(res.s, res.speed * 3.6, label=f"optimal ({res.lap_time_s:.2f} s; simulator {sim_lap:.2f} s)")
    if base is not None:
        a1.plot(base["s"], base["speed"] * 3.6, label=f"pure pursuit ({base['lap_time_s']:.2f} s)", lw=0.9)
    a1.set_ylabel("speed (km/h)")
    a1.legend(loc="lower right")
    a2.plot(res.s, res.grip_front, label="front", lw=0.8)
    a2.plot(res.s, res.grip_rear, label="rear", lw=0.8)
    a2.set_ylabel("grip usage")
    a2.set_xlabel("distance along the centre line (m)")
    a2.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
