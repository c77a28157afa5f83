"""Racing simulator: batched core, gymnasium :class:`RacingEnv` and vectorised :class:`VecRacingEnv`.

Physics: the ONE single-track model :func:`drift.vehicle.f` with any project tyre model, integrated with
fixed-step RK4 (or explicit Euler) at ``physics_hz`` inside each control step of ``dt_s`` (10 Hz control,
100 Hz physics by default), inputs held per substep. Below ``v_kinematic_mps`` the lateral velocity and yaw
rate follow the kinematic bicycle (the dynamic model is singular at standstill).

Actions, both in [-1, 1]: ``[steer, throttle_brake]``.

- steering ``absolute``: target road-wheel angle ``steer * delta_max``; ``rate``: the target changes by
  ``steer * steer_step_rad`` per control step. The wheel follows the target at most at
  ``delta_rate_max`` (vehicle parameter).
- ``throttle_brake > 0``: drive force ``a * min(Fx_drive_max, P_max / vx)`` (power limit); ``< 0``: brake
  force ``a * Fx_brake_max`` (front share ``brake_front_share``), opposing the direction of travel and
  faded out at standstill (:func:`drift.vehicle.applied_force`), so brakes never reverse the car.
  Both are capped at ``friction_use`` of each axle's friction ``mu Fz`` including load transfer
  (traction control / ABS), see :meth:`RacingSim.force_command`.

Walls lie ``wall_margin_m`` beyond the boundaries. A car whose side reaches a wall is put back against
it, loses its velocity into the wall and keeps ``wall_speed_factor`` of its speed along it.

Off course: the whole car beyond a boundary (centre farther than half the car width outside).

Lap timing: the start line is ``s = 0``. Each crossing time is interpolated within the physics substep
where the car crossed (positions of every substep are projected), so lap times do not depend on the
10 Hz control rate. The first crossing after a reset starts the timing. A lap is ``valid`` when the car
never went off course during it (cut corners).

Observations (gymnasium ``Dict``):

- ``image`` (H, W, 3) uint8: onboard camera (:mod:`drift.racing.camera`), when ``camera`` is on.
- ``proprio`` float32: ``[v, vx, vy] / v_ref, r (rad/s), [ax, ay] / g, delta / delta_max, previous
  steering angles / delta_max (steer_history - 1), previous action (2)``.
- ``privileged`` float32 (critic only): left, centre and right course points at ``n_ahead`` times from
  ``horizon_min_s`` to ``horizon_max_s`` ahead at the current speed (at least ``v_min_lookahead_mps``),
  in the car frame (x forward, y left), divided by ``v_ref * 1 s``, laid out (n_ahead, 3, 2) flattened
  (for each time: left x, y, centre x, y, right x, y); then boundary distances (2, m / half track
  width), ``sin, cos`` of the lap fraction, lateral offset (m / half width), ``sin, cos`` of the
  heading error, slip angles ``alpha_f, alpha_r`` (rad), wall-contact flag, off-course flag.

Sources: GT Sophy (Wurman et al., Nature 2022) and the GT vision agent (Lee et al. 2023) for the
observation and reward design; Rajamani 2012 for the model (via :mod:`drift.vehicle`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:  # gymnasium comes with the ``rl`` extra; the simulator core and run_laps work without it
    import gymnasium as gym

    _GymEnv, _GymVecEnv = gym.Env, gym.vector.VectorEnv
except ImportError:  # pragma: no cover - exercised only without the extra
    gym = None
    _GymEnv = _GymVecEnv = object
import numpy as np
import yaml

from drift.config import config_dir
from drift.errors import ConfigError, DriftError
from drift.racing.reward import RewardWeights, load_reward_weights, reward_terms
from drift.racing.track import Track, load_track, make_track
from drift.vehicle import applied_force, axle_loads, f, kinematic_velocities, load_vehicle, slip_angles
from drift.vehicle.params import VehicleParams
from drift.vehicle.tires import resolve_tires

__all__ = [
    "RacingConfig",
    "RacingSim",
    "RacingEnv",
    "VecRacingEnv",
    "LapRun",
    "run_laps",
    "load_config",
]


# ----------------------------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class RacingConfig:
    """Environment settings (SI units; see ``configs/racing/env.yaml`` for the presets)."""

    vehicle: str = "iac"
    track: str = "Monza"
    track_scale: float = 1.0
    dt_s: float = 0.1
    physics_hz: float = 100.0
    integrator: str = "rk4"
    steering: str = "absolute"
    steer_step_rad: float = float(np.radians(3.0))
    horizon_min_s: float = 0.1
    horizon_max_s: float = 6.0
    n_ahead: int = 59
    camera: bool = True
    image_px: int = 64
    camera_sampling: str = "bilinear"
    wall_margin_m: float = 2.0
    wall_speed_factor: float = 0.8
    friction_use: float = 0.9
    brake_rear_use: float = 0.9
    reset_speed_min_mps: float = 10.0
    reset_speed_max_mps: float = 45.0
    reset_offset_frac: float = 0.5
    v_ref_mps: float = 80.0
    v_min_lookahead_mps: float = 5.0
    v_kinematic_mps: float = 1.0
    max_episode_steps: int = 3000
    max_backwards_m: float = 50.0
    stuck_speed_mps: float = 1.0
    stuck_time_s: float = 5.0
    steer_history: int = 4
    reward: RewardWeights = field(default_factory=RewardWeights)

    @property
    def substeps(self) -> int:
        """Physics substeps per control step, ``ceil(physics_hz * dt_s)``."""
        return max(1, int(np.ceil(self.physics_hz * self.dt_s - 1e-9)))

    def replace(self, **kw) -> RacingConfig:
        return dataclasses.replace(self, **kw)

    def __post_init__(self):
        if self.steering not in ("absolute", "rate"):
            raise ConfigError(f"steering must be 'absolute' or 'rate', got {self.steering!r}")
        if self.integrator not in ("rk4", "euler"):
            raise ConfigError(f"integrator must be 'rk4' or 'euler', got {self.integrator!r}")
        if not (self.dt_s > 0 and self.physics_hz > 0 and self.track_scale > 0):
            raise ConfigError("dt_s, physics_hz and track_scale must be positive")
        if self.n_ahead < 1 or self.steer_history < 3:
            raise ConfigError("n_ahead must be >= 1 and steer_history >= 3")


def load_config(preset: str = "iac", path: str | Path | None = None, **overrides) -> RacingConfig:
    """Config of a preset (``iac`` or ``f1tenth``) from ``configs/racing/env.yaml`` (or ``path``),
    with the reward weights of ``configs/racing/reward.yaml`` and keyword ``overrides``.

    Raises:
        ConfigError: unreadable YAML, unknown preset or keys, invalid values.
    """
    p = Path(path) if path is not None else config_dir() / "racing" / "env.yaml"
    try:
        d = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read racing config {p}: {e}") from None
    if preset not in d:
        raise ConfigError(f"{p}: no preset {preset!r}; presets: {sorted(d)}")
    sec = dict(d[preset])
    known = {f.name for f in dataclasses.fields(RacingConfig)}
    bad = sorted(set(sec) - known)
    if bad:
        raise ConfigError(f"{p}: unknown keys {bad} in preset {preset!r}; known: {sorted(known)}")
    reward = overrides.pop("reward", None) or load_reward_weights()
    sec.update(overrides)
    return RacingConfig(**sec, reward=reward)


def _float(v) -> float:
    return float(v.detach()) if hasattr(v, "detach") else float(v)


def _wrap_angle(a):
    return (a + np.pi) % (2 * np.pi) - np.pi


# ----------------------------------------------------------------------------------------------
# batched core


class RacingSim:
    """Batched racing simulator core (numpy): B cars on one track, no auto-reset.

    Args:
        config: :class:`RacingConfig`.
        num_cars: batch size B.
        track: a :class:`Track` (else ``config.track`` is loaded and scaled by ``track_scale``).
        vehicle: :class:`VehicleParams` (else the ``config.vehicle`` preset).
        tires: see :func:`resolve_tires`.
        seed: seed of the reset generator.

    State (all numpy, shape (B, ...)): ``x`` (B, 6) ``[X, Y, psi, vx, vy, r]``; ``delta`` (B,) road-wheel
    angle (rad); ``t`` (B,) time since reset (s); ``progress`` (B,) centre-line distance since reset (m);
    ``laps`` (list of lists): completed lap times per car with ``lap_valid`` flags.
    """

    def __init__(
        self,
        config: RacingConfig | None = None,
        num_cars: int = 1,
        track: Track | None = None,
        vehicle: VehicleParams | None = None,
        tires=None,
        seed: int | None = None,
    ):
        self.cfg = c = config or RacingConfig()
        self.B = int(num_cars)
        self.track = track if track is not None else scaled_track(c.track, c.track_scale)
        self.p = vehicle if vehicle is not None else load_vehicle(c.vehicle)
        self.tires = resolve_tires(tires, self.p)
        self.mu_f, self.mu_r = _float(self.tires.front.peak_mu), _float(self.tires.rear.peak_mu)
        self.k_scale = c.track_scale
        self.wall = c.wall_margin_m * c.track_scale
        self.half_w = 0.5 * self.p.width
        if not self.wall > self.p.width:
            raise ConfigError(
                f"wall_margin_m * track_scale = {self.wall:.3g} m is not more than the car's width "
                f"{self.p.width:.3g} m: a car would touch the wall before it is off course (off-course time "
                "and lap validity could never register); raise wall_margin_m in the racing config"
            )
        #: generous bound on any car's speed (m/s), for plausibility checks of the track position
        self.speed_bound = max(c.v_ref_mps, c.reset_speed_max_mps) * 2.0
        self.t_ahead = np.linspace(c.horizon_min_s, c.horizon_max_s, c.n_ahead)
        tr = self.track
        self._course = np.concatenate([tr.left, tr.xy, tr.right], axis=1).astype(np.float32)  # (N, 6)
        self.rng = np.random.default_rng(seed)
        self.camera = None
        if c.camera:
            from drift.racing.camera import CameraConfig, TrackCamera

            self.camera = TrackCamera(
                self.track,
                CameraConfig(
                    width_px=c.image_px, height_px=c.image_px, sampling=c.camera_sampling, scale=c.track_scale
                ),
                wall_offset_m=self.wall,
            )
        B, H = self.B, c.steer_history
        self.x = np.zeros((B, 6))
        self.delta = np.zeros(B)
        self.delta_target = np.zeros(B)
        self.hist = np.zeros((B, H))
        self.prev_action = np.zeros((B, 2))
        self.acc = np.zeros((B, 2))
        self.alpha = np.zeros((B, 2))
        self.s = np.zeros(B)
        self.n = np.zeros(B)
        self.d_lr = np.zeros((B, 2))
        self.progress = np.zeros(B)
        self.best_progress = np.zeros(B)
        self.t = np.zeros(B)
        self.steps = np.zeros(B, dtype=np.int64)
        self.stuck_t = np.zeros(B)
        self.off = np.zeros(B, dtype=bool)
        self.wall_hit = np.zeros(B, dtype=bool)
        self.lap_start = np.full(B, np.nan)
        self.lap_ok = np.ones(B, dtype=bool)
        self.laps: list[list[float]] = [[] for _ in range(B)]
        self.lap_valid: list[list[bool]] = [[] for _ in range(B)]
        self.off_time = np.zeros(B)
        self.max_slip = np.zeros(B)
        self.reset()

    # -------------------------------------------------------------- sizes
    @property
    def proprio_dim(self) -> int:
        return 7 + (self.cfg.steer_history - 1) + 2

    @property
    def privileged_dim(self) -> int:
        return 6 * self.cfg.n_ahead + 11

    # -------------------------------------------------------------- reset
    def reset(self, idx=None, s_m=None, n_m=None, speed_mps=None, heading_err_rad=None) -> None:
        """Reset cars ``idx`` (default all) at random places and speeds, or at given Frenet values.

        Args (each None = random, or broadcastable to ``len(idx)``): ``s_m`` centre-line position (m),
        ``n_m`` left offset (m), ``speed_mps`` initial speed (m/s, along the heading),
        ``heading_err_rad`` yaw relative to the track tangent (rad).
        """
        c, tr = self.cfg, self.track
        idx = np.arange(self.B) if idx is None else np.asarray(idx).reshape(-1)
        if np.issubdtype(idx.dtype, np.bool_):
            idx = np.flatnonzero(idx)
        k = len(idx)
        if k == 0:
            return
        r = self.rng
        s = (
            r.uniform(0, tr.length_m, k)
            if s_m is None
            else np.broadcast_to(np.asarray(s_m, float), (k,)).copy()
        )
        wl, wr = tr.widths(s)
        if n_m is None:
            u = r.uniform(-1, 1, k) * c.reset_offset_frac
            n = np.where(u > 0, u * np.maximum(wl - self.half_w, 0), u * np.maximum(wr - self.half_w, 0))
        else:
            n = np.broadcast_to(np.asarray(n_m, float), (k,)).copy()
        v = (
            r.uniform(c.reset_speed_min_mps, c.reset_speed_max_mps, k)
            if speed_mps is None
            else np.broadcast_to(np.asarray(speed_mps, float), (k,)).copy()
        )
        he = r.normal(0, 0.05, k) if heading_err_rad is None else np.broadcast_to(heading_err_rad, (k,))
        pos = tr.position(s, n)
        psi = tr.heading_at(s) + he
        self.x[idx] = np.stack([pos[:, 0], pos[:, 1], psi, v, np.zeros(k), np.zeros(k)], 1)
        for a in (
            self.delta,
            self.delta_target,
            self.t,
            self.progress,
            self.best_progress,
            self.stuck_t,
            self.off_time,
            self.max_slip,
        ):
            a[idx] = 0.0
        self.steps[idx] = 0
        self.hist[idx] = 0.0
        self.prev_action[idx] = 0.0
        self.acc[idx] = 0.0
        self.alpha[idx] = 0.0
        self.lap_start[idx] = np.nan
        self.lap_ok[idx] = True
        for i in idx:
            self.laps[i] = []
            self.lap_valid[i] = []
        self.s[idx], self.n[idx] = tr.project(pos)
        self._update_flags(idx)

    def set_state(self, x, idx=None) -> None:
        """Place cars ``idx`` (default all) at states ``x`` (k, 6) ``[X, Y, psi, vx, vy, r]`` without
        resetting their timers, laps or histories (e.g. to mirror an external simulator or a log);
        the Frenet position and the flags are recomputed. A jump across the start line is not a lap."""
        idx = np.arange(self.B) if idx is None else np.atleast_1d(np.asarray(idx))
        x = np.asarray(x, dtype=float).reshape(len(idx), 6)
        self.x[idx] = x
        self.s[idx], self.n[idx] = self.track.project(x[:, :2])
        self._update_flags(idx)

    def _update_flags(self, idx) -> None:
        wl, wr = self.track.widths(self.s[idx])
        self.d_lr[idx] = np.stack([wl - self.n[idx], wr + self.n[idx]], 1)
        self.off[idx] = (self.d_lr[idx] < -self.half_w).any(axis=1)

    # -------------------------------------------------------------- physics
    def force_command(self, a, vx) -> np.ndarray:
        """Force demand ``Fx`` (N), shape (B,), from throttle/brake ``a`` in [-1, 1] and speed ``vx``.

        Drive: ``a * min(Fx_drive_max, P_max / vx)``; brake: ``a * Fx_brake_max``. Both are capped so each
        axle uses at most ``friction_use`` of its friction ``mu Fz``, with the load transfer ``h Fx / L``
        that the force itself causes (traction control and ABS), leaving lateral grip on the friction circle;
        the rear axle brakes with at most ``brake_rear_use`` (a car with a high centre of gravity spins
        under braking when its unloaded rear tyres are near their limit).
        """
        p, u = self.p, self.cfg.friction_use
        Fzf, Fzr = axle_loads(vx, 0.0, p)
        hl = float(axle_loads(0.0, 1.0, p)[1] - axle_loads(0.0, 0.0, p)[1])  # transfer dFzr/dFx = h / L
        drive = np.minimum(p.Fx_drive_max, p.P_max / np.maximum(vx, 1.0))
        drive = np.minimum(drive, u * self.mu_r * Fzr / (1.0 - min(u * self.mu_r * hl, 0.95)))
        bf, br = p.brake_front_share, 1.0 - p.brake_front_share
        ur = min(u, self.cfg.brake_rear_use)
        cap_r = ur * self.mu_r * Fzr / (br + ur * self.mu_r * hl) if br > 0 else np.inf
        den_f = bf - u * self.mu_f * hl
        cap_f = u * self.mu_f * Fzf / den_f if den_f > 1e-9 else np.inf
        brake = np.minimum(np.minimum(p.Fx_brake_max, cap_r), cap_f)
        return np.where(a >= 0, a * drive, a * brake)

    def _rhs(self, x, u):
        return f(x, u, self.p, self.tires)

    def step(self, action) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Advance all cars one control step.

        Args:
            action: (B, 2) in [-1, 1] (clipped): steering, throttle/brake.
        Returns:
            reward (B,), terminated (B,) bool, truncated (B,) bool, info (dict of (B,) arrays: the reward
            terms and ``r_<term>``, ``s_m``, ``n_m``, ``speed_mps``, ``off_course_flag``, ``wall_contact``,
            ``lap_time_s`` (0 unless a lap ended this step), ``lap_completed``, ``lap_valid``, ``lap_count``).
        """
        c, p, tr = self.cfg, self.p, self.track
        a = np.clip(np.asarray(action, dtype=float).reshape(self.B, 2), -1.0, 1.0)
        if c.steering == "absolute":
            self.delta_target = a[:, 0] * p.delta_max
        else:
            self.delta_target = np.clip(
                self.delta_target + a[:, 0] * c.steer_step_rad, -p.delta_max, p.delta_max
            )
        nsub = c.substeps
        h = c.dt_s / nsub
        x = self.x
        delta = self.delta
        xy_sub = np.empty((nsub + 1, self.B, 2))
        xy_sub[0] = x[:, :2]
        s_old, t_old = self.s.copy(), self.t.copy()
        vkin = c.v_kinematic_mps
        for j in range(nsub):
            delta = delta + np.clip(self.delta_target - delta, -p.delta_rate_max * h, p.delta_rate_max * h)
            u = np.stack([delta, applied_force(self.force_command(a[:, 1], x[:, 3]), x[:, 3], self.p)], 1)
            if c.integrator == "rk4":
                k1 = self._rhs(x, u)
                k2 = self._rhs(x + 0.5 * h * k1, u)
                k3 = self._rhs(x + 0.5 * h * k2, u)
                k4 = self._rhs(x + h * k3, u)
                x = x + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
                dx = k4
            else:
                dx = self._rhs(x, u)
                x = x + h * dx
            slow = x[:, 3] < vkin
            if slow.any():  # kinematic bicycle at walking pace; no reversing
                vx = np.maximum(x[slow, 3], 0.0)
                vy, r = kinematic_velocities(vx, delta[slow], p)
                x[slow, 3], x[slow, 4], x[slow, 5] = vx, vy, r
            xy_sub[j + 1] = x[:, :2]
        # body accelerations from the last derivative: a = v_dot + omega x v
        self.acc = np.stack([dx[:, 3] - x[:, 4] * x[:, 5], dx[:, 4] + x[:, 3] * x[:, 5]], 1)
        self.delta = delta
        fr = slip_angles(x[:, 3], x[:, 4], x[:, 5], delta, p)
        self.alpha = np.stack([fr[0], fr[1]], 1)

        # Frenet update, walls
        s_new, n_new = tr.project(x[:, :2])
        # a jump along the track larger than the car can drive means another part of the track passes
        # close by: project again near the previous position
        jump = (
            np.abs(_wrap_half(s_new - s_old, tr.length_m))
            > 2.0 * self.speed_bound * c.dt_s + 10.0 * c.track_scale
        )
        if jump.any():
            s_new[jump], n_new[jump] = tr.project_near(
                x[jump, :2], s_old[jump], 2.0 * self.speed_bound * c.dt_s + 20.0
            )
        wl, wr = tr.widths(s_new)
        lim_l, lim_r = wl + self.wall - self.half_w, wr + self.wall - self.half_w
        hit = (n_new > lim_l) | (n_new < -lim_r)
        if hit.any():
            x = self._wall_contact(x, hit, s_new, n_new, lim_l, lim_r)
        self.x = x
        self.wall_hit = hit
        ds = _wrap_half(s_new - s_old, tr.length_m)
        self.s, self.n = s_new, np.clip(n_new, -lim_r, lim_l)
        self.progress = self.progress + ds
        self.best_progress = np.maximum(self.best_progress, self.progress)
        self.t = self.t + c.dt_s
        self.steps += 1
        all_idx = np.arange(self.B)
        self._update_flags(all_idx)
        speed = np.hypot(x[:, 3], x[:, 4])
        self.off_time += np.where(self.off, c.dt_s, 0.0)
        self.max_slip = np.maximum(self.max_slip, np.abs(self.alpha).max(axis=1))

        # lap timing: crossing of s = 0 forwards (or backwards) this step
        lap_time = np.zeros(self.B)
        lap_valid = np.zeros(self.B, dtype=bool)
        self.lap_ok &= ~self.off
        cross_fwd = (ds > 0) & (s_old + ds >= tr.length_m)
        cross_back = (ds < 0) & (s_old + ds < 0)
        if cross_back.any():
            self.lap_start[cross_back] = np.nan
        for i in np.flatnonzero(cross_fwd):
            tc = t_old[i] + self._crossing_fraction(xy_sub[:, i], s_old[i]) * c.dt_s
            if np.isfinite(self.lap_start[i]):
                lap_time[i] = tc - self.lap_start[i]
                lap_valid[i] = self.lap_ok[i]
                self.laps[i].append(float(lap_time[i]))
                self.lap_valid[i].append(bool(lap_valid[i]))
            self.lap_start[i] = tc
            self.lap_ok[i] = not self.off[i]

        # reward
        self.hist = np.concatenate([delta[:, None], self.hist[:, :-1]], axis=1)
        rew, terms = reward_terms(
            ds,
            np.where(self.off, c.dt_s, 0.0),
            np.where(hit, c.dt_s, 0.0),
            speed,
            self.hist,
            p.delta_max,
            self.alpha[:, 0],
            self.alpha[:, 1],
            c.reward,
        )
        self.prev_action = a

        self.stuck_t = np.where(speed < c.stuck_speed_mps, self.stuck_t + c.dt_s, 0.0)
        terminated = (self.progress < self.best_progress - c.max_backwards_m * c.track_scale) | (
            self.stuck_t >= c.stuck_time_s
        )
        truncated = (self.steps >= c.max_episode_steps) & ~terminated
        info = dict(terms)
        info.update(
            s_m=self.s.copy(),
            n_m=self.n.copy(),
            speed_mps=speed,
            off_course_flag=self.off.copy(),
            wall_contact=hit,
            lap_time_s=lap_time,
            lap_completed=lap_time > 0,
            lap_valid=lap_valid,
            lap_count=np.array([len(v) for v in self.laps]),
        )
        return rew, terminated, truncated, info

    def _crossing_fraction(self, xy_path: np.ndarray, s_old: float) -> float:
        """Fraction of the control step (0..1) at which the substep path (nsub+1, 2) crosses s = 0."""
        tr = self.track
        s_sub, _ = tr.project_near(xy_path, s_old, 2.0 * self.speed_bound * self.cfg.dt_s + 20.0)
        u = s_old + np.concatenate([[0.0], np.cumsum(_wrap_half(np.diff(s_sub), tr.length_m))])
        j = int(np.argmax(u >= tr.length_m))
        if j == 0:
            return 0.0
        frac = (tr.length_m - u[j - 1]) / max(u[j] - u[j - 1], 1e-12)
        return (j - 1 + float(np.clip(frac, 0.0, 1.0))) / (len(u) - 1)

    def _wall_contact(self, x, hit, s, n, lim_l, lim_r):
        """Put cars ``hit`` back against the wall, remove velocity into it, slow them down."""
        tr, c = self.track, self.cfg
        x = x.copy()
        n_c = np.clip(n[hit], -lim_r[hit], lim_l[hit])
        pos = tr.position(s[hit], n_c)
        th = tr.heading_at(s[hit])
        psi, vx, vy = x[hit, 2], x[hit, 3], x[hit, 4]
        # world velocity -> track frame (tangent, left normal)
        vwx = vx * np.cos(psi) - vy * np.sin(psi)
        vwy = vx * np.sin(psi) + vy * np.cos(psi)
        vt = vwx * np.cos(th) + vwy * np.sin(th)
        vn = -vwx * np.sin(th) + vwy * np.cos(th)
        into = np.sign(n[hit])  # +1 left wall, -1 right wall
        vn = np.where(vn * into > 0, 0.0, vn)
        vt = vt * c.wall_speed_factor
        vwx, vwy = vt * np.cos(th) - vn * np.sin(th), vt * np.sin(th) + vn * np.cos(th)
        x[hit, 0], x[hit, 1] = pos[:, 0], pos[:, 1]
        x[hit, 3] = vwx * np.cos(psi) + vwy * np.sin(psi)
        x[hit, 4] = -vwx * np.sin(psi) + vwy * np.cos(psi)
        x[hit, 5] *= 0.5
        return x

    # -------------------------------------------------------------- observations
    def observe(self, idx=None) -> dict[str, np.ndarray]:
        """Observations of cars ``idx`` (default all) as a dict of batched arrays (see module docstring)."""
        c, p = self.cfg, self.p
        idx = np.arange(self.B) if idx is None else np.asarray(idx)
        x = self.x[idx]
        vx, vy, r = x[:, 3], x[:, 4], x[:, 5]
        v = np.hypot(vx, vy)
        vr = c.v_ref_mps
        proprio = np.concatenate(
            [
                np.stack(
                    [
                        v / vr,
                        vx / vr,
                        vy / vr,
                        r,
                        self.acc[idx, 0] / p.g,
                        self.acc[idx, 1] / p.g,
                        self.delta[idx] / p.delta_max,
                    ],
                    1,
                ),
                self.hist[idx, 1:] / p.delta_max,
                self.prev_action[idx],
            ],
            axis=1,
        ).astype(np.float32)
        out = {"proprio": proprio, "privileged": self._privileged(idx, x, v)}
        if self.camera is not None:
            out["image"] = self.camera.render(x[:, 0], x[:, 1], x[:, 2])
        return out

    def _privileged(self, idx, x, v) -> np.ndarray:
        c, tr = self.cfg, self.track
        k = len(idx)
        s = self.s[idx]
        sa = s[:, None] + np.maximum(v, c.v_min_lookahead_mps)[:, None] * self.t_ahead[None]  # (k, n)
        pts = tr.lerp_rows(self._course, sa).reshape(k, -1, 2)  # (k, n * 3, 2): per time left, centre, right
        pts -= x[:, None, :2].astype(np.float32)
        cp, sp = np.cos(x[:, 2]), np.sin(x[:, 2])
        rot = (np.stack([np.stack([cp, -sp], 1), np.stack([sp, cp], 1)], 1) / c.v_ref_mps).astype(np.float32)
        car = np.matmul(pts, rot).reshape(k, -1)  # car frame: [dx cos + dy sin, -dx sin + dy cos] / v_ref
        wl0, wr0 = tr.widths(s)
        half = 0.5 * (wl0 + wr0)
        frac = 2 * np.pi * s / tr.length_m
        he = _wrap_angle(x[:, 2] - tr.heading_at(s))
        extra = np.stack(
            [
                self.d_lr[idx, 0] / half,
                self.d_lr[idx, 1] / half,
                np.sin(frac),
                np.cos(frac),
                self.n[idx] / half,
                np.sin(he),
                np.cos(he),
                self.alpha[idx, 0],
                self.alpha[idx, 1],
                self.wall_hit[idx].astype(float),
                self.off[idx].astype(float),
            ],
            1,
        )
        return np.concatenate([car, extra], axis=1).astype(np.float32)

    def observation_space(self):
        """The gymnasium space (``gymnasium.spaces.Dict``) of ONE car's observation."""
        _need_gym()
        sp = {
            "proprio": gym.spaces.Box(-OBS_BOUND, OBS_BOUND, (self.proprio_dim,), np.float32),
            "privileged": gym.spaces.Box(-OBS_BOUND, OBS_BOUND, (self.privileged_dim,), np.float32),
        }
        if self.camera is not None:
            n = self.cfg.image_px
            sp["image"] = gym.spaces.Box(0, 255, (n, n, 3), np.uint8)
        return gym.spaces.Dict(sp)


