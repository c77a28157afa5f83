"""Safety filter between a controller and a car: the last stage before a command leaves a node.

Pure Python (no ROS), so the same rules run in a ROS node, in a simulator and in tests.
A :class:`SafetyFilter` receives the events a vehicle interface sees (odometry arrivals,
emergency-stop requests, controller outputs) and turns every raw command into one that is

- finite: a NaN or inf from the controller is never passed on (the car is stopped, see below);
- fresh: when odometry is older than ``odom_timeout_s`` (or never arrived), the car is stopped;
- latched on emergency stop: :meth:`SafetyFilter.emergency_stop` latches the stop until
  :meth:`SafetyFilter.reset` clears it. A reset is refused while the stop request is still
  asserted (the last e-stop input was ``True``), so a held stop button cannot be overridden.
  With ``latch_stops`` (default) a stop for stale odometry or an invalid command latches the
  same way: a car that began to stop is brought to rest, not driven off again when the input
  returns;
- saturated: ``|delta| <= delta_max_rad`` and ``-Fx_brake_max_N <= Fx <= Fx_drive_max_N``;
- rate limited: ``|d delta/dt| <= delta_rate_max_radps`` always, ``|dFx/dt| <= Fx_rate_max_Nps``
  in normal operation. A stop releases the drive or applies its brake at once (delaying a stop is
  not safer); its steering stays rate limited.

**The stop is drift-aware** (:class:`DriftStop`): braking hard in a drift is how a drift becomes a
spin, so every stop (stale odometry, NaN input, e-stop, solver failure, shutdown) runs three phases:

1. ``recover``: while ``|beta| > beta_grip_rad`` or the rear slip ``|alpha_r| > alpha_r_grip_rad``,
   steer the front wheels along the front-axle velocity (:func:`stabilising_steer`) and release the
   drive (``Fx = 0``): the front axle stops feeding the yaw motion and the rear axle regains its
   lateral capacity on the friction circle, whose force then removes the sideslip;
2. ``brake``: once back in grip (or after ``recover_max_s``, or when the car moves backwards), brake
   with ``stop_Fx_N``, steering by the same law (it returns to straight as the yaw decays); a slide
   that grows again beyond twice the grip thresholds goes back to ``recover``;
3. ``hold``: below ``stop_speed_mps``, steer straight and hold ``hold_Fx_N`` of brake (0: neutral).

The sequence uses the newest state estimate: the last odometry, or, when odometry is stale and a
``predict`` function is given, that state predicted forward with the commands sent since (at most
``predict_max_s``), so a stop keeps steering sensibly through a sensor dropout.

Times are seconds on one monotonic clock chosen by the caller (ROS nodes use the steady
clock so that a stopped simulator clock cannot hide stale odometry).

Conventions: ``delta`` road-wheel steering angle (rad, + = left), ``Fx`` longitudinal force
demand (N, + = drive, - = brake), body velocities ``vx, vy`` (m/s), yaw rate ``r`` (rad/s),
``beta = atan2(vy, vx)``, as in :mod:`drift.vehicle.dynamics`. Source of the recovery law:
Hindiyeh & Gerdes, "A controller framework for autonomous drifting", J. Dyn. Sys. Meas. Control
136(5), 2014, Sec. V.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from drift.errors import ConfigError

_PREDICT_DT_S = 0.02  #: step (s) of the state prediction through stale odometry


class Mode(str, Enum):
    """Why a command is what it is (published as the node's status)."""

    OK = "ok"  #: controller command, saturated and rate limited
    NO_ODOM = "no_odom"  #: no odometry received yet: safe stop
    STALE = "stale"  #: odometry older than the timeout: safe stop
    STALE_CAMERA = "stale_camera"  #: camera image missing or older than its timeout: safe stop
    ESTOP = "estop"  #: emergency stop latched: safe stop
    INVALID = "invalid"  #: the controller returned NaN/inf or failed: safe stop
    SHUTDOWN = "shutdown"  #: the node is going down: safe stop


class StopPhase(str, Enum):
    """Phase of a :class:`DriftStop` (module doc)."""

    RECOVER = "recover"  #: front wheels along the front-axle velocity, drive released
    BRAKE = "brake"  #: back in grip: braking with the same steering law
    HOLD = "hold"  #: below the stop speed: straight, holding brake ``hold_Fx_N``


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
        stop_speed_mps: below this speed (m/s) a stop holds (``hold``) instead of braking.
        hold_Fx_N: brake force magnitude (N) that holds a stopped car; 0 = neutral.
        lf_m, lr_m: CG to front / rear axle (m), for the recovery law and the rear slip angle
            (0 = unknown: the law then steers along the CG velocity).
        beta_grip_rad: sideslip magnitude (rad) below which the car counts as back in grip.
        alpha_r_grip_rad: rear slip angle magnitude (rad) below which the rear counts as gripping.
        recover_max_s: longest recovery (s) before braking regardless.
        k_r_s: yaw-rate damping of the recovery law (s): ``delta -= k_r_s r``.
        predict_max_s: longest prediction (s) of the state through stale odometry.
        latch_stops: a stop for stale odometry or an invalid command latches until :meth:`SafetyFilter.reset`.
        rate_step_min_s: least time (s) the rate limits allow for between two commands: the control
            period, for a command holds at least that long (a control command right after a watchdog's
            stop may still change by one period's worth).
    """

    odom_timeout_s: float = 0.1
    delta_max_rad: float = 0.5
    delta_rate_max_radps: float = 1.0
    Fx_drive_max_N: float = 8000.0
    Fx_brake_max_N: float = 15000.0
    Fx_rate_max_Nps: float = 50000.0
    stop_Fx_N: float = 5000.0
    stop_speed_mps: float = 0.5
    hold_Fx_N: float = 0.0
    lf_m: float = 0.0
    lr_m: float = 0.0
    beta_grip_rad: float = 0.1
    alpha_r_grip_rad: float = 0.1
    recover_max_s: float = 3.0
    k_r_s: float = 0.05
    predict_max_s: float = 1.0
    latch_stops: bool = True
    rate_step_min_s: float = 0.0

    def __post_init__(self):
        for name in (
            "odom_timeout_s",
            "delta_max_rad",
            "delta_rate_max_radps",
            "Fx_drive_max_N",
            "Fx_brake_max_N",
            "Fx_rate_max_Nps",
            "beta_grip_rad",
            "alpha_r_grip_rad",
            "recover_max_s",
        ):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise ConfigError(f"safety parameter {name} must be a positive finite number, got {v}")
        for name in (
            "stop_Fx_N",
            "stop_speed_mps",
            "hold_Fx_N",
            "lf_m",
            "lr_m",
            "k_r_s",
            "predict_max_s",
            "rate_step_min_s",
        ):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise ConfigError(f"safety parameter {name} must be a finite number >= 0, got {v}")

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
            lf_m=vehicle.lf,
            lr_m=vehicle.lr,
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
    phase: StopPhase | None = None  #: phase of the stop; None for a controller command


def _finite(*xs) -> bool:
    try:
        return all(math.isfinite(float(x)) for x in xs)
    except (TypeError, ValueError):
        return False


def stabilising_steer(vx: float, vy: float, r: float, lf_m: float, delta_max_rad: float, k_r_s: float = 0.05):
    """Steering (rad) that brings a car out of a drift: front wheels along the front-axle velocity.

    ``delta = atan2(vy + lf r, max(vx, 0.5)) - k_r_s r``, clipped to ``+-delta_max_rad``: zero front
    slip angle (less a small yaw damping), so the front axle stops feeding the yaw motion. With the
    drive released, the rear axle's lateral force then opposes the sideslip; as ``beta`` and ``r``
    decay the steering returns to straight. Non-finite inputs give 0 (straight).
    Source: Hindiyeh & Gerdes 2014, Sec. V (recovery logic), in its simplest form.
    """
    if not _finite(vx, vy, r):
        return 0.0
    delta = math.atan2(vy + lf_m * r, max(vx, 0.5)) - k_r_s * r
    return min(max(delta, -delta_max_rad), delta_max_rad)


class DriftStop:
    """The drift-aware stop sequence (module doc): ``recover`` -> ``brake`` -> ``hold``.

    Stateful (one per vehicle): :meth:`command` continues the stop that began at its first call
    after :meth:`reset`. Usage::

        stop = DriftStop(SafetyConfig.from_vehicle(vehicle))
        delta, Fx, phase = stop.command(t, vx, vy, r)   # every tick while stopping
        stop.reset()                                     # when control resumes

    The returned steering is not rate limited (the caller's actuator or filter does that).
    """

    def __init__(self, config: SafetyConfig):
        self.config = config
        self.reset()

    def reset(self) -> None:
        """Forget a stop in progress (the next :meth:`command` starts a new one)."""
        self._t0: float | None = None
        self.phase: StopPhase | None = None

    @property
    def active(self) -> bool:
        """A stop is in progress."""
        return self._t0 is not None

    def command(self, t: float, vx: float, vy: float, r: float) -> tuple[float, float, StopPhase]:
        """``(delta rad, Fx N, phase)`` at time ``t`` (s) for the body velocities ``vx, vy, r``.

        Non-finite velocities count as unknown: the stop then brakes (or holds, before any motion
        was seen) with the wheels straight.
        """
        c = self.config
        if self._t0 is None:
            self._t0 = t
        known = _finite(vx, vy, r)
        vx, vy, r = (float(a) for a in (vx, vy, r)) if known else (0.0, 0.0, 0.0)
        speed = math.hypot(vx, vy)
        beta = abs(math.atan2(vy, max(vx, 1e-3)))
        alpha_r = abs(math.atan2(vy - c.lr_m * r, max(vx, 1e-3)))
        gb, ga = c.beta_grip_rad, c.alpha_r_grip_rad
        if speed <= c.stop_speed_mps or (self.phase is StopPhase.HOLD and speed <= 2.0 * c.stop_speed_mps):
            phase = StopPhase.HOLD
        elif vx <= c.stop_speed_mps or t - self._t0 >= c.recover_max_s:
            phase = StopPhase.BRAKE  # sideways or backwards (spun), or recovery takes too long
        elif self.phase is StopPhase.BRAKE:
            phase = StopPhase.RECOVER if (beta > 2.0 * gb or alpha_r > 2.0 * ga) else StopPhase.BRAKE
        else:
            phase = StopPhase.BRAKE if (beta < gb and alpha_r < ga) else StopPhase.RECOVER
        self.phase = phase
        if phase is StopPhase.HOLD:
            return 0.0, -min(c.hold_Fx_N, c.Fx_brake_max_N), phase
        delta = stabilising_steer(vx, vy, r, c.lf_m, c.delta_max_rad, c.k_r_s)
        Fx = 0.0 if phase is StopPhase.RECOVER else -min(c.stop_Fx_N, c.Fx_brake_max_N)
        return delta, Fx, phase


class SafetyFilter:
    """Stateful command filter (one per vehicle). Not thread-safe: call from one thread.

    Usage::

        sf = SafetyFilter(SafetyConfig.from_vehicle(vehicle), predict=None)
        sf.odom_received(t, vx, vy, r)          # on every odometry message (finite values only)
        cmd = sf.filter(t, delta_raw, Fx_raw)   # on every control tick -> SafeCommand

    Args:
        config: limits and stop settings.
        predict: optional ``predict(v, u, dt) -> v_next``: body velocities ``v = [vx, vy, r]``
            after ``dt`` s under the command ``u = [delta, Fx]`` (e.g. the controller's model, see
            :func:`drift.vehicle.compiled_step`); used to continue the stop through stale odometry.
    """

    def __init__(self, config: SafetyConfig, predict=None):
        self.config = config
        self.predict = predict
        self.stop = DriftStop(config)
        self._t_odom: float | None = None
        self._v = (0.0, 0.0, 0.0)  # newest estimate of [vx, vy, r]
        self._t_v = 0.0  # its time
        self._estop_latched = False
        self._estop_input = False
        self._latched: Mode | None = None  # latched stop for stale odometry / invalid commands
        self._last: tuple[float, float, float] | None = None  # (t, delta, Fx) of the last output

    # ---- events ------------------------------------------------------------------------------
    def odom_received(self, t: float, vx: float, vy: float = 0.0, r: float = 0.0) -> bool:
        """Record odometry at time ``t`` (s): body velocities ``vx, vy`` (m/s) and yaw rate ``r`` (rad/s).

        Returns False (and records nothing) when a value is not finite: invalid odometry is
        treated as missing, so it turns stale after the timeout.
        """
        if not _finite(t, vx, vy, r):
            return False
        self._t_odom = self._t_v = float(t)
        self._v = (float(vx), float(vy), float(r))
        return True

    def emergency_stop(self, asserted: bool) -> None:
        """Feed the e-stop input. ``True`` latches the stop; ``False`` only releases the input."""
        self._estop_input = bool(asserted)
        if asserted:
            self._estop_latched = True

    def reset(self) -> bool:
        """Clear a latched stop (e-stop, stale odometry, invalid command).

        Refused (returns False) while the e-stop input is asserted.
        """
        if self._estop_input:
            return False
        self._estop_latched = False
        self._latched = None
        return True

    @property
    def estop_latched(self) -> bool:
        """An e-stop was received and not yet cleared by :meth:`reset` (with the input released)."""
        return self._estop_latched

    @property
    def stop_latched(self) -> Mode | None:
        """The latched stop's reason (``ESTOP``, ``STALE``, ``INVALID``), or None."""
        return Mode.ESTOP if self._estop_latched else self._latched

    def odom_age(self, t: float) -> float:
        """Age (s) of the newest valid odometry at time ``t``; ``inf`` if none arrived."""
        return math.inf if self._t_odom is None else max(0.0, t - self._t_odom)

    def stale(self, t: float) -> bool:
        """True when no odometry arrived within ``odom_timeout_s`` of ``t``."""
        return self.odom_age(t) > self.config.odom_timeout_s

    def velocities(self, t: float) -> tuple[float, float, float]:
        """Newest estimate of ``(vx, vy, r)`` at ``t``: the last odometry, predicted forward while stale."""
        c = self.config
        if self.predict is not None and self._t_odom is not None and self.stale(t) and self._last is not None:
            t_end = min(t, self._t_odom + c.predict_max_s)
            u = (self._last[1], self._last[2])
            while self._t_v + _PREDICT_DT_S <= t_end + 1e-9:  # fixed steps: at most one behind
                v = self.predict(self._v, u, _PREDICT_DT_S)
                if not _finite(*v):
                    break
                self._v, self._t_v = tuple(float(a) for a in v), self._t_v + _PREDICT_DT_S
        return self._v

    # ---- filtering ---------------------------------------------------------------------------
    def stop_command(self, t: float, mode: Mode) -> SafeCommand:
        """The next command of the drift-aware stop at ``t`` (module doc), reported with ``mode``."""
        c = self.config
        if self._t_odom is None:  # nothing known of the car: straight and neutral (or holding)
            delta, Fx, phase = 0.0, -min(c.hold_Fx_N, c.Fx_brake_max_N), StopPhase.HOLD
        else:
            delta, Fx, phase = self.stop.command(t, *self.velocities(t))
        return self._emit(t, self._rate_limit_delta(t, delta), Fx, mode, phase)

    def filter(self, t: float, delta, Fx) -> SafeCommand:
        """Turn a raw controller command at time ``t`` (s) into a :class:`SafeCommand`.

        Args:
            t: current time (s), the clock of :meth:`odom_received`.
            delta: raw steering (rad). Fx: raw force demand (N). May be NaN/None (-> INVALID).
        """
        if self._estop_latched:
            return self.stop_command(t, Mode.ESTOP)
        if self._latched is not None:
            return self.stop_command(t, self._latched)
        if self._t_odom is None:
            return self.stop_command(t, Mode.NO_ODOM)
        if self.stale(t):
            return self._begin_stop(t, Mode.STALE)
        if not _finite(delta, Fx):
            return self._begin_stop(t, Mode.INVALID)
        self.stop.reset()
        c = self.config
        delta = min(max(float(delta), -c.delta_max_rad), c.delta_max_rad)
        Fx = min(max(float(Fx), -c.Fx_brake_max_N), c.Fx_drive_max_N)
        delta = self._rate_limit_delta(t, delta)
        if self._last is not None:
            dt = max(c.rate_step_min_s, t - self._last[0])
            step = c.Fx_rate_max_Nps * dt
            Fx = min(max(Fx, self._last[2] - step), self._last[2] + step)
        return self._emit(t, delta, Fx, Mode.OK, None)

    def begin_stop(self, t: float, mode: Mode) -> SafeCommand:
        """Start (or continue) a stop for a cause the filter does not watch itself (e.g. ``STALE_CAMERA``),
        latched like a stale-odometry stop when ``latch_stops``; returns its command at ``t``."""
        if self._estop_latched:
            return self.stop_command(t, Mode.ESTOP)
        return self._begin_stop(t, mode)

    def _begin_stop(self, t: float, mode: Mode) -> SafeCommand:
        if self.config.latch_stops:
            self._latched = mode
        return self.stop_command(t, mode)

    def _rate_limit_delta(self, t: float, delta: float) -> float:
        if self._last is None:
            return delta
        dt = max(self.config.rate_step_min_s, t - self._last[0])
        step = self.config.delta_rate_max_radps * dt
        return min(max(delta, self._last[1] - step), self._last[1] + step)

    def _emit(self, t, delta, Fx, mode, phase) -> SafeCommand:
        if not _finite(delta, Fx):  # unreachable by construction; the last line of defence
            delta, Fx = 0.0, 0.0
        self._last = (float(t), float(delta), float(Fx))
        return SafeCommand(float(delta), float(Fx), mode, self.odom_age(t), phase)
