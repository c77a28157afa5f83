"""``drift_mpc_node``: runs a drift controller (default the drift NMPC) behind the safety filter.

Subscribes ``/odom`` (nav_msgs/Odometry), ``/imu`` (sensor_msgs/Imu, optional: its gyro
replaces the odometry yaw rate while fresh), ``/emergency_stop`` (std_msgs/Bool),
``/emergency_stop_reset`` (std_msgs/Empty). Publishes on a timer at ``rate_hz`` (node clock:
simulated time when ``use_sim_time`` is true):

- ``/drive``: the command (``ackermann_msgs/AckermannDriveStamped`` or the
  ``std_msgs/Float64MultiArray`` fallback ``[delta_rad, Fx_N]``, see :mod:`drift_ros.conventions`);
- ``/drive_mode`` (std_msgs/String), just before each ``/drive``: the command's mode from
  :class:`controllers.safety.Mode` (``ok``, ``no_odom``, ``stale``, ``estop``, ``invalid``,
  ``shutdown``); a simulator starts on the first ``ok`` command;
- ``~/status`` (std_msgs/String): ``"<mode>; <controller status>"``;
- ``~/diagnostics`` (std_msgs/Float64MultiArray), labelled by :data:`DIAG_LABEL`;
- ``~/predicted_path`` (nav_msgs/Path): the controller's predicted positions (map frame).

Safety (:mod:`controllers.safety`), timed on the monotonic wall clock so that a stopped simulator
cannot hide stale odometry. Every stop is the drift-aware stop of :class:`controllers.safety.DriftStop`
(out of the drift with the stabilising law and the drive released, brake once in grip, then hold),
for every cause alike:

- odometry older than ``odom_timeout_s`` (NaN odometry is dropped, so it turns stale); through the
  dropout the state is predicted with the controller's model;
- a NaN command, an exception of the controller, or ``solver_failures_max`` consecutive failed solves;
- ``/emergency_stop`` ``True``;
- shutdown: on Ctrl-C (SIGINT), or when the controller reports its programme ``done`` (e.g. the
  ``sysid`` identification drive), the node keeps stopping the car until it holds (at most
  ``shutdown_stop_s``, and no longer than the state can be predicted without odometry), then exits
  with status 0; on SIGTERM (e.g. its launcher died) it publishes
  one stop command and exits at once.

Stops latch (``latch_stops``) until a message on ``/emergency_stop_reset`` (refused while the last
``/emergency_stop`` was ``True``). A watchdog timer on the wall clock keeps publishing the stop when the
control timer stops (e.g. the simulator's ``/clock`` stopped). Every command is saturated and rate
limited and never NaN.

Run: ``python -m drift_ros.drift_mpc_node --ros-args --params-file config/sim_drift.yaml``.
"""

from __future__ import annotations

import math
import time

import numpy as np

from drift_ros import ensure_ros_env

ensure_ros_env()

from nav_msgs.msg import Odometry  # noqa: E402,I001
from rclpy.clock import Clock, ClockType  # noqa: E402
from rclpy.node import Node  # noqa: E402
from sensor_msgs.msg import Imu  # noqa: E402
from std_msgs.msg import Bool, Empty, Float64MultiArray, MultiArrayDimension, String  # noqa: E402

from controllers.safety import Mode, SafeCommand, SafetyConfig, SafetyFilter, StopPhase  # noqa: E402
from drift.vehicle import applied_force, compiled_step  # noqa: E402
from drift_ros import conventions as conv  # noqa: E402
from drift_ros.control import make_controller  # noqa: E402
from drift_ros.models import tires_from_param, vehicle_from_param  # noqa: E402
from drift_ros.params import Param, declare, non_negative, positive, validator  # noqa: E402
from drift_ros.runner import run_node  # noqa: E402

DIAG_LABEL = "solve_time_ms,odom_age_ms,delta_rad,Fx_N,delta_raw_rad,Fx_raw_N,mode_code"
MODE_CODES = {m: i for i, m in enumerate(Mode)}

