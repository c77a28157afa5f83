"""A drift driver for the wheel plant: logs of a car driven the way a person drifts it.

:func:`simulate_drift_log` drives :mod:`drift.vehicle.wheel_plant` through episodes of normal
cornering, a power-over entry into a held drift, and an exit back to grip, on circles of random
radius and direction at random sideslips, and logs them as a :class:`drift.logs.DrivingLog` with the
signals a real car records. The driver is the drift NMPC with a model of the car a good driver
would have (:func:`driver_tires`: the plant's own pure lateral curves on the single-track model),
re-targeted every episode; its commands reach the plant through the steering servo and the wheel
spin, which its model lacks, so it holds drifts imperfectly, as a person does.

Episode (all draws from ``numpy.random.default_rng(seed)``): a circle of radius ``radius_m`` placed
tangent to the car's course, turning left or right; ``grip_s`` of normal cornering at
``grip_beta_deg``, ``entry_s`` of blend into the drift equilibrium at ``beta_deg``, ``hold_s`` held,
``entry_s`` of blend back and ``grip_s`` of cornering. A spin (``|beta|`` beyond ``spin_beta_deg`` or
``vx`` under 3 m/s) ends the segment; the next starts from straight driving, 1 s later in ``t``.

Logged (SI, body frame): ``x, y, psi, vx, vy, r, ax, ay`` (measured, with
:class:`drift.simulate.SensorNoise`), ``delta`` (the road-wheel angle after the servo, measured
without noise as a steering-angle sensor), ``Fx`` (the force demand, NOT the ground force: the
traction control cuts it on wheel spin, and the wheels take what spins them up), the wheel speeds
``w_fl = w_fr = omega_f R`` and ``w_rl = w_rr = omega_r R`` (m/s), and the ground truth
``alpha_f, alpha_r, Fzf, Fzr, Fyf, Fyr, kappa_r, Fxr_ground`` (noise-free; ``Fy`` in the wheel frame).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from controllers.mpc.config import MPCConfig
from controllers.mpc.drift_mpc import DriftMPC
from controllers.mpc.equilibrium import equilibrium_on_circle
from controllers.mpc.paths import circle_path
from controllers.mpc.scenarios import BlendReference, _vals, smoothstep
from drift.errors import DriftError
from drift.vehicle import applied_force, load_vehicle, slip_angles
from drift.vehicle.params import VehicleParams
from drift.vehicle.wheel_plant import (
    WheelPlantParams,
    rolling_state,
    slip_ratio,
    wheel_forces,
    wheel_plant_f,
    wheel_plant_step,
)
from tire_models.base import AxleTires


@dataclass(frozen=True)
class DriftDriverConfig:
    """Ranges the episodes of :func:`simulate_drift_log` are drawn from (SI; angles in degrees).

    Attributes:
        beta_deg: held sideslip magnitude (deg). radius_m: circle radius (m). hold_s: held drift (s).
        grip_s: normal cornering before the entry and after the exit (s). grip_beta_deg: its sideslip.
        entry_s: blend time into and out of the drift (s). spin_beta_deg: ``|beta|`` that ends a segment.
        v_start_mps: straight-line speed a segment starts at (m/s).
    """

    beta_deg: tuple[float, float] = (15.0, 35.0)
    radius_m: tuple[float, float] = (10.0, 25.0)
    hold_s: tuple[float, float] = (3.0, 7.0)
    grip_s: tuple[float, float] = (1.5, 4.0)
    grip_beta_deg: float = 2.0
    entry_s: float = 1.2
    spin_beta_deg: float = 60.0
    v_start_mps: tuple[float, float] = (8.0, 12.0)


def driver_tires(w: WheelPlantParams) -> AxleTires:
    """The driver's model of the car: the plant's pure lateral curves (no combined slip, no wheel spin)."""
    return AxleTires(w.front_lat, w.rear_lat)


def _frame(X, Y, course):
    """World -> path frame of a path that starts at ``(X, Y)`` heading ``course``."""
    c, s = math.cos(course), math.sin(course)

    def to_path(x):
        dx, dy = x[0] - X, x[1] - Y
        return np.array([c * dx + s * dy, -s * dx + c * dy, x[2] - course, *x[3:6]])

    return to_path


def simulate_drift_log(
    vehicle: VehicleParams | str = "sports",
    plant: WheelPlantParams | None = None,
    minutes: float = 3.0,
    seed: int = 0,
    noise=None,
    driver: DriftDriverConfig | None = None,
    dt: float = 0.02,
    substeps: int = 20,
    progress=None,
):
    """Drift the wheel plant for ``minutes`` of logged driving (module docstring) and return the log.

    Args:
        vehicle: :class:`VehicleParams` or a preset name / YAML path (default ``sports``).
        plant: the wheel plant's tyres, wheels, servo and load transfer (default :class:`WheelPlantParams`).
        minutes: logged time (min), gaps excluded. seed: every random draw (same seed, same log).
        noise: :class:`drift.simulate.SensorNoise`, a float scaling the default noise, or None (default).
        driver: :class:`DriftDriverConfig`. dt: sample time (s). substeps: RK4 steps per sample.
        progress: optional ``progress(done_samples, total_samples)``.
    Returns:
        :class:`drift.logs.DrivingLog` with ``minutes * 60 / dt`` rows in segments.
    Raises:
        DriftError: bad arguments; a non-finite plant state.
    """
    from drift.logs import DrivingLog
    from drift.simulate import SensorNoise, _renumber

    p = load_vehicle(vehicle) if isinstance(vehicle, str) else vehicle
    w = plant or WheelPlantParams()
    drv = driver or DriftDriverConfig()
    if not (minutes > 0 and dt > 0 and substeps >= 1):
        raise DriftError(f"simulate_drift_log: minutes ({minutes}) and dt ({dt}) must be positive")
    nz = SensorNoise.of(noise)
    rng = np.random.default_rng(seed)
    n = int(round(minutes * 60.0 / dt))
    ctrl = driver_tires(w)
    step = wheel_plant_step(p, w, dt, substeps)
    cfg = MPCConfig(dt_s=dt, time_budget_ms=1e3)
    mpc = None
    rows, inputs, seg = [], [], []
    s_id, x = -1, None
    while len(rows) < n:
        if x is None:  # a new segment from straight driving
            s_id += 1
            x = rolling_state(0.0, 0.0, rng.uniform(-np.pi, np.pi), rng.uniform(*drv.v_start_mps), w=w)
            u_prev = np.zeros(2)
        R, beta = rng.uniform(*drv.radius_m), math.radians(rng.uniform(*drv.beta_deg))
        left = bool(rng.random() < 0.5)
        try:
            drift_eq = equilibrium_on_circle(p, ctrl, R, -beta)
            grip_eq = equilibrium_on_circle(p, ctrl, R, math.radians(drv.grip_beta_deg), branch="grip")
        except DriftError:
            continue  # no steady state at this draw: draw again
        g1, hold, g2 = rng.uniform(*drv.grip_s), rng.uniform(*drv.hold_s), rng.uniform(*drv.grip_s)
        t1, t2 = g1, g1 + drv.entry_s + hold
        T = t2 + drv.entry_s + g2
        path = circle_path(R, left=left)
        ref = BlendReference(
            path,
            _vals(grip_eq),
            _vals(drift_eq),
            lambda t, t1=t1, t2=t2: (
                smoothstep((t - t1) / drv.entry_s) * (1 - smoothstep((t - t2) / drv.entry_s))
            ),
        )
        if mpc is None:
            mpc = DriftMPC(p, ctrl, cfg, path=path, reference=ref, u_init=u_prev).setup()
        mpc.path, mpc.reference = path, ref
        mpc.reset(u_prev)
        to_path = _frame(x[0], x[1], x[2] + math.atan2(x[4], x[3]))
        for k in range(int(round(T / dt))):
            u, _ = mpc.step(to_path(x), k * dt)
            u_prev = u
            cmd = np.array([u[0], applied_force(u[1], x[3], p)])
            rows.append(x.copy())
            inputs.append(cmd)
            seg.append(s_id)
            x = step(x, cmd)
            if not np.all(np.isfinite(x)):
                raise DriftError("simulate_drift_log: the plant state became non-finite")
            if abs(math.atan2(x[4], x[3])) > math.radians(drv.spin_beta_deg) or x[3] < 3.0:
                x = None  # spun or stalled: the segment ends
                break
            if len(rows) >= n:
                break
        if progress is not None:
            progress(min(len(rows), n), n)
    rows, inputs, seg = np.array(rows[:n]), np.array(inputs[:n]), _renumber(np.array(seg[:n]))
    t = np.arange(n) * dt + 1.0 * seg
    d = wheel_plant_f(rows, inputs, p, w)
    vx, vy, r = rows[:, 3], rows[:, 4], rows[:, 5]
    truth = _truth(rows, p, w)
    e = rng.standard_normal((n, 8))
    wf, wr = rows[:, 6] * w.wheel_radius_m, rows[:, 7] * w.wheel_radius_m
    data = {
        "x": rows[:, 0] + nz.pos_m * e[:, 0],
        "y": rows[:, 1] + nz.pos_m * e[:, 1],
        "psi": rows[:, 2] + nz.psi_rad * e[:, 2],
        "vx": vx + nz.vx_mps * e[:, 3],
        "vy": vy + nz.vy_mps * e[:, 4],
        "r": r + nz.r_radps * e[:, 5],
        "ax": d[:, 3] - vy * r + nz.a_mps2 * e[:, 6],
        "ay": d[:, 4] + vx * r + nz.a_mps2 * e[:, 7],
        "delta": rows[:, 8],
        "Fx": inputs[:, 1],
        "w_fl": wf,
        "w_fr": wf,
        "w_rl": wr,
        "w_rr": wr,
        **truth,
    }
    src = f"simulate_drift_log(vehicle={p.name}, minutes={minutes}, seed={seed})"
    return DrivingLog.from_arrays(t, data, source=src, segment=seg)


def _truth(x: np.ndarray, p: VehicleParams, w: WheelPlantParams) -> dict[str, np.ndarray]:
    """Noise-free slips, loads and tyre forces of wheel-plant states ``x (T, 10)``."""
    vx, vy, r, om_r, delta = (x[:, i] for i in (3, 4, 5, 7, 8))
    f = wheel_forces(x, p, w)
    alpha_f, alpha_r = slip_angles(vx, vy, r, delta, p)
    return {
        "alpha_f": alpha_f,
        "alpha_r": alpha_r,
        "Fzf": f.Fzf,
        "Fzr": f.Fzr,
        "Fyf": f.Fyf,
        "Fyr": f.Fyr,
        "kappa_r": slip_ratio(om_r, vx, w),
        "Fxr_ground": f.Fxr,
    }
