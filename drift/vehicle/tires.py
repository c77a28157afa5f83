"""The car's tyres: the one default Pacejka set, and tyres from a fitted run checked against the vehicle.

Every simulator, controller and node takes its tyres from :func:`resolve_tires`, so that the plant of
``drift.simulate``, the racing simulator, the lap-time optimum and the ROS bridge are the same car.
"""

from __future__ import annotations

import math
from pathlib import Path

from drift.errors import DriftError
from drift.vehicle.params import VehicleParams, load_vehicle
from tire_models.base import AxleTires
from tire_models.pacejka import Pacejka


def default_tires(vehicle: VehicleParams) -> AxleTires:
    """The default tyres of every vehicle preset: Magic Formula, peak friction ``D = vehicle.mu``.

    Front ``B = 10 /rad, C = 1.5, E = 0``; rear ``B = 12 /rad, C = 1.4, E = -0.5`` (a stiffer, flatter
    rear: a mildly understeering car that still holds a drift). Pacejka, *Tire and Vehicle Dynamics*
    (3rd ed., 2012), eq. 4.49.
    """
    return AxleTires(
        Pacejka(B=10.0, C=1.5, D=vehicle.mu, E=0.0), Pacejka(B=12.0, C=1.4, D=vehicle.mu, E=-0.5)
    )


def fitted_vehicle(model_yaml: dict) -> VehicleParams | None:
    """The vehicle a fitted ``model.yaml`` was fitted for, or None when it does not say.

    ``drift fit`` writes the vehicle's parameters (``VehicleParams.to_dict``); older files hold a
    preset name only, resolved through :func:`drift.vehicle.load_vehicle`.
    """
    v = model_yaml.get("vehicle")
    if isinstance(v, dict):
        return VehicleParams.from_dict(v, source="model.yaml vehicle")
    if isinstance(v, str):
        try:
            return load_vehicle(v)
        except DriftError:
            return None
    return None


def vehicle_mismatch(a: VehicleParams, b: VehicleParams, rtol: float = 1e-6) -> list[str]:
    """The parameter keys (with units) in which two vehicles differ; the names are not compared."""
    da, db = a.to_dict(), b.to_dict()
    return [k for k in da if k != "name" and not math.isclose(float(da[k]), float(db[k]), rel_tol=rtol)]


def resolve_tires(
    tires: AxleTires | str | Path | None, vehicle: VehicleParams, allow_other_vehicle: bool = False
) -> AxleTires:
    """Tyres for ``vehicle`` from an :class:`AxleTires`, a ``drift fit`` run folder or its ``model.yaml``,
    or None (:func:`default_tires`).

    Tyres fitted on one vehicle describe that car's loads and geometry; used on another they are
    refused unless ``allow_other_vehicle``.

    Raises:
        DriftError: a missing or invalid tyre file (:func:`tire_models.io.load_tires`), or a model fitted
            for another vehicle (the message names both and what differs).
    """
    if tires is None:
        return default_tires(vehicle)
    if isinstance(tires, AxleTires):
        return tires
    from tire_models.io import load_tires, read_model_yaml

    d, path = read_model_yaml(tires)
    fitted = fitted_vehicle(d)
    if fitted is not None and not allow_other_vehicle:
        diff = vehicle_mismatch(fitted, vehicle)
        if diff:
            raise DriftError(
                f"{path}: tyres fitted for vehicle {fitted.name!r} but used on vehicle {vehicle.name!r} "
                f"(they differ in {', '.join(diff)}); pass the vehicle they were fitted for, or "
                "--allow-other-vehicle to use them anyway"
            )
    return load_tires(path)
