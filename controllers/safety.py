"""Safety filter between a controller and a car: the last stage before a command leaves a node.

Pure Python (no ROS), so the same rules run in a ROS node, in a simulator loop and in tests.
A :class:`SafetyFilter` receives the events a vehicle interface sees (odometry arrivals,
emergency-stop requests, controller outputs) and turns every raw command into one that is

- finite: a NaN or inf from the controller is never passed on (the command falls back to the
  safe stop command below and the reason is reported);
- fresh: when odometry is older than ``odom_timeout_s`` (or never arrived), the command is the
  safe stop command, i.e. brake with ``stop_Fx_N`` while the last known speed is above
  ``stop_speed_mps`` and neutral (``Fx = 0``) below it, steering returning to straight;
- latched on emergency stop: :meth:`SafetyFilter.emergency_stop` latches the safe stop command
  until :meth:`SafetyFilter.reset` clears it. A reset is refused while the stop request is
  still asserted (the last e-stop input was ``True``), so a held stop button cannot be
  overridden by a reset;
- saturated: ``|delta| <= delta_max_rad`` and ``-Fx_brake_max_N <= Fx <= Fx_drive_max_N``;
- rate limited: ``|d delta/dt| <= delta_rate_max_radps`` always, ``|dFx/dt| <= Fx_rate_max_Nps``
  in normal operation. A safe stop applies its braking force at once (the brake actuator
  has its own dynamics; delaying a stop is not safer), steering stays rate limited.

Times are seconds on one monotonic clock chosen by the caller (ROS nodes use the steady
clock so that a stopped simulator clock cannot hide stale odometry).

Conventions: ``delta`` road-wheel steering angle (rad, + = left), ``Fx`` longitudinal force
demand (N, + = drive, - = brake), as in :mod:`drift.vehicle.dynamics`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from drift.errors import ConfigError


class Mode(str, Enum):
    """Why a command is what it is (published as the node's status)."""

    OK = "ok"  #: controller command, saturated and rate limited
    NO_ODOM = "no_odom"  #: no odometry received yet: safe stop
    STALE = "stale"  #: odometry older than the timeout: safe stop
    ESTOP = "estop"  #: emergency stop latched: safe stop
    INVALID = "invalid"  #: the controller returned NaN/inf: safe stop


@dataclass(frozen=True)
class SafetyConfig:
    """Limits of the safety filter (SI units, all limits positive).

    Attributes:
        odom_timeout_s: odometry older than this (s) counts as stale.
        delta_max_rad: steering saturation (rad).
        delta_rate_max_radps: steering rate limit (rad/s).
        Fx_drive_max_N: largest drive force (N).
        Fx_brake_max_N: largest braking force magnitude (N).
        Fx_rate_max_Nps: force rate limit in normal operation (N/s).
        stop_Fx_N: braking force magnitude of a safe stop (N), clipped to ``Fx_brake_max_N``.
        stop_speed_mps: below this speed (m/s) a safe stop commands neutral instead of braking.
    """

    odom_timeout_s: float = 0.1
    delta_max_rad: float = 0.5
    delta_rate_max_radps: float = 1.0
    Fx_drive_max_N: float = 8000.0
    Fx_brake_max_N: float = 15000.0
    Fx_rate_max_Nps: float = 50000.0
    stop_Fx_N: float = 5000.0
    stop_speed_mps: float = 0.5

    def __post_init__(self):
        for name in (
            "odom_timeout_s",
            "delta_max_rad",
            "delta_rate_max_radps",
            "Fx_drive_max_N",
            "Fx_brake_max_N",
            "Fx_rate_max_Nps",
        ):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise ConfigError(f"safety parameter {name} must be a positive finite number, got {v!r}")
        for name in ("stop_Fx_N", "stop_speed_mps"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise ConfigError(f"safety parameter {name} must be a finite number >= 0, got {v!r}")

    @staticmethod
    def from_vehicle(vehicle, **overrides) -> SafetyConfig:
        """Limits from a :class:`drift.vehicle.VehicleParams` (steering and force limits), plus overrides."""
        base = dict(
            delta_max_rad=vehicle.delta_max,
            delta_rate_max_radps=vehicle.delta_rate_max,
            Fx_drive_max_N=vehicle.Fx_drive_max,
            Fx_brake_max_N=vehicle.Fx_brake_max,
            Fx_rate_max_Nps=10.0 * max(vehicle.Fx_drive_max, vehicle.Fx_brake_max),
            stop_Fx_N=0.5 * vehicle.Fx_brake_max,
        )
        base.update(overrides)
        return SafetyConfig(**base)


@dataclass(frozen=True)
class SafeCommand:
    """A command that passed the filter: ``delta`` (rad), ``Fx`` (N), both finite, and its ``mode``."""

    delta: float
    Fx: float
    mode: Mode
    odom_age_s: float  #: age of the newest odometry (s); inf when none arrived


def _finite(*xs) -> bool:
    try:
        return all(math.isfinite(float(x)) for x in xs)
    except (TypeError, ValueError):
        return False


class SafetyFilter:
    """Stateful command filter (one per vehicle). Not thread-safe: call from one thread.

    Usage::

        sf = SafetyFilter(SafetyConfig.from_vehicle(vehicle))
        sf.odom_received(t, vx)                 # on every odometry message (finite values only)
        cmd = sf.filter(t, delta_raw, Fx_raw)   # on every control tick -> SafeCommand
    """

    def __init__(self, config: SafetyConfig):
        self.config = config
        self._t_odom: float | None = None
        self._vx = 0.0
        self._estop_latched = False
        self._estop_input = False
        self._last: tuple[float, float, float] | None = None  # (t, delta, Fx) of the last output

    # ---- events ------------------------------------------------------------------------------
    def odom_received(self, t: float, vx: float) -> bool:
        """Record odometry at time ``t`` (s) with forward speed ``vx`` (m/s).

        Returns False (and records nothing) when ``vx`` or ``t`` is not finite: invalid
        odometry is treated as missing, so it turns stale after the timeout.
        """
        if not _finite(t, vx):
            return False
        self._t_odom = float(t)
        self._vx = float(vx)
        return True

    def emergency_stop(self, asserted: bool) -> None:
        """Feed the e-stop input. ``True`` latches the stop; ``False`` only releases the input."""
        self._estop_input = bool(asserted)
        if asserted:
            self._estop_latched = True

    def reset(self) -> bool:
        """Clear a latched e-stop. Refused (returns False) while the e-stop input is asserted."""
        if self._estop_input:
            return False
        self._estop_latched = False
        return True

    @property
    def estop_latched(self) -> bool:
        return self._estop_latched

    def odom_age(self, t: float) -> float:
        """Age (s) of the newest valid odometry at time ``t``; ``inf`` if none arrived."""
        return math.inf if self._t_odom is None else max(0.0, t - self._t_odom)

    def stale(self, t: float) -> bool:
        """True when no odometry arrived within ``odom_timeout_s`` of ``t``."""
        return self.odom_age(t) > self.config.odom_timeout_s

    # ---- filtering ---------------------------------------------------------------------------
    def stop_command(self, t: float, mode: Mode) -> SafeCommand:
        """The safe stop command at ``t``: brake above ``stop_speed_mps`` (last known speed), else neutral."""
        c = self.config
        Fx = -min(c.stop_Fx_N, c.Fx_brake_max_N) if abs(self._vx) > c.stop_speed_mps else 0.0
        delta = self._rate_limit_delta(t, 0.0)
        return self._emit(t, delta, Fx, mode)

    def filter(self, t: float, delta, Fx) -> SafeCommand:
        """Turn a raw controller command at time ``t`` (s) into a :class:`SafeCommand`.

        Args:
            t: current time (s), the clock of :meth:`odom_received`.
            delta: raw steering (rad). Fx: raw force demand (N). May be NaN/None (-> INVALID).
        """
        if self._estop_latched:
            return self.stop_command(t, Mode.ESTOP)
        if self._t_odom is None:
            return self.stop_command(t, Mode.NO_ODOM)
        if self.stale(t):
            return self.stop_command(t, Mode.STALE)
        if not _finite(delta, Fx):
            return self.stop_command(t, Mode.INVALID)
        c = self.config
        delta = min(max(float(delta), -c.delta_max_rad), c.delta_max_rad)
        Fx = min(max(float(Fx), -c.Fx_brake_max_N), c.Fx_drive_max_N)
        delta = self._rate_limit_delta(t, delta)
        if self._last is not None:
            dt = max(0.0, t - self._last[0])
            step = c.Fx_rate_max_Nps * dt
            Fx = min(max(Fx, self._last[2] - step), self._last[2] + step)
        return self._emit(t, delta, Fx, Mode.OK)

    def _rate_limit_delta(self, t: float, delta: float) -> float:
        if self._last is None:
            return delta
        dt = max(0.0, t - self._last[0])
        step = self.config.delta_rate_max_radps * dt
        return min(max(delta, self._last[1] - step), self._last[1] + step)

    def _emit(self, t, delta, Fx, mode) -> SafeCommand:
        if not _finite(delta, Fx):  # unreachable by construction; the last line of defence
            delta, Fx = 0.0, 0.0
        self._last = (float(t), float(delta), float(Fx))
        return SafeCommand(float(delta), float(Fx), mode, self.odom_age(t))
