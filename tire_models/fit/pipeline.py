"""The tyre-fitting pipeline, the same for every model (baselines and learned).

Steps (DESIGN.md §3; issue 2 "Baseline tyre models and fitting", issue 3 "Fitting"):

0. Longitudinal map throttle/brake -> ``Fx`` (N) by least squares (:mod:`tire_models.fit.forces`).
1. Stage 1a: front / rear axle forces estimated from the measured motion, then regression of
   each tyre curve on them. Stage 1b: joint equation-error fit of the tyre parameters and the
   sensor terms (:mod:`tire_models.fit.sensor`) on the measured ``dvy/dt`` and ``dr/dt``.
2. Stage 2: multi-step rollout loss: RK4 integration of :func:`drift.vehicle.body_derivatives`
   over short horizons from logged states with logged inputs, batched over windows, Adam with a
   learning-rate schedule. A checkpoint is written after every epoch; :func:`run_fit` with
   ``resume=True`` continues from it and yields the same parameters as an uninterrupted fit.

The pipeline only touches a tyre model through ``model.torch_module()`` (``.model()``,
``.freeze()``) and ``cls.initial_guess(...)``, so learned models plug in unchanged.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from drift.errors import DriftError
from drift.vehicle import axle_loads, body_derivatives, road_gravity, rollout
from drift.vehicle.params import VehicleParams
from drift.vehicle.wheel_plant import rim_slip
from tire_models.base import REGISTRY, AxleTires
from tire_models.fit.forces import (
    LongitudinalMap,
    estimate_axle_forces,
    rear_wheel_speed,
    road_attitude,
    smooth_derivative,
)
from tire_models.fit.sensor import SENSOR_NAMES, SensorModule, SensorTerms

CHANNELS = ("vx", "vy", "r")


@dataclass(frozen=True)
class FitConfig:
    """Options of one ``drift fit`` run (saved as ``fit_config.json`` in the run folder); the flags of
    ``drift fit``. Why the defaults are what they are, with the measurements: docs/learned-tyres.md."""

    model: str = "pacejka"
    """main tyre model: linear, fiala, pacejka, exptanh or neural_ode"""
    baselines: tuple[str, ...] = ("linear", "fiala", "pacejka")
    """further models fitted and evaluated by the same pipeline (none: an empty list)"""
    vehicle: str = "iac"
    """vehicle preset name or YAML path"""
    minutes: float = 3.0
    """minutes of driving used for training, after the speed filter"""
    min_speed_mps: float = 5.0
    """samples slower than this are dropped (m/s)"""
    horizon_s: float = 0.6
    """rollout horizon of the stage-2 loss (s)"""
    eval_horizon_s: float = 1.0
    """horizon of the held-out multi-step RMSE (s)"""
    batch: int = 256
    """rollout windows per stage-2 optimiser step"""
    lr: float = 0.05
    """peak stage-2 learning rate (Adam, on unconstrained parameters)"""
    lr_schedule: str = "cosine"
    """cosine (to 5 % of lr), step (x0.3 at 50 % and 80 %) or constant"""
    epochs: int = 6
    """stage-2 passes over the training windows"""
    stage1_iters: int = 60
    """LBFGS iterations of each stage-1 part"""
    seed: int = 0
    """seed of initial guesses and window order: the same seed gives the same fit"""
    sensor_terms: tuple[str, ...] = SENSOR_NAMES
    """fitted sensor terms (tire_models.fit.sensor.SENSOR_NAMES; none: an empty list)"""
    substeps: int = 1
    """RK4 sub-steps per log sample"""
    mu_prior_weight: float = 0.1
    """weight of the prior (log(peak mu / vehicle mu))^2 per axle: a few minutes of moderate driving
    cannot identify the peak friction, so it is pulled weakly toward the vehicle file's"""
    mu_box: tuple[float, float] | None = (0.6, 1.5)
    """box (lo, hi) of each axle's peak friction relative to the vehicle's mu, enforced by a steep
    penalty in every loss (None: no box)"""
    loss_norm: str = "step"
    """stage-2 error scale from persistence's RMSE on the training windows: step (per channel and
    horizon step) or channel (per channel)"""
    steer_delay_s: float | None = None
    """delay of the logged steering (s), applied to every model and to persistence; None: fitted by the
    multi-step rollout error within 0..max_steer_delay_s (tire_models.fit.delay); 0: none"""
    max_steer_delay_s: float = 0.4
    """upper bound of the fitted steering delay (s)"""
    max_wheel_slip: float | None = 0.5
    """driven-wheel slip ratio beyond which samples are left out of the fit, where the log has rear
    wheel speeds (w_rl, w_rr): the friction circle cannot represent a wheel spinning far past its
    peak (tire_models.fit.pipeline.prepare); None: keep every sample"""

    def __post_init__(self):
        for name in (self.model, *self.baselines):
            if name not in REGISTRY:
                raise DriftError(f"unknown tyre model {name!r}; choose from {sorted(REGISTRY)}")
        for k in ("minutes", "horizon_s", "eval_horizon_s", "lr"):
            if not getattr(self, k) > 0:
                raise DriftError(f"--{k.replace('_', '-')} must be positive, got {getattr(self, k)}")
        for k, lo in (("batch", 1), ("substeps", 1), ("epochs", 0), ("stage1_iters", 0)):
            if getattr(self, k) < lo:
                raise DriftError(f"--{k.replace('_', '-')} must be >= {lo}, got {getattr(self, k)}")
        if not self.min_speed_mps >= 0:
            raise DriftError(f"--min-speed-mps must be >= 0 m/s, got {self.min_speed_mps}")
        if not self.mu_prior_weight >= 0:
            raise DriftError(f"--mu-prior-weight must be >= 0, got {self.mu_prior_weight}")
        if self.mu_box is not None and not (
            len(self.mu_box) == 2 and 0 < self.mu_box[0] <= 1 <= self.mu_box[1] < math.inf
        ):
            raise DriftError(f"--mu-box must be LO HI with 0 < LO <= 1 <= HI, or None; got {self.mu_box}")
        if self.loss_norm not in ("channel", "step"):
            raise DriftError(f"--loss-norm must be 'channel' or 'step', got {self.loss_norm!r}")
        if self.lr_schedule not in ("cosine", "step", "constant"):
            raise DriftError(f"--lr-schedule must be cosine, step or constant, got {self.lr_schedule!r}")
        if self.steer_delay_s is not None and not 0 <= self.steer_delay_s <= 2.0:
            raise DriftError(f"--steer-delay-s must be None (fitted) or 0..2 s, got {self.steer_delay_s}")
        if not 0 <= self.max_steer_delay_s <= 2.0:
            raise DriftError(f"--max-steer-delay-s must be in 0..2 s, got {self.max_steer_delay_s}")
        if self.max_wheel_slip is not None and not self.max_wheel_slip > 0:
            raise DriftError(f"--max-wheel-slip must be positive (or None), got {self.max_wheel_slip}")
        bad = set(self.sensor_terms) - set(SENSOR_NAMES)
        if bad:
            raise DriftError(f"unknown sensor terms {sorted(bad)}; known: {list(SENSOR_NAMES)}")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @staticmethod
    def from_dict(d: dict) -> FitConfig:
        known = {f.name for f in dataclasses.fields(FitConfig)}
        return FitConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in known})

    @property
    def models(self) -> list[str]:
        """Main model first, then the baselines, without repeats."""
        return list(dict.fromkeys([self.model, *self.baselines]))