#: bound of the (normalised) vector observations; values are O(1)
OBS_BOUND = 1e4


def _wrap_half(d, L):
    return (d + 0.5 * L) % L - 0.5 * L


_TRACK_CACHE: dict[tuple, Track] = {}


def scaled_track(name_or_path, scale: float = 1.0) -> Track:
    """Load a track (cached) and scale its geometry by ``scale`` (1:10 tracks for small cars)."""
    if isinstance(name_or_path, Track):
        return name_or_path
    key = (str(name_or_path), float(scale))
    if key not in _TRACK_CACHE:
        tr = load_track(name_or_path)
        if scale != 1.0:
            from drift.racing.track import _read_csv, TRACK_COLUMNS, RACELINE_COLUMNS  # noqa: I001

            raw = _read_csv(Path(tr.source), TRACK_COLUMNS)
            rl = None
            cand = Path(tr.source).parent.parent / "racelines" / Path(tr.source).name
            if tr.raceline is not None and cand.is_file():
                rl = _read_csv(cand, RACELINE_COLUMNS) * scale
            tr = make_track(
                raw[:, :2] * scale,
                raw[:, 2] * scale,
                raw[:, 3] * scale,
                name=tr.name,
                raceline_xy=rl,
                smooth_m=2.5 * scale,
                ds_m=1.0 * scale,
                source=tr.source,
            )
        _TRACK_CACHE[key] = tr
    return _TRACK_CACHE[key]


