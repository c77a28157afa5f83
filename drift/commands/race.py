"""``drift race ...``: the racing simulator on real tracks.

``drift race sim --track Monza --driver pure_pursuit --laps 2`` drives laps and writes a run folder with
``metrics.json`` (``lap_times_s``, ``lap_valid``, ``off_course_s``, ``max_slip_deg``, ...), ``trajectory.png``
(path coloured by speed over the track map), ``camera.gif`` (onboard view) and ``trajectory.npz``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from drift.errors import DriftError

app = typer.Typer(help="Racing simulator on real tracks (TUM format).", no_args_is_help=True)

DRIVERS = ("pure_pursuit",)


@app.command("sim")
def sim(
    track: str = typer.Option(
        "Monza", help="Track name (see `drift race tracks`) or path to a TUM-format CSV."
    ),
    driver: str = typer.Option("pure_pursuit", help=f"Driver: {', '.join(DRIVERS)}."),
    laps: int = typer.Option(2, min=1, help="Timed laps (flying start)."),
    preset: str = typer.Option("iac", help="Environment preset: iac or f1tenth (configs/racing/env.yaml)."),
    tires: str = typer.Option(None, help="Fitted tyre run folder or model.yaml (default: preset Pacejka)."),
    physics_hz: float = typer.Option(100.0, help="Physics substep rate (Hz)."),
    integrator: str = typer.Option("rk4", help="rk4 or euler."),
    gif_frames: int = typer.Option(60, min=0, help="Camera frames in camera.gif (0 = no GIF)."),
    out: Path = typer.Option(None, help="Run folder (default runs/race-<timestamp>)."),  # noqa: B008
) -> None:
    """Drive a baseline driver around a track; write lap times, trajectory plot and camera GIF."""
    import numpy as np
    from rich.progress import Progress

    from drift.racing import load_config, run_laps, scaled_track
    from drift.runs import make_run_dir, write_metrics

    if driver not in DRIVERS:
        raise DriftError(f"unknown driver {driver!r}; choose one of {', '.join(DRIVERS)}")
    from controllers.baselines import PurePursuit

    cfg = load_config(preset, camera=gif_frames > 0, physics_hz=physics_hz, integrator=integrator)
    tr = scaled_track(track, cfg.track_scale)  # bad names or files fail before a run folder exists
    if tires is not None:  # so does a bad tyre file
        from tire_models.io import load_tires

        tires = load_tires(tires)
    run_dir = make_run_dir("race", out)
    drv = PurePursuit()
    frame_every = 3 if gif_frames > 0 else 0
    with Progress() as bar:
        task = bar.add_task(f"{laps} lap(s) of {track}", total=1.0)
        res = run_laps(
            drv,
            laps=laps,
            config=cfg,
            track=tr,
            tires=tires,
            frame_every=frame_every,
            max_frames=gif_frames,
            progress=lambda fr: bar.update(task, completed=fr),
        )
    tr = res.track
    traj = res.trajectory
    np.savez_compressed(run_dir / "trajectory.npz", **traj)
    _plot_trajectory(tr, traj, run_dir / "trajectory.png", res.lap_times_s)
    if res.frames:
        _write_gif(res.frames, run_dir / "camera.gif", fps=int(round(1.0 / (cfg.dt_s * frame_every))))
    metrics = {
        "track": tr.name,
        "track_length_m": tr.length_m,
        "vehicle": cfg.vehicle,
        "driver": driver,
        "laps_requested": laps,
        "lap_times_s": res.lap_times_s,
        "lap_valid": res.lap_valid,
        "best_lap_s": min(res.lap_times_s) if res.lap_times_s else float("nan"),
        "off_course_s": res.off_course_s,
        "wall_contact_s": res.wall_contact_s,
        "max_slip_deg": res.max_slip_deg,
        "max_speed_mps": float(traj["speed_mps"].max()),
        "mean_speed_mps": float(traj["speed_mps"].mean()),
        "physics_hz": cfg.substeps / cfg.dt_s,  # as run: a whole number of substeps per control step
        "control_hz": 1.0 / cfg.dt_s,
        "integrator": cfg.integrator,
    }
    write_metrics(run_dir, metrics)
    laps_txt = ", ".join(f"{t:.2f}" for t in res.lap_times_s) or "none completed"
    print(
        f"lap times (s): {laps_txt}; off course {res.off_course_s:.1f} s; max slip {res.max_slip_deg:.1f} deg"
    )
    if len(res.lap_times_s) < laps:
        print(f"warning: only {len(res.lap_times_s)} of {laps} laps completed")


@app.command("tracks")
def tracks() -> None:
    """List the tracks found on the track search path."""
    from drift.racing.track import track_names

    for n in track_names():
        print(n)


def _plot_trajectory(tr, traj, path: Path, lap_times) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.collections import LineCollection

    fig, ax = plt.subplots(figsize=(9, 7))
    for b in (tr.left, tr.right):
        bb = np.vstack([b, b[:1]])
        ax.plot(bb[:, 0], bb[:, 1], color="0.3", lw=0.8)
    xy = np.stack([traj["x_m"], traj["y_m"]], 1)
    seg = np.stack([xy[:-1], xy[1:]], 1)
    lc = LineCollection(seg, cmap="viridis", linewidths=1.6)
    lc.set_array(traj["speed_mps"][:-1])
    ax.add_collection(lc)
    fig.colorbar(lc, ax=ax, label="speed (m/s)")
    off = traj["off_course"].astype(bool)
    if off.any():
        ax.plot(xy[off, 0], xy[off, 1], "r.", ms=3, label="off course")
        ax.legend()
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    laps = ", ".join(f"{t:.2f}" for t in lap_times) or "no complete lap"
    ax.set_title(f"{tr.name}: laps {laps} s")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _write_gif(frames, path: Path, fps: int = 3, upscale: int = 3) -> None:
    from PIL import Image

    imgs = [
        Image.fromarray(f).resize((f.shape[1] * upscale, f.shape[0] * upscale), Image.NEAREST) for f in frames
    ]
    imgs[0].save(path, save_all=True, append_images=imgs[1:], duration=int(1000 / max(fps, 1)), loop=0)
