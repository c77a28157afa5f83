"""The racing simulator's batched physics core, :class:`RacingSim`: B cars on one track, no auto-reset.

Physics: the ONE single-track model :func:`drift.vehicle.f` with any project tyre model (default
:func:`drift.vehicle.tires.default_tires`), integrated with fixed-step RK4
(:func:`drift.vehicle.integrate.rk4_step`) or explicit Euler at ``physics_hz`` inside each control step of
``dt_s`` (10 Hz control, 100 Hz physics by default), inputs held per substep. Below ``v_kinematic_mps``
of speed the lateral velocity and yaw rate follow the kinematic bicycle (the dynamic model is singular at
standstill).

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
it, loses its velocity into the wall and keeps ``wall_speed_factor`` of its speed along it (and half its
yaw rate) per 0.1 s in contact, so that contact costs the same at any control rate (``sim_bridge_node``
steps the same simulator at 100 Hz).

Off course: the whole car beyond a boundary (centre farther than half the car width outside).

Lap timing: the start line is ``s = 0``. Each crossing time is interpolated within the physics substep
where the car crossed (positions of every substep are projected), so lap times do not depend on the
10 Hz control rate. The first crossing after a reset starts the timing. A lap is ``valid`` when the car
never went off course during it (cut corners).

Episode ends: ``terminated`` when the car lost ``max_backwards_m`` of progress (scaled); ``info["stuck"]``
when it stayed slower than ``stuck_speed_mps`` for ``stuck_time_s``, which the environments report as
``truncated``: a stopped car is not at the end of its task, and a learner that took the stop for a
terminal state (value 0) would learn that stopping escapes the costs of driving (the entropy term of a
soft critic with a negative target entropy, the steering penalties). The simulator has no time limit:
that is gymnasium's ``TimeLimit`` (``max_episode_steps`` of the registration), also ``truncated``.

Observations: :mod:`drift.racing.observations`. Reward: :mod:`drift.racing.reward`.
Sources: GT Sophy (Wurman et al., Nature 2022) and the GT vision agent (Vasco et al. 2024) for the
observation and reward design; Rajamani 2012 for the model (via :mod:`drift.vehicle`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from drift.errors import ConfigError, DriftError
from drift.racing import observations
from drift.racing.config import RacingConfig
from drift.racing.reward import reward_terms
from drift.racing.track import Track, scaled_track
from drift.vehicle import (
    applied_force,
    axle_loads,
    f,
    force_throttle,
    kinematic_velocities,
    load_vehicle,
    slip_angles,
    steer_toward,
)
from drift.vehicle.integrate import rk4_step
from drift.vehicle.params import VehicleParams
from drift.vehicle.tires import resolve_tires
from tire_models import AxleTires

__all__ = ["RacingSim", "advance"]


def _float(v) -> float:
    return float(v.detach()) if hasattr(v, "detach") else float(v)


def _wrap_half(d, L):
    """Arc-length difference ``d`` wrapped to ``[-L/2, L/2)`` on a closed track of length ``L``."""
    return (d + 0.5 * L) % L - 0.5 * L


def advance(x, delta, delta_target, Fx_demand, p, rhs, dt_s, substeps, integrator="rk4", v_kinematic_mps=1.0):
    """The physics of one control interval: the one simulator core of :class:`RacingSim` and
    ``sim_bridge_node`` (pure function).

    Per substep of ``h = dt_s / substeps``: the road wheel moves towards ``delta_target`` at most at
    ``p.delta_rate_max``; the force demand ``Fx_demand(vx)`` (N, evaluated at the substep's speed, so power
    limits and traction control follow the car) passes :func:`drift.vehicle.applied_force`; ``x`` advances
    one RK4 (or explicit Euler) step of ``rhs(x, u)`` with ``u = [delta, Fx]`` held; below
    ``v_kinematic_mps`` of speed ``hypot(vx, vy)`` the lateral velocity and yaw rate follow the kinematic
    bicycle and ``vx`` does not go negative (the dynamic model is singular at standstill; a car sliding
    sideways in a spin, ``vx`` near 0, stays in the dynamic model and keeps its momentum).

    Args:
        x: (B, 6) ``[X, Y, psi, vx, vy, r]`` (m, rad, body-frame m/s, rad/s). delta, delta_target: (B,) rad.
        Fx_demand: callable ``vx (B,) -> Fx (B,)`` (N). p: :class:`VehicleParams`. rhs: ``f(x, u)``
        (:func:`drift.vehicle.f` with the car's tyres). dt_s: interval (s). integrator: ``rk4`` or ``euler``.
    Returns:
        ``(x, delta, acc, xy)``: the state (B, 6) and wheel angle (B,) at the end, the body-frame
        accelerations ``[ax, ay] = [vx_dot - vy r, vy_dot + vx r]`` (B, 2, m/s^2) there, and the positions
        of every substep (substeps + 1, B, 2) for lap timing.
    """
    h = dt_s / substeps
    xy = np.empty((substeps + 1, len(x), 2))
    xy[0] = x[:, :2]
    for j in range(substeps):
        delta = steer_toward(delta, delta_target, p.delta_rate_max, h)
        u = np.stack([delta, applied_force(Fx_demand(x[:, 3]), x[:, 3], p)], 1)
        x = rk4_step(rhs, x, u, h) if integrator == "rk4" else x + h * rhs(x, u)
        # by speed, not vx: a car sliding sideways (vx ~ 0 in a spin) keeps its momentum
        slow = np.hypot(x[:, 3], x[:, 4]) < v_kinematic_mps
        if slow.any():  # kinematic bicycle at walking pace; no reversing
            vx = np.maximum(x[slow, 3], 0.0)
            vy, r = kinematic_velocities(vx, delta[slow], p)
            x[slow, 3], x[slow, 4], x[slow, 5] = vx, vy, r
        xy[j + 1] = x[:, :2]
    dx = rhs(x, u)
    acc = np.stack([dx[:, 3] - x[:, 4] * x[:, 5], dx[:, 4] + x[:, 3] * x[:, 5]], 1)
    return x, delta, acc, xy


class RacingSim:
    """Batched racing simulator core (numpy): B cars on one track, no auto-reset.

    Args:
        config: :class:`RacingConfig`.
        num_cars: batch size B.
        track: a :class:`Track` (else ``config.track`` is loaded and scaled by ``track_scale``).
        vehicle: :class:`VehicleParams` (else the ``config.vehicle`` preset).
        tires: :class:`AxleTires`, a ``drift fit`` run folder or ``model.yaml``, or None for
            :func:`drift.vehicle.tires.default_tires` (see :func:`resolve_tires`).
        seed: seed of the reset generators: car ``i`` draws its random resets from its own generator
            seeded ``seed + i`` (as gymnasium seeds the i-th environment of a vector), so a car's episode
            does not depend on how many cars share the batch.

    State (all numpy, shape (B, ...)): ``x`` (B, 6) ``[X, Y, psi, vx, vy, r]`` (world X, Y in m, yaw psi in
    rad; body-frame vx, vy in m/s, yaw rate r in rad/s); ``delta`` (B,) road-wheel angle (rad); ``s``, ``n``
    (B,) centre-line position and left offset (m); ``t`` (B,) time since reset (s); ``progress`` (B,)
    centre-line distance since reset (m); ``laps`` (list of lists): completed lap times per car with
    ``lap_valid`` flags.

    Raises:
        ConfigError: walls too close for the car (``wall_margin_m``).
    """

    def __init__(
        self,
        config: RacingConfig | None = None,
        num_cars: int = 1,
        track: Track | None = None,
        vehicle: VehicleParams | None = None,
        tires: AxleTires | str | Path | None = None,
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
        self.rngs: list[np.random.Generator] = [np.random.default_rng()] * self.B
        self.seed(seed)
        self.camera = None
        if c.camera:
            from drift.racing.camera import CameraConfig, TrackCamera

            self.camera = TrackCamera(
                self.track,
                CameraConfig(
                    width_px=c.image_px,
                    height_px=c.image_px,
                    fov_rad=c.camera_fov_rad,
                    height_m=c.camera_height_m,
                    pitch_rad=c.camera_pitch_rad,
                    sampling=c.camera_sampling,
                    scale=c.track_scale,
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
        #: (low, high) of the vector observations (:func:`drift.racing.observations.observation_bounds`)
        self.obs_bounds = observations.observation_bounds(self)
        self.reset()

    # -------------------------------------------------------------- sizes, seeding
    @property
    def proprio_dim(self) -> int:
        """Length of the ``proprio`` observation (:func:`drift.racing.observations.proprio_dim`)."""
        return observations.proprio_dim(self.cfg)

    @property
    def privileged_dim(self) -> int:
        """Length of the ``privileged`` (critic-only) observation."""
        return observations.privileged_dim(self.cfg)

    def seed(self, seed: int | list[int | None] | None = None, idx=None) -> None:
        """Seed the reset generators of cars ``idx`` (default all): ``seed + i`` for the i-th of them, or
        one seed per car from a list; None draws fresh entropy."""
        idx = np.arange(self.B) if idx is None else np.atleast_1d(np.asarray(idx))
        if isinstance(seed, list | tuple):
            seeds = list(seed)
        else:
            seeds = [None if seed is None else seed + i for i in range(len(idx))]
        if len(seeds) != len(idx):
            raise ConfigError(f"{len(seeds)} seeds for {len(idx)} cars")
        for i, sd in zip(idx, seeds, strict=True):
            self.rngs[i] = np.random.default_rng(sd)

    # -------------------------------------------------------------- reset
    def reset(self, idx=None, s_m=None, n_m=None, speed_mps=None, heading_err_rad=None) -> None:
        """Reset cars ``idx`` (default all) at random places and speeds, or at given Frenet values.

        Args (each None = random, or broadcastable to ``len(idx)``): ``s_m`` centre-line position (m),
        ``n_m`` left offset (m), ``speed_mps`` initial speed (m/s, along the heading),
        ``heading_err_rad`` yaw relative to the track tangent (rad). Random values come from each car's
        own generator (:meth:`seed`), drawn in the order s, n, speed, heading.
        """
        c, tr = self.cfg, self.track
        idx = np.arange(self.B) if idx is None else np.asarray(idx).reshape(-1)
        if np.issubdtype(idx.dtype, np.bool_):
            idx = np.flatnonzero(idx)
        k = len(idx)
        if k == 0:
            return
        # one generator per car, so a car's resets do not depend on the others in the batch
        draws = np.array(
            [
                [
                    r.uniform(0, tr.length_m) if s_m is None else np.nan,
                    r.uniform(-1, 1) if n_m is None else np.nan,
                    r.uniform(c.reset_speed_min_mps, c.reset_speed_max_mps) if speed_mps is None else np.nan,
                    r.normal(0, 0.05) if heading_err_rad is None else np.nan,
                ]
                for r in (self.rngs[i] for i in idx)
            ]
        ).reshape(k, 4)

        def given(v):
            return np.broadcast_to(np.asarray(v, float), (k,)).copy()

        s = draws[:, 0] if s_m is None else given(s_m)
        wl, wr = tr.widths(s)
        if n_m is None:
            u = draws[:, 1] * c.reset_offset_frac
            n = np.where(u > 0, u * np.maximum(wl - self.half_w, 0), u * np.maximum(wr - self.half_w, 0))
        else:
            n = given(n_m)
        v = draws[:, 2] if speed_mps is None else given(speed_mps)
        he = draws[:, 3] if heading_err_rad is None else given(heading_err_rad)
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

    def step(self, action) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Advance all cars one control step.

        Args:
            action: (B, 2) in [-1, 1] (clipped): steering, throttle/brake.
        Returns:
            reward (B,), terminated (B,) bool (``max_backwards_m`` lost), info: dict of (B,) arrays

            - ``progress_m`` centre-line distance gained this step (m, signed), ``progress_total_m``
              since the reset (m); ``s_m``, ``n_m`` centre-line position and left offset (m);
              ``speed_mps`` (m/s);
            - flags (bool): ``off_course`` (whole car beyond a boundary), ``wall_contact``,
              ``lap_completed`` (a timed lap ended this step), ``lap_valid`` (that lap never went off
              course);
            - ``lap_time_s`` the lap that ended this step (s, 0 otherwise), ``lap_count`` timed laps
              since the reset; ``stuck`` (bool) slower than ``stuck_speed_mps`` for ``stuck_time_s``
              (an episode end that is not terminal: the environments report it as ``truncated``);
            - ``reward_terms``: dict of the weighted terms as they enter the reward (they sum to it),
              ``reward_terms_unweighted``: the same terms before weighting (units in
              :mod:`drift.racing.reward`).
        Raises:
            DriftError: an action that is not (B, 2) or not finite (nothing is stepped).
        """
        c, p = self.cfg, self.p
        a = np.asarray(action, dtype=float)
        if a.size != self.B * 2 or not np.all(np.isfinite(a)):
            raise DriftError(
                f"actions must be {self.B} x [steer, throttle_brake], finite, in [-1, 1]; got shape {a.shape}"
                + ("" if a.size != self.B * 2 else f" with non-finite values {a.reshape(self.B, 2).tolist()}")
            )
        a = np.clip(a.reshape(self.B, 2), -1.0, 1.0)
        if c.steering == "absolute":
            target = a[:, 0] * p.delta_max
        else:
            target = np.clip(self.delta_target + a[:, 0] * c.steer_step_rad, -p.delta_max, p.delta_max)
        return self._interval(target, lambda vx: self.force_command(a[:, 1], vx), a)

    def step_controls(self, delta_rad, lon, kind: str = "Fx_N"):
        """Advance all cars one control step under physical commands (a car's drive-by-wire interface, as
        ``sim_bridge_node`` receives them) instead of normalised actions.

        Args:
            delta_rad: (B,) road-wheel angle target (rad), clipped to ``delta_max``; the wheel follows it
                at ``delta_rate_max``.
            lon: (B,) longitudinal command: with ``kind="Fx_N"`` a force demand (N, drive > 0, brake < 0,
                through :func:`drift.vehicle.applied_force` only); with ``kind="throttle"`` the action's
                throttle/brake in [-1, 1] through :meth:`force_command` (traction control and ABS, as
                :meth:`step`).
        Returns:
            as :meth:`step`; the reward's "previous action" is the command normalised by the limits.
        Raises:
            DriftError: commands not finite or not of shape (B,); an unknown ``kind``.
        """
        p = self.p
        d = np.asarray(delta_rad, dtype=float).reshape(-1)
        u = np.asarray(lon, dtype=float).reshape(-1)
        if d.size != self.B or u.size != self.B or not (np.all(np.isfinite(d)) and np.all(np.isfinite(u))):
            raise DriftError(f"commands must be {self.B} finite steering angles and {self.B} finite values")
        target = np.clip(d, -p.delta_max, p.delta_max)
        if kind == "throttle":
            thr = np.clip(u, -1.0, 1.0)
            demand, norm = (lambda vx: self.force_command(thr, vx)), thr
        elif kind == "Fx_N":
            demand = lambda vx: u  # noqa: E731
            norm = force_throttle(u, p)
        else:
            raise DriftError(f"kind must be 'Fx_N' or 'throttle', got {kind!r}")
        return self._interval(target, demand, np.stack([target / p.delta_max, norm], 1))

    def _interval(self, target, Fx_demand, a):
        c, p, tr = self.cfg, self.p, self.track
        self.delta_target = target
        s_old, t_old = self.s.copy(), self.t.copy()
        x, delta, self.acc, xy_sub = advance(
            self.x,
            self.delta,
            target,
            Fx_demand,
            p,
            self._rhs,
            c.dt_s,
            c.substeps,
            c.integrator,
            c.v_kinematic_mps,
        )
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
        # the wall term charges the speed the car hits the wall with: after the contact a head-on hit
        # has almost none left, and would stop the car for free
        impact_speed = np.hypot(x[:, 3], x[:, 4])
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
        rew, weighted, raw = reward_terms(
            ds,
            np.where(self.off, c.dt_s, 0.0),
            np.where(hit, c.dt_s, 0.0),
            speed,
            impact_speed,
            self.hist,
            p.delta_max,
            self.alpha[:, 0],
            self.alpha[:, 1],
            c.reward,
            c.track_scale,
        )
        self.prev_action = a

        self.stuck_t = np.where(speed < c.stuck_speed_mps, self.stuck_t + c.dt_s, 0.0)
        terminated = self.progress < self.best_progress - c.max_backwards_m * c.track_scale
        info = dict(
            progress_m=ds,
            progress_total_m=self.progress.copy(),
            s_m=self.s.copy(),
            n_m=self.n.copy(),
            speed_mps=speed,
            off_course=self.off.copy(),
            wall_contact=hit,
            lap_completed=lap_time > 0,
            lap_valid=lap_valid,
            lap_time_s=lap_time,
            lap_count=np.array([len(v) for v in self.laps], dtype=np.int64),
            stuck=self.stuck_t >= c.stuck_time_s,
            reward_terms=weighted,
            reward_terms_unweighted=raw,
        )
        return rew, terminated, info

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
        k = c.dt_s / 0.1  # the factors hold per 0.1 s in contact, whatever the control rate
        vt = vt * c.wall_speed_factor**k
        vwx, vwy = vt * np.cos(th) - vn * np.sin(th), vt * np.sin(th) + vn * np.cos(th)
        x[hit, 0], x[hit, 1] = pos[:, 0], pos[:, 1]
        x[hit, 3] = vwx * np.cos(psi) + vwy * np.sin(psi)
        x[hit, 4] = -vwx * np.sin(psi) + vwy * np.cos(psi)
        x[hit, 5] *= 0.5**k
        return x

    # -------------------------------------------------------------- observations
    def observe(self, idx=None) -> dict[str, np.ndarray]:
        """Observations of cars ``idx`` (default all): see :func:`drift.racing.observations.observe`."""
        return observations.observe(self, idx)

    def observation_space(self):
        """Gymnasium space of ONE car's observation: :func:`drift.racing.observations.observation_space`."""
        return observations.observation_space(self)
