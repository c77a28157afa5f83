"""Classical baseline driver: pure pursuit on the race line with a friction-limited speed profile.

- :func:`speed_profile`: the fastest speed along a closed path that a point mass with the car's friction
  (``mu_scale * peak_mu`` of the tyres, downforce included), drive power/force limits, brake limit and drag
  can follow: a cornering limit ``v^2 |kappa| <= mu (g + c_down v^2 / m)``, then a forward pass with the
  available acceleration and a backward pass with the available deceleration, each shrunk by the
  friction circle ``sqrt(1 - (a_lat / a_max)^2)`` (the classic forward-backward solver, e.g. Velenis &
  Tsiotras 2005; Heilmeier et al. 2019, Sec. 4).
- :class:`PurePursuit`: steering ``delta = atan(2 L sin(a) / l_d)`` towards the race-line point ``l_d``
  ahead of the rear axle (Coulter 1992), ``l_d = max(lookahead_min_m, lookahead_s * v)``; throttle/brake
  proportional to the error to the profile speed previewed ``preview_s`` ahead.

Use with the simulator::

    from drift.racing.env import run_laps, load_config
    from controllers.baselines import PurePursuit
    run = run_laps(PurePursuit(), laps=1, config=load_config("iac", camera=False), track="Monza")
    run.lap_times_s
"""

from __future__ import annotations

import numpy as np

from drift.errors import DriftError
from drift.racing.track import ClosedPath, make_path
from drift.vehicle import axle_loads, driving_resistance
from drift.vehicle.params import VehicleParams

__all__ = ["speed_profile", "critical_speed", "grip_acceleration", "PurePursuit"]


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


def grip_acceleration(v, vehicle: VehicleParams, mu: float):
    """Largest horizontal acceleration (m/s^2) friction allows at speed ``v`` (m/s, any shape).

    ``mu (Fzf + Fzr) / m`` with the axle loads of :func:`drift.vehicle.axle_loads` (weight plus
    downforce ``c_down v^2``) at zero force demand: the point-mass friction circle of the speed profile.
    """
    Fzf, Fzr = axle_loads(v, 0.0, vehicle)
    return mu * (Fzf + Fzr) / vehicle.m


def speed_profile(
    path: ClosedPath,
    vehicle: VehicleParams,
    mu: float,
    v_max_mps: float | None = None,
    passes: int = 2,
    drive_force=None,
    brake_force=None,
) -> np.ndarray:
    """Friction-limited speed profile (m/s) at each point of a closed path.

    Args:
        path: closed path with ``s`` (N,) and ``kappa`` (N,) (e.g. ``track.raceline``).
        vehicle: mass, drag, downforce, power and force limits.
        mu: usable friction coefficient (dimensionless), e.g. ``0.9 * tyre peak mu``.
        v_max_mps: top-speed cap (default: where drive power equals drag, else 1e3).
        passes: laps of the forward and backward pass (2 makes the closed loop consistent).
        drive_force, brake_force: optional callables ``v (m/s) -> N`` with the largest drive / brake force
            the actuators give (e.g. the simulator's limits); default ``Fx_drive_max`` with ``P_max / v``,
            and ``Fx_brake_max``.
    Returns:
        (N,) speed (m/s), positive.
    """
    p = vehicle
    m, g = p.m, p.g
    k = np.abs(path.kappa)
    ds = np.diff(np.append(path.s, path.length_m))
    if v_max_mps is None:
        v_max_mps = (p.P_max / p.c_drag) ** (1 / 3) if p.c_drag > 0 else 1e3
    den = k - mu * p.c_down / m
    v_lim = np.where(den > 1e-9, np.sqrt(mu * g / np.maximum(den, 1e-9)), v_max_mps)
    v_lim = np.minimum(v_lim, v_max_mps)
    n = len(k)
    i0 = int(np.argmin(v_lim))  # start where the car must be slowest: the loop closes consistently there
    order = (np.arange(n) + i0) % n
    vl, kk, dd = v_lim[order], k[order], ds[order]

    def a_max(v):
        return grip_acceleration(v, p, mu)

    def scale(v, kap):
        alat = v * v * kap
        return np.sqrt(np.clip(1.0 - (alat / a_max(v)) ** 2, 0.0, 1.0))

    v = vl.copy()
    for _ in range(passes):
        for i in range(n):  # forward: acceleration
            j = (i + 1) % n
            vi = v[i]
            drive = min(p.Fx_drive_max, p.P_max / max(vi, 1.0), a_max(vi) * m)
            if drive_force is not None:
                drive = min(drive, float(drive_force(vi)))
            a = (drive * scale(vi, kk[i]) - driving_resistance(vi, p)) / m
            v[j] = min(v[j], np.sqrt(max(vi * vi + 2.0 * max(a, 0.0) * dd[i], 0.0)), vl[j])
        for i in range(n - 1, -1, -1):  # backward: braking
            j = (i + 1) % n
            vj = v[j]
            brake = min(p.Fx_brake_max, a_max(vj) * m)
            if brake_force is not None:
                brake = min(brake, float(brake_force(vj)))
            a = (brake * scale(vj, kk[j]) + driving_resistance(vj, p)) / m
            v[i] = min(v[i], np.sqrt(vj * vj + 2.0 * a * dd[i]))
    out = np.empty(n)
    out[order] = v
    return np.maximum(out, 0.5)


