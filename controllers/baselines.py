"""Classical baseline driver: pure pursuit on the race line with a friction-limited speed profile.

The stand-in for a human driver and the yardstick of the RL agent: it drives a valid lap (no time off
course) on every shipped track, about 8-12 % slower than the minimum-lap-time optimum
(``docs/laptime.md``).

- Speed: the friction-limited profile of :func:`controllers.laptime.speed_profile` along the race
  line, with a friction margin (``friction_margin``, the controller's reserve for its tracking
  errors) and the simulator's own drive and brake limits; throttle/brake proportional to the error to
  the profile speed previewed ``preview_s`` ahead.
- Steering: ``delta = atan(2 L sin(a) / l_d)`` towards the race-line point ``l_d`` ahead of the rear
  axle (Coulter 1992). The look-ahead grows with speed, ``lookahead_s * v`` (at least
  ``lookahead_min_m``), and shrinks where the line ahead bends: at most ``sqrt(2 corner_cut_m /
  kappa_max)`` with ``kappa_max`` the largest curvature within the look-ahead (a pure-pursuit driver
  cuts a corner by about ``l^2 kappa / 2``, the offset of a point ``l`` ahead on the arc from the
  tangent), though never below ``lookahead_min_s * v``, under which it weaves at speed (Snider,
  "Automatic steering methods for autonomous automobile path tracking",
  CMU-RI-TR-09-08, 2009, Sec. 2.2).

Use with the simulator::

    from drift.racing import run_laps, load_config
    from controllers.baselines import PurePursuit
    run = run_laps(PurePursuit(), laps=1, config=load_config("iac", camera=False), track="Monza")
    run.lap_times_s, run.lap_valid
"""

from __future__ import annotations

import numpy as np

from controllers.laptime.speed_profile import grip_acceleration, speed_profile, top_speed
from controllers.laptime.tyre_limits import peak_slip
from drift.errors import DriftError
from drift.racing.track import make_path
from drift.vehicle import axle_loads
from drift.vehicle.params import VehicleParams

__all__ = ["speed_profile", "critical_speed", "grip_acceleration", "PurePursuit", "pure_pursuit_lap"]


def critical_speed(vehicle: VehicleParams, tires, v_max_mps: float = 150.0) -> float:
    """Lowest speed (m/s) at which straight-line driving is unstable, or ``inf`` below ``v_max_mps``.

    Linearises :func:`drift.vehicle.body_derivatives` about straight driving (``vy = r = 0``,
    ``delta = 0``, ``Fx = 0``) by central differences on a grid of 300 speeds in ``[1, v_max_mps]``
    m/s, so the tyre models' cornering stiffness at the axle loads of each speed (downforce
    included) enters through the one vehicle model. Straight driving is unstable where the 2x2
    lateral Jacobian ``d(vy_dot, r_dot) / d(vy, r)`` has a negative determinant or a positive trace.
    With linear tyres this is the classical critical speed ``v^2 = L / -K`` of an oversteering car,
    ``K = m / L (lr / Cf - lf / Cr)`` (Rajamani 2012, Sec. 3.3; Milliken & Milliken 1995).
    """
    from drift.vehicle import body_derivatives

    p = vehicle
    v = np.linspace(1.0, v_max_mps, 300)
    zero = np.zeros_like(v)
    u = np.stack([zero, zero], -1)
    h = 1e-5  # m/s and rad/s

    def lateral(dvy, dr):
        return body_derivatives(np.stack([v, zero + dvy, zero + dr], -1), u, p, tires)[:, 1:]

    J = np.stack(
        [(lateral(h, 0.0) - lateral(-h, 0.0)) / (2 * h), (lateral(0.0, h) - lateral(0.0, -h)) / (2 * h)], -1
    )
    det = J[:, 0, 0] * J[:, 1, 1] - J[:, 0, 1] * J[:, 1, 0]
    unstable = (det < 0) | (J[:, 0, 0] + J[:, 1, 1] > 0)
    return float(v[np.argmax(unstable)]) if unstable.any() else float("inf")


