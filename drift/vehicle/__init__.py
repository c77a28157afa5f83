"""Vehicle dynamics: the single-track model (one implementation, three backends) and presets."""

from drift.vehicle.actuation import applied_force, force_throttle, steer_toward, throttle_force
from drift.vehicle.dynamics import (
    INPUT_NAMES,
    NU,
    NX,
    ROAD_INPUT_NAMES,
    STATE_NAMES,
    AxleForces,
    axle_forces,
    axle_loads,
    body_derivatives,
    driving_resistance,
    f,
    kinematic_velocities,
    longitudinal_split,
    road_gravity,
    slip_angles,
)
from drift.vehicle.integrate import compiled_step, odeint_zoh, rk4_step, rollout
from drift.vehicle.params import VehicleParams, load_vehicle, preset_names

__all__ = [
    "INPUT_NAMES", "NU", "NX", "ROAD_INPUT_NAMES", "road_gravity", "STATE_NAMES",
    "AxleForces", "axle_forces", "axle_loads", "body_derivatives",
    "driving_resistance", "f", "kinematic_velocities", "longitudinal_split", "slip_angles", "odeint_zoh",
    "rk4_step", "rollout", "VehicleParams", "load_vehicle", "preset_names", "applied_force", "compiled_step",
    "throttle_force", "force_throttle", "steer_toward",
]
