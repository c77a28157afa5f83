"""Running a driver for laps on the racing simulator: :func:`run_laps` and its result :class:`LapRun`.

The yardstick of the classical drivers (:class:`controllers.baselines.PurePursuit`) and of
``drift race sim``: a flying start, lap times interpolated within the physics substep, a trajectory per
control step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from drift.errors import DriftError
from drift.racing.config import RacingConfig, load_config
from drift.racing.sim import RacingSim
from drift.racing.track import Track, scaled_track
from drift.vehicle.params import VehicleParams

__all__ = ["LapRun", "run_laps"]


@dataclass
class LapRun:
    """Result of :func:`run_laps`.

    Attributes:
        lap_times_s: completed (timed) lap times (s); lap_valid: their validity flags.
        trajectory: dict of (T,) arrays per control step: ``t_s, x_m, y_m, psi_rad, vx_mps, vy_mps, r_radps,
            delta_rad, speed_mps, s_m, n_m, off_course, wall_contact, alpha_f_rad, alpha_r_rad, throttle``.
        off_course_s: total time off course (s). max_slip_deg: largest axle slip angle (deg).
        frames: camera images (uint8 (H, W, 3)) when requested.
    """

    lap_times_s: list[float]
    lap_valid: list[bool]
    trajectory: dict[str, np.ndarray]
    off_course_s: float
    max_slip_deg: float
    wall_contact_s: float
    frames: list[np.ndarray] = field(default_factory=list)
    track: Track | None = None


def run_laps(
    driver,
    laps: int = 1,
    config: RacingConfig | None = None,
    track: Track | str | None = None,
    vehicle: VehicleParams | None = None,
    tires=None,
    max_time_s: float | None = None,
    frame_every: int = 0,
    max_frames: int = 0,
    start_speed_mps: float | None = None,
    progress=None,
) -> LapRun:
    """Run a driver on a track for ``laps`` timed laps (flying start) and return lap times and trajectory.

    Args:
        driver: callable ``driver(sim) -> (1, 2) action`` reading the simulator state (``sim.x``, ``sim.s``,
            ...), e.g. :class:`controllers.baselines.PurePursuit`; it may have ``reset(sim)``.
        laps: number of timed laps. The car starts ``start_run_m`` before the start line, so the first
            crossing starts the clock.
        config: :class:`RacingConfig` (default: the ``iac`` preset without camera).
        track: Track, name or path (default ``config.track``).
        max_time_s: give up after this simulated time (default: laps + 1 at 10 m/s, scaled); a car
            slower than 0.5 m/s (scaled) for 10 s also ends the run.
        frame_every, max_frames: keep a camera frame every ``frame_every`` steps, up to ``max_frames``.
        start_speed_mps: initial speed (default: the driver's ``start_speed(sim, s)``, else 20 m/s scaled).
        progress: optional callable ``progress(fraction)``.
    Raises:
        DriftError when ``laps < 1``.
    """
    if laps < 1:
        raise DriftError(f"laps must be >= 1, got {laps}")
    cfg = config or load_config("iac", camera=False)
    if frame_every and not cfg.camera:
        cfg = cfg.replace(camera=True)
    tr = scaled_track(track if track is not None else cfg.track, cfg.track_scale)
    cfg = cfg.replace(max_backwards_m=1e9, stuck_time_s=1e9)  # the run ends here, not in the simulator
    sim = RacingSim(cfg, 1, track=tr, vehicle=vehicle, tires=tires, seed=0)
    run_in = 150.0 * cfg.track_scale
    s0 = tr.length_m - run_in
    if start_speed_mps is None:
        start_speed_mps = (
            driver.start_speed(sim, s0) if hasattr(driver, "start_speed") else 20.0 * cfg.track_scale
        )
    n0 = 0.0
    if tr.raceline is not None:
        _, n_rl = tr.project(tr.raceline.position(tr.raceline.project(tr.position(s0))[0]))
        n0 = float(n_rl)
    sim.reset(s_m=s0, n_m=n0, speed_mps=start_speed_mps, heading_err_rad=0.0)
    if hasattr(driver, "reset"):
        driver.reset(sim)
    if max_time_s is None:
        max_time_s = (laps + 1) * tr.length_m / (10.0 * np.sqrt(cfg.track_scale))
    keys = (
        "t_s",
        "x_m",
        "y_m",
        "psi_rad",
        "vx_mps",
        "vy_mps",
        "r_radps",
        "delta_rad",
        "speed_mps",
        "s_m",
        "n_m",
        "off_course",
        "wall_contact",
        "alpha_f_rad",
        "alpha_r_rad",
        "throttle",
    )
    traj: dict[str, list] = {k: [] for k in keys}
    frames = []
    wall_s = stuck_s = 0.0
    steps = int(np.ceil(max_time_s / cfg.dt_s))
    for k in range(steps):
        act = np.asarray(driver(sim), dtype=float).reshape(1, 2)
        _, _, info = sim.step(act)
        x = sim.x[0]
        row = (
            sim.t[0],
            x[0],
            x[1],
            x[2],
            x[3],
            x[4],
            x[5],
            sim.delta[0],
            info["speed_mps"][0],
            sim.s[0],
            sim.n[0],
            bool(sim.off[0]),
            bool(sim.wall_hit[0]),
            sim.alpha[0, 0],
            sim.alpha[0, 1],
            act[0, 1],
        )
        for key, v in zip(keys, row, strict=True):
            traj[key].append(v)
        wall_s += cfg.dt_s * float(sim.wall_hit[0])
        stuck_s = stuck_s + cfg.dt_s if info["speed_mps"][0] < 0.5 * np.sqrt(cfg.track_scale) else 0.0
        if frame_every and k % frame_every == 0 and len(frames) < max_frames:
            frames.append(sim.camera.render(sim.x[:, 0], sim.x[:, 1], sim.x[:, 2])[0])
        if progress is not None:
            done_laps = max(sim.progress[0] - run_in, 0.0) / tr.length_m
            progress(min(1.0, done_laps / laps))
        if len(sim.laps[0]) >= laps or stuck_s > 10.0:
            break
    out = {k: np.asarray(v) for k, v in traj.items()}
    return LapRun(
        lap_times_s=list(sim.laps[0]),
        lap_valid=list(sim.lap_valid[0]),
        trajectory=out,
        off_course_s=float(sim.off_time[0]),
        max_slip_deg=float(np.degrees(sim.max_slip[0])),
        wall_contact_s=wall_s,
        frames=frames,
        track=tr,
    )
