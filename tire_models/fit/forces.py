"""From a driving log to model inputs and axle-force samples.

* :func:`smooth_derivative`: Savitzky-Golay derivative per contiguous segment.
* :class:`LongitudinalMap`: throttle / brake pressure -> the model's longitudinal force ``Fx``
  (N), fitted by least squares on the measured longitudinal acceleration.
* :func:`road_attitude`: the road's bank and grade from a log, where it has trustworthy ones.
* :func:`estimate_axle_forces`: front / rear lateral axle forces that reproduce the measured
  ``dvy/dt`` and ``dr/dt`` through :func:`drift.vehicle.body_derivatives` (DESIGN.md §3).

The single-track equations are never written here: the estimates invert
:func:`drift.vehicle.body_derivatives`, which is affine in the two lateral axle forces.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import lsq_linear
from scipy.signal import savgol_filter

from drift.errors import DriftError
from drift.vehicle import (
    AxleForces,
    axle_loads,
    body_derivatives,
    longitudinal_split,
    road_gravity,
    slip_angles,
)
from drift.vehicle.params import VehicleParams


def smooth_derivative(
    x: np.ndarray, dt: float, segment: np.ndarray, window_s: float = 0.36, polyorder: int = 2
) -> np.ndarray:
    """Time derivative of ``x (T,)`` by a Savitzky-Golay filter, separately on each segment.

    Args:
        x: samples (any unit u), shape ``(T,)``.
        dt: sample time (s).
        segment: ``(T,)`` contiguous-segment ids (derivatives never cross a gap).
        window_s: filter window (s); shortened on short segments.
        polyorder: polynomial order.
    Returns:
        ``(T,)`` derivative in u/s. Segments shorter than ``polyorder + 2`` samples get
        a finite difference.
    Source: Savitzky & Golay, Anal. Chem. 36 (1964); :func:`scipy.signal.savgol_filter`.
    """
    out = np.zeros_like(x, dtype=float)
    for s in np.unique(segment):
        idx = np.flatnonzero(segment == s)
        n = len(idx)
        w = int(round(window_s / dt)) | 1
        w = min(w, n if n % 2 else n - 1)
        if w <= polyorder + 1:
            out[idx] = np.gradient(x[idx], dt) if n > 1 else 0.0
        else:
            out[idx] = savgol_filter(x[idx], w, polyorder, deriv=1, delta=dt, mode="interp")
    return out


def smooth(x: np.ndarray, dt: float, segment: np.ndarray, window_s: float = 0.36, polyorder: int = 2):
    """Savitzky-Golay smoothing of ``x (T,)`` per segment (same arguments as :func:`smooth_derivative`)."""
    out = np.array(x, dtype=float)
    for s in np.unique(segment):
        idx = np.flatnonzero(segment == s)
        n = len(idx)
        w = min(int(round(window_s / dt)) | 1, n if n % 2 else n - 1)
        if w > polyorder + 1:
            out[idx] = savgol_filter(x[idx], w, polyorder, mode="interp")
    return out


def _shift(x: np.ndarray, k: int, segment: np.ndarray) -> np.ndarray:
    """``x`` delayed by ``k`` samples inside each segment (the first ``k`` samples repeat)."""
    if k == 0:
        return x.copy()
    out = x.copy()
    for s in np.unique(segment):
        idx = np.flatnonzero(segment == s)
        xs = x[idx]
        out[idx] = np.concatenate([np.full(min(k, len(xs)), xs[0]), xs[: max(len(xs) - k, 0)]])
    return out


@dataclass(frozen=True)
class LongitudinalMap:
    """``Fx = c_throttle throttle min(1, v_hi / vx) + c_brake brake_Pa + c_1``, inputs delayed by ``delay_s``.

    Features (their names are the keys of ``coef_N``): ``throttle`` (N per unit pedal), ``brake_Pa``
    (N/Pa) and ``1`` (N, absorbs the mean error of the vehicle file's drag and rolling resistance);
    the drive coefficient is kept >= 0 and the brake's <= 0 (bounded least squares). Physically
    shaped where it extrapolates: within the speeds it was fitted at the pedal sets the force (as an
    engine's torque does in a gear); above the highest, ``v_hi`` (``vx_range_mps[1]``), the drive
    keeps the power it had there, ``c_throttle throttle v_hi / vx``, as a power-limited drivetrain
    does, instead of holding the force (a power growing with speed). Measured on the IAC log,
    fitted on the first 3 min (8-14 m/s), scored on the rest (8-27 m/s): R^2 0.81 and a mean error
    above 20 m/s of -447 N, against 0.54 and +584 N with the force held (docs/fitting.md). Richer
    maps (speed products, squares) extrapolate badly. A log with an ``Fx`` column uses it directly
    (``kind="logged"``).

    Attributes:
        kind: ``"logged"`` (log has ``Fx``) or ``"throttle_brake"``.
        coef_N: coefficients by feature name (units: N per feature unit).
        delay_s: input delay (s) chosen by the fit.
        r2: coefficient of determination of the fit on the training data.
        vx_range_mps: ``(lo, hi)`` speeds (m/s, 1st and 99th percentile) the map was fitted on; None
            when unknown (logged, or saved by an older version: then the force is never limited).
    """

    kind: str = "logged"
    coef_N: dict = field(default_factory=dict)
    delay_s: float = 0.0
    r2: float = float("nan")
    vx_range_mps: tuple[float, float] | None = None

    FEATURES = ("throttle", "brake_Pa", "1")

    @staticmethod
    def features(data: dict, segment: np.ndarray, delay_steps: int, v_hi: float | None = None) -> np.ndarray:
        """Feature matrix ``(T, 3)`` from arrays ``vx`` and ``throttle`` and/or ``brake_Pa``; the pedal
        scaled by ``min(1, v_hi / vx)`` (``v_hi`` in m/s, None: not scaled)."""
        vx = np.asarray(data["vx"], float)
        thr = _shift(np.asarray(data.get("throttle", np.zeros_like(vx)), float), delay_steps, segment)
        brk = _shift(np.asarray(data.get("brake_Pa", np.zeros_like(vx)), float), delay_steps, segment)
        if v_hi is not None:
            thr = thr * np.minimum(1.0, v_hi / np.maximum(vx, 1e-3))
        return np.stack([thr, brk, np.ones_like(vx)], axis=-1)

    def needs(self) -> list[str]:
        """Log signals this map reads (``Fx`` for a logged map)."""
        if self.kind == "logged":
            return ["Fx"]
        return [k for k in ("throttle", "brake_Pa") if self.coef_N.get(k, 0.0) != 0.0]

    def apply(self, data: dict, segment: np.ndarray, dt: float) -> np.ndarray:
        """Longitudinal force ``Fx (T,)`` in N for the arrays in ``data``."""
        if self.kind == "logged":
            return np.asarray(data["Fx"], float)
        v_hi = None if self.vx_range_mps is None else self.vx_range_mps[1]
        X = self.features(data, segment, int(round(self.delay_s / dt)), v_hi)
        return X @ np.array([self.coef_N.get(k, 0.0) for k in self.FEATURES])

    def to_dict(self) -> dict:
        out = {
            "kind": self.kind,
            "coef_N": {k: float(v) for k, v in self.coef_N.items()},
            "delay_s": float(self.delay_s),
            "r2": float(self.r2),
        }
        if self.vx_range_mps is not None:
            out["vx_range_mps"] = [float(v) for v in self.vx_range_mps]
        return out

    @staticmethod
    def from_dict(d: dict) -> LongitudinalMap:
        rng = d.get("vx_range_mps")
        return LongitudinalMap(
            d["kind"],
            dict(d.get("coef_N", {})),
            float(d.get("delay_s", 0.0)),
            float(d.get("r2", float("nan"))),
            None if rng is None else (float(rng[0]), float(rng[1])),
        )


#: a road attitude channel is used only if 99 % of it lies within this (rad): 34 deg, the steepest
#: banking of racing ovals
ROAD_MAX_RAD = 0.6
#: ... and its median rate of change stays below this (rad/s): roads tilt slowly
ROAD_MAX_MEDIAN_RATE_RADPS = 0.2


def road_attitude(data: dict, segment: np.ndarray, dt: float) -> tuple[np.ndarray | None, list[str]]:
    """The road's ``[bank, grade]`` (rad, ``(T, 2)``) under the car, or None for a flat road.

    ``bank`` comes from a ``bank`` signal, else from the body ``roll``; ``grade`` from ``grade``, else
    from ``-pitch`` (ISO 8855 signs, :data:`drift.logs.units.STANDARD_SIGNALS`). Body attitude is the
    road's plus the suspension's (a degree or two per g), so it is smoothed like the derivatives
    (:func:`smooth`). A channel that is not plausible as a road's attitude (beyond
    :data:`ROAD_MAX_RAD` or changing faster than :data:`ROAD_MAX_MEDIAN_RATE_RADPS` in the median;
    e.g. an unwrapped or differently referenced angle) is ignored, with a note.

    Args:
        data: ``(T,)`` arrays by standard name (rad). segment: ``(T,)`` segment ids. dt: sample time (s).
    Returns:
        ``(road, notes)``: the road (None when neither channel is usable) and one line per channel.
    Source: ISO 8855:2011 (angles); the limits are this module's choice, stated above.
    """
    cols, notes = [], []
    channels = {"bank": ("bank", "roll", 1.0), "grade": ("grade", "pitch", -1.0)}
    for name, (direct, body, sign) in channels.items():
        src = direct if direct in data else body if body in data else None
        if src is None:
            cols.append(None)
            continue
        x = sign * np.asarray(data[src], float) if src == body else np.asarray(data[src], float)
        span = float(np.percentile(np.abs(x), 99))
        rate = float(np.median(np.abs(np.diff(x)))) / dt if len(x) > 1 else 0.0
        if span > ROAD_MAX_RAD or rate > ROAD_MAX_MEDIAN_RATE_RADPS:
            notes.append(
                f"road {name}: '{src}' ignored, not plausible as a road's attitude (99 % within "
                f"{span:.2f} rad, median rate {rate:.2f} rad/s; limits {ROAD_MAX_RAD} rad, "
                f"{ROAD_MAX_MEDIAN_RATE_RADPS} rad/s): a flat road is assumed"
            )
            cols.append(None)
            continue
        cols.append(smooth(x, dt, segment))
        notes.append(f"road {name} from '{src}' (mean |{name}| {np.degrees(np.mean(np.abs(x))):.1f} deg)")
    if cols[0] is None and cols[1] is None:
        return None, notes
    n = len(next(c for c in cols if c is not None))
    return np.stack([c if c is not None else np.zeros(n) for c in cols], -1), notes


def rear_wheel_speed(data: dict) -> np.ndarray | None:
    """Mean of the logged rear wheel speeds ``w_rl, w_rr`` (m/s), or None when the log has neither."""
    ws = [np.asarray(data[k], float) for k in ("w_rl", "w_rr") if k in data]
    return np.mean(ws, axis=0) if ws else None


def fit_longitudinal_map(
    data: dict,
    segment: np.ndarray,
    dt: float,
    p: VehicleParams,
    max_delay_s: float = 0.4,
    source: str = "log",
) -> LongitudinalMap:
    """Fit :class:`LongitudinalMap` on ``data`` (dict of ``(T,)`` arrays, standard names).

    Target: the force the model needs to reproduce the measured speed change,
    ``Fx = m (dvx/dt - vy r - gx) + c_drag vx^2 + c_roll m g`` (from :func:`body_derivatives` with
    zero lateral forces, gravity on the road of :func:`road_attitude`), where ``dvx/dt`` is a
    Savitzky-Golay derivative of ``vx``.
    Bounded least squares over the features (drive >= 0, brake <= 0; :func:`scipy.optimize.lsq_linear`),
    for each delay in ``0..max_delay_s``; the best ``R^2`` wins. The map keeps the speeds it saw
    (1st and 99th percentile) and limits the drive to constant power above them.

    Raises:
        DriftError: the log has neither ``Fx`` nor ``throttle``/``brake_Pa``.
    """
    if "Fx" in data:
        return LongitudinalMap("logged")
    if "throttle" not in data and "brake_Pa" not in data:
        raise DriftError(
            f"{source}: needs a longitudinal input to fit: an 'Fx' (N) signal, or 'throttle' (0..1) "
            "and/or 'brake_Pa'; map the column in --column-map"
        )
    vx, vy, r = (np.asarray(data[k], float) for k in ("vx", "vy", "r"))
    vx_dot = smooth_derivative(vx, dt, segment)
    # force needed with no lateral force: invert body_derivatives' vx row (affine in Fx)
    zero = np.zeros_like(vx)
    f0 = AxleForces(zero, zero, zero, zero, zero, zero, zero, zero)
    road, _ = road_attitude(data, segment, dt)
    u0 = np.stack([zero, zero], -1) if road is None else np.column_stack([zero, zero, road])
    a0 = body_derivatives(np.stack([vx, vy, r], -1), u0, p, None, forces=f0)[..., 0]
    target = p.m * (vx_dot - a0)  # Fx*(1 for drive) ~ m*(vx_dot - a0); brake split stays affine with cos(0)=1
    # drive coefficient >= 0, brake <= 0, the constant free; within the fitted speeds v_hi never binds
    lo, hi = np.array([0.0, -np.inf, -np.inf]), np.array([np.inf, 0.0, np.inf])
    best = None
    for k in range(int(round(max_delay_s / dt)) + 1):
        X = LongitudinalMap.features(data, segment, k)
        keep = np.std(X, axis=0) > 0
        keep[-1] = True
        coef = np.zeros(X.shape[1])
        col = np.abs(X[:, keep]).max(axis=0)  # scaled columns: Pa and pedal units differ by 1e6
        sol = lsq_linear(X[:, keep] / col, target, bounds=(lo[keep] * col, hi[keep] * col)).x  # N
        coef[keep] = np.where(np.abs(sol) < 1e-6, 0.0, sol) / col  # a term at its bound is exactly off
        res = target - X @ coef
        r2 = 1.0 - res.var() / max(target.var(), 1e-12)
        if best is None or r2 > best[0]:
            best = (r2, k, coef)
    r2, k, coef = best
    return LongitudinalMap(
        "throttle_brake",
        dict(zip(LongitudinalMap.FEATURES, coef.tolist(), strict=True)),
        k * dt,
        float(r2),
        (float(np.percentile(vx, 1)), float(np.percentile(vx, 99))),
    )


def estimate_axle_forces(v, v_dot, u, p: VehicleParams):
    """Lateral axle forces that make the model reproduce the measured ``dvy/dt`` and ``dr/dt``.

    Args:
        v: ``(T, 3)`` body velocities ``[vx, vy, r]`` at the CG (m/s, m/s, rad/s).
        v_dot: ``(T, 3)`` their measured time derivatives.
        u: ``(T, 2)`` inputs ``[delta, Fx]`` (rad, N), or ``(T, 4)`` with the road's ``[bank, grade]``.
        p: vehicle parameters.
    Returns:
        dict of ``(T,)`` arrays: ``Fyf, Fyr`` (N, tyre frame), ``alpha_f, alpha_r`` (rad),
        ``Fzf, Fzr`` (N), ``Fxf, Fxr`` (N).

    :func:`body_derivatives` is affine in ``(Fyf, Fyr)``; it is evaluated at three force pairs
    and the 2x2 system ``[vy_dot, r_dot] = A [Fyf, Fyr] + b`` is solved sample by sample
    (with ``ay = dvy/dt + vx r`` this is the usual axle-force estimate, Rajamani Sec. 2.3).
    """
    v = np.asarray(v, float)
    u = np.asarray(u, float)
    vx, vy, r = v[..., 0], v[..., 1], v[..., 2]
    delta, Fx = u[..., 0], u[..., 1]
    alpha_f, alpha_r = slip_angles(vx, vy, r, delta, p)
    gn = road_gravity(vx, r, u[..., 2], u[..., 3], p)[2] if u.shape[-1] >= 4 else None
    Fzf, Fzr = axle_loads(vx, Fx, p, gn)
    Fxf, Fxr = longitudinal_split(Fx, p)

    def d(Fyf, Fyr):
        f = AxleForces(alpha_f, alpha_r, Fzf, Fzr, Fxf, Fxr, Fyf + 0 * vx, Fyr + 0 * vx)
        return body_derivatives(v, u, p, None, forces=f)[..., 1:]

    b = d(0.0, 0.0)
    scale = p.m * p.g
    A = np.stack([(d(scale, 0.0) - b) / scale, (d(0.0, scale) - b) / scale], axis=-1)  # (T, 2, 2)
    F = np.linalg.solve(A, (np.asarray(v_dot, float)[..., 1:] - b)[..., None])[..., 0]
    return {
        "Fyf": F[..., 0],
        "Fyr": F[..., 1],
        "alpha_f": alpha_f,
        "alpha_r": alpha_r,
        "Fzf": Fzf,
        "Fzr": Fzr,
        "Fxf": Fxf,
        "Fxr": Fxr,
    }
