"""``drift race ...``: the racing simulator on real tracks, and the QR-SAC racing agent.

- ``drift race sim --track Monza --driver pure_pursuit --laps 2`` drives laps and writes a run folder
  with ``metrics.json`` (lap times, validity, time off course, slip), ``trajectory.png`` (the path
  coloured by speed), ``camera.gif`` (the onboard view) and ``trajectory.npz``; ``--driver agent --run
  RUN_DIR`` drives a trained agent instead.
- ``drift race train --track Norisring --steps N`` trains QR-SAC (:mod:`controllers.qrsac`); ``--resume
  RUN_DIR`` continues an interrupted run; ``--workers N --backend ray [--address ADDR]`` steps the cars in
  N rollout workers on Ray (``pip install 'drift[ray]'``) feeding the learner.
- ``drift race eval --run RUN_DIR`` drives the agent's deterministic laps and compares them with the
  minimum-time lap and pure pursuit's (:mod:`controllers.yardstick`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import tyro

from controllers.qrsac import QRSACConfig
from drift.commands import options_from_yaml, write_options
from drift.errors import DriftError

DRIVERS = ("pure_pursuit", "agent")


@dataclass(frozen=True)
class SimOptions:
    """Drive a driver around a track; write lap times, a trajectory plot and a camera GIF."""

    track: str = "Monza"
    """track name (drift race tracks) or path to a TUM-format CSV"""
    driver: str = "pure_pursuit"
    """the driver: pure_pursuit, or agent (with --run)"""
    run: Path | None = None
    """with --driver agent: a drift race train run folder (its best checkpoint drives)"""
    laps: int = 2
    """timed laps (flying start)"""
    preset: Literal["iac", "f1tenth"] = "iac"
    """environment preset (configs/racing/env.yaml); an agent uses its own run's"""
    tires: Path | None = None
    """fitted tyres: a drift fit run folder or model.yaml (None: the default tyres)"""
    allow_other_vehicle: bool = False
    """use tyres fitted for another vehicle"""
    physics_hz: float = 100.0
    """physics substep rate (Hz), rounded up to whole substeps per control step"""
    integrator: str = "rk4"
    """rk4 or euler"""
    gif_frames: int = 60
    """camera frames in camera.gif (0: no GIF)"""
    out: Path | None = None
    """run folder (None: runs/race-<timestamp>)"""
    config: Path | None = None
    """YAML file with these options' keys; flags given as well override it"""


@dataclass(frozen=True)
class TrainOptions:
    """Train the QR-SAC racing agent (image actor, privileged critic) on a track; checkpoints, TensorBoard
    scalars (tb/) and evaluation laps go to the run folder."""

    qrsac: Annotated[QRSACConfig, tyro.conf.arg(name="")] = field(default_factory=QRSACConfig)
    track: str = "Norisring"
    """track name (drift race tracks) or path to a TUM-format CSV"""
    preset: Literal["iac", "f1tenth"] = "iac"
    """environment preset and vehicle (configs/racing/env.yaml)"""
    steps: int = 200_000
    """total environment steps (car-steps over all cars)"""
    reward: Path | None = None
    """reward weights YAML (None: configs/racing/reward.yaml)"""
    tires: Path | None = None
    """fitted tyres: a drift fit run folder or model.yaml (None: the default tyres)"""
    allow_other_vehicle: bool = False
    """use tyres fitted for another vehicle"""
    resume: Path | None = None
    """continue this interrupted run folder with its own options, up to --steps (and --address, if given)"""
    backend: Literal["local", "ray"] = "local"
    """where the cars run: local (the learner steps them) or ray (--workers N rollout workers as Ray actors;
    pip install 'drift[ray]')"""
    address: str | None = None
    """with --backend ray: the Ray cluster to join (ray start --head prints it; None: a local Ray instance)"""
    threads: int | None = None
    """torch CPU threads of the learner (None: torch's default, one per core; with runs side by side, give
    each its share: more threads than free cores spin against each other)"""
    out: Path | None = None
    """run folder (None: runs/race-train-<timestamp>)"""
    config: Path | None = None
    """YAML file with these options' keys; flags given as well override it"""


