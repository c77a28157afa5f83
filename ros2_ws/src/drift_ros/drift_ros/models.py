"""Vehicle and tyre models for the nodes, from parameter strings (preset names or YAML paths)."""

from __future__ import annotations

from drift.errors import ConfigError, DriftError
from drift.vehicle import VehicleParams, load_vehicle
from tire_models import AxleTires


def vehicle_from_param(value: str) -> VehicleParams:
    """``vehicle`` parameter: a preset name (``sports``, ``f1tenth``, ``iac``) or a YAML path."""
    return load_vehicle(value)


def tires_from_param(value: str, vehicle: VehicleParams) -> AxleTires:
    """``tires`` parameter: ``""`` -> :func:`drift.vehicle.tires.default_tires`; else a fitted
    ``model.yaml`` or run folder, fitted for ``vehicle`` (:func:`drift.vehicle.tires.resolve_tires`).

    Raises:
        ConfigError: the file is missing, not a tyre model, or fitted for another vehicle.
    """
    from drift.vehicle.tires import resolve_tires

    try:
        return resolve_tires(value or None, vehicle)
    except DriftError as e:
        raise ConfigError(
            f"parameter tires = {value!r}: {e}; give a drift fit run folder or its model.yaml, "
            "or leave it empty for the default Pacejka tyres"
        ) from None
