"""Vehicle parameters, loaded from YAML files whose keys carry their units."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from drift.config import config_dir
from drift.errors import ConfigError

#: YAML key (with unit) -> dataclass field
_KEYS = {
    "m_kg": "m",
    "Iz_kgm2": "Iz",
    "lf_m": "lf",
    "lr_m": "lr",
    "h_cg_m": "h_cg",
    "mu": "mu",
    "g_mps2": "g",
    "c_drag_Ns2pm2": "c_drag",
    "c_roll": "c_roll",
    "c_down_Ns2pm2": "c_down",
    "down_front_share": "down_front_share",
    "brake_front_share": "brake_front_share",
    "P_max_W": "P_max",
    "Fx_drive_max_N": "Fx_drive_max",
    "Fx_brake_max_N": "Fx_brake_max",
    "delta_max_rad": "delta_max",
    "delta_rate_max_radps": "delta_rate_max",
    "width_m": "width",
}


@dataclass(frozen=True)
class VehicleParams:
    """Parameters of the dynamic single-track model (SI units).

    Attributes:
        name: preset name.
        m: mass (kg). Iz: yaw inertia (kg m^2).
        lf, lr: CG to front / rear axle (m). h_cg: CG height (m), for longitudinal load transfer.
        mu: road friction coefficient (dimensionless), used where the tyre model has none.
        g: gravity (m/s^2).
        c_drag: aerodynamic drag ``F = c_drag vx^2`` (N s^2/m^2). c_roll: rolling resistance
            coefficient (dimensionless, ``F = c_roll m g``).
        c_down: downforce ``F = c_down vx^2`` (N s^2/m^2), split by ``down_front_share``.
        brake_front_share: share of a braking force applied at the front axle (0..1).
        P_max: drive power (W). Fx_drive_max, Fx_brake_max: force limits (N, positive).
        delta_max: road-wheel steering limit (rad). delta_rate_max: steering rate limit (rad/s).
        width: track width of the car (m), for drawing and wall contact.
    """

    name: str = "custom"
    m: float = 1500.0
    Iz: float = 2500.0
    lf: float = 1.2
    lr: float = 1.4
    h_cg: float = 0.5
    mu: float = 1.0
    g: float = 9.81
    c_drag: float = 0.4
    c_roll: float = 0.01
    c_down: float = 0.0
    down_front_share: float = 0.5
    brake_front_share: float = 0.6
    P_max: float = 200e3
    Fx_drive_max: float = 8000.0
    Fx_brake_max: float = 15000.0
    delta_max: float = 0.5
    delta_rate_max: float = 1.0
    width: float = 1.9

    def __post_init__(self):
        for f in ("m", "Iz", "lf", "lr", "g"):
            v = getattr(self, f)
            # tensors (parameters being fitted) are checked by their owner
            if isinstance(v, int | float) and not (math.isfinite(v) and v > 0):
                key = next(k for k, n in _KEYS.items() if n == f)
                raise ConfigError(f"vehicle {self.name!r}: {key} must be a positive number, got {v}")
        for f in ("h_cg", "c_drag", "c_roll", "c_down", "P_max", "Fx_drive_max", "Fx_brake_max"):
            v = getattr(self, f)
            if isinstance(v, int | float) and not (math.isfinite(v) and v >= 0):
                key = next(k for k, n in _KEYS.items() if n == f)
                raise ConfigError(f"vehicle {self.name!r}: {key} must be >= 0, got {v}")
        for f in ("down_front_share", "brake_front_share"):
            if not 0.0 <= getattr(self, f) <= 1.0:
                raise ConfigError(f"vehicle {self.name!r}: {f} must lie in [0, 1]")

    @property
    def L(self) -> float:
        """Wheelbase ``lf + lr`` (m)."""
        return self.lf + self.lr

    def replace(self, **changes) -> VehicleParams:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        inv = {v: k for k, v in _KEYS.items()}
        return {"name": self.name, **{inv[f.name]: getattr(self, f.name) for f in dataclasses.fields(self)
                                      if f.name != "name"}}

    @staticmethod
    def from_dict(d: dict, source: str = "<dict>") -> VehicleParams:
        """Build from a dict of unit-carrying keys. Raises ``ValueError`` naming bad keys."""
        kwargs = {}
        for key, val in d.items():
            if key == "name":
                kwargs["name"] = str(val)
                continue
            if key not in _KEYS:
                hint = [k for k in _KEYS if k.split("_")[0] == key.split("_")[0]]
                raise ConfigError(
                    f"{source}: unknown vehicle key {key!r}"
                    + (f" (did you mean {hint[0]!r}? keys carry their unit)" if hint else "")
                    + f"; known keys: {sorted(_KEYS)}"
                )
            try:
                kwargs[_KEYS[key]] = float(val)
            except (TypeError, ValueError):
                raise ConfigError(f"{source}: {key} must be a number, got {val!r}") from None
        try:
            return VehicleParams(**kwargs)
        except ConfigError as e:
            raise ConfigError(f"{source}: {e}") from None


def preset_names() -> list[str]:
    """Names of the shipped vehicle presets (files in ``configs/vehicles``)."""
    return sorted(p.stem for p in (config_dir() / "vehicles").glob("*.yaml"))


def load_vehicle(name_or_path: str | Path) -> VehicleParams:
    """Load a vehicle preset by name (``iac``, ``f1tenth``, ...) or from a YAML path.

    Raises:
        ConfigError (a ValueError): not a preset nor an existing file; unknown keys, non-numeric
            values, or non-positive mass, lengths or inertia.
    """
    p = Path(name_or_path)
    if not p.suffix:
        cand = config_dir() / "vehicles" / f"{name_or_path}.yaml"
        if cand.exists():
            p = cand
    if not p.exists():
        raise ConfigError(
            f"vehicle {str(name_or_path)!r} is neither a preset ({', '.join(preset_names())}) nor a YAML file"
        )
    try:
        d = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML ({e})") from None
    if not isinstance(d, dict):
        raise ConfigError(f"{p}: expected a mapping of unit-carrying keys such as m_kg, lf_m, Iz_kgm2")
    d.setdefault("name", p.stem)
    return VehicleParams.from_dict(d, source=str(p))