@dataclass(frozen=True)
class EvalOptions:
    """Deterministic laps of a trained agent against the minimum-time lap and pure pursuit's; metrics,
    the driven and the optimal line, speed against distance, and what the actor sees."""

    run: Path
    """a drift race train run folder"""
    track: str | None = None
    """track (None: the one it trained on)"""
    laps: int = 3
    """timed laps (flying start)"""
    checkpoint: Literal["best", "last"] = "best"
    """best.pt (the evaluation with the fastest valid lap) or checkpoint.pt (the last)"""
    gif_frames: int = 60
    """camera frames in camera.gif (0: no GIF)"""
    out: Path | None = None
    """run folder (None: runs/race-eval-<timestamp>)"""
    config: Path | None = None
    """YAML file with these options' keys; flags given as well override it"""


@dataclass(frozen=True)
class TracksOptions:
    """List the tracks drift knows (shipped, and on the track search path)."""


SUBCOMMANDS = {"sim": SimOptions, "train": TrainOptions, "eval": EvalOptions, "tracks": TracksOptions}


def run(o) -> None:
    """Run a ``drift race`` subcommand with its options. Raises DriftError on bad input."""
    if isinstance(o, TracksOptions):
        from drift.racing.track import track_names

        for n in track_names():
            print(n)
    elif isinstance(o, TrainOptions):
        train(o)
    elif isinstance(o, EvalOptions):
        evaluate(o)
    else:
        sim(o)


def _env_kwargs(o: TrainOptions) -> dict:
    """The racing environment of a training run: preset (and its vehicle), track, tyres, reward."""
    from drift.racing.reward import load_reward_weights
    from drift.vehicle import load_vehicle
    from drift.vehicle.tires import resolve_tires

    kw = {"preset": o.preset, "vehicle": o.preset, "track": o.track}
    if o.tires is not None:
        kw["tires"] = resolve_tires(o.tires, load_vehicle(o.preset), o.allow_other_vehicle)
    if o.reward is not None:
        kw["reward"] = load_reward_weights(o.reward)
    return kw


def _run_options(run_dir: Path) -> TrainOptions:
    path = Path(run_dir) / "options.yaml"
    if not path.is_file():
        raise DriftError(f"{run_dir}: no options.yaml; pass the run folder of a drift race train")
    return options_from_yaml(TrainOptions, path)


def train(o: TrainOptions) -> None:
    """``drift race train``: bad input fails before a run folder exists."""
    from rich.progress import Progress

    from controllers.qrsac import train as train_agent
    from controllers.qrsac.qrsac import check_backend
    from drift.racing.track import load_track
    from drift.runs import make_run_dir, write_metrics

    resume = o.resume is not None
    if resume:
        saved = _run_options(o.resume)
        o = dataclasses.replace(saved, steps=o.steps, resume=o.resume, address=o.address or saved.address)
    if o.steps < 1:
        raise DriftError(f"--steps must be >= 1, got {o.steps}")
    check_backend(o.qrsac, o.backend)  # Ray missing, or workers without it: fails before the run folder
    if o.threads is not None and o.threads < 1:
        raise DriftError(f"--threads must be >= 1, got {o.threads}")
    load_track(o.track)  # a bad track fails here
    kw = _env_kwargs(o)
    import torch

    if o.threads is not None:
        torch.set_num_threads(o.threads)
    run_dir = make_run_dir("race-train", o.resume if resume else o.out)
    if not resume:
        write_options(run_dir, o)
    with Progress() as bar:
        task = bar.add_task(f"QR-SAC on {o.track}", total=o.steps)
        # into a log file rich draws no bar until the end: print the line itself every 30 s
        plain = {"on": not bar.console.is_terminal, "last": -math.inf}

        def show(d):
            lap = d.get("best_valid_lap_s")
            ret = d.get("episode_return")
            text = (
                f"QR-SAC on {o.track}: {d['steps_per_s']:.0f} steps/s, return "
                + ("-" if ret is None else f"{ret:.1f}")
                + f", laps {d['laps']}, best valid lap "
                + ("-" if lap is None else f"{lap:.2f} s")
            )
            bar.update(task, completed=d["step"], description=text)
            if plain["on"] and time.monotonic() - plain["last"] >= 30.0:
                plain["last"] = time.monotonic()
                bar.console.print(f"step {d['step']} of {o.steps}: {text}")

        try:
            m = train_agent(
                o.qrsac,
                run_dir,
                o.steps,
                env_kwargs=kw,
                resume=resume,
                progress=show,
                log=bar.console.print,
                backend=o.backend,
                address=o.address,
            )
        except KeyboardInterrupt:
            bar.console.print(f"continue with: drift race train --resume {run_dir} --steps {o.steps}")
            raise SystemExit(130) from None
    write_metrics(run_dir, m)
    lap = m.get("best_valid_lap_s")
    print(
        f"{m['steps']} steps in {m['wall_s'] / 60:.1f} min ({m['steps_per_s']:.0f} steps/s); best valid lap "
        + ("none yet" if lap is None else f"{lap:.2f} s")
        + f"; drift race eval --run {run_dir}"
    )


