"""Vehicle and tyre models for the nodes, from parameter strings (preset names or YAML paths)."""

from __future__ import annotations

from pathlib import Path

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
    from tire_models.io import load_tires  # the fit pipeline's loader (handles network weights)

    try:
        return load_tires(Path(value))
    except Exception as e:  # noqa: BLE001 -> re-raised with the parameter name
        raise ConfigError(
            f"parameter tires = {value!r}: cannot load a tyre model ({e}); give a drift fit run folder "
            "or its model.yaml, or leave it empty for the default Pacejka tyres"
        ) from None
