"""``sim_bridge_node``: drift's simulator behind the interface of a car.

Integrates the single-track model (:func:`drift.vehicle.f`, RK4 via :func:`drift.vehicle.rk4_step`,
tyres from :mod:`tire_models`) and publishes what a car publishes:

- ``/clock`` (rosgraph_msgs/Clock): simulated time, so nodes with ``use_sim_time`` follow it;
- ``/odom`` (nav_msgs/Odometry, pose in ``map``, twist in ``base_link``) at ``rate_hz`` (sim time);
- ``/imu`` (sensor_msgs/Imu): body accelerations ``ax = vx_dot - vy r``, ``ay = vy_dot + vx r``
  from :func:`drift.vehicle.body_derivatives`, gyro ``r``;
- TF ``map -> base_link``: ``tf2_msgs/TFMessage`` on ``/tf`` when ``tf2_msgs`` is importable; the
  pip wheels of ROS 2 Jazzy lack it, then a ``geometry_msgs/TransformStamped`` on
  ``/map_to_base_link`` carries the same transform;
- ``/camera/image_raw`` (sensor_msgs/Image, rgb8) at ``camera_rate_hz`` when the racing camera
  (``drift.racing.camera``) is available and ``track`` names a track.

It accepts what a car accepts: ``/drive`` as ``ackermann_msgs/AckermannDriveStamped`` (if
installed) or ``std_msgs/Float64MultiArray`` (``"delta_rad,Fx_N"`` or ``"delta_rad,throttle"``);
commands are clipped to the vehicle's limits (steering rate included, as an actuator would).
Without a command for ``command_timeout_s`` (simulated) the drive force returns to zero. With
``start_paused`` the initial state is held (clock and topics running) until the first non-zero
command, so a controller that takes seconds to start still takes over the initial condition.

Time: each tick advances ``1 / rate_hz`` s of simulated time; ticks are paced on the wall clock
at ``real_time_factor`` times real time (``2.0``: twice as fast). When the machine cannot keep up,
the simulation runs slower than asked (it never skips physics); ``~/real_time_factor`` reports
what it achieves. Simulated time starts at the wall clock's time at start, so recordings carry
real dates.
"""

from __future__ import annotations

import math
import time

import numpy as np

from drift_ros import ensure_ros_env

ensure_ros_env()

from builtin_interfaces.msg import Time  # noqa: E402
from geometry_msgs.msg import TransformStamped  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rclpy.clock import Clock, ClockType  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rosgraph_msgs.msg import Clock as ClockMsg  # noqa: E402
from sensor_msgs.msg import Image, Imu  # noqa: E402
from std_msgs.msg import Float64, Float64MultiArray  # noqa: E402

from drift.errors import ConfigError  # noqa: E402
from drift.vehicle import body_derivatives, f, rk4_step  # noqa: E402
from drift_ros import conventions as conv  # noqa: E402
from drift_ros.models import tires_from_param, vehicle_from_param  # noqa: E402
from drift_ros.params import Param, declare, non_negative, positive, validator  # noqa: E402
from drift_ros.runner import run_node  # noqa: E402

try:
    from tf2_msgs.msg import TFMessage  # type: ignore
except ImportError:  # not in the pip wheels
    TFMessage = None

INITIAL = ("scenario", "rest", "track_start")

PARAMS = [
    Param("vehicle", "sports", "-", "vehicle preset (sports, f1tenth, iac) or YAML path", read_only=True),
    Param("tires", "", "-", "plant tyre model.yaml; empty = Pacejka with the vehicle's mu", read_only=True),
    Param("rate_hz", 100.0, "Hz", "simulation / publishing rate in simulated time", positive, read_only=True),
    Param(
        "substeps", 5, "-", "RK4 steps per tick", lambda v: None if v >= 1 else "must be >= 1", read_only=True
    ),
    Param("real_time_factor", 1.0, "-", "simulated seconds per wall second", positive),
    Param(
        "initial_condition",
        "scenario",
        "-",
        "scenario: start on the scenario's drift equilibrium; rest: start at initial_vx_mps heading along x",
        choices=INITIAL,
        read_only=True,
    ),
    Param("scenario", "donut", "-", "scenario of the initial condition", read_only=True),
    Param("radius_m", 8.0, "m", "donut radius, + = left", read_only=True),
    Param("beta_ref_rad", -0.35, "rad", "donut sideslip", read_only=True),
    Param(
        "initial_vx_mps",
        0.0,
        "m/s",
        "initial speed when initial_condition = rest",
        non_negative,
        read_only=True,
    ),
    Param(
        "start_paused",
        False,
        "-",
        "hold the initial state (time and topics running) until the first "
        "non-zero /drive command, so a controller that starts later takes over the initial condition",
        read_only=True,
    ),
    Param(
        "command_timeout_s",
        0.5,
        "s",
        "simulated time without /drive after which the drive force is 0",
        positive,
    ),
    Param("camera_rate_hz", 10.0, "Hz", "camera image rate (simulated time); 0 = off", non_negative),
    Param("track", "", "-", "track for the camera (name or TUM csv); empty = no camera", read_only=True),
    Param(
        "camera_scale",
        1.0,
        "-",
        "camera geometry scale (1 = full-size car, 0.1 for 1:10)",
        positive,
        read_only=True,
    ),
    Param(
        "start_time_s",
        0.0,
        "s",
        "simulated time at start; 0 = the wall clock's time",
        non_negative,
        read_only=True,
    ),
]