def load_run(run_dir: str | Path, checkpoint: str = "best"):
    """The agent of a ``drift race train`` run folder and the environment it trained in.

    Args:
        run_dir: the run folder (``options.yaml``, ``best.pt`` and/or ``checkpoint.pt``).
        checkpoint: ``best`` (falls back to the last when no evaluation was saved) or ``last``.
    Returns:
        ``(agent, env_kwargs)``: the :class:`controllers.qrsac.Agent` (eval mode, CPU unless the run
        used CUDA and it is present) and the keyword arguments of :class:`drift.racing.RacingEnv`
        (``preset``, ``vehicle``, ``track``, ``tires``, ``reward``, and the camera's placement for an
        image agent) of its training.
    Raises:
        DriftError: no options.yaml, a missing or corrupt checkpoint.
    """
    from controllers.qrsac import load_agent

    opts = _run_options(Path(run_dir))
    ck = Path(run_dir) / ("best.pt" if checkpoint == "best" else "checkpoint.pt")
    if checkpoint == "best" and not ck.exists():
        ck = Path(run_dir) / "checkpoint.pt"
    agent = load_agent(ck)
    return agent, {**_env_kwargs(opts), **(agent.camera or {})}


def _drive_agent(run_dir: Path, track, laps: int, gif_frames: int, checkpoint: str = "best"):
    """The agent of ``run_dir`` driving ``laps`` laps: ``(LapRun, env)``; the env holds car and config."""
    from rich.progress import Progress

    from controllers.qrsac.driver import AgentDriver
    from drift.racing import RacingEnv, run_laps

    agent, kw = load_run(run_dir, checkpoint)
    if track is not None:
        kw["track"] = track
    needs_image = "image" in agent.config.stored_keys
    env = RacingEnv(camera=needs_image or gif_frames > 0, **kw)
    with Progress() as bar:
        task = bar.add_task(f"{laps} lap(s) of {env.sim.track.name} by the agent", total=1.0)
        res = run_laps(
            AgentDriver(agent),
            laps=laps,
            config=env.cfg,
            track=env.sim.track,
            vehicle=env.sim.p,
            tires=env.sim.tires,
            frame_every=1 if gif_frames > 0 else 0,
            max_frames=gif_frames,
            progress=lambda fr: bar.update(task, completed=fr),
        )
    return res, env


