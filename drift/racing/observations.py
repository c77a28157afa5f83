"""Observations of the racing simulator, their sizes and their bounds (GT Sophy / GT vision agent design).

One car's observation is a dict (a gymnasium ``Dict`` space):

- ``image`` (H, W, 3) uint8 RGB, 0..255: the onboard camera (:mod:`drift.racing.camera`), when ``camera``
  is on. H = W = ``image_px``.
- ``proprio`` (7 + (steer_history - 1) + 2,) float32, for actor and critic:
  ``[v, vx, vy] / v_ref`` (speed and body-frame velocities), ``r`` (yaw rate, rad/s), ``[ax, ay] / g``
  (body-frame accelerations), ``delta / delta_max`` (road-wheel angle), the previous
  ``steer_history - 1`` steering angles ``/ delta_max`` (newest first), the previous action (2, in [-1, 1]).
- ``privileged`` (6 n_ahead + 11,) float32, for the critic only: left, centre and right course points at
  ``n_ahead`` times from ``horizon_min_s`` to ``horizon_max_s`` ahead at the current speed (at least
  ``v_min_lookahead_mps``), in the car frame (x forward, y left), divided by ``v_ref * 1 s``, laid out
  (n_ahead, 3, 2) flattened (for each time: left x, y, centre x, y, right x, y); then the distances to the
  left and right boundaries and the left offset from the centre line (each m / half track width at the
  car), ``sin, cos`` of the lap fraction, ``sin, cos`` of the heading error to the centre line, the slip
  angles ``alpha_f, alpha_r`` (rad), the wall-contact flag and the off-course flag (0 or 1).

Bounds (:func:`observation_bounds`) are physical, per component, from the vehicle, the track and the
settings; observations are clipped into them (only states put in by hand, e.g. with ``set_state``, can
reach beyond them):

- speeds: the top speed ``v_top`` at which the drive power ``P_max`` equals the driving resistance (drag
  and rolling resistance), at least the highest reset speed; ``v / v_ref`` in ``[0, v_top / v_ref]``,
  ``vx, vy`` in ``+-v_top / v_ref``;
- yaw rate: ``+-v_top sqrt(m / Iz)`` (rotational energy ``Iz r^2 / 2`` within the kinetic energy
  ``m v_top^2 / 2``);
- accelerations: ``+-(mu (m g + c_down v_top^2) + max(Fx_drive_max, Fx_brake_max) + resistance(v_top))
  / (m g)`` (tyre friction with downforce, the largest longitudinal command, resistance);
- steering angles and actions ``[-1, 1]``; sines, cosines ``[-1, 1]``; flags ``[0, 1]``;
- course points: ``+-(max(v_top, v_min_lookahead) horizon_max + 2 w_max + wall) / v_ref`` (a point is no
  farther than the arc length to it plus the offsets);
- boundary distances ``[-wall / w_half_min, (2 w_max + wall) / w_half_min]``, offset
  ``+-(w_max + wall) / w_half_min`` (w_max the widest side, w_half_min the narrowest half width);
- slip angles ``+-(pi + delta_max)``.

A vehicle without drag and with little rolling resistance (the ``f1tenth`` preset) has a high ``v_top``,
so its speed bounds are wide: they are what the physics allows, not what a lap reaches.
"""

from __future__ import annotations

import numpy as np

from drift.frames import wrap_angle
from drift.vehicle import axle_loads, driving_resistance, steer_toward

__all__ = [
    "observe",
    "observation_space",
    "observation_bounds",
    "proprio_dim",
    "privileged_dim",
    "top_speed_mps",
    "proprio_vector",
    "CommandHistory",
]


def proprio_dim(cfg) -> int:
    """Length of the ``proprio`` vector for a :class:`RacingConfig`."""
    return 7 + (cfg.steer_history - 1) + 2


def privileged_dim(cfg) -> int:
    """Length of the ``privileged`` vector for a :class:`RacingConfig`."""
    return 6 * cfg.n_ahead + 11


def top_speed_mps(p) -> float:
    """Speed (m/s) at which ``P_max`` equals the driving power ``v * resistance(v)`` of vehicle ``p``
    (inf when the vehicle has neither drag nor rolling resistance). Bisection on the monotone power."""
    if p.c_drag <= 0 and p.c_roll <= 0:
        return float("inf")
    lo, hi = 0.0, 1.0
    while hi * float(driving_resistance(hi, p)) < p.P_max:
        hi *= 2.0
        if hi > 1e6:
            return float("inf")
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if mid * float(driving_resistance(mid, p)) < p.P_max else (lo, mid)
    return hi