PARAMS = [
    Param(
        "controller",
        "drift_mpc",
        "-",
        "controller: drift_mpc, cruise or package.module:factory",
        read_only=True,
    ),
    Param("vehicle", "sports", "-", "vehicle preset (sports, f1tenth, iac) or YAML path", read_only=True),
    Param(
        "tires",
        "",
        "-",
        "tyre model.yaml or drift fit run folder; empty = Pacejka with the vehicle's mu",
        read_only=True,
    ),
    Param("rate_hz", 50.0, "Hz", "control rate", positive, read_only=True),
    Param(
        "trigger",
        "timer",
        "-",
        "timer: control at rate_hz on the node clock; odom: one control step per "
        "odometry message (lowest latency; the watchdog still runs at rate_hz)",
        choices=("timer", "odom"),
        read_only=True,
    ),
    Param(
        "command_type",
        "auto",
        "-",
        "/drive message: auto (Ackermann if installed), ackermann, float64_array",
        choices=conv.COMMAND_TYPES,
        read_only=True,
    ),
    Param("use_imu", True, "-", "use the /imu gyro for the yaw rate while it is fresh"),
    Param(
        "scenario",
        "donut",
        "-",
        "reference scenario of the controller (donut: steady drift on a circle)",
        read_only=True,
    ),
    Param("v_ref_mps", 8.0, "m/s", "reference speed", positive, read_only=True),
    Param("radius_m", 8.0, "m", "reference circle radius, + = left turn, 0 = straight", read_only=True),
    Param(
        "beta_ref_rad",
        -0.35,
        "rad",
        "reference sideslip of the drift (sign follows the turn)",
        lambda v: None if abs(v) < 1.5 else "must satisfy |beta| < 1.5",
        read_only=True,
    ),
    Param(
        "mpc_config",
        "",
        "-",
        "NMPC settings: configs/mpc preset name or YAML path; empty = defaults with dt_s = 1 / rate_hz",
        read_only=True,
    ),
    Param(
        "excitation_amplitude_rad",
        0.0,
        "rad",
        "cruise controller only: amplitude of a sinusoidal steering sweep (identification drives)",
        non_negative,
        read_only=True,
    ),
    Param(
        "excitation_period_s",
        3.0,
        "s",
        "cruise controller only: period of the steering sweep",
        positive,
        read_only=True,
    ),
    Param(
        "sysid_duration_s",
        300.0,
        "s",
        "sysid controller only: length of the identification drive (node clock)",
        positive,
        read_only=True,
    ),
    Param("odom_timeout_s", 0.1, "s", "odometry older than this triggers a safe stop (wall clock)", positive),
    Param("delta_max_rad", 0.0, "rad", "steering saturation; 0 = the vehicle's delta_max_rad", non_negative),
    Param("delta_rate_max_radps", 0.0, "rad/s", "steering rate limit; 0 = the vehicle's", non_negative),
    Param("Fx_drive_max_N", 0.0, "N", "drive force limit; 0 = the vehicle's", non_negative),
    Param("Fx_brake_max_N", 0.0, "N", "brake force limit (magnitude); 0 = the vehicle's", non_negative),
    Param(
        "Fx_rate_max_Nps", 0.0, "N/s", "force rate limit; 0 = 10 x the larger force limit per s", non_negative
    ),
    Param("stop_Fx_N", 0.0, "N", "braking force of a safe stop; 0 = half the brake limit", non_negative),
    Param("stop_speed_mps", 0.5, "m/s", "below this speed a stop holds (hold_Fx_N)", non_negative),
    Param("hold_Fx_N", 0.0, "N", "brake force holding a stopped car; 0 = neutral", non_negative),
    Param("beta_grip_rad", 0.1, "rad", "a stop brakes once |beta| is below this (back in grip)", positive),
    Param("alpha_r_grip_rad", 0.1, "rad", "... and the rear slip angle below this", positive),
    Param(
        "recover_max_s", 3.0, "s", "longest drift recovery of a stop before it brakes regardless", positive
    ),
    Param("latch_stops", True, "-", "stale-odometry and invalid-command stops latch until a reset"),
    Param(
        "solver_failures_max",
        25,
        "-",
        "consecutive failed controller solves (its own fallback drives meanwhile) before the node stops",
        lambda v: None if v >= 1 else "must be >= 1",
    ),
    Param(
        "shutdown_stop_s",
        8.0,
        "s",
        "on Ctrl-C: longest time spent stopping the car before exiting",
        non_negative,
    ),
]

_SAFETY_KEYS = (
    "odom_timeout_s",
    "delta_max_rad",
    "delta_rate_max_radps",
    "Fx_drive_max_N",
    "Fx_brake_max_N",
    "Fx_rate_max_Nps",
    "stop_Fx_N",
)
#: passed as they are (0 is a meaningful value, not "the vehicle's")
_SAFETY_KEYS_EXACT = (
    "stop_speed_mps",
    "hold_Fx_N",
    "beta_grip_rad",
    "alpha_r_grip_rad",
    "recover_max_s",
    "latch_stops",
)


