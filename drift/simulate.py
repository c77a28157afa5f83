"""Simulated driving logs from the project's own single-track model, with a known tyre plant.

:func:`simulate_log` drives :func:`drift.vehicle.f` (RK4, ``substeps`` per log sample) with a
randomised "drift-ish" driver and returns a :class:`drift.logs.DrivingLog` with the standard
signals, so the fitting pipeline (``tire_models.fit``) can be checked against a known truth
(issue 3, "Generalisation check") and the NMPC can be given a model fitted on drifting data.

The driver (all randomness from ``numpy.random.default_rng(seed)``):

* **speed**: a proportional speed controller on ``Fx`` towards a target speed that jumps to a new
  random value every few seconds (``drift``: 8-16 m/s, ``racing``: 12-30 m/s);
* **steering**: an Ornstein-Uhlenbeck random steering (time constant ~0.8 s) plus a stabiliser
  that steers the front wheels along the local velocity, ``k (beta + lf r / vx)``, so the car can
  hold large body slip without spinning (a crude human countersteer);
* **drift bursts** (``drift`` only): random episodes of 0.6-2.5 s at a drive force of 60-100 % of the
  rear axle's friction capacity. On the rear-driven axle the friction circle
  (``sqrt((mu Fz)^2 - Fx^2)``) then leaves little lateral capacity, the rear slides and its slip
  angle goes well beyond the peak of the tyre curve (power oversteer); large steering at speed
  takes the front beyond its peak too (understeer).
* **recovery**: if the body slip exceeds ``max_beta_rad`` or the speed drops below 3 m/s, the
  current segment ends and a new one starts from straight-line driving (a new ``segment`` id,
  with a 1 s gap in ``t``), so every logged stretch is physically continuous.

Logged signals (SI, body frame): ``x, y, psi, vx, vy, r, ax, ay, delta, Fx`` (``Fx`` is the
longitudinal force demand, the model input), plus the ground truth ``alpha_f, alpha_r, Fzf, Fzr,
Fyf, Fyr`` (rad, N; noise-free). Measurement noise (:class:`SensorNoise`) is added to the
measured signals only; the inputs ``delta`` and ``Fx`` are logged exactly as applied, unless a
:class:`Recording` says how a real recording would distort them (sensor mounting, steering channel)
and on what road (bank and grade, logged as ``roll`` and ``pitch``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drift.errors import DriftError
from drift.vehicle import (
    applied_force,
    axle_forces,
    axle_loads,
    body_derivatives,
    f,
    rk4_step,
    road_gravity,
)
from drift.vehicle.params import VehicleParams, load_vehicle
from drift.vehicle.tires import default_tires
from tire_models.base import AxleTires


@dataclass(frozen=True)
class SensorNoise:
    """Standard deviations of white measurement noise (SI units). ``SensorNoise.none()`` for a clean log."""

    vx_mps: float = 0.02
    vy_mps: float = 0.02
    r_radps: float = 0.003
    a_mps2: float = 0.1
    pos_m: float = 0.02
    psi_rad: float = 0.002

    @staticmethod
    def none() -> SensorNoise:
        return SensorNoise(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

    @staticmethod
    def of(noise: SensorNoise | float | None) -> SensorNoise:
        """A :class:`SensorNoise` as the simulators take it: itself, a float scaling the default
        noise (0: clean), or None (the default noise)."""
        if isinstance(noise, SensorNoise):
            return noise
        return SensorNoise().scaled(1.0 if noise is None else float(noise))

    def scaled(self, s: float) -> SensorNoise:
        return SensorNoise(
            *(s * v for v in (self.vx_mps, self.vy_mps, self.r_radps, self.a_mps2, self.pos_m, self.psi_rad))
        )


@dataclass(frozen=True)
class Recording:
    """How a log records the car, and the road it drives on: what differs between two recordings of
    the same car (another day, another track). Default: a perfect recording on a flat road.

    The terms are those :mod:`tire_models.fit.sensor` fits, with the same meaning:
    the logged ``vy = vy_cg + x_s r + k vx + b``; the logged steering ``delta_log`` gives the road-wheel
    angle ``delta = delta_scale * delta_log + delta_offset_rad`` after ``steer_delay_s``.

    Attributes:
        x_s_m: velocity sensor ahead of the CG (m).
        vy_offset_per_vx: mounting yaw misalignment ``k`` (dimensionless).
        vy_bias_mps: constant ``vy`` bias ``b`` (m/s).
        delta_scale: steering scale (dimensionless). delta_offset_rad: steering offset (rad).
        steer_delay_s: the logged steering leads the road wheels by this (s), whole samples.
        bank_rad, grade_rad: amplitudes of the road's bank and grade (rad): ``bank = bank_rad
            sin(2 pi X / wavelength)``, ``grade = grade_rad sin(2 pi Y / wavelength)`` with ``X, Y``
            the car's position, logged as ``roll = bank`` and ``pitch = -grade`` (ISO 8855).
        road_wavelength_m: wavelength of the road's undulation (m).
    """

    x_s_m: float = 0.0
    vy_offset_per_vx: float = 0.0
    vy_bias_mps: float = 0.0
    delta_scale: float = 1.0
    delta_offset_rad: float = 0.0
    steer_delay_s: float = 0.0
    bank_rad: float = 0.0
    grade_rad: float = 0.0
    road_wavelength_m: float = 300.0

    def __post_init__(self):
        if not self.delta_scale > 0 or self.steer_delay_s < 0 or not self.road_wavelength_m > 0:
            raise DriftError(
                f"Recording: delta_scale ({self.delta_scale}) and road_wavelength_m "
                f"({self.road_wavelength_m}) must be positive, steer_delay_s ({self.steer_delay_s}) >= 0"
            )

    def road(self, X, Y):
        """``(bank, grade)`` (rad) at world positions ``X, Y`` (m), any shape."""
        k = 2 * np.pi / self.road_wavelength_m
        return self.bank_rad * np.sin(k * np.asarray(X)), self.grade_rad * np.sin(k * np.asarray(Y))

    @property
    def flat(self) -> bool:
        """True for a level road: the simulator then gives the model 2 inputs ``[delta, Fx]``, else 4."""
        return self.bank_rad == 0 and self.grade_rad == 0


#: Two recordings of one car on two tracks (issue 18's transfer check; tests/test_transfer.py,
#: benchmarks/fit_transfer.py): a flat track with the sensor near the CG and a slow, delayed steering
#: channel; a banked and graded one with another mounting and steering calibration.
RECORDINGS = {
    "flat": Recording(
        x_s_m=0.3,
        vy_offset_per_vx=0.01,
        vy_bias_mps=0.05,
        delta_scale=1.1,
        delta_offset_rad=0.005,
        steer_delay_s=0.1,
    ),
    "banked": Recording(
        x_s_m=0.6,
        vy_offset_per_vx=-0.008,
        vy_bias_mps=-0.08,
        delta_scale=0.85,
        delta_offset_rad=-0.006,
        bank_rad=0.15,
        grade_rad=0.05,
    ),
}


@dataclass(frozen=True)
class DriverConfig:
    """Randomised driver of :func:`simulate_log` (one per scenario, see :func:`driver_config`).

    Attributes:
        v_range_mps: range of the random target speeds (m/s).
        v_hold_s: range of the time a target speed is held (s).
        steer_std_rad: stationary std of the OU random steering (rad).
        steer_tau_s: time constant of the OU steering (s).
        steer_smooth_s: first-order low-pass on the OU steering (s), so the steering is smooth.
        force_lag_s: first-order lag of the longitudinal force (s), a drivetrain's response.
        k_follow: gain of the steer-along-velocity stabiliser (dimensionless).
        k_speed_mps2: speed controller gain, ``Fx = m k (v_ref - vx)`` per m/s (1/s).
        burst_rate_hz: mean rate of drift bursts (1/s); 0 for none.
        burst_s: range of burst durations (s).
        burst_frac: range of the burst drive force as a fraction of ``mu Fz_rear``.
        max_beta_rad: body slip that ends a segment (rad).
    """

    v_range_mps: tuple[float, float] = (8.0, 16.0)
    v_hold_s: tuple[float, float] = (3.0, 8.0)
    steer_std_rad: float = 0.18
    steer_tau_s: float = 0.8
    steer_smooth_s: float = 0.25
    force_lag_s: float = 0.2
    k_follow: float = 0.6
    k_speed_mps2: float = 1.0
    burst_rate_hz: float = 0.35
    burst_s: tuple[float, float] = (0.6, 2.5)
    burst_frac: tuple[float, float] = (0.6, 1.0)
    max_beta_rad: float = 0.9


def driver_config(scenario: str) -> DriverConfig:
    """The driver of a scenario: ``"drift"`` (large slip, beyond the peak) or ``"racing"`` (fast, near it)."""
    if scenario == "drift":
        return DriverConfig()
    if scenario == "racing":
        return DriverConfig(v_range_mps=(12.0, 30.0), steer_std_rad=0.05, k_follow=0.3, burst_rate_hz=0.0)
    raise DriftError(f"simulate_log: unknown scenario {scenario!r}; use 'drift' or 'racing'")


def simulate_log(
    vehicle: VehicleParams | str = "sports",
    tires: AxleTires | None = None,
    minutes: float = 3.0,
    seed: int = 0,
    scenario: str = "drift",
    noise: SensorNoise | float | None = None,
    dt: float = 0.02,
    substeps: int = 4,
    driver: DriverConfig | None = None,
    cars: int = 8,
    recording: Recording | None = None,
):
    """Drive the single-track model with a randomised driver and log it.

    Args:
        vehicle: :class:`VehicleParams` or a preset name / YAML path (default ``sports``).
        tires: the tyre plant (default :func:`drift.vehicle.tires.default_tires`).
        minutes: logged driving time (min), gaps between segments excluded.
        seed: seed of every random choice (same seed -> identical log).
        scenario: ``"drift"`` or ``"racing"`` (see :func:`driver_config`).
        noise: :class:`SensorNoise`, a float scaling the default noise (0 = clean), or None (default noise).
        dt: log sample time (s). substeps: RK4 steps per sample.
        driver: override of the scenario's :class:`DriverConfig`.
        cars: independent cars simulated in parallel (vectorised); their logs follow one another
            as separate segments. Part of the random stream: changing it changes the log.
        recording: the sensor mounting, steering channel and road (:class:`Recording`); None: a
            perfect recording on a flat road.
    Returns:
        :class:`drift.logs.DrivingLog` with ``source = "simulate_log(...)"``, ``T = minutes*60/dt`` rows.
    Raises:
        DriftError: non-positive ``minutes``/``dt``, unknown scenario, or a non-finite state
        (a broken plant).
    """
    from drift.logs import DrivingLog

    p = load_vehicle(vehicle) if isinstance(vehicle, str) else vehicle
    if not (minutes > 0 and dt > 0 and substeps >= 1):
        raise DriftError(f"simulate_log: minutes ({minutes}) and dt ({dt}) must be positive, substeps >= 1")
    tires = tires if tires is not None else default_tires(p)
    rec = recording if recording is not None else Recording()
    nu = 2 if rec.flat else 4
    drv = driver if driver is not None else driver_config(scenario)
    nz = SensorNoise.of(noise)
    rng = np.random.default_rng(seed)
    n = int(round(minutes * 60.0 / dt))
    B = max(
        1, min(int(cars), n)
    )  # independent cars driven in parallel (vectorised), logged one after another
    n_car = -(-n // B)

    def fun(x, u):
        return f(x, u, p, tires)

    rows = np.zeros((n_car, B, 6))
    inputs = np.zeros((n_car, B, nu))
    seg = np.zeros((n_car, B), dtype=np.int64)
    mu_r = float(tires.rear.peak_mu)
    Fzr = axle_loads(0.0, 0.0, p)[1]  # static rear load
    a_ou = np.exp(-dt / drv.steer_tau_s)
    a_lp = np.exp(-dt / drv.steer_smooth_s)
    a_fx = np.exp(-dt / drv.force_lag_s)
    step = p.delta_rate_max * dt

    x = np.zeros((B, 6))
    v_ref, t_v = np.zeros(B), np.zeros(B)
    steer_ou, steer_lp, delta, burst_left, burst_F, Fx_cmd = (np.zeros(B) for _ in range(6))
    s_id = np.full(B, -1)
    reset = np.ones(B, dtype=bool)
    for k in range(n_car):
        if reset.any():  # new segment: straight-line driving at a random speed
            nr = int(reset.sum())
            v0 = rng.uniform(*drv.v_range_mps, nr)
            x[reset] = np.stack(
                [
                    rng.uniform(-50, 50, nr),
                    rng.uniform(-50, 50, nr),
                    rng.uniform(-np.pi, np.pi, nr),
                    v0,
                    np.zeros(nr),
                    np.zeros(nr),
                ],
                axis=-1,
            )
            v_ref[reset], t_v[reset] = v0, rng.uniform(*drv.v_hold_s, nr)
            steer_ou[reset] = steer_lp[reset] = delta[reset] = burst_left[reset] = Fx_cmd[reset] = 0.0
            s_id[reset] += 1
        vx, vy, r = x[:, 3], x[:, 4], x[:, 5]
        beta = np.arctan2(vy, vx)
        # target speed
        t_v -= dt
        new_v = t_v <= 0
        v_ref = np.where(new_v, rng.uniform(*drv.v_range_mps, B), v_ref)
        t_v = np.where(new_v, rng.uniform(*drv.v_hold_s, B), t_v)
        # steering: OU + steer along the velocity, rate-limited to the vehicle's limit
        steer_ou = a_ou * steer_ou + np.sqrt(1 - a_ou**2) * drv.steer_std_rad * rng.standard_normal(B)
        steer_lp = a_lp * steer_lp + (1 - a_lp) * steer_ou  # a human hand: no white-noise steering
        follow = drv.k_follow * (beta + p.lf * r / np.maximum(vx, 1.0))
        target = np.clip(steer_lp + follow, -p.delta_max, p.delta_max)
        delta = np.clip(target, delta - step, delta + step)
        # longitudinal: speed control, or a drift burst near the rear friction limit
        start = (burst_left <= 0) & (rng.random(B) < drv.burst_rate_hz * dt)
        burst_left = np.where(start, rng.uniform(*drv.burst_s, B), burst_left)
        burst_F = np.where(start, rng.uniform(*drv.burst_frac, B), burst_F)
        in_burst = burst_left > 0
        burst_left = burst_left - dt * in_burst
        Fx = np.where(in_burst, burst_F * mu_r * Fzr, p.m * drv.k_speed_mps2 * (v_ref - vx))
        Fx_cmd = a_fx * Fx_cmd + (1 - a_fx) * Fx  # drivetrain lag: no force steps
        Fx = applied_force(Fx_cmd, vx, p)
        u = np.stack([delta, Fx, *(() if rec.flat else rec.road(x[:, 0], x[:, 1]))], axis=-1)
        rows[k], inputs[k], seg[k] = x, u, s_id
        x = rk4_step(fun, x, u, dt, substeps)
        if not np.all(np.isfinite(x)):
            raise DriftError("simulate_log: the state became non-finite; check the tyre plant and vehicle")
        reset = (np.abs(np.arctan2(x[:, 4], x[:, 3])) > drv.max_beta_rad) | (x[:, 3] < 3.0)
    # cars one after another; each (car, segment) a segment of the log, with 1 s gaps in time
    rows = rows.transpose(1, 0, 2).reshape(-1, 6)[:n]
    inputs = inputs.transpose(1, 0, 2).reshape(-1, nu)[:n]
    seg = (seg.T + 10_000 * np.arange(B)[:, None]).reshape(-1)[:n]
    seg = _renumber(seg)
    t = np.arange(n) * dt + 1.0 * seg
    v = rows[:, 3:6]
    dv = body_derivatives(v, inputs, p, tires)
    fo = axle_forces(v, inputs, p, tires)
    ax = dv[:, 0] - v[:, 1] * v[:, 2]
    ay = dv[:, 1] + v[:, 0] * v[:, 2]
    if not rec.flat:  # an accelerometer reports the specific force: gravity is not in it
        gx, gy, _ = road_gravity(v[:, 0], v[:, 2], inputs[:, 2], inputs[:, 3], p)
        ax, ay = ax - gx, ay - gy
    e = rng.standard_normal((n, 8))
    # the recording: sensor mounting, the steering channel ahead of the road wheels by its delay
    vy_log, delta_log = v[:, 1], inputs[:, 0]
    if recording is not None:
        from tire_models.fit.sensor import measured_vy

        vy_log = measured_vy(v[:, 0], v[:, 1], v[:, 2], rec.x_s_m, rec.vy_offset_per_vx, rec.vy_bias_mps)
        lead = int(round(rec.steer_delay_s / dt))
        delta_ahead = np.array(inputs[:, 0])
        for s_ in np.unique(seg) if lead else ():
            i = np.flatnonzero(seg == s_)
            delta_ahead[i] = np.concatenate(
                [delta_ahead[i[lead:]], np.full(min(lead, len(i)), delta_ahead[i[-1]])]
            )
        delta_log = (delta_ahead - rec.delta_offset_rad) / rec.delta_scale  # inverse of sensor.model_steer
    data = {
        "x": rows[:, 0] + nz.pos_m * e[:, 0],
        "y": rows[:, 1] + nz.pos_m * e[:, 1],
        "psi": rows[:, 2] + nz.psi_rad * e[:, 2],
        "vx": v[:, 0] + nz.vx_mps * e[:, 3],
        "vy": vy_log + nz.vy_mps * e[:, 4],
        "r": v[:, 2] + nz.r_radps * e[:, 5],
        "ax": ax + nz.a_mps2 * e[:, 6],
        "ay": ay + nz.a_mps2 * e[:, 7],
        "delta": delta_log,
        "Fx": inputs[:, 1],
        "alpha_f": np.asarray(fo.alpha_f),
        "alpha_r": np.asarray(fo.alpha_r),
        "Fzf": np.asarray(fo.Fzf),
        "Fzr": np.asarray(fo.Fzr),
        "Fyf": np.asarray(fo.Fyf),
        "Fyr": np.asarray(fo.Fyr),
        "delta_true": inputs[:, 0],
    }
    if not rec.flat:
        data["roll"], data["pitch"] = inputs[:, 2], -inputs[:, 3]
    src = f"simulate_log(vehicle={p.name}, tires={tires.name}, minutes={minutes}, seed={seed}, "
    src += f"scenario={scenario}" + ("" if recording is None else f", recording={rec}") + ")"
    return DrivingLog.from_arrays(t, data, source=src, segment=seg)


def _renumber(seg: np.ndarray) -> np.ndarray:
    """Segment ids as 0, 1, 2, ... in order of appearance."""
    change = np.concatenate([[0], (np.diff(seg) != 0).astype(np.int64)])
    return np.cumsum(change)
