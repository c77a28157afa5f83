"""Unit table: convert common log units to SI, and the standard signal names with their SI dimension.

Every conversion is a pure scale factor (``value_SI = factor * value``); no unit with an offset
(degC, ...) is needed for driving logs.
"""

from __future__ import annotations

import math

from drift.logs.errors import LogError

# unit spelling -> (factor to SI, dimension)
UNITS: dict[str, tuple[float, str]] = {
    # length
    "m": (1.0, "length"), "km": (1000.0, "length"), "cm": (0.01, "length"), "mm": (0.001, "length"),
    "ft": (0.3048, "length"), "in": (0.0254, "length"), "mi": (1609.344, "length"),
    # time
    "s": (1.0, "time"), "sec": (1.0, "time"), "ms": (1e-3, "time"), "us": (1e-6, "time"),
    "µs": (1e-6, "time"), "ns": (1e-9, "time"), "min": (60.0, "time"), "h": (3600.0, "time"),
    # speed
    "m/s": (1.0, "speed"), "mps": (1.0, "speed"), "km/h": (1 / 3.6, "speed"), "kmph": (1 / 3.6, "speed"),
    "kph": (1 / 3.6, "speed"), "kmh": (1 / 3.6, "speed"), "mph": (0.44704, "speed"),
    "ft/s": (0.3048, "speed"), "kn": (0.514444, "speed"),
    # acceleration
    "m/s^2": (1.0, "acceleration"), "m/s2": (1.0, "acceleration"), "m/s**2": (1.0, "acceleration"),
    "mps2": (1.0, "acceleration"), "g": (9.80665, "acceleration"),
    # angle
    "rad": (1.0, "angle"), "deg": (math.pi / 180.0, "angle"), "degree": (math.pi / 180.0, "angle"),
    "degrees": (math.pi / 180.0, "angle"), "mrad": (1e-3, "angle"),
    # angular rate
    "rad/s": (1.0, "angular_rate"), "deg/s": (math.pi / 180.0, "angular_rate"),
    "rpm": (2 * math.pi / 60.0, "angular_rate"),
    # pressure
    "Pa": (1.0, "pressure"), "kPa": (1e3, "pressure"), "MPa": (1e6, "pressure"), "bar": (1e5, "pressure"),
    "mbar": (100.0, "pressure"), "psi": (6894.757293168, "pressure"),
    # force, torque
    "N": (1.0, "force"), "kN": (1e3, "force"), "lbf": (4.4482216152605, "force"),
    "N*m": (1.0, "torque"), "Nm": (1.0, "torque"), "N.m": (1.0, "torque"), "kNm": (1e3, "torque"),
    # dimensionless
    "1": (1.0, "fraction"), "-": (1.0, "fraction"), "": (1.0, "fraction"), "fraction": (1.0, "fraction"),
    "%": (0.01, "fraction"), "percent": (0.01, "fraction"),
}

# standard name -> (dimension, description). Non-standard extra signals are allowed in a log
# (e.g. ``roll``, ``delta_rate``) but the fit pipeline only relies on these.
STANDARD_SIGNALS: dict[str, tuple[str, str]] = {
    "x": ("length", "position x in the world frame (m)"),
    "y": ("length", "position y in the world frame (m)"),
    "psi": ("angle", "yaw angle (rad), continuous"),
    "vx": ("speed", "longitudinal velocity, body frame (m/s)"),
    "vy": ("speed", "lateral velocity, body frame (m/s)"),
    "r": ("angular_rate", "yaw rate (rad/s)"),
    "ax": ("acceleration", "longitudinal acceleration, body frame (m/s^2)"),
    "ay": ("acceleration", "lateral acceleration, body frame (m/s^2)"),
    "delta": ("angle", "road-wheel steering angle (rad)"),
    "delta_rate": ("angular_rate", "road-wheel steering rate (rad/s)"),
    "throttle": ("fraction", "throttle command 0..1"),
    "brake_Pa": ("pressure", "brake pressure (Pa)"),
    "Fx": ("force", "longitudinal force command (N)"),
    "ax_cmd": ("acceleration", "commanded longitudinal acceleration (m/s^2)"),
    "v_cmd": ("speed", "commanded speed (m/s)"),
    "w_fl": ("speed", "front-left wheel speed (m/s)"),
    "w_fr": ("speed", "front-right wheel speed (m/s)"),
    "w_rl": ("speed", "rear-left wheel speed (m/s)"),
    "w_rr": ("speed", "rear-right wheel speed (m/s)"),
    "roll": ("angle", "body roll angle (rad), ISO 8855: positive raises the left side"),
    "pitch": ("angle", "body pitch angle (rad), ISO 8855: positive lowers the nose"),
    "bank": ("angle", "road bank under the car (rad), roll sign: positive raises the left side"),
    "grade": ("angle", "road grade under the car (rad), positive uphill"),
    "r_imu": ("angular_rate", "yaw rate measured by the IMU (rad/s)"),
}

SI_UNIT = {
    "length": "m", "time": "s", "speed": "m/s", "acceleration": "m/s^2", "angle": "rad",
    "angular_rate": "rad/s", "pressure": "Pa", "force": "N", "torque": "N*m", "fraction": "1",
}

_ALIASES = {"m/sec": "m/s", "km/hr": "km/h", "sec": "s", "deg/sec": "deg/s", "rad/sec": "rad/s"}


def known_units() -> str:
    """Comma-separated list of the unit spellings understood (for error messages)."""
    return ", ".join(repr(u) for u in UNITS)


def unit_factor(unit: str | None, where: str, name: str | None = None) -> float:
    """Return the factor converting ``unit`` to SI, checking its dimension against standard ``name``.

    Args:
        unit: unit spelling, e.g. ``"km/h"``; ``None`` means already SI.
        where: description of the place (file and column) for the error message.
        name: the standard signal the value will be stored as; its dimension must match.
    Raises:
        LogError: unknown unit (the message lists the known units), or a unit whose dimension does
            not fit the standard signal (e.g. ``deg`` for ``vx``).
    """
    if unit is None:
        return 1.0
    u = str(unit).strip()
    u = _ALIASES.get(u, u)
    if u not in UNITS:
        low = {k.lower(): k for k in UNITS}
        if u.lower() in low:
            u = low[u.lower()]
        else:
            raise LogError(
                f"{where}: unknown unit {unit!r}. Known units: {known_units()}. "
                "Fix the unit in the column map (or the header), or give the SI unit and a 'scale'."
            )
    factor, dim = UNITS[u]
    if name is not None and name in STANDARD_SIGNALS:
        want = STANDARD_SIGNALS[name][0]
        if dim != want:
            raise LogError(
                f"{where}: unit {unit!r} is a {dim} unit but signal {name!r} is a {want} "
                f"(SI unit {SI_UNIT[want]!r}). Fix the unit or the target name in the column map."
            )
    return factor
