"""Vehicle and tyre models for the nodes, from parameter strings (preset names or YAML paths)."""

from __future__ import annotations

from pathlib import Path

import yaml

from drift.errors import ConfigError
from drift.vehicle import VehicleParams, load_vehicle
from tire_models import AxleTires, Pacejka


def vehicle_from_param(value: str) -> VehicleParams:
    """``vehicle`` parameter: a preset name (``sports``, ``f1tenth``, ``iac``) or a YAML path."""
    return load_vehicle(value)


def default_tires(vehicle: VehicleParams) -> AxleTires:
    """Pacejka tyres with peak friction ``vehicle.mu`` on both axles (B 10 /rad, C 1.5, E 0)."""
    t = Pacejka(B=10.0, C=1.5, D=vehicle.mu, E=0.0)
    return AxleTires(t, t)


def tires_from_param(value: str, vehicle: VehicleParams) -> AxleTires:
    """``tires`` parameter: ``""`` -> :func:`default_tires`; else a fitted ``model.yaml`` or run folder.

    Raises:
        ConfigError: the file is missing or not a tyre model.
    """
    if not value:
        return default_tires(vehicle)
    p = Path(value)
    try:
        from tire_models.io import load_tires  # the fit pipeline's loader (handles network weights)
    except ImportError:
        load_tires = None
    if load_tires is not None:
        try:
            return load_tires(p)
        except Exception as e:  # noqa: BLE001 -> re-raised with the parameter name
            raise ConfigError(f"parameter tires = {value!r}: cannot load a tyre model ({e})") from None
    if p.is_dir():
        p = p / "model.yaml"
    if not p.exists():
        raise ConfigError(
            f"parameter tires = {value!r}: no such file; give a tyre model.yaml from drift fit "
            "or leave it empty for the default Pacejka tyres"
        )
    try:
        return AxleTires.from_dict(yaml.safe_load(p.read_text()))
    except (ValueError, AttributeError, yaml.YAMLError) as e:
        raise ConfigError(f"parameter tires = {value!r}: not a tyre model file ({e})") from None
