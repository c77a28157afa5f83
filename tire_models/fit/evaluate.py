"""Held-out evaluation: one-step and multi-step open-loop RMSE of ``vx, vy, r``.

Windows start at every held-out sample whose horizon stays inside one contiguous segment
(rollouts never cross a gap), from the logged state, driven by the logged inputs. The multi-step
RMSE pools the errors after every step 1..H of every window. "persistence" predicts no change.
"""

from __future__ import annotations

import numpy as np
import torch

from drift.vehicle.params import VehicleParams
from tire_models.fit.pipeline import CHANNELS, FitResult, LogArrays, targets


def _rmse(err: torch.Tensor) -> dict[str, float]:
    r = err.pow(2).mean(dim=tuple(range(err.ndim - 1))).sqrt()
    return {c: float(v) for c, v in zip(CHANNELS, r, strict=True)}


def _steps(a: LogArrays, horizon_s: float) -> int:
    return max(1, int(round(horizon_s / a.dt)))


def persistence_metrics(a: LogArrays, horizon_s: float = 1.0) -> dict:
    """RMSE of the "no change" predictor, ``{"one_step_rmse", "multi_step_rmse", "horizon_s"}``."""
    out = {}
    meas = a.meas()
    for key, H in (("one_step_rmse", 1), ("multi_step_rmse", _steps(a, horizon_s))):
        s = a.window_starts(H)
        out[key] = _rmse(targets(a, s, H) - meas[torch.as_tensor(s)][:, None, :])
    out["horizon_s"] = _steps(a, horizon_s) * a.dt
    return out


@torch.no_grad()
def predictions(
    res: FitResult,
    p: VehicleParams,
    a: LogArrays,
    starts: np.ndarray,
    H: int,
    substeps: int = 1,
    chunk: int = 4096,
) -> torch.Tensor:
    """Open-loop predictions ``(B, H, 3)`` of a fitted model from the windows at ``starts``."""
    mod = res.module(p)
    outs = [mod.predict(a, starts[i : i + chunk], H, substeps) for i in range(0, len(starts), chunk)]
    return torch.cat(outs, 0) if outs else torch.zeros(0, H, 3, dtype=torch.float64)


def model_metrics(
    res: FitResult, p: VehicleParams, a: LogArrays, horizon_s: float = 1.0, substeps: int = 1
) -> dict:
    """Held-out RMSE of a fitted model (same keys as :func:`persistence_metrics`)."""
    out = {}
    for key, H in (("one_step_rmse", 1), ("multi_step_rmse", _steps(a, horizon_s))):
        s = a.window_starts(H)
        out[key] = _rmse(predictions(res, p, a, s, H, substeps) - targets(a, s, H))
    out["horizon_s"] = _steps(a, horizon_s) * a.dt
    return out


def peak_check(
    samples: dict[str, np.ndarray],
    tires,
    bin_deg: float = 1.0,
    min_count: int = 30,
    tol: float = 0.10,
) -> dict[str, dict]:
    """Peak of each axle's fitted curve against the peak of its force samples, as ``Fy/Fz`` (-).

    Both are the same statistic: the largest median of ``|Fy|/Fz`` over slip bins of ``bin_deg``
    degrees that hold at least ``min_count`` samples, once for the samples (the centre line of the
    cloud, which noise does not inflate) and once for the model evaluated at each sample's slip, load
    and longitudinal force (``combined_force``: on the driven axle of a drift the friction circle
    leaves the lateral force well below the pure curve, in the samples and in the model alike). The
    check is ``judged`` only where the samples saturate: their binned medians reach 90 % of their
    peak within the first 60 % of the binned slip range. A log that stays in the near-linear range
    shows no peak to compare with, and there noise in the slip estimate biases binned medians
    (errors in variables).

    Args:
        samples: :func:`tire_models.fit.pipeline.force_samples` (``alpha_f`` rad, ``Fzf``, ``Fyf`` N, ...).
        tires: the fitted :class:`tire_models.base.AxleTires`.
        bin_deg: slip bin width (deg). min_count: samples a bin needs. tol: relative difference
            beyond which ``ok`` is False.

    Returns:
        ``{"front": {...}, "rear": {...}}`` with ``curve_peak``, ``sample_peak`` (``Fy/Fz``),
        ``rel_diff`` (``curve / samples - 1``), ``slip_max_deg`` (upper edge of the last bin used),
        ``judged`` and ``ok`` (False only when judged and ``|rel_diff| > tol``); the values are None
        (and ``ok`` True) where no bin holds enough samples.
    """
    out = {}
    for axle, k in (("front", "f"), ("rear", "r")):
        a = np.asarray(samples[f"alpha_{k}"], float)
        Fz = np.asarray(samples[f"Fz{k}"], float)
        Fy = np.asarray(samples[f"Fy{k}"], float)
        Fx = np.asarray(samples.get(f"Fx{k}", np.zeros_like(a)), float)
        good = np.isfinite(a) & np.isfinite(Fy) & np.isfinite(Fz) & np.isfinite(Fx) & (Fz > 0)
        a, Fz, Fy, Fx = a[good], Fz[good], Fy[good], Fx[good]
        with torch.no_grad():
            t = (torch.as_tensor(v) for v in (a, Fz, Fx))
            model = np.asarray(getattr(tires, axle).combined_force(*t))
        idx = np.floor(np.abs(a) / np.radians(bin_deg)).astype(int)
        bins = [b for b in np.unique(idx) if np.sum(idx == b) >= min_count]
        if not bins:
            out[axle] = dict(
                curve_peak=None, sample_peak=None, rel_diff=None, slip_max_deg=None, judged=False, ok=True
            )
            continue
        med = np.array([np.median(np.abs(Fy[idx == b]) / Fz[idx == b]) for b in bins])
        sample_peak = float(med.max())
        curve_peak = max(float(np.median(np.abs(model[idx == b]) / Fz[idx == b])) for b in bins)
        rel = curve_peak / sample_peak - 1.0
        slip_max = (max(bins) + 1) * bin_deg
        slip_90 = (bins[int(np.argmax(med >= 0.9 * sample_peak))] + 1) * bin_deg
        judged = bool(slip_90 <= 0.6 * slip_max)
        out[axle] = {
            "curve_peak": curve_peak,
            "sample_peak": sample_peak,
            "rel_diff": rel,
            "slip_max_deg": float(slip_max),
            "judged": judged,
            "ok": bool(not judged or abs(rel) <= tol),
        }
    return out


def step_rmse(res: FitResult | None, p: VehicleParams, a: LogArrays, H: int, substeps: int = 1) -> dict:
    """RMSE of ``vx, vy, r`` exactly ``H`` steps after the start of every window (not pooled over the
    steps before): the Deep Dynamics protocol's "step-15" figure for ``H = 15`` (Chrosniak et al.,
    RA-L 2024, Sec. V). ``res`` None: persistence. Windows as :meth:`LogArrays.window_starts` (inside
    one segment). Returns ``{"vx": m/s, "vy": m/s, "r": rad/s}``."""
    s = a.window_starts(H)
    tg = targets(a, s, H)[:, -1]
    if res is None:
        return _rmse(tg - a.meas()[torch.as_tensor(s)])
    return _rmse(predictions(res, p, a, s, H, substeps)[:, -1] - tg)