def evaluate(o: EvalOptions) -> None:
    """``drift race eval``: lap times against the yardsticks, plots and the actor's view."""
    import numpy as np

    from controllers.yardstick import yardstick
    from drift.runs import make_run_dir, write_metrics

    if o.laps < 1 or o.gif_frames < 0:
        raise DriftError(f"--laps must be >= 1 and --gif-frames >= 0, got {o.laps} and {o.gif_frames}")
    _run_options(o.run)  # not a training run: fails before the run folder
    run_dir = make_run_dir("race-eval", o.out)
    write_options(run_dir, o)
    res, env = _drive_agent(o.run, o.track, o.laps, o.gif_frames, o.checkpoint)
    y = yardstick(env.sim.track, env.sim.p, env.sim.tires)
    valid = [t for t, ok in zip(res.lap_times_s, res.lap_valid, strict=True) if ok]
    best = min(valid) if valid else float("nan")
    metrics = {
        "run": str(o.run),
        "track": env.sim.track.name,
        "lap_times_s": res.lap_times_s,
        "lap_valid": res.lap_valid,
        "best_valid_lap_s": best,
        "off_course_s": res.off_course_s,
        "wall_contact_s": res.wall_contact_s,
        "ocp_lap_s": y.ocp_lap_s,
        "pure_pursuit_lap_s": y.pure_pursuit_lap_s,
        "lap_over_ocp": best / y.ocp_lap_s,
        "lap_over_pure_pursuit": best / y.pure_pursuit_lap_s,
    }
    write_metrics(run_dir, metrics)
    traj = res.trajectory
    np.savez_compressed(run_dir / "trajectory.npz", **traj)
    optimal = (y.ocp_x_m, y.ocp_y_m)
    _plot_trajectory(res.track, traj, run_dir / "trajectory.png", res.lap_times_s, optimal=optimal)
    _plot_speed(traj, y, run_dir / "speed.png")
    if res.frames:
        _write_gif(res.frames, run_dir / "camera.gif", fps=int(round(1.0 / env.cfg.dt_s)))
    laps = zip(res.lap_times_s, res.lap_valid, strict=True)
    laps_txt = ", ".join(f"{t:.2f}{'' if ok else ' (invalid)'}" for t, ok in laps)
    print(
        f"laps (s): {laps_txt or 'none completed'}; best valid / minimum-time lap "
        f"{metrics['lap_over_ocp']:.3f}, / pure pursuit {metrics['lap_over_pure_pursuit']:.3f}"
    )


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
    if (o.driver == "agent") != (o.run is not None):
        raise DriftError("--driver agent needs --run RUN_DIR (a drift race train run folder), and only it")
    from controllers.baselines import PurePursuit
    from drift.vehicle import load_vehicle
    from drift.vehicle.tires import resolve_tires

    if o.driver == "agent":
        _run_options(o.run)  # not a training run: fails before the run folder
        run_dir = make_run_dir("race", o.out)
        write_options(run_dir, o)
        res, env = _drive_agent(o.run, o.track, o.laps, o.gif_frames)
        cfg = env.cfg
        frame_every = 1
    else:
        cfg = load_config(o.preset, camera=o.gif_frames > 0, physics_hz=o.physics_hz, integrator=o.integrator)
        tr = scaled_track(o.track, cfg.track_scale)  # bad names or files fail before a run folder exists
        tires = None  # so does a bad tyre file, or one fitted for another vehicle
        if o.tires is not None:
            tires = resolve_tires(o.tires, load_vehicle(cfg.vehicle), o.allow_other_vehicle)
        run_dir = make_run_dir("race", o.out)
        write_options(run_dir, o)
        frame_every = 3 if o.gif_frames > 0 else 0
        with Progress() as bar:
            task = bar.add_task(f"{o.laps} lap(s) of {o.track}", total=1.0)
            res = run_laps(
                PurePursuit(),
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


def _plot_trajectory(tr, traj, path: Path, lap_times, optimal=None) -> None:
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
    if optimal is not None:
        ax.plot(*optimal, "k--", lw=0.8, label="minimum-time line")
    off = traj["off_course"].astype(bool)
    if off.any():
        ax.plot(xy[off, 0], xy[off, 1], "r.", ms=3, label="off course")
    if off.any() or optimal is not None:
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


def _plot_speed(traj, y, path: Path) -> None:
    """Speed against centre-line distance: the agent's laps and the minimum-time lap's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(traj["s_m"], traj["speed_mps"] * 3.6, ".", ms=1.5, label="agent")
    ax.plot(y.ocp_s_m, y.ocp_speed_mps * 3.6, "k-", lw=0.9, label=f"minimum-time lap ({y.ocp_lap_s:.2f} s)")
    ax.set_xlabel("distance along the centre line (m)")
    ax.set_ylabel("speed (km/h)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