class PurePursuit:
    """Pure-pursuit driver on the race line (centre line if the track has none), batched over cars.

    Args:
        lookahead_s: look-ahead time (s): ``l_d = lookahead_s * v`` before the curvature bound.
        lookahead_min_m: minimum look-ahead distance (m, multiplied by the track scale of the simulator).
        corner_cut_m: largest corner cut (m, scaled): ``l_d <= sqrt(2 corner_cut_m / kappa_max)``.
        lookahead_min_s: shortest look-ahead time (s), ``l_d >= lookahead_min_s * v`` over the corner
            bound: pure pursuit's lateral error oscillates at about ``sqrt(2) v / l_d`` rad/s, and with
            the 10 Hz control step a look-ahead under about 0.25 s of travel weaves at speed.
        friction_margin: share of the tyres' peak friction the speed profile keeps in reserve for the
            controller's tracking errors (0 <= margin < 1).
        preview_s: speed target taken this far ahead on the profile (s).
        speed_band: speed error (as a share of the profile's top speed) that gives full throttle/brake.
        throttle_max: throttle cap, shrunk further by the friction circle with the lateral acceleration
            ``v r`` (traction control; full throttle saturates the rear tyres of a rear-driven car).
        brake_min: the brake is shrunk by the same friction circle, but never below this share (so the
            car can always slow down).
        stability_margin: an oversteering car is driven at most at this share of its critical speed
            (:func:`critical_speed`), above which straight-line driving is unstable.
        slip_compensation: add the steady-state slip angles ``alpha_f - alpha_r`` that the tyres need
            for the commanded curvature (:meth:`slip_steer`) to the kinematic steering angle; without it
            an understeering car runs wide of the line by about ``(alpha_f - alpha_r) l_d^2 / (2 L)``
            (3 m at Oschersleben's 130 m-radius curve at 53 m/s).
        path_xy: optional (M, 2) closed path to follow instead of the race line (m, world), e.g. an
            optimal lap; speed_mps: optional (M,) speeds along it (m/s) to use instead of the profile
            (for a "simulator check" of a planned lap).

    Call ``reset(sim)`` with a :class:`drift.racing.sim.RacingSim` (done by ``run_laps``), then
    ``driver(sim) -> (B, 2)`` actions in [-1, 1] for absolute steering. ``steer(x)`` and
    ``target_speed(x)`` work on states ``x (B, 6)`` alone, e.g. for the ROS sim bridge.

    Raises:
        DriftError: ``speed_mps`` without a ``path_xy`` of the same length, or a margin outside [0, 1).
    """

    def __init__(
        self,
        lookahead_s: float = 0.5,
        lookahead_min_m: float = 8.0,
        corner_cut_m: float = 0.5,
        lookahead_min_s: float = 0.3,
        friction_margin: float = 0.15,
        preview_s: float = 0.4,
        speed_band: float = 0.04,
        throttle_max: float = 1.0,
        brake_min: float = 0.2,
        stability_margin: float = 0.6,
        slip_compensation: bool = True,
        path_xy: np.ndarray | None = None,
        speed_mps: np.ndarray | None = None,
    ):
        if not 0.0 <= friction_margin < 1.0:
            raise DriftError(f"friction_margin must be in [0, 1), got {friction_margin!r}")
        self.lookahead_s = lookahead_s
        self.lookahead_min_m = lookahead_min_m
        self.corner_cut_m = corner_cut_m
        self.lookahead_min_s = lookahead_min_s
        self.friction_margin = friction_margin
        self.preview_s = preview_s
        self.speed_band = speed_band
        self.throttle_max = throttle_max
        self.brake_min = brake_min
        self.stability_margin = stability_margin
        self.slip_compensation = slip_compensation
        self.path_xy = None if path_xy is None else np.asarray(path_xy, dtype=float)
        self.speed_mps = None if speed_mps is None else np.asarray(speed_mps, dtype=float)
        if self.speed_mps is not None and (self.path_xy is None or len(self.speed_mps) != len(self.path_xy)):
            raise DriftError("speed_mps needs path_xy of the same length (one speed per path point)")
        self.path = None

    def reset(self, sim) -> None:
        """Build the path and speed profile for the simulator's track, vehicle and tyres."""
        tr = sim.track
        self.vehicle = sim.p
        self.scale = sim.cfg.track_scale
        self.steering_mode = sim.cfg.steering
        self.mu = (1.0 - self.friction_margin) * min(sim.mu_f, sim.mu_r)
        if self.path_xy is not None:
            self.path = make_path(self.path_xy, smooth_m=0.0, ds_m=1.0 * self.scale, what="pure pursuit path")
        else:
            self.path = tr.raceline if tr.raceline is not None else tr
        self.v_crit = critical_speed(sim.p, sim.tires)
        self._slip_tables(sim.tires)
        if self.speed_mps is not None:
            s_given, _ = self.path.project(self.path_xy)
            order = np.argsort(s_given)
            s_sorted, v_sorted = s_given[order], self.speed_mps[order]
            L = self.path.length_m
            self.v_profile = np.interp(self.path.s, s_sorted, v_sorted, period=L)
            return
        v_max = top_speed(sim.p)
        if np.isfinite(self.v_crit):
            v_max = min(v_max, self.stability_margin * self.v_crit)
        self.v_profile = speed_profile(
            np.diff(np.append(self.path.s, self.path.length_m)),
            self.path.kappa,
            sim.p,
            min(sim.mu_f, sim.mu_r),
            v_max_mps=v_max,
            friction_margin=self.friction_margin,
            drive_force=lambda v: sim.force_command(np.array([1.0]), np.array([v]))[0],
            brake_force=lambda v: -sim.force_command(np.array([-1.0]), np.array([max(v, 0.5)]))[0],
        )

    def _slip_tables(self, tires) -> None:
        """Slip angle (rad) against grip use ``Fy / Fz`` of each axle up to its force peak (static load)."""
        p = self.vehicle
        self._slip = []
        for tire, Fz in zip((tires.front, tires.rear), axle_loads(0.0, 0.0, p), strict=True):
            a = np.linspace(0.0, peak_slip(tire, float(Fz)), 200)
            use = np.asarray(tire.lateral_force(a, np.full_like(a, float(Fz))), float) / float(Fz)
            self._slip.append((np.maximum.accumulate(use), a))

    def slip_steer(self, kappa: np.ndarray, v_mps: np.ndarray) -> np.ndarray:
        """Steady-state ``alpha_f - alpha_r`` (rad), (B,), to drive curvature ``kappa`` (1/m) at ``v_mps``.

        Steady cornering shares the lateral force ``m v^2 kappa`` as ``lr / L`` (front) and ``lf / L``
        (rear); each axle's slip angle is read off its tyre curve at its load (weight and downforce) and
        held at the force peak beyond it. Source: Rajamani, *Vehicle Dynamics and Control* (2012),
        Sec. 3.3 (steady-state cornering, understeer gradient).
        """
        p = self.vehicle
        Fzf, Fzr = axle_loads(v_mps, 0.0, p)
        need = p.m * v_mps * v_mps * np.abs(kappa)
        (uf, af), (ur, ar) = self._slip
        a_f = np.interp(need * p.lr / p.L / Fzf, uf, af)
        a_r = np.interp(need * p.lf / p.L / Fzr, ur, ar)
        return np.sign(kappa) * (a_f - a_r)

    def start_speed(self, sim, s_m: float) -> float:
        """Profile speed (m/s) at centre-line position ``s_m`` (for a flying start)."""
        if self.path is None:
            self.reset(sim)
        s_rl, _ = self.path.project(sim.track.position(np.array([s_m])))
        return float(self.path.interp(self.v_profile, s_rl)[0])

    def lookahead(self, s_m: np.ndarray, v_mps: np.ndarray) -> np.ndarray:
        """Look-ahead distance (m), (B,), at path positions ``s_m`` (B,) and speeds ``v_mps`` (B,)."""
        lo = self.lookahead_min_m * self.scale
        ld = np.maximum(lo, self.lookahead_s * v_mps)
        ahead = s_m[:, None] + ld[:, None] * np.linspace(0.0, 1.0, 9)[None, :]
        kappa_max = np.abs(self.path.interp(self.path.kappa, ahead.ravel())).reshape(ahead.shape).max(axis=1)
        cut = np.sqrt(2.0 * self.corner_cut_m * self.scale / np.maximum(kappa_max, 1e-9))
        return np.maximum(np.maximum(lo, self.lookahead_min_s * v_mps), np.minimum(ld, cut))

    def steer(self, x: np.ndarray) -> np.ndarray:
        """Road-wheel angle (rad), (B,), for states ``x (B, 6)``."""
        p = self.vehicle
        psi, v = x[:, 2], np.hypot(x[:, 3], x[:, 4])
        rear = x[:, :2] - p.lr * np.stack([np.cos(psi), np.sin(psi)], 1)
        s_rl, _ = self.path.project(rear)
        ld = self.lookahead(s_rl, v)
        tgt = self.path.position(s_rl + ld, 0.0)
        d = tgt - rear
        alpha = np.arctan2(d[:, 1], d[:, 0]) - psi
        dist = np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-6)
        delta = np.arctan(2.0 * p.L * np.sin(alpha) / dist)  # the arc through the target (Coulter 1992)
        if not self.slip_compensation:
            return delta
        # feedforward of the line's own curvature (mean over the look-ahead), not of the feedback arc
        ahead = s_rl[:, None] + ld[:, None] * np.linspace(0.0, 1.0, 5)[None, :]
        kappa_line = self.path.interp(self.path.kappa, ahead.ravel()).reshape(ahead.shape).mean(axis=1)
        return delta + self.slip_steer(kappa_line, v)

    def target_speed(self, x: np.ndarray) -> np.ndarray:
        """Profile speed (m/s), (B,), previewed ``preview_s`` ahead of states ``x (B, 6)``."""
        v = np.hypot(x[:, 3], x[:, 4])
        s_rl, _ = self.path.project(x[:, :2])
        return self.path.interp(self.v_profile, s_rl + self.preview_s * v)

    def __call__(self, sim) -> np.ndarray:
        if self.path is None:
            self.reset(sim)
        x = sim.x
        delta = self.steer(x)
        v = np.hypot(x[:, 3], x[:, 4])
        band = max(self.speed_band * float(self.v_profile.max()), 1e-3)
        thr = np.clip((self.target_speed(x) - v) / band, -1.0, 1.0)
        # traction control and brake modulation: leave the tyres the lateral force the corner needs
        # (friction circle); full braking in a turn unloads and saturates the rear and spins the car
        p = self.vehicle
        a_max = grip_acceleration(v, p, self.mu)
        a_lat = np.abs(v * x[:, 5])
        circle = np.sqrt(np.clip(1.0 - (a_lat / a_max) ** 2, 0.0, 1.0))
        thr = np.clip(thr, -np.maximum(circle, self.brake_min), self.throttle_max * circle)
        if self.steering_mode == "absolute":
            st = delta / self.vehicle.delta_max
        else:
            st = (delta - sim.delta_target) / sim.cfg.steer_step_rad
        return np.stack([np.clip(st, -1.0, 1.0), thr], 1)