# ------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------
@dataclass
class LogArrays:
    """One log prepared for fitting: float64 tensors ``(T,)`` and window bookkeeping.

    ``vx, vy, r`` are as measured (``vy`` at the sensor); ``delta`` is the logged steering
    (rad), ``Fx`` the longitudinal force from the map (N); ``*_dot`` are Savitzky-Golay
    derivatives; ``segment`` the contiguous-segment ids. ``fit_mask`` (bool ``(T,)``, None: all)
    marks the samples the single-track model can represent (see :func:`prepare`); the fit uses only
    those, the evaluation every sample. ``road`` (``(T, 2)`` ``[bank, grade]`` in rad, None: flat)
    enters the model as inputs (:func:`drift.vehicle.road_gravity`); ``notes`` say where it came from.
    ``ay`` (m/s^2, None when not logged): the accelerometer's lateral specific force at the CG.
    """

    t: np.ndarray
    dt: float
    segment: np.ndarray
    vx: torch.Tensor
    vy: torch.Tensor
    r: torch.Tensor
    delta: torch.Tensor
    Fx: torch.Tensor
    vx_dot: torch.Tensor
    vy_dot: torch.Tensor
    r_dot: torch.Tensor
    fit_mask: np.ndarray | None = None
    road: torch.Tensor | None = None
    notes: tuple[str, ...] = ()
    ay: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.t)

    def mask(self) -> np.ndarray:
        """``fit_mask``, all True when there is none."""
        return np.ones(len(self.t), dtype=bool) if self.fit_mask is None else self.fit_mask

    def fit_starts(self, H: int) -> np.ndarray:
        """:meth:`window_starts` whose every sample is in ``fit_mask``: the fit's rollout windows."""
        k = self.window_starts(H)
        if self.fit_mask is None or len(k) == 0:
            return k
        bad = np.concatenate([[0], np.cumsum(~self.fit_mask)])  # invalid samples before each index
        return k[bad[k + H + 1] - bad[k] == 0]

    def meas(self) -> torch.Tensor:
        """``(T, 3)`` measured ``[vx, vy, r]``."""
        return torch.stack([self.vx, self.vy, self.r], -1)

    def window_starts(self, H: int, stride: int = 1) -> np.ndarray:
        """Start indices ``k`` whose window ``k..k+H`` stays in one contiguous segment."""
        n = len(self.t)
        if n <= H:
            return np.zeros(0, dtype=int)
        k = np.arange(0, n - H, stride)
        ok = (self.segment[k] == self.segment[k + H]) & (
            np.abs(self.t[k + H] - self.t[k] - H * self.dt) < 0.5 * self.dt
        )
        return k[ok]