# ----------------------------------------------------------------------------------------------
# gymnasium wrappers


def _need_gym() -> None:
    if gym is None:
        raise DriftError("the gymnasium environments need gymnasium: pip install 'drift[rl]'")


class RacingEnv(_GymEnv):
    """Single-car gymnasium environment (see module docstring).

    ``reset(seed=..., options={"s_m": ..., "n_m": ..., "speed_mps": ..., "heading_err_rad": ...})``
    starts at random (or given) Frenet coordinates. ``info`` carries every reward term each step.
    ``self.sim`` exposes the batched core (``sim.x`` the state, ``sim.track``, ``sim.camera``).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        config: RacingConfig | None = None,
        track: Track | None = None,
        vehicle: VehicleParams | None = None,
        tires=None,
        render_mode: str | None = None,
    ):
        _need_gym()
        self.sim = RacingSim(config, 1, track=track, vehicle=vehicle, tires=tires)
        self.cfg = self.sim.cfg
        self.observation_space = self.sim.observation_space()
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.render_mode = render_mode

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Gymnasium reset; ``options`` are keyword arguments of :meth:`RacingSim.reset` (``s_m``, ``n_m``,
        ``speed_mps``, ``heading_err_rad``; random where absent). Returns ``(obs dict, {})``."""
        super().reset(seed=seed)
        self.sim.rng = self.np_random
        self.sim.reset(**(options or {}))
        return self._obs(), {}

    def _obs(self):
        return {k: v[0] for k, v in self.sim.observe().items()}

    def step(self, action):
        """Gymnasium step with ``action`` (2,) in [-1, 1]: ``(obs, reward, terminated, truncated, info)``;
        ``info`` holds every reward term (see :meth:`RacingSim.step`)."""
        rew, term, trunc, info = self.sim.step(np.asarray(action, dtype=float)[None])
        info = {k: (v[0].item() if isinstance(v, np.ndarray) else v) for k, v in info.items()}
        return self._obs(), float(rew[0]), bool(term[0]), bool(trunc[0]), info

    def render(self):
        """The onboard camera image, (H, W, 3) uint8 RGB, or None when the camera is off."""
        if self.sim.camera is None:
            return None
        x = self.sim.x
        return self.sim.camera.render(x[:, 0], x[:, 1], x[:, 2])[0]