def pure_pursuit_lap(
    track, vehicle: VehicleParams | None = None, tires=None, config=None, progress=None, **driver_kw
) -> dict | None:
    """One flying lap of :class:`PurePursuit` in the racing simulator, or None when no lap was timed.

    Args:
        track: :class:`drift.racing.track.Track` or name. vehicle, tires: the car (default tyres if None).
        config: :class:`drift.racing.RacingConfig` (default the ``iac`` preset without camera).
        progress: optional callable ``progress(fraction)`` (see :func:`drift.racing.run_laps`).
        driver_kw: settings of :class:`PurePursuit`.

    Returns:
        dict with ``lap_time_s`` (s), ``valid`` (the simulator's judgement: no time off course),
        ``off_course_s`` and ``wall_contact_s`` (s, during the timed lap), and the lap's ``s`` (m,
        centre line, ascending) and ``speed`` (m/s).
    """
    from drift.racing import load_config, run_laps

    cfg = config or load_config("iac", camera=False)
    driver = PurePursuit(**driver_kw)
    run = run_laps(driver, laps=1, config=cfg, track=track, vehicle=vehicle, tires=tires, progress=progress)
    if not run.lap_times_s:
        return None
    tj = run.trajectory
    t_start = tj["t_s"][-1] - run.lap_times_s[-1]
    keep = tj["t_s"] >= t_start
    s_m, speed = np.asarray(tj["s_m"][keep]), np.asarray(tj["speed_mps"][keep])
    order = np.argsort(s_m)  # one lap, ordered by position (the lap starts and ends at the line)
    dt = float(np.median(np.diff(tj["t_s"]))) if len(tj["t_s"]) > 1 else 0.0
    return {
        "lap_time_s": float(run.lap_times_s[-1]),
        "valid": bool(run.lap_valid[-1]),
        "s": s_m[order],
        "speed": speed[order],
        "off_course_s": dt * float(np.sum(np.asarray(tj["off_course"])[keep])),
        "wall_contact_s": dt * float(np.sum(np.asarray(tj["wall_contact"])[keep])),
    }