def prepare(
    log, lon_map: LongitudinalMap, dt: float | None = None, max_wheel_slip: float | None = None
) -> LogArrays:
    """Tensors of a :class:`drift.logs.DrivingLog` for fitting and evaluation.

    ``max_wheel_slip``: where the log has the driven (rear) wheel speeds ``w_rl, w_rr`` (m/s), the
    samples whose slip ratio (:func:`drift.vehicle.wheel_plant.rim_slip`, ``w_r`` against ``vx``)
    exceeds it in magnitude are left out of
    ``fit_mask``. A wheel spinning far past its longitudinal peak turns its force along the wheel:
    its lateral force collapses, which the single-track model's friction circle cannot represent
    (measured on the wheel plant's log: with the true lateral curve and ground force, the friction
    circle gives 1.5x the rear lateral force at slip 0.5-1.5 and 4-7x beyond); fitted on such
    samples, the model lowers the friction of both axles to absorb it (issue 12). None: keep all.

    The road's bank and grade come from :func:`~tire_models.fit.forces.road_attitude` (a log's roll
    that cannot be a road's is ignored, with a note in ``notes``).
    """
    for name in ("vx", "vy", "r", "delta"):
        log[name]  # raises DriftError naming the missing signal and the source
    dt = float(dt or log.dt)
    seg = np.asarray(log.segment)
    data = {k: np.asarray(log[k], float) for k in log.data}
    Fx = lon_map.apply(data, seg, dt)
    w_r = rear_wheel_speed(data)
    road, notes = road_attitude(data, seg, dt)
    mask = None
    if max_wheel_slip is not None and w_r is not None:
        mask = np.abs(rim_slip(w_r, data["vx"])) <= max_wheel_slip
    T = lambda x: torch.tensor(np.array(x, dtype=float), dtype=torch.float64)  # noqa: E731
    return LogArrays(
        t=np.asarray(log.t, float),
        dt=dt,
        segment=seg,
        vx=T(data["vx"]),
        vy=T(data["vy"]),
        r=T(data["r"]),
        delta=T(data["delta"]),
        Fx=T(Fx),
        vx_dot=T(smooth_derivative(data["vx"], dt, seg)),
        vy_dot=T(smooth_derivative(data["vy"], dt, seg)),
        r_dot=T(smooth_derivative(data["r"], dt, seg)),
        fit_mask=mask,
        road=None if road is None else T(road),
        notes=tuple(notes),
        ay=T(data["ay"]) if "ay" in data else None,
    )


# ------------------------------------------------------------------------------------------
# the model being fitted
# ------------------------------------------------------------------------------------------
class FitModule(torch.nn.Module):
    """Front and rear tyre modules plus the sensor terms, one ``nn.Module``.

    ``front``/``rear`` are ``TireModel.torch_module()``s; ``sensor`` a :class:`SensorModule`.
    """

    def __init__(self, front: torch.nn.Module, rear: torch.nn.Module, sensor: SensorModule):
        super().__init__()
        self.front, self.rear, self.sensor = front, rear, sensor

    def tires(self) -> AxleTires:
        """Differentiable tyres (with the force offsets)."""
        return self.sensor.tires(AxleTires(self.front.model(), self.rear.model()))

    def rhs(self):
        """``fun(v, u) -> dv/dt`` for ``v = [vx, vy_cg, r]``, ``u = [delta_model, Fx]`` (torch)."""
        p, tires = self.sensor.vehicle(), self.tires()
        return lambda v, u: body_derivatives(v, u, p, tires)

    def model_state(self, meas: torch.Tensor) -> torch.Tensor:
        """Measured ``(..., 3)`` -> CG state ``(..., 3)``."""
        vx, vy, r = meas.unbind(-1)
        return torch.stack([vx, self.sensor.to_cg(vx, vy, r), r], -1)

    def measured(self, v: torch.Tensor) -> torch.Tensor:
        """CG state ``(..., 3)`` -> what the sensor would report ``(..., 3)``."""
        vx, vy, r = v.unbind(-1)
        return torch.stack([vx, self.sensor.to_measured(vx, vy, r), r], -1)

    def inputs(self, a: LogArrays) -> torch.Tensor:
        """``(T, 2)`` model inputs ``[delta_model, Fx]``; ``(T, 4)`` with the road's ``[bank, grade]``."""
        u = torch.stack([self.sensor.steer(a.delta), a.Fx], -1)
        return u if a.road is None else torch.cat([u, a.road], -1)

    def predict(self, a: LogArrays, starts: np.ndarray, H: int, substeps: int = 1) -> torch.Tensor:
        """Open-loop predictions ``(B, H, 3)`` (measurement space) from logged states at ``starts``."""
        meas, U = a.meas(), self.inputs(a)
        idx = torch.as_tensor(starts)[:, None] + torch.arange(H)[None, :]
        v0 = self.model_state(meas[torch.as_tensor(starts)])
        vs = rollout(self.rhs(), v0, U[idx], a.dt, substeps)
        return self.measured(vs)