def observation_bounds(sim) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-component ``(low, high)`` float32 bounds of ``proprio`` and ``privileged`` for the simulator
    ``sim`` (:class:`RacingSim`: its vehicle, tyres, track and settings); see the module docstring."""
    c, p, tr = sim.cfg, sim.p, sim.track
    mu = max(sim.mu_f, sim.mu_r)
    v_top = max(top_speed_mps(p), c.reset_speed_max_mps)
    fz = float(np.sum(axle_loads(min(v_top, 1e6), 0.0, p))) if np.isfinite(v_top) else np.inf
    a_g = mu * fz + max(p.Fx_drive_max, p.Fx_brake_max) + float(driving_resistance(min(v_top, 1e6), p))
    a_g = a_g / (p.m * p.g) if np.isfinite(v_top) else np.inf
    v = v_top / c.v_ref_mps
    r = v_top * np.sqrt(p.m / p.Iz)
    hist = c.steer_history - 1
    prop_hi = np.array([v, v, v, r, a_g, a_g, 1.0] + [1.0] * hist + [1.0, 1.0])
    prop_lo = -prop_hi
    prop_lo[0] = 0.0
    w_max = float(max(tr.w_left.max(), tr.w_right.max()))
    half_min = float((0.5 * (tr.w_left + tr.w_right)).min())
    wall = sim.wall
    pts = (max(v_top, c.v_min_lookahead_mps) * c.horizon_max_s + 2 * w_max + wall) / c.v_ref_mps
    d_lo, d_hi = -wall / half_min, (2 * w_max + wall) / half_min
    n_b = (w_max + wall) / half_min
    slip = np.pi + p.delta_max
    extra_lo = [d_lo, d_lo, -1, -1, -n_b, -1, -1, -slip, -slip, 0, 0]
    extra_hi = [d_hi, d_hi, 1, 1, n_b, 1, 1, slip, slip, 1, 1]
    n_pts = 6 * c.n_ahead
    priv_lo = np.concatenate([np.full(n_pts, -pts), extra_lo])
    priv_hi = np.concatenate([np.full(n_pts, pts), extra_hi])
    f32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
    return {"proprio": (f32(prop_lo), f32(prop_hi)), "privileged": (f32(priv_lo), f32(priv_hi))}


def observation_space(sim):
    """The gymnasium ``Dict`` space of ONE car's observation (keys ``proprio``, ``privileged`` and, with
    the camera, ``image``), with the bounds of :func:`observation_bounds`."""
    from gymnasium import spaces

    sp = {k: spaces.Box(lo, hi, dtype=np.float32) for k, (lo, hi) in sim.obs_bounds.items()}
    if sim.camera is not None:
        n = sim.cfg.image_px
        sp["image"] = spaces.Box(0, 255, (n, n, 3), np.uint8)
    return spaces.Dict(sp)


def observe(sim, idx=None) -> dict[str, np.ndarray]:
    """Observations of cars ``idx`` (default all) of ``sim``: dict of batched arrays ``proprio``
    (k, proprio_dim) float32, ``privileged`` (k, privileged_dim) float32 and, with the camera, ``image``
    (k, H, W, 3) uint8; vectors clipped into :func:`observation_bounds`."""
    idx = np.arange(sim.B) if idx is None else np.asarray(idx)
    x = sim.x[idx]
    v = np.hypot(x[:, 3], x[:, 4])
    proprio = proprio_vector(
        x, sim.acc[idx], sim.delta[idx], sim.hist[idx], sim.prev_action[idx], sim.cfg, sim.p
    )
    out = {"proprio": proprio, "privileged": _privileged(sim, idx, x, v)}
    for k, (lo, hi) in sim.obs_bounds.items():
        np.clip(out[k], lo, hi, out=out[k])
    if sim.camera is not None:
        out["image"] = sim.camera.render(x[:, 0], x[:, 1], x[:, 2])
    return out


def proprio_vector(x, acc, delta, hist, prev_action, cfg, p) -> np.ndarray:
    """The ``proprio`` vectors (k, proprio_dim) float32, unclipped, of k cars: the one definition used by
    :func:`observe` and by ``racing_agent_node`` (from a car's messages).

    Args:
        x: (k, 6) ``[X, Y, psi, vx, vy, r]`` (m, rad, body-frame m/s, rad/s). acc: (k, 2) body-frame
        ``[ax, ay]`` (m/s^2, as an IMU measures them). delta: (k,) road-wheel angle (rad). hist: (k,
        steer_history) road-wheel angles at the ends of the last control steps (rad, newest first; the
        newest is ``delta``). prev_action: (k, 2) the previous action in [-1, 1]. cfg: :class:`RacingConfig`.
        p: :class:`VehicleParams`.
    """
    vx, vy, r = x[:, 3], x[:, 4], x[:, 5]
    vr = cfg.v_ref_mps
    head = np.stack(
        [np.hypot(vx, vy) / vr, vx / vr, vy / vr, r, acc[:, 0] / p.g, acc[:, 1] / p.g, delta / p.delta_max], 1
    )
    return np.concatenate([head, hist[:, 1:] / p.delta_max, prev_action], axis=1).astype(np.float32)


class CommandHistory:
    """The part of the ``proprio`` observation that a car's sensors do not measure, rebuilt from the
    actions alone: the road-wheel angle, the steering history and the previous action, with the
    steering actuator of :func:`drift.racing.sim.advance` (the wheel follows the target at
    ``delta_rate_max``). Fed the same actions from the same reset, it holds what :class:`RacingSim` holds
    (``sim.delta``, ``sim.hist``, ``sim.prev_action``), so an agent outside the simulator (on ROS) sees
    what it saw in training.

    Args: cfg: :class:`RacingConfig` (``steering``, ``steer_step_rad``, ``dt_s``, ``steer_history``).
    p: :class:`VehicleParams`.
    """

    def __init__(self, cfg, p):
        self.cfg, self.p = cfg, p
        self.reset()

    def reset(self) -> None:
        """The state after :meth:`RacingSim.reset`: wheels straight, no history."""
        self.delta = 0.0
        self.delta_target = 0.0
        self.hist = np.zeros(self.cfg.steer_history)
        self.prev_action = np.zeros(2)

    def target_rad(self, action) -> float:
        """Road-wheel angle target (rad) of ``action`` (2,) in [-1, 1], as :meth:`RacingSim.step` sets it."""
        c, p = self.cfg, self.p
        steer = float(np.clip(action[0], -1.0, 1.0))
        if c.steering == "absolute":
            return steer * p.delta_max
        return float(np.clip(self.delta_target + steer * c.steer_step_rad, -p.delta_max, p.delta_max))

    def record(self, action) -> None:
        """Account for ``action`` (2,) applied over one control step ``dt_s``."""
        a = np.clip(np.asarray(action, dtype=float).reshape(2), -1.0, 1.0)
        self.delta_target = self.target_rad(a)
        self.delta = float(steer_toward(self.delta, self.delta_target, self.p.delta_rate_max, self.cfg.dt_s))
        self.hist = np.concatenate([[self.delta], self.hist[:-1]])
        self.prev_action = a

    def proprio(self, x, acc, bounds) -> np.ndarray:
        """The ``proprio`` vector (proprio_dim,) float32 for state ``x`` (6,) and accelerations ``acc`` (2,),
        clipped into ``bounds`` (low, high) (:func:`observation_bounds`)."""
        v = proprio_vector(
            np.asarray(x, float)[None],
            np.asarray(acc, float)[None],
            np.array([self.delta]),
            self.hist[None],
            self.prev_action[None],
            self.cfg,
            self.p,
        )[0]
        return np.clip(v, *bounds)


def _privileged(sim, idx, x, v) -> np.ndarray:
    c, tr = sim.cfg, sim.track
    k = len(idx)
    s = sim.s[idx]
    sa = s[:, None] + np.maximum(v, c.v_min_lookahead_mps)[:, None] * sim.t_ahead[None]  # (k, n)
    pts = tr.lerp_rows(sim._course, sa).reshape(k, -1, 2)  # (k, n * 3, 2): per time left, centre, right
    pts -= x[:, None, :2].astype(np.float32)
    cp, sp = np.cos(x[:, 2]), np.sin(x[:, 2])
    rot = (np.stack([np.stack([cp, -sp], 1), np.stack([sp, cp], 1)], 1) / c.v_ref_mps).astype(np.float32)
    car = np.matmul(pts, rot).reshape(k, -1)  # car frame: [dx cos + dy sin, -dx sin + dy cos] / v_ref
    wl0, wr0 = tr.widths(s)
    half = 0.5 * (wl0 + wr0)
    frac = 2 * np.pi * s / tr.length_m
    he = wrap_angle(x[:, 2] - tr.heading_at(s))
    extra = np.stack(
        [
            sim.d_lr[idx, 0] / half,
            sim.d_lr[idx, 1] / half,
            np.sin(frac),
            np.cos(frac),
            sim.n[idx] / half,
            np.sin(he),
            np.cos(he),
            sim.alpha[idx, 0],
            sim.alpha[idx, 1],
            sim.wall_hit[idx].astype(float),
            sim.off[idx].astype(float),
        ],
        1,
    )
    return np.concatenate([car, extra], axis=1).astype(np.float32)
