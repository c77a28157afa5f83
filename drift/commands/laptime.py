"""``drift laptime``: the minimum-lap-time optimal lap of a car on a track (the physical limit)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import tyro

from controllers.laptime.config import LapTimeConfig
from drift.commands import write_options


@dataclass(frozen=True)
class Options:
    """Minimum-lap-time optimal control (CasADi + IPOPT), checked in the simulator against pure pursuit.
    A solve that does not converge still writes the run folder (converged: false, the reason and the
    active constraints in metrics.json) and exits with status 1."""

    laptime: Annotated[LapTimeConfig, tyro.conf.arg(name="")] = field(default_factory=LapTimeConfig)
    track: str = "Monza"
    """track name (drift race tracks) or path to a TUM-format CSV"""
    vehicle: str = "iac"
    """vehicle preset name or YAML path"""
    tires: Path | None = None
    """fitted tyres: a drift fit run folder or model.yaml (None: the default tyres)"""
    allow_other_vehicle: bool = False
    """use tyres fitted for another vehicle"""
    baseline: bool = True
    """also drive the pure-pursuit baseline"""
    out: Path | None = None
    """run folder (None: runs/laptime-<timestamp>)"""
    config: Path | None = None
    """YAML file with these options' keys; flags given as well override it"""


def run(o: Options) -> None:
    """Run ``drift laptime``. Raises DriftError on bad input (before a run folder exists) and
    SystemExit(1) when IPOPT does not converge."""
    import time

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from rich.progress import Progress, SpinnerColumn, TimeElapsedColumn

    from controllers.laptime import check_problem_size, min_lap_time, simulate_tracking
    from drift.racing.track import load_track
    from drift.runs import make_run_dir, write_metrics
    from drift.vehicle import load_vehicle
    from drift.vehicle.tires import resolve_tires

    tr = load_track(o.track)
    p = load_vehicle(o.vehicle)
    axle = resolve_tires(o.tires, p, o.allow_other_vehicle)
    cfg = o.laptime
    size = check_problem_size(tr.length_m, cfg)  # a grid too fine is refused before the run folder exists
    run = make_run_dir("laptime", o.out)
    write_options(run, o)
    print(
        f"solving the minimum-time lap on {tr.name} ({tr.length_m:.0f} m, grid {cfg.grid_m} m, "
        f"{size.variables} variables, about {size.memory_bytes / 1e6:.0f} MB) ...",
        flush=True,
    )
    with Progress(SpinnerColumn(), "{task.description}", TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task("IPOPT")

        def show(it):
            bar.update(
                task,
                description=f"IPOPT {it.grid_m:.1f} m grid: iteration {it.iteration}, "
                f"objective {it.objective_s:.2f} s, infeasibility {it.infeasibility:.1e}",
            )

        res = min_lap_time(tr, p, axle, config=cfg, raise_on_failure=False, progress=show)
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
        with Progress(transient=True) as bar:
            task = bar.add_task("simulator check", total=1.0)
            sim = simulate_tracking(res, p, axle, progress=lambda fr: bar.update(task, completed=fr))
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
    if o.baseline:
        with Progress(transient=True) as bar:
            task = bar.add_task("pure-pursuit lap", total=1.0)
            base = _baseline_lap(tr, p, axle, progress=lambda fr: bar.update(task, completed=fr))
        metrics["baseline_lap_time_s"] = base["lap_time_s"] if base else float("nan")
        metrics["baseline_off_course_s"] = base["off_course_s"] if base else float("nan")
        metrics["baseline_wall_contact_s"] = base["wall_contact_s"] if base else float("nan")
        if base and base["valid"] and res.converged:  # compared with valid laps only
            metrics["ocp_vs_baseline_pct"] = 100.0 * (res.lap_time_s / base["lap_time_s"] - 1.0)
        metrics["baseline_lap_valid"] = bool(base and base["valid"])
        print(
            f"pure-pursuit baseline: {metrics['baseline_lap_time_s']:.3f} s"
            + ("" if metrics["baseline_lap_valid"] else " (INVALID lap: off course)"),
            flush=True,
        )
    _plot_line(res, tr, run / "optimal_line.png", plt)
    _plot_speed(res, base, run / "speed.png", plt, sim_lap)
    write_metrics(run, metrics)
    if res.converged:
        print(f"optimal lap {res.lap_time_s:.3f} s; results in {run}")
    else:
        print(f"NOT converged ({res.reason}); metrics.json marks converged=false; results in {run}")
        raise SystemExit(1)


def _baseline_lap(tr, p, axle, progress=None):
    """The pure-pursuit baseline's lap (:func:`controllers.baselines.pure_pursuit_lap`), or None."""
    from controllers.baselines import pure_pursuit_lap

    try:
        return pure_pursuit_lap(tr, p, axle, progress=progress)
    except Exception as e:  # the baseline is context, never a reason to lose the optimum
        print(f"pure-pursuit baseline failed: {e}")
        return None


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