def targets(a: LogArrays, starts: np.ndarray, H: int) -> torch.Tensor:
    """Logged ``(B, H, 3)`` states after each step of the windows at ``starts``."""
    idx = torch.as_tensor(starts)[:, None] + torch.arange(1, H + 1)[None, :]
    return a.meas()[idx]


def initial_tires(name: str, p: VehicleParams, C_per_rad: float, seed: int) -> AxleTires:
    """Starting tyres from ``cls.initial_guess`` at the static axle loads."""
    cls = REGISTRY[name]
    Fzf, Fzr = axle_loads(0.0, 0.0, p)  # static loads: standstill, no force demand
    return AxleTires(
        cls.initial_guess(Fzf, mu=p.mu, C_per_rad=C_per_rad, seed=seed),
        cls.initial_guess(Fzr, mu=p.mu, C_per_rad=C_per_rad, seed=seed + 1),
    )


# ------------------------------------------------------------------------------------------
# stages
# ------------------------------------------------------------------------------------------
def force_samples(mod: FitModule, a: LogArrays) -> dict[str, np.ndarray]:
    """Axle-force samples for the current sensor terms (see :func:`estimate_axle_forces`)."""
    with torch.no_grad():
        v = mod.model_state(a.meas())
        s = mod.sensor.values()
        vy_dot_cg = a.vy_dot - s["x_s_m"] * a.r_dot - s["vy_offset_per_vx"] * a.vx_dot
        v_dot = torch.stack([a.vx_dot, vy_dot_cg, a.r_dot], -1)
        p = mod.sensor.vehicle()
        p = p.replace(Iz=float(p.Iz))
        out = estimate_axle_forces(v.numpy(), v_dot.numpy(), mod.inputs(a).numpy(), p)
        out["Fyf"] = out["Fyf"] - float(s["Fyf_offset_N"])
        out["Fyr"] = out["Fyr"] - float(s["Fyr_offset_N"])
    return out


def straight_line_vy_offset(
    a: LogArrays, r_max_radps: float = 0.02, min_samples: int = 50, max_bank_rad: float = 0.01
) -> tuple[float, float] | None:
    """Sideslip offsets ``(k, b)`` from straight driving: ``vy ~ k vx + b`` where ``|r|`` is small
    (and the road's bank below ``max_bank_rad``, where the log has one).

    On a straight the CG sideslip of a single-track model is ~0 (no lateral force is needed), so
    what the sensor reports there is its misalignment and bias (issue 2: ``vy`` offset about
    0.006-0.011 ``vx`` on the IAC log). Least squares; None when fewer than ``min_samples``
    straight samples exist or they span too little speed to separate ``k`` from ``b``.
    """
    vx, vy, r = a.vx.numpy(), a.vy.numpy(), a.r.numpy()
    s = np.abs(r) < r_max_radps
    if a.road is not None:  # on a banked straight the tyres hold the car against gravity: a true sideslip
        s &= np.abs(a.road[:, 0].numpy()) < max_bank_rad
    if s.sum() < min_samples:
        return None
    if np.std(vx[s]) < 1.0:
        return float(np.sum(vy[s] * vx[s]) / np.sum(vx[s] ** 2)), 0.0
    k, b = np.polyfit(vx[s], vy[s], 1)
    return float(k), float(b)