def safety_config(vehicle, values: dict) -> SafetyConfig:
    """:class:`SafetyConfig` from the vehicle's limits and the node's non-zero overrides."""
    over = {k: values[k] for k in _SAFETY_KEYS if values.get(k)}
    over.setdefault("odom_timeout_s", values.get("odom_timeout_s", 0.1))
    over.update({k: values[k] for k in _SAFETY_KEYS_EXACT if k in values})
    over["rate_step_min_s"] = 1.0 / values["rate_hz"]  # a command holds one control period
    return SafetyConfig.from_vehicle(vehicle, **over)


def model_predictor(vehicle, tires):
    """``predict(v, u, dt)`` of the body velocities with the controller's model (for stale odometry);
    compiled on first use for the ``dt`` of that call, which :class:`SafetyFilter` keeps fixed."""
    steps: dict = {}

    def predict(v, u, dt):
        if dt not in steps:
            steps[dt] = compiled_step(vehicle, tires, dt, 1)[0]
        x = steps[dt](np.array([0.0, 0.0, 0.0, *v]), np.array([u[0], applied_force(u[1], v[0], vehicle)]))
        return x[3:6]

    return predict


class DriftMpcNode(Node):
    """The controller node. ``controller_factory(vehicle, tires, settings)`` injects a controller
    (default: :func:`drift_ros.control.make_controller` with the ``controller`` parameter).

    Subclasses (``racing_agent_node``) keep its safety and change what it drives with: ``NODE_NAME``,
    ``PARAMS``, :meth:`_car`, :meth:`_controller_step` and :meth:`_drive_msg`."""

    NODE_NAME = "drift_mpc"
    PARAMS = PARAMS

    def __init__(self, controller_factory=None, **node_kwargs):
        super().__init__(self.NODE_NAME, **node_kwargs)
        self.values = declare(self, self.PARAMS)
        self.add_on_set_parameters_callback(validator(self.get_name(), self.PARAMS))
        self.add_post_set_parameters_callback(self._parameters_changed)
        v = self.values
        self.vehicle, self.tires = self._car()
        settings = dict(v)
        factory = controller_factory or (lambda veh, tir, s: make_controller(v["controller"], veh, tir, s))
        self.controller = factory(self.vehicle, self.tires, settings)
        self.safety = SafetyFilter(self._safety_config(), predict=model_predictor(self.vehicle, self.tires))
        self.msg_type = conv.command_msg_type(v["command_type"])
        self.failures = 0  # consecutive failed solves
        self.finished = False  # the controller's programme is over (read by drift_ros.runner)
        self.stopping = False  # shutting down: stop the car, whatever the inputs
        self.steady = Clock(clock_type=ClockType.STEADY_TIME)

        self.state: np.ndarray | None = None
        self.imu_r: tuple[float, float] | None = None  # (steady time, yaw rate)
        self.last_mode: Mode | None = None
        self.last_publish = -math.inf
        self.n_published = 0

        self.pub_mode = self.create_publisher(String, "/drive_mode", conv.COMMAND_QOS)
        self.pub_drive = self.create_publisher(self.msg_type, "/drive", conv.COMMAND_QOS)
        self.pub_status = self.create_publisher(String, "~/status", 10)
        self.pub_diag = self.create_publisher(Float64MultiArray, "~/diagnostics", 10)
        self.pub_path = self.create_publisher(conv.Path, "~/predicted_path", 10)
        self.create_subscription(Odometry, "/odom", self._on_odom, conv.SENSOR_QOS)
        self.create_subscription(Imu, "/imu", self._on_imu, conv.SENSOR_QOS)
        self.create_subscription(Bool, "/emergency_stop", self._on_estop, conv.COMMAND_QOS)
        self.create_subscription(Empty, "/emergency_stop_reset", self._on_reset, conv.COMMAND_QOS)
        self.period = 1.0 / v["rate_hz"]
        if v["trigger"] == "timer":
            self.create_timer(self.period, self._control)
        self.create_timer(self.period, self._watchdog, clock=self.steady)
        self.get_logger().info(
            f"controller {v.get('controller', self.NODE_NAME)} on vehicle {self.vehicle.name} at "
            f"{v['rate_hz']:g} Hz; /drive as {self.msg_type.__name__}; odometry timeout "
            f"{self.safety.config.odom_timeout_s * 1e3:.0f} ms"
        )

    def _car(self):
        """``(VehicleParams, AxleTires)`` the node drives (from the ``vehicle`` and ``tires`` parameters)."""
        vehicle = vehicle_from_param(self.values["vehicle"])
        return vehicle, tires_from_param(self.values["tires"], vehicle)

    def _safety_config(self) -> SafetyConfig:
        return safety_config(self.vehicle, self.values)

    def _controller_step(self, x: np.ndarray, t: float):
        """``(command [delta, Fx], diagnostics)`` of the controller for state ``x`` at node time ``t``."""
        return self.controller.step(x, t)

    def _drive_msg(self, cmd: SafeCommand, speed: float, stamp):
        return conv.make_command(self.msg_type, cmd.delta, cmd.Fx, self.vehicle.m, speed, stamp)

    # ---- time ----------------------------------------------------------------------------------
    def _now(self) -> float:
        return self.steady.now().nanoseconds * 1e-9

    # ---- inputs --------------------------------------------------------------------------------
    def _on_odom(self, msg: Odometry) -> None:
        x = conv.odometry_to_state(msg)
        if not np.all(np.isfinite(x)):
            self.get_logger().warning("dropping /odom holding NaN or inf", throttle_duration_sec=1.0)
            return
        if self.safety.odom_received(self._now(), x[3], x[4], x[5]):
            self.state = x
            if self.values["trigger"] == "odom":
                self._control()

    def _on_imu(self, msg: Imu) -> None:
        r = msg.angular_velocity.z
        if math.isfinite(r):
            self.imu_r = (self._now(), float(r))

    def _on_estop(self, msg: Bool) -> None:
        was = self.safety.estop_latched
        self.safety.emergency_stop(bool(msg.data))
        if msg.data:
            if not was:
                self.get_logger().warning("emergency stop latched (reset: publish on /emergency_stop_reset)")
            self._publish(self.safety.stop_command(self._now(), Mode.ESTOP), None, {})

    def _on_reset(self, msg: Empty) -> None:
        latched = self.safety.stop_latched
        if latched is None:
            return
        if self.safety.reset():
            self.failures = 0
            self.get_logger().info(f"{latched.value} stop reset")
        else:
            self.get_logger().warning("emergency stop reset refused: /emergency_stop is still True")

    def _parameters_changed(self, params) -> None:
        specs = {p.name: p for p in self.PARAMS}
        for p in params:
            if p.name in specs:
                self.values[p.name] = specs[p.name].coerce(p.value)
        if any(p.name in _SAFETY_KEYS for p in params):
            self.safety.config = self._safety_config()

    # ---- control -------------------------------------------------------------------------------
    def _control(self) -> None:
        now = self._now()
        sf = self.safety
        if self.stopping:
            self._publish(sf.stop_command(now, Mode.SHUTDOWN), None, {"status": "shutdown"})
            return
        if self.state is None or sf.stop_latched or sf.stale(now):
            self._publish(sf.filter(now, math.nan, math.nan), None, {})
            return
        x = self.state.copy()
        if (
            self.values["use_imu"]
            and self.imu_r is not None
            and now - self.imu_r[0] <= sf.config.odom_timeout_s
        ):
            x[5] = self.imu_r[1]
        t = self.get_clock().now().nanoseconds * 1e-9
        try:
            u, diag = self._controller_step(x, t)
            u = np.asarray(u, dtype=float).reshape(-1)
            raw = (u[0], u[1]) if u.size >= 2 else (math.nan, math.nan)
        except Exception as e:  # noqa: BLE001 - a failing controller must not stop the node
            self.get_logger().error(f"controller step failed: {e!r}", throttle_duration_sec=1.0)
            raw, diag = (math.nan, math.nan), {"status": f"exception: {type(e).__name__}"}
        diag = diag or {}
        if diag.get("done") and not self.finished:
            self.get_logger().info("controller programme complete: stopping the car, then exiting")
            self.finished = True  # run_node's graceful shutdown: the drift-aware stop to rest
        self.failures = self.failures + 1 if diag.get("success") is False else 0
        if self.failures >= self.values.get("solver_failures_max", 1):
            if self.failures == self.values.get("solver_failures_max", 1):
                self.get_logger().error(f"{self.failures} consecutive failed solves: stopping the car")
            raw = (math.nan, math.nan)
        # judged at the tick's start: the command is based on the odometry available then
        self._publish(sf.filter(now, *raw), raw, diag)

    def _watchdog(self) -> None:
        """Keep a stop command going when the control timer is not running (stopped sim clock)."""
        now = self._now()
        if now - self.last_publish < 1.5 * self.period:
            return
        sf = self.safety
        if self.stopping:
            self._publish(sf.stop_command(now, Mode.SHUTDOWN), None, {"status": "shutdown"})
        elif self.state is None or sf.stop_latched or sf.stale(now):
            self._publish(sf.filter(now, math.nan, math.nan), None, {})

    def _publish(self, cmd: SafeCommand, raw, diag: dict) -> None:
        stamp = self.get_clock().now().to_msg()
        speed = float(self.state[3]) if self.state is not None else 0.0
        self.pub_mode.publish(String(data=cmd.mode.value))
        self.pub_drive.publish(self._drive_msg(cmd, speed, stamp))
        self.last_publish = self._now()
        self.n_published += 1
        if cmd.mode is not self.last_mode:
            text = (
                f"command mode {cmd.mode.value}"
                + (f" (odometry age {cmd.odom_age_s * 1e3:.0f} ms)" if cmd.mode is Mode.STALE else "")
                + (" (drift-aware stop)" if cmd.phase is not None else "")
            )
            if cmd.mode is Mode.OK:
                self.get_logger().info(text)
            else:
                self.get_logger().warning(text)
            self.last_mode = cmd.mode
        status = str(diag.get("status", "-"))
        self.pub_status.publish(String(data=f"{cmd.mode.value}; {status}"))
        raw = raw if raw is not None else (math.nan, math.nan)
        d = Float64MultiArray()
        d.layout.dim = [MultiArrayDimension(label=DIAG_LABEL, size=7, stride=7)]
        solve = diag.get("solve_time_s", math.nan)
        d.data = [
            float(solve) * 1e3,
            min(cmd.odom_age_s, 1e9) * 1e3,
            cmd.delta,
            cmd.Fx,
            *(float(r) if r is not None else math.nan for r in raw),
            float(MODE_CODES[cmd.mode]),
        ]
        self.pub_diag.publish(d)
        xy, psi = diag.get("predicted_xy"), diag.get("predicted_psi")
        if xy is None and diag.get("predicted_states") is not None:
            ps = np.asarray(diag["predicted_states"], dtype=float)
            xy, psi = ps[:, :2], ps[:, 2]
        if xy is not None:
            self.pub_path.publish(
                conv.make_path(np.asarray(xy), None if psi is None else np.asarray(psi), stamp)
            )

    @property
    def shutdown_time_s(self) -> float:
        """Longest time (s) :meth:`shutdown` takes (the runner's exit deadline builds on it)."""
        return self.values["shutdown_stop_s"] + 0.5

    def shutdown(self, graceful: bool = True) -> None:
        """Stop the car before the node goes down (module doc): until it holds, or one command."""
        import rclpy

        self.stopping = True
        self.last_mode = Mode.SHUTDOWN  # no mode-change log line for the stop
        self._publish(self.safety.stop_command(self._now(), Mode.SHUTDOWN), None, {"status": "shutdown"})
        end = self._now() + (self.values["shutdown_stop_s"] if graceful else 0.0)
        if graceful and self.state is not None:
            self.get_logger().info("shutting down: stopping the car first")
            while self._now() < end:
                rclpy.spin_once(self, timeout_sec=self.period)
                now = self._now()
                if self.safety.stop.phase is StopPhase.HOLD and not self.safety.stale(now):
                    break
                if self.safety.odom_age(now) > self.safety.config.predict_max_s:
                    break  # the car is no longer observed: its own watchdog takes over
        self._publish(self.safety.stop_command(self._now(), Mode.SHUTDOWN), None, {"status": "shutdown"})
        self.get_logger().info(
            f"shutting down: final stop command published (stop phase {self.safety.stop.phase.value})"
            if self.safety.stop.phase is not None
            else "shutting down: final stop command published"
        )
        time.sleep(0.05)  # let DDS deliver it


def main(args=None) -> None:
    raise SystemExit(run_node(DriftMpcNode, args))


if __name__ == "__main__":
    main()
