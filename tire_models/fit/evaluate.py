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