def lever_arm_scan(mod: FitModule, a: LogArrays, step_m: float = 0.05) -> float:
    """Lever arm (m) that best explains the force samples with a linear tyre on each axle.

    For each ``x_s`` on a grid over its box, the axle forces are estimated and a linear
    ``Fy/Fz = C alpha`` is fitted per axle; the ``x_s`` with the highest summed ``R^2`` wins
    (issue 2: on the IAC log, ~0.75-1 m ahead of the CG). Starts stage 1 in the right basin.
    """
    lo, hi = mod.sensor.bounds["x_s_m"]
    grid = np.arange(lo, hi + 1e-9, step_m)
    keep = float(torch.as_tensor(mod.sensor.values()["x_s_m"]).detach())
    best, best_x = -np.inf, keep
    for xs in grid:
        mod.sensor.set_value("x_s_m", float(xs))
        sm = force_samples(mod, a)
        score = 0.0
        for ax in ("f", "r"):
            al, F = sm[f"alpha_{ax}"], sm[f"Fy{ax}"] / sm[f"Fz{ax}"]
            C = float(np.sum(al * F) / max(np.sum(al * al), 1e-12))
            score += (1.0 - np.var(F - C * al) / max(np.var(F), 1e-12)) if C > 0 else -1.0
        if score > best:
            best, best_x = score, float(xs)
    mod.sensor.set_value("x_s_m", keep)
    return best_x


def kinematic_lever_arm(a: LogArrays, p: VehicleParams, min_samples: int = 200) -> float | None:
    """Lever arm ``x_s`` (m) of the velocity sensor from kinematics alone, where the log has ``ay``.

    A rigid body's lateral acceleration at the CG is ``dvy_cg/dt + vx r - gy``, what an accelerometer
    there reports (``gy``: gravity in the road plane, :func:`drift.vehicle.road_gravity`). With
    ``vy_meas = vy_cg + x_s r + k vx + b`` (:mod:`tire_models.fit.sensor`):
    ``dvy_meas/dt + vx r - gy - ay = x_s dr/dt + k dvx/dt``, a least-squares line through the log that
    needs no tyre model. On a flat road at moderate slip the tyre-based estimates trade ``x_s``
    against the rear cornering stiffness (simulated recordings, lever arm 0.3 m: the scan gives
    0.8-1.1 m, the full fit 0.45 m; this estimate 0.26 m). Noise in ``dr/dt`` biases it slightly low.
    None: no ``ay``, or fewer than ``min_samples`` samples.
    """
    if a.ay is None or len(a) < min_samples:
        return None
    y = a.vy_dot + a.vx * a.r - a.ay
    if a.road is not None:
        y = y - road_gravity(a.vx, a.r, a.road[:, 0], a.road[:, 1], p)[1]
    X = torch.stack([a.r_dot, a.vx_dot, torch.ones_like(a.r_dot)], -1)
    coef = torch.linalg.lstsq(X, y[:, None]).solution[:, 0]
    return float(coef[0])


#: weight of the squared log-excess of a peak friction outside ``FitConfig.mu_box``
MU_BOX_WEIGHT = 100.0


def mu_prior(
    mod: FitModule, mu_ref: float, weight: float, box: tuple[float, float] | None = None
) -> torch.Tensor:
    """Friction prior and box penalty (dimensionless), summed over both axles.

    ``weight log(mu / mu_ref)^2 + MU_BOX_WEIGHT (relu(log(lo mu_ref / mu))^2
    + relu(log(mu / (hi mu_ref)))^2)`` with ``mu`` the axle's peak friction and ``box = (lo, hi)``
    relative to ``mu_ref`` (None: no box). The box term is zero inside the box.
    """
    out = torch.zeros((), dtype=torch.float64)
    if weight <= 0 and box is None:
        return out
    for m in (mod.front, mod.rear):
        mu = torch.as_tensor(m.model().peak_mu, dtype=torch.float64)
        if weight > 0:
            out = out + weight * torch.log(mu / mu_ref) ** 2
        if box is not None:
            lo, hi = box
            out = out + MU_BOX_WEIGHT * (
                torch.relu(torch.log(lo * mu_ref / mu)) ** 2 + torch.relu(torch.log(mu / (hi * mu_ref))) ** 2
            )
    return out


def _lbfgs(mod: torch.nn.Module, params, closure, loss_fn, iters: int) -> None:
    """LBFGS on ``params``; ``mod`` goes back to where it started unless ``loss_fn()`` improved.

    A diverged line search (NaN or larger loss) must not spoil the start of the next stage.
    """
    if iters <= 0 or not params:
        return
    before = {k: v.clone() for k, v in mod.state_dict().items()}
    with torch.no_grad():
        l0 = float(loss_fn())
    opt = torch.optim.LBFGS(params, lr=1.0, max_iter=iters, history_size=20, line_search_fn="strong_wolfe")
    opt.step(closure)
    with torch.no_grad():
        l1 = float(loss_fn())
    if not l1 <= l0:
        mod.load_state_dict(before)


