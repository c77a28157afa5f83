"""Simulator check of an optimal lap: the simulator's model drives it under feedforward plus feedback."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from controllers.laptime.result import LapTimeResult
from controllers.laptime.tyre_limits import peak_slip, static_axle_loads
from drift.frames import wrap_angle
from drift.vehicle import VehicleParams, applied_force, f, rk4_step, slip_angles
from tire_models import AxleTires


@dataclass
class TrackingLap:
    """Outcome of :func:`simulate_tracking`.

    ``lap_time_s`` is NaN when the lap was not completed (``completed`` False, ``reason`` says
    why). ``max_lateral_error_m``: largest distance from the optimal line; ``t, x, y, vx, vy, r,
    delta, Fx, s_ref`` are the simulated signals (one row per control step).
    """

    lap_time_s: float
    completed: bool
    reason: str
    max_lateral_error_m: float
    max_speed_error_mps: float
    log: dict[str, np.ndarray]


def simulate_tracking(
    result: LapTimeResult,
    vehicle: VehicleParams,
    tires: AxleTires,
    dt_s: float = 0.01,
    substeps: int = 2,
    omega_n: float = 2.0,
    zeta: float = 0.9,
    k_v: float = 0.5,
    k_r: float = 0.6,
    cascade: bool = True,
    k_vy: float = 0.0,
    max_time_factor: float = 1.5,
    speed_scale: float = 1.0,
    traction_slip: float | None = None,
    progress: Callable[[float], None] | None = None,
) -> TrackingLap:
    """Drive the optimal lap in the simulator: optimal inputs fed forward plus feedback.

    The car starts on the optimal state at ``s = 0`` (a flying lap) and is integrated with
    :func:`drift.vehicle.f` and :func:`drift.vehicle.rk4_step` (the simulator's model), inputs held
    for ``dt_s``. The controller looks up the reference at the nearest point of the optimal line
    (local search along it) and commands (a cascade: path loop outside, yaw-rate loop inside)

    ``delta = delta* + d_path - k_r (r - r_cmd) - k_vy (vy - vy*) / v`` with
    ``d_path = -(L / v^2) (omega_n^2 e_n + 2 zeta omega_n v e_psi)`` and
    ``r_cmd = r* + v d_path / L``,

    rate- and angle-limited (``delta*, Fx*`` held over each interval as in the OCP), and
    ``Fx = Fx* + k_v m (vx* - vx)`` (clipped to the drive, brake and power limits), with ``e_n``
    the lateral error (m, + left of the line), ``e_psi`` the yaw error (rad) and ``L`` the
    wheelbase. On the kinematic model (``e_n' = v e_psi``, ``e_psi' = r - r*``) the path loop
    makes the errors decay as a second-order system of natural frequency ``omega_n`` (rad/s) and
    damping ``zeta``; the yaw-rate loop (gain ``k_r``, rad per rad/s) makes the car produce the yaw
    rate ``r_cmd`` that this asks for even where the tyres are near their limit and the steering
    has lost authority. Because it damps ``r - r_cmd`` and not ``r - r*``, the yaw damping does
    not fight the path correction: with ``cascade=False`` (damping ``r - r*``, the earlier design)
    a high-speed yaw-rate loop of gain ``k_r v / L`` cuts the path loop's gain by ``1 + k_r v / L``
    (about 7 at 30 m/s with ``k_r = 0.6``), and on Catalunya the car drifts off the track in the
    final chicane; with the cascade every shared track completes within 0.1 % for ``k_r`` from
    0.3 to 1.0 (``benchmarks/laptime.py --k-r 0.3``, ``--no-cascade`` for the earlier design).
    ``k_r`` too small (0.1) lets the car spin under trail braking into the hairpins.

    ``speed_scale`` (< 1: a slower reference speed) and
    ``traction_slip`` (no drive force beyond the optimum's while the rear slip angle exceeds that
    multiple of the tyre's peak slip) are optional safety margins, off by default. The lap time
    is the time at which the reference point passes ``s = 0`` again (interpolated). ``progress``, if
    given, is called with the share of the lap driven (0 to 1) every 100 control steps.

    Feasibility depends on the plan keeping a reserve: :class:`LapTimeConfig` ``grip_limit``
    (default 0.95) bounds each axle's combined grip usage; an optimum planned at 100 % of the
    friction circle (``grip_limit=None``) spins this tracker on the road courses.

    Sources: feedforward from the planned inputs plus path and yaw-rate feedback, cf. Kritayakirana
    & Gerdes, "Autonomous vehicle control at the limits of handling", IJVAS 10(4), 2012; the path
    loop's gains from the kinematic bicycle model (Rajamani, *Vehicle Dynamics and Control*, 2012,
    Sec. 2.2); the cascade (inner yaw-rate loop tracking the outer loop's command) is this
    module's design.
    """
    R = result.traj
    p = vehicle
    alpha_peak_r = peak_slip(tires.rear, static_axle_loads(p)[1])
    N = len(R["s"])
    L = float(R["s"][1] * N)
    px, py, psi_ref = R["x"], R["y"], R["psi"]
    seg = np.hypot(np.roll(px, -1) - px, np.roll(py, -1) - py)
    x = np.array([px[0], py[0], psi_ref[0], R["vx"][0], R["vy"][0], R["r"][0]])
    fun = lambda xx, uu: f(xx, uu, p, tires)  # noqa: E731
    k = 0
    t = 0.0
    delta_prev = R["delta"][0]
    T_max = max_time_factor * result.last_lap_time_s
    s_prev_total = 0.0
    rows = []
    max_e = 0.0
    max_ev = 0.0
    completed, reason = False, "time limit"
    while t < T_max:
        # nearest segment of the optimal line near the previous index
        idx = (k + np.arange(-3, 12)) % N
        d2 = (px[idx] - x[0]) ** 2 + (py[idx] - x[1]) ** 2
        k = int(idx[int(np.argmin(d2))])
        # fractional position along segment k -> k+1 (or k-1 -> k)
        k1 = (k + 1) % N
        tx, ty = (px[k1] - px[k]) / seg[k], (py[k1] - py[k]) / seg[k]
        along = (x[0] - px[k]) * tx + (x[1] - py[k]) * ty
        if along < 0:
            k = (k - 1) % N
            k1 = (k + 1) % N
            tx, ty = (px[k1] - px[k]) / seg[k], (py[k1] - py[k]) / seg[k]
            along = (x[0] - px[k]) * tx + (x[1] - py[k]) * ty
        lam = float(np.clip(along / seg[k], 0.0, 1.0))
        e_n = -(x[0] - px[k]) * ty + (x[1] - py[k]) * tx
        s_total = (k + lam) * (L / N)
        if s_prev_total > 0.75 * L and s_total < 0.25 * L:
            # crossed the start line: interpolate the crossing time
            ds_step = (s_total + L) - s_prev_total
            frac = (L - s_prev_total) / max(ds_step, 1e-9)
            t_cross = t - dt_s + frac * dt_s
            completed, reason = True, ""
            rows.append((t, *x, delta_prev, 0.0, s_total))
            lap = t_cross
            break
        s_prev_total = s_total
        if progress is not None and len(rows) % 100 == 0:
            progress(s_total / L)

        def lerp(a, ang=False, k=k, k1=k1, lam=lam):
            if ang:
                return a[k] + lam * wrap_angle(a[k1] - a[k])
            return (1 - lam) * a[k] + lam * a[k1]

        e_psi = wrap_angle(x[2] - lerp(psi_ref, ang=True))
        vx_ref = speed_scale * lerp(R["vx"])
        max_e = max(max_e, abs(e_n))
        max_ev = max(max_ev, abs(vx_ref - x[3]))
        n_here = lerp(R["n"]) + e_n
        if n_here > lerp(R["w_left"]) or -n_here > lerp(R["w_right"]):
            reason = f"left the track at s = {s_total:.0f} m (t = {t:.1f} s)"
            break
        v = max(x[3], 5.0)
        d_path = -p.L / v**2 * (omega_n**2 * e_n + 2 * zeta * omega_n * v * e_psi)
        r_cmd = lerp(R["r"]) + (v / p.L * d_path if cascade else 0.0)
        delta = R["delta"][k] + d_path - k_r * (x[5] - r_cmd) - k_vy * (x[4] - lerp(R["vy"])) / v
        delta = float(
            np.clip(delta, delta_prev - p.delta_rate_max * dt_s, delta_prev + p.delta_rate_max * dt_s)
        )
        delta = float(np.clip(delta, -p.delta_max, p.delta_max))
        Fx = R["Fx"][k] + k_v * p.m * (vx_ref - x[3])
        if traction_slip is not None and Fx > 0:
            # traction control: no drive force beyond the reference's while the rear slides more
            # than ``traction_slip`` x its peak slip angle (the rear is RWD; drive eats its grip)
            a_r = abs(float(slip_angles(max(x[3], 1.0), x[4], x[5], 0.0, p)[1]))
            excess = (a_r - traction_slip * alpha_peak_r) / (0.2 * alpha_peak_r)
            Fx = min(Fx, float(R["Fx"][k]) * float(np.clip(1.0 - excess, 0.0, 1.0)))
        Fx = applied_force(Fx, x[3], p)
        u = np.array([delta, Fx])
        rows.append((t, *x, delta, Fx, s_total))
        x = rk4_step(fun, x, u, dt_s, substeps)
        t += dt_s
        delta_prev = delta
        if not np.all(np.isfinite(x)) or x[3] < 1.0:
            reason = f"the car stopped or the state became invalid at t = {t:.1f} s"
            break
    else:
        lap = float("nan")
    if not completed:
        lap = float("nan")
    arr = np.array(rows)
    names = ("t", "x", "y", "psi", "vx", "vy", "r", "delta", "Fx", "s_ref")
    log = {nm: arr[:, i] for i, nm in enumerate(names)} if len(arr) else {nm: np.zeros(0) for nm in names}
    return TrackingLap(float(lap), completed, reason, max_e, max_ev, log)