class VecRacingEnv(_GymVecEnv):
    """Many cars stepped in one batched numpy call, with per-car auto-reset in the same step.

    ``step(actions (B, 2))`` returns batched ``obs`` (dict of (B, ...) arrays), ``reward`` (B,),
    ``terminated`` (B,), ``truncated`` (B,) and ``info`` (dict of (B,) arrays). Cars that finished are
    reset immediately; their last observation is in ``info["final_obs"]`` (valid where
    ``info["_final_obs"]``).
    """

    metadata = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP} if gym is not None else {}

    def __init__(
        self,
        num_envs: int,
        config: RacingConfig | None = None,
        track: Track | None = None,
        vehicle: VehicleParams | None = None,
        tires=None,
        seed: int | None = None,
    ):
        _need_gym()
        self.sim = RacingSim(config, num_envs, track=track, vehicle=vehicle, tires=tires, seed=seed)
        self.num_envs = num_envs
        self.single_observation_space = self.sim.observation_space()
        self.single_action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Reset all cars (``options``: see :meth:`RacingEnv.reset`); returns ``(obs of (B, ...), {})``."""
        if seed is not None:
            self.sim.rng = np.random.default_rng(seed)
        self.sim.reset(**(options or {}))
        return self.sim.observe(), {}

    def step(self, actions):
        rew, term, trunc, info = self.sim.step(actions)
        done = term | trunc
        obs = self.sim.observe()
        if done.any():
            idx = np.flatnonzero(done)
            info["final_obs"] = {k: v.copy() for k, v in obs.items()}
            info["_final_obs"] = done
            self.sim.reset(idx)
            for k, v in self.sim.observe(idx).items():  # only the reset cars are observed again
                obs[k][idx] = v
        return obs, rew, term, trunc, info


# ----------------------------------------------------------------------------------------------
# running a driver for laps


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
    cfg = cfg.replace(max_episode_steps=10**9, max_backwards_m=1e9, stuck_time_s=1e9)
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
        _, _, _, info = sim.step(act)
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


def _register() -> None:
    """Register ``drift/Racing-v0`` with gymnasium (``gymnasium.make("drift/Racing-v0", config=...)``)."""
    if gym is not None and "drift/Racing-v0" not in gym.registry:
        gym.register(id="drift/Racing-v0", entry_point="drift.racing.env:RacingEnv")


_register()