def equation_error(mod: FitModule, a: LogArrays, keep: np.ndarray | None = None) -> torch.Tensor:
    """Mean squared error of the model's ``[vy_dot, r_dot]`` against the measured ones over the
    samples ``keep`` (bool ``(T,)``, None: all), each scaled by its spread. The lateral equation in
    ``ay = dvy/dt + vx r`` units (``dvy/dt`` alone is a small difference of large terms)."""
    meas, vdot_std = a.meas(), torch.stack([(a.vy_dot + a.vx * a.r).std(), a.r_dot.std()])
    v = mod.model_state(meas)
    s = mod.sensor.values()
    vy_dot_cg = a.vy_dot - s["x_s_m"] * a.r_dot - s["vy_offset_per_vx"] * a.vx_dot
    pred = mod.rhs()(v, mod.inputs(a))[..., 1:]
    e = (pred - torch.stack([vy_dot_cg, a.r_dot], -1)) / vdot_std
    if keep is not None:
        e = e[torch.as_tensor(keep)]
    return (e * e).mean()


#: sensor terms that belong to a recording (mounting, steering channel), not to the car and tyres
RECORDING_TERMS = ("x_s_m", "delta_offset_rad", "delta_scale", "vy_offset_per_vx", "vy_bias_mps")


def calibrate_recording(
    res: FitResult, p: VehicleParams, a: LogArrays, delays=(0,), horizon_s: float = 1.0, iters: int = 60
) -> tuple[SensorTerms, int, dict[str, float]]:
    """The recording's own terms for a fitted model, its tyres (and ``Iz``, force offsets) frozen:
    :data:`RECORDING_TERMS` by the equation error (:func:`equation_error`, LBFGS, from the fit's values,
    the straight-line sideslip offsets of ``a`` and its kinematic lever arm where it has ``ay``,
    :func:`kinematic_lever_arm`), for every steering delay in ``delays``
    (samples); the delay whose calibrated model has the lowest ``horizon_s`` rollout error on ``a``
    wins.

    Args:
        res: the fitted model. p: nominal vehicle. a: the recording's calibration part (never scored).
    Returns:
        ``(terms, delay_samples, {"<k>": rollout score})``.
    """
    from tire_models.fit.delay import delay_steering, rollout_score

    H = max(1, int(round(horizon_s / a.dt)))
    kb, x_s = straight_line_vy_offset(a), kinematic_lever_arm(a, p)
    best = None
    scores: dict[str, float] = {}
    for k in delays:
        ak = delay_steering(a, k)
        mod = FitModule(
            res.tires.front.torch_module(),
            res.tires.rear.torch_module(),
            SensorModule(p, fit=RECORDING_TERMS, init=res.sensor),
        )
        for q in [*mod.front.parameters(), *mod.rear.parameters()]:
            q.requires_grad_(False)
        if kb is not None:
            mod.sensor.set_value("vy_offset_per_vx", kb[0])
            mod.sensor.set_value("vy_bias_mps", kb[1])
        if x_s is not None:
            mod.sensor.set_value("x_s_m", x_s)
        params = list(mod.sensor.parameters())

        def closure(mod=mod, ak=ak, params=params):
            _zero(params)
            loss = equation_error(mod, ak)
            loss.backward()
            return loss

        _lbfgs(mod, params, closure, lambda mod=mod, ak=ak: equation_error(mod, ak), iters)
        scores[str(k)] = rollout_score(mod, ak, H)
        if best is None or scores[str(k)] < best[0]:
            best = (scores[str(k)], k, mod.sensor.freeze())
    return best[2], best[1], scores