class PurePursuit:
    """Pure-pursuit driver on the race line (centre line if the track has none), batched over cars.

    Args:
        lookahead_s: look-ahead time (s); ``l_d = max(lookahead_min_m, lookahead_s * v)``.
        lookahead_min_m: minimum look-ahead distance (m, multiplied by the track scale of the simulator).
        mu_scale: share of the tyres' peak friction the speed profile uses (margin for the controller).
        preview_s: speed target taken this far ahead on the profile (s).
        speed_band: speed error (as a share of the profile's top speed) that gives full throttle/brake.
        throttle_max: throttle cap, shrunk further by the friction circle with the lateral acceleration
            ``v r`` (traction control; full throttle saturates the rear tyres of a rear-driven car).
        stability_margin: an oversteering car is driven at most at this share of its critical speed
            (:func:`critical_speed`), above which straight-line driving is unstable.
        path_xy: optional (M, 2) closed path to follow instead of the race line (m, world), e.g. an
            optimal lap; speed_mps: optional (M,) speeds along it (m/s) to use instead of the profile
            (for a "simulator check" of a planned lap).

    Call ``reset(sim)`` with a :class:`drift.racing.env.RacingSim` (done by ``run_laps``), then
    ``driver(sim) -> (B, 2)`` actions in [-1, 1] for absolute steering. ``steer(x)`` and
    ``target_speed(x)`` work on states ``x (B, 6)`` alone, e.g. for the ROS sim bridge.
    """

    def __init__(
        self,
        lookahead_s: float = 0.5,
        lookahead_min_m: float = 8.0,
        mu_scale: float = 0.85,
        preview_s: float = 0.4,
        speed_band: float = 0.04,
        throttle_max: float = 1.0,
        stability_margin: float = 0.6,
        path_xy: np.ndarray | None = None,
        speed_mps: np.ndarray | None = None,
    ):
        self.lookahead_s = lookahead_s
        self.lookahead_min_m = lookahead_min_m
        self.mu_scale = mu_scale
        self.preview_s = preview_s
        self.speed_band = speed_band
        self.throttle_max = throttle_max
        self.stability_margin = stability_margin
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
        self.mu = mu = self.mu_scale * min(sim.mu_f, sim.mu_r)
        if self.path_xy is not None:
            self.path = make_path(self.path_xy, smooth_m=0.0, ds_m=1.0 * self.scale, what="pure pursuit path")
        else:
            self.path = tr.raceline if tr.raceline is not None else tr
        self.v_crit = critical_speed(sim.p, sim.tires)
        if self.speed_mps is not None:
            s_given, _ = self.path.project(self.path_xy)
            order = np.argsort(s_given)
            s_sorted, v_sorted = s_given[order], self.speed_mps[order]
            L = self.path.length_m
            self.v_profile = np.interp(self.path.s, s_sorted, v_sorted, period=L)
            return
        v_max = None if not np.isfinite(self.v_crit) else self.stability_margin * self.v_crit
        if v_max is not None and sim.p.c_drag > 0:
            v_max = min(v_max, (sim.p.P_max / sim.p.c_drag) ** (1 / 3))
        self.v_profile = speed_profile(
            self.path,
            sim.p,
            mu,
            v_max_mps=v_max,
            drive_force=lambda v: sim.force_command(np.array([1.0]), np.array([v]))[0],
            brake_force=lambda v: -sim.force_command(np.array([-1.0]), np.array([max(v, 0.5)]))[0],
        )

    def start_speed(self, sim, s_m: float) -> float:
        """Profile speed (m/s) at centre-line position ``s_m`` (for a flying start)."""
        if self.path is None:
            self.reset(sim)
        s_rl, _ = self.path.project(sim.track.position(np.array([s_m])))
        return float(self.path.interp(self.v_profile, s_rl)[0])

    def steer(self, x: np.ndarray) -> np.ndarray:
        """Road-wheel angle (rad), (B,), for states ``x (B, 6)``."""
        p = self.vehicle
        psi, v = x[:, 2], np.hypot(x[:, 3], x[:, 4])
        rear = x[:, :2] - p.lr * np.stack([np.cos(psi), np.sin(psi)], 1)
        s_rl, _ = self.path.project(rear)
        ld = np.maximum(self.lookahead_min_m * self.scale, self.lookahead_s * v)
        tgt = self.path.position(s_rl + ld, 0.0)
        d = tgt - rear
        alpha = np.arctan2(d[:, 1], d[:, 0]) - psi
        dist = np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-6)
        return np.arctan(2.0 * p.L * np.sin(alpha) / dist)

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
        # traction control: leave the rear tyres the lateral force the corner needs (friction circle)
        p = self.vehicle
        a_max = grip_acceleration(v, p, self.mu)
        a_lat = np.abs(v * x[:, 5])
        thr = np.minimum(thr, self.throttle_max * np.sqrt(np.clip(1.0 - (a_lat / a_max) ** 2, 0.0, 1.0)))
        if self.steering_mode == "absolute":
            st = delta / self.vehicle.delta_max
        else:
            st = (delta - sim.delta_target) / sim.cfg.steer_step_rad
        return np.stack([np.clip(st, -1.0, 1.0), thr], 1)
