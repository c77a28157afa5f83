"""``drift race ...``: the racing simulator on real tracks.

``drift race sim --track Monza --driver pure_pursuit --laps 2`` drives laps and writes a run folder with
``metrics.json`` (``lap_times_s``, ``lap_valid``, ``off_course_s``, ``max_slip_deg``, ...), ``trajectory.png``
(path coloured by speed over the track map), ``camera.gif`` (onboard view) and ``trajectory.npz``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from drift.commands import write_options
from drift.errors import DriftError

DRIVERS = ("pure_pursuit",)


@dataclass(frozen=True)
class SimOptions:
    """Drive a baseline driver around a track; write lap times, a trajectory plot and a camera GIF."""

    track: str = "Monza"
    """track name (drift race tracks) or path to a TUM-format CSV"""
    driver: str = "pure_pursuit"
    """the driver: pure_pursuit"""
    laps: int = 2
    """timed laps (flying start)"""
    preset: Literal["iac", "f1tenth"] = "iac"
    """environment preset (configs/racing/env.yaml)"""
    tires: Path | None = None
    """fitted tyres: a drift fit run folder or model.yaml (None: the default tyres)"""
    allow_other_vehicle: bool = False
    """use tyres fitted for another vehicle"""
    physics_hz: float = 100.0
    """physics substep rate (Hz), rounded up to whole substeps per control step"""
    integrator: str = "rk4"
    """rk4 or euler"""
    gif_frames: int = 60
    """camera frames in camera.gif (0: no GIF, camera off)"""
    out: Path | None = None
    """run folder (None: runs/race-<timestamp>)"""
    config: Path | None = None
    """YAML file with these options' keys; flags given as well override it"""


@dataclass(frozen=True)
class TracksOptions:
    """List the tracks drift knows (shipped, and on the track search path)."""


SUBCOMMANDS = {"sim": SimOptions, "tracks": TracksOptions}


def run(o: SimOptions | TracksOptions) -> None:
    """Run ``drift race sim`` or ``drift race tracks``. Raises DriftError on bad input."""
    if isinstance(o, TracksOptions):
        from drift.racing.track import track_names

        for n in track_names():
            print(n)
        return
    sim(o)


def sim(o: SimOptions) -> None:
    """``drift race sim``: bad input fails before a run folder exists."""
    import numpy as np
    from rich.progress import Progress

    from drift.racing import load_config, run_laps, scaled_track
    from drift.runs import make_run_dir, write_metrics

    if o.driver not in DRIVERS:
        raise DriftError(f"unknown driver {o.driver!r}; choose one of {', '.join(DRIVERS)}")
    if o.laps < 1 or o.gif_frames < 0:
        raise DriftError(f"--laps must be >= 1 and --gif-frames >= 0, got {o.laps} and {o.gif_frames}")
    from controllers.baselines import PurePursuit
    from drift.vehicle import load_vehicle
    from drift.vehicle.tires import resolve_tires

    cfg = load_config(o.preset, camera=o.gif_frames > 0, physics_hz=o.physics_hz, integrator=o.integrator)
    tr = scaled_track(o.track, cfg.track_scale)  # bad names or files fail before a run folder exists
    tires = None  # so does a bad tyre file, or one fitted for another vehicle
    if o.tires is not None:
        tires = resolve_tires(o.tires, load_vehicle(cfg.vehicle), o.allow_other_vehicle)
    run_dir = make_run_dir("race", o.out)
    write_options(run_dir, o)
    drv = PurePursuit()
    frame_every = 3 if o.gif_frames > 0 else 0
    with Progress() as bar:
        task = bar.add_task(f"{o.laps} lap(s) of {o.track}", total=1.0)
        res = run_laps(
            drv,
            laps=o.laps,
            config=cfg,
            track=tr,
            tires=tires,
            frame_every=frame_every,
            max_frames=o.gif_frames,
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
        "driver": o.driver,
        "laps_requested": o.laps,
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
    if len(res.lap_times_s) < o.laps:
        print(f"warning: only {len(res.lap_times_s)} of {o.laps} laps completed")


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