def stage1(
    mod: FitModule,
    a: LogArrays,
    iters: int,
    mu_ref: float = 1.0,
    mu_weight: float = 0.0,
    mu_box: tuple[float, float] | None = None,
) -> dict[str, float]:
    """Stage 1a (force regression) and 1b (joint equation error with sensor terms).

    Returns the final normalised losses.
    """
    kb = straight_line_vy_offset(a)
    if kb is not None:
        for name, v in zip(("vy_offset_per_vx", "vy_bias_mps"), kb, strict=True):
            if name in mod.sensor.fit_names:
                mod.sensor.set_value(name, v)
    if "x_s_m" in mod.sensor.fit_names:
        x_s = kinematic_lever_arm(a, mod.sensor.p)
        mod.sensor.set_value("x_s_m", lever_arm_scan(mod, a) if x_s is None else x_s)
    keep = a.mask()
    sm = force_samples(mod, a)
    S = {k: torch.as_tensor(v[keep]) for k, v in sm.items()}
    tire_params = [*mod.front.parameters(), *mod.rear.parameters()]

    def loss_a():
        t = AxleTires(mod.front.model(), mod.rear.model())
        ef = (t.front.combined_force(S["alpha_f"], S["Fzf"], S["Fxf"]) - S["Fyf"]) / S["Fzf"]
        er = (t.rear.combined_force(S["alpha_r"], S["Fzr"], S["Fxr"]) - S["Fyr"]) / S["Fzr"]
        return (ef * ef).mean() + (er * er).mean() + mu_prior(mod, mu_ref, mu_weight, mu_box) * 0.01

    def closure_a():
        _zero(tire_params)
        loss = loss_a()
        loss.backward()
        return loss

    _lbfgs(mod, tire_params, closure_a, loss_a, iters)

    def loss_b():
        return equation_error(mod, a, keep) + mu_prior(mod, mu_ref, mu_weight, mu_box)

    params = list(mod.parameters())

    def closure_b():
        _zero(params)
        loss = loss_b()
        loss.backward()
        return loss

    _lbfgs(mod, params, closure_b, loss_b, iters)
    with torch.no_grad():
        return {"stage1a_force_loss": float(loss_a()), "stage1b_equation_loss": float(loss_b())}


def _zero(params):
    for q in params:
        q.grad = None


def _scheduler(opt, cfg: FitConfig, total: int):
    if cfg.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(total, 1), eta_min=0.05 * cfg.lr)
    if cfg.lr_schedule == "step":
        return torch.optim.lr_scheduler.MultiStepLR(opt, [int(0.5 * total), int(0.8 * total)], gamma=0.3)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)


# ------------------------------------------------------------------------------------------
# one model
# ------------------------------------------------------------------------------------------
@dataclass
class FitResult:
    """A fitted model: frozen tyres, sensor terms and what the fit learned about itself."""

    model: str
    tires: AxleTires
    sensor: SensorTerms
    at_bounds: list[str]
    fit_s: float
    history: dict[str, Any] = field(default_factory=dict)

    def module(self, p: VehicleParams) -> FitModule:
        """A (non-trainable) :class:`FitModule` evaluating this result."""
        mod = FitModule(
            self.tires.front.torch_module(),
            self.tires.rear.torch_module(),
            SensorModule(p, fit=(), init=self.sensor),
        )
        return mod


@torch.no_grad()
def _bounds_hit(mod: FitModule, mu_lim: tuple[float, float] | None = None) -> list[str]:
    """Terms at a box edge; ``mu_lim``: absolute peak-friction box (``axle.peak_mu`` within 1 %)."""
    out = [f"sensor.{n}" for n in mod.sensor.at_bounds()]
    for axle in ("front", "rear"):
        m = getattr(mod, axle)
        if hasattr(m, "at_bounds"):
            out += [f"{axle}.{n}" for n in m.at_bounds()]
        if mu_lim is not None:
            mu = float(torch.as_tensor(m.model().peak_mu))
            if mu <= mu_lim[0] * 1.01 or mu >= mu_lim[1] * 0.99:
                out.append(f"{axle}.peak_mu")
    return out


