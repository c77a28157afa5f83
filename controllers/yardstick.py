"""The two yardsticks of a racing agent on a track: the minimum-time lap and pure pursuit's lap.

The physical limit is the optimal-control lap (:func:`controllers.laptime.min_lap_time`); the stand-in
for a human is :class:`controllers.baselines.PurePursuit` in the racing simulator
(:func:`controllers.baselines.pure_pursuit_lap`). Both depend only on the track, the vehicle and the
tyres, so they are computed once and cached (``$DRIFT_CACHE_DIR/yardstick`` or
``~/.cache/drift/yardstick``) under a hash of those three.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from drift.racing.track import Track
from drift.vehicle.params import VehicleParams
from tire_models.base import AxleTires


@dataclass(frozen=True)
class Yardstick:
    """Reference laps of one track, vehicle and tyres.

    Attributes:
        ocp_lap_s: minimum lap time (s), or NaN when the solve did not converge.
        pure_pursuit_lap_s: pure pursuit's flying lap (s), NaN when it timed none.
        pure_pursuit_valid: whether that lap stayed on the track.
        ocp_s_m, ocp_speed_mps: the optimal lap's speed (m/s) against centre-line distance (m), (N,).
        ocp_x_m, ocp_y_m: the optimal line (m, world frame), (N,).
    """

    ocp_lap_s: float
    pure_pursuit_lap_s: float
    pure_pursuit_valid: bool
    ocp_s_m: np.ndarray
    ocp_speed_mps: np.ndarray
    ocp_x_m: np.ndarray
    ocp_y_m: np.ndarray


def _key(track: Track, vehicle: VehicleParams, tires: AxleTires) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(track.xy, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(np.stack([track.w_left, track.w_right]), dtype=np.float64).tobytes())
    h.update(json.dumps({k: v for k, v in vehicle.to_dict().items() if k != "name"}, sort_keys=True).encode())
    h.update(json.dumps(tires.to_dict(), sort_keys=True, default=str).encode())
    return h.hexdigest()[:20]


def cache_dir() -> Path:
    """Where yardsticks are cached: ``$DRIFT_CACHE_DIR/yardstick``, else ``~/.cache/drift/yardstick``."""
    return Path(os.environ.get("DRIFT_CACHE_DIR", Path.home() / ".cache" / "drift")) / "yardstick"


def yardstick(track: Track, vehicle: VehicleParams, tires: AxleTires, echo=print) -> Yardstick:
    """The reference laps of ``track`` for ``vehicle`` on ``tires``, solved once and then read from the
    cache (seconds to minutes the first time: IPOPT on a 3 m grid, then one simulated lap).

    Raises:
        DriftError: a problem the lap-time solver refuses (e.g. a track narrower than the car).
    """
    from controllers.baselines import pure_pursuit_lap
    from controllers.laptime import LapTimeConfig, min_lap_time

    path = cache_dir() / f"{track.name}-{_key(track, vehicle, tires)}.npz"
    if path.exists():
        try:
            d = np.load(path)
            return Yardstick(
                float(d["ocp_lap_s"]), float(d["pure_pursuit_lap_s"]), bool(d["pure_pursuit_valid"]),
                d["ocp_s_m"], d["ocp_speed_mps"], d["ocp_x_m"], d["ocp_y_m"],
            )
        except (OSError, KeyError, ValueError):
            echo(f"yardstick cache {path} unreadable; solving again")
    echo(f"yardstick of {track.name}: the minimum-time lap (IPOPT) and pure pursuit's, once; cache {path}")
    res = min_lap_time(track, vehicle, tires, config=LapTimeConfig(), raise_on_failure=False)
    base = pure_pursuit_lap(track, vehicle, tires)
    y = Yardstick(
        ocp_lap_s=float(res.lap_time_s) if res.converged else float("nan"),
        pure_pursuit_lap_s=float(base["lap_time_s"]) if base else float("nan"),
        pure_pursuit_valid=bool(base and base["valid"]),
        ocp_s_m=np.asarray(res.s, float),
        ocp_speed_mps=np.asarray(res.speed, float),
        ocp_x_m=np.asarray(res.x, float),
        ocp_y_m=np.asarray(res.y, float),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.npz")
    np.savez(tmp, **{k: np.asarray(getattr(y, k)) for k in Yardstick.__dataclass_fields__})
    os.replace(tmp, path)
    return y