def _stamp(t: float) -> Time:
    sec, ns = divmod(int(round(t * 1e9)), 1_000_000_000)
    return Time(sec=sec, nanosec=ns)


class SimBridgeNode(Node):
    def __init__(self, **node_kwargs):
        super().__init__("sim_bridge", **node_kwargs)
        self.values = v = declare(self, PARAMS)
        self.add_on_set_parameters_callback(validator(self.get_name(), PARAMS))
        self.vehicle = vehicle_from_param(v["vehicle"])
        self.tires = tires_from_param(v["tires"], self.vehicle)
        self.camera = self._make_camera()
        self.x = self._initial_state()
        self.u = np.array([0.0, 0.0])  # applied [delta, Fx]
        self.u_cmd = np.array([0.0, 0.0])  # last commanded
        self.dt = 1.0 / v["rate_hz"]
        self.t = v["start_time_s"] or time.time()
        self.t_cmd = -math.inf
        self.steps = 0
        self._step, self._derivs = self._integrator()
        self.paused = bool(v["start_paused"])

        self.pub_clock = self.create_publisher(ClockMsg, "/clock", 10)
        self.pub_odom = self.create_publisher(Odometry, "/odom", conv.SENSOR_QOS)
        self.pub_imu = self.create_publisher(Imu, "/imu", conv.SENSOR_QOS)
        self.pub_img = self.create_publisher(Image, "/camera/image_raw", conv.SENSOR_QOS)
        if TFMessage is not None:
            self.pub_tf = self.create_publisher(TFMessage, "/tf", 100)
        else:
            self.pub_tf = self.create_publisher(TransformStamped, "/map_to_base_link", 10)
        self.pub_rtf = self.create_publisher(Float64, "~/real_time_factor", 10)
        # accept both command types of a car
        self.create_subscription(Float64MultiArray, "/drive", self._on_drive, conv.COMMAND_QOS)
        if conv.AckermannDriveStamped is not None:
            self.create_subscription(conv.AckermannDriveStamped, "/drive", self._on_drive, conv.COMMAND_QOS)
        self.steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.wall0, self.steps0 = self._wall(), 0
        self.timer = self.create_timer(self.dt / v["real_time_factor"], self._tick, clock=self.steady)
        self.add_post_set_parameters_callback(self._params_changed)
        self._rtf_report = (self._wall(), 0)
        self.get_logger().info(
            f"simulating {self.vehicle.name} ({self.tires.front.name} tyres) at {v['rate_hz']:g} Hz, "
            f"real-time "
            f"factor {v['real_time_factor']:g}; x0 = {np.round(self.x, 3).tolist()}; TF on "
            f"{'/tf' if TFMessage else '/map_to_base_link (no tf2_msgs)'}; camera "
            f"{'on' if self.camera else 'off'}"
        )

    def _integrator(self):
        """``(step(x, u) -> x_next, derivs(v, u) -> [vx_dot, vy_dot, r_dot])``.

        The model is :func:`drift.vehicle.f` integrated by :func:`drift.vehicle.rk4_step`; with tyres
        that CasADi can evaluate, both are traced once into CasADi functions (same equations, ~100x
        faster per call than numpy on scalars), else evaluated with numpy.
        """
        p, tires, dt, n = self.vehicle, self.tires, self.dt, self.values["substeps"]
        fun = lambda x, u: f(x, u, p, tires)  # noqa: E731
        if getattr(tires.front, "casadi", False) and getattr(tires.rear, "casadi", False):
            import casadi as ca

            xs, us, vs = ca.SX.sym("x", 6), ca.SX.sym("u", 2), ca.SX.sym("v", 3)
            F = ca.Function("step", [xs, us], [rk4_step(fun, xs, us, dt, n)])
            D = ca.Function("derivs", [vs, us], [body_derivatives(vs, us, p, tires)])
            return (lambda x, u: np.asarray(F(x, u)).reshape(6)), (
                lambda v, u: np.asarray(D(v, u)).reshape(3)
            )
        return (lambda x, u: rk4_step(fun, x, u, dt, n)), (lambda v, u: body_derivatives(v, u, p, tires))

    def _wall(self) -> float:
        return self.steady.now().nanoseconds * 1e-9

    def _initial_state(self) -> np.ndarray:
        v = self.values
        if v["initial_condition"] == "rest":
            return np.array([0.0, 0.0, 0.0, v["initial_vx_mps"], 0.0, 0.0])
        if v["initial_condition"] == "track_start":
            if self.camera is None:
                raise ConfigError(
                    "parameter initial_condition = 'track_start' needs a track (parameter track)"
                )
            tr = self.camera.track
            return np.array([tr.xy[0, 0], tr.xy[0, 1], tr.heading[0], v["initial_vx_mps"], 0.0, 0.0])
        from drift_ros.scenarios import make_scenario

        return make_scenario(v["scenario"], self.vehicle, self.tires, v["radius_m"], v["beta_ref_rad"]).x0

    def _make_camera(self):
        v = self.values
        if not v["track"] or v["camera_rate_hz"] <= 0:
            return None
        try:
            from drift_ros.camera import make_camera
        except ImportError as e:
            raise ConfigError(
                f"parameter track = {v['track']!r}: the camera renderer is not available ({e})"
            ) from None
        return make_camera(v["track"], v["camera_scale"])

    def _params_changed(self, params) -> None:
        for p in params:
            self.values[p.name] = (
                float(p.value) if isinstance(p.value, int) and p.name.endswith(("_s", "factor")) else p.value
            )
            if p.name == "real_time_factor":
                self.timer.cancel()
                self.wall0, self.steps0 = self._wall(), self.steps
                self.timer = self.create_timer(self.dt / float(p.value), self._tick, clock=self.steady)

    # ---- commands ------------------------------------------------------------------------------
    def _on_drive(self, msg) -> None:
        p = self.vehicle
        try:
            self.u_cmd = np.array(conv.parse_command(msg, p.m, p.Fx_drive_max, p.Fx_brake_max))
            self.t_cmd = self.t
            if self.paused and np.any(self.u_cmd != 0.0):
                self.paused = False
                self.u = self.u_cmd.copy()  # the controller takes over the initial condition as it is
                self.get_logger().info("first command received: simulation running")
        except ValueError as e:
            self.get_logger().warning(f"ignoring /drive: {e}", throttle_duration_sec=1.0)

    def _actuate(self) -> None:
        p = self.vehicle
        delta, Fx = self.u_cmd
        if self.t - self.t_cmd > self.values["command_timeout_s"]:
            Fx = 0.0
        step = p.delta_rate_max * self.dt
        delta = float(np.clip(np.clip(delta, -p.delta_max, p.delta_max), self.u[0] - step, self.u[0] + step))
        Fx = float(np.clip(Fx, -p.Fx_brake_max, min(p.Fx_drive_max, p.P_max / max(abs(self.x[3]), 1.0))))
        self.u = np.array([delta, Fx])

    # ---- simulation ----------------------------------------------------------------------------
    def _tick(self) -> None:
        # catch up when a tick came late, at most 3 steps per tick
        due = int((self._wall() - self.wall0) * self.values["real_time_factor"] / self.dt) - (
            self.steps - self.steps0
        )
        for _ in range(max(1, min(due, 3))):
            self.step()
        w, n = self._rtf_report
        if self._wall() - w >= 1.0:
            self.pub_rtf.publish(Float64(data=(self.steps - n) * self.dt / (self._wall() - w)))
            self._rtf_report = (self._wall(), self.steps)

    def step(self) -> None:
        """Advance one tick and publish clock, odometry, IMU, TF (and the camera when due)."""
        if self.paused:
            x = self.x.copy()
        else:
            self._actuate()
            x = self._step(self.x, self.u)
        if not np.all(np.isfinite(x)):
            self.get_logger().error(
                "simulation diverged (non-finite state); restarting from the initial state"
            )
            x = self._initial_state()
        x[2] = math.remainder(x[2], 2 * math.pi)
        self.x = x
        self.t += self.dt
        self.steps += 1
        stamp = _stamp(self.t)
        self.pub_clock.publish(ClockMsg(clock=stamp))
        self.pub_odom.publish(conv.state_to_odometry(x, stamp))
        vx, vy, r = x[3:6]
        dv = self._derivs(x[3:6], self.u)
        self.pub_imu.publish(conv.make_imu(dv[0] - vy * r, dv[1] + vx * r, r, x[2], stamp))
        tf = TransformStamped()
        tf.header.stamp, tf.header.frame_id, tf.child_frame_id = stamp, "map", "base_link"
        tf.transform.translation.x, tf.transform.translation.y = float(x[0]), float(x[1])
        q = tf.transform.rotation
        q.x, q.y, q.z, q.w = conv.yaw_to_quaternion(float(x[2]))
        self.pub_tf.publish(TFMessage(transforms=[tf]) if TFMessage is not None else tf)
        rate = self.values["camera_rate_hz"]
        if self.camera is not None and rate > 0 and self.steps % max(1, round(1.0 / (rate * self.dt))) == 0:
            self.pub_img.publish(self.camera(x, stamp))


def main(args=None) -> None:
    raise SystemExit(run_node(SimBridgeNode, args))


if __name__ == "__main__":
    main()