def fit_one(
    name: str,
    train: LogArrays,
    p: VehicleParams,
    cfg: FitConfig,
    ckpt: Path | None = None,
    progress=None,
    stop_after_epoch: int | None = None,
) -> FitResult:
    """Fit one tyre model (both axles) and the sensor terms on ``train``.

    Args:
        name: registry name of the tyre model.
        train: prepared training data.
        p: nominal vehicle parameters.
        cfg: options (horizon, batch, lr, epochs, seed, ...).
        ckpt: checkpoint file; when it exists the fit continues from it.
        progress: ``callable(n)`` advancing a progress bar by ``n`` stage-2 steps, or None.
        stop_after_epoch: stop (checkpoint written) after this stage-2 epoch; for tests of resume.
    Raises:
        FitInterrupted: when ``stop_after_epoch`` stopped the fit.
    """
    torch.manual_seed(cfg.seed)
    H = max(1, int(round(cfg.horizon_s / train.dt)))
    starts = train.fit_starts(H)
    if len(starts) == 0:
        raise DriftError(
            f"training data too short for a {cfg.horizon_s} s rollout horizon; use more --minutes "
            "or a shorter --horizon-s"
        )
    steps_per_epoch = math.ceil(len(starts) / cfg.batch)
    total = steps_per_epoch * cfg.epochs

    # initial model: stiffness guess from small-slip force samples at nominal sensor terms
    sensor = SensorModule(p, fit=cfg.sensor_terms)
    probe = FitModule(torch.nn.Module(), torch.nn.Module(), sensor)
    sm = force_samples(probe, train)
    C0 = []
    for ax in ("f", "r"):
        al, F = sm[f"alpha_{ax}"], sm[f"Fy{ax}"] / sm[f"Fz{ax}"]
        small = np.abs(al) < 0.03
        C0.append(
            float(np.sum(al[small] * F[small]) / max(np.sum(al[small] ** 2), 1e-12))
            if small.sum() > 10
            else 10.0
        )
    C_guess = float(np.clip(np.mean(C0), 2.0, 40.0))
    init = initial_tires(name, p, C_guess, cfg.seed)
    mod = FitModule(init.front.torch_module(), init.rear.torch_module(), sensor)
    opt = torch.optim.Adam(mod.parameters(), lr=cfg.lr)
    sched = _scheduler(opt, cfg, total)
    history: dict[str, Any] = {"C_guess_per_rad": C_guess, "stage2_loss": []}
    epoch0, elapsed = 0, 0.0
    if ckpt is not None and ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        mod.load_state_dict(state["module"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        history, epoch0, elapsed = state["history"], state["epoch"], state["elapsed_s"]
    t0 = time.perf_counter()

    def save(epoch):
        if ckpt is not None:
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            tmp = ckpt.with_suffix(".tmp")
            torch.save(
                {
                    "module": mod.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "history": history,
                    "epoch": epoch,
                    "elapsed_s": elapsed + time.perf_counter() - t0,
                    "model": name,
                },
                tmp,
            )
            tmp.replace(ckpt)

    if "stage1" not in history:
        history["stage1"] = stage1(mod, train, cfg.stage1_iters, p.mu, cfg.mu_prior_weight, cfg.mu_box)
        opt = torch.optim.Adam(mod.parameters(), lr=cfg.lr)  # fresh moments after stage 1
        sched = _scheduler(opt, cfg, total)
        save(0)

    # stage 2: rollout loss, normalised per channel by persistence's error on the training windows
    meas = train.meas()
    tg_all = targets(train, starts, H)
    dims = (0, 1) if cfg.loss_norm == "channel" else (0,)
    scale = (tg_all - meas[torch.as_tensor(starts)][:, None, :]).pow(2).mean(dim=dims).sqrt().clamp_min(1e-6)
    for epoch in range(epoch0, cfg.epochs):
        g = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        perm = torch.randperm(len(starts), generator=g).numpy()
        tot = 0.0
        for b in range(steps_per_epoch):
            sel = starts[perm[b * cfg.batch : (b + 1) * cfg.batch]]
            opt.zero_grad()
            pred = mod.predict(train, sel, H, cfg.substeps)
            e = (pred - targets(train, sel, H)) / scale
            loss = (e * e).mean() + mu_prior(mod, p.mu, cfg.mu_prior_weight, cfg.mu_box)
            if not torch.isfinite(loss):
                raise DriftError(
                    f"{name}: rollout loss became {float(loss)}; try a smaller --lr or --horizon-s"
                )
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss.detach())
            if progress is not None:
                progress(1)
        history["stage2_loss"].append(tot / steps_per_epoch)
        save(epoch + 1)
        if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch and epoch + 1 < cfg.epochs:
            raise FitInterrupted(f"{name}: stopped after epoch {epoch + 1}")
    fit_s = elapsed + time.perf_counter() - t0
    with torch.no_grad():
        tires = AxleTires(mod.front.freeze(), mod.rear.freeze())
        sensor = mod.sensor.freeze()
    mu_lim = None if cfg.mu_box is None else (cfg.mu_box[0] * p.mu, cfg.mu_box[1] * p.mu)
    return FitResult(name, tires, sensor, _bounds_hit(mod, mu_lim), fit_s, history)


class FitInterrupted(Exception):
    """A fit stopped on request after writing its checkpoint (resume it with ``resume=True``)."""


def save_config(cfg: FitConfig, run_dir: Path, extra: dict | None = None) -> None:
    """Write ``run_dir/fit_config.json``: the options of ``cfg`` plus ``extra`` (e.g. the log path)."""
    (run_dir / "fit_config.json").write_text(json.dumps({**cfg.to_dict(), **(extra or {})}, indent=2) + "\n")


def load_config(run_dir: Path) -> tuple[FitConfig, dict]:
    """Read back :func:`save_config`: ``(FitConfig, the whole saved dict)``.

    Raises:
        DriftError: no ``fit_config.json`` in ``run_dir``.
    """
    path = Path(run_dir) / "fit_config.json"
    if not path.exists():
        raise DriftError(
            f"--resume {run_dir}: no fit_config.json there; pass the run folder of an earlier drift fit"
        )
    d = json.loads(path.read_text())
    return FitConfig.from_dict(d), d
