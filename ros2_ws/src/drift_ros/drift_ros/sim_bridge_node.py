"""``sim_bridge_node``: drift's simulator behind the interface of a car.

Steps the racing environment's simulator core, so a controller or an agent meets through ROS the car it
met in training: with a ``track``, a one-car :class:`drift.racing.RacingSim` (the same actuation, walls,
lap timing and camera renderer as ``drift.racing.RacingEnv``, settings of the racing ``preset``); without
one (open ground, e.g. the donut), the same physics of :func:`drift.racing.sim.advance` alone. Both
integrate :func:`drift.vehicle.f` with RK4 (``substeps`` per tick) and the default tyres of
:func:`drift.vehicle.tires.default_tires` unless ``tires`` names others. It publishes what a car
publishes:

- ``/clock`` (rosgraph_msgs/Clock): simulated time, so nodes with ``use_sim_time`` follow it;
- ``/odom`` (nav_msgs/Odometry, pose in ``map``, twist in ``base_link``) at ``rate_hz`` (sim time);
- ``/imu`` (sensor_msgs/Imu): body accelerations ``ax = vx_dot - vy r``, ``ay = vy_dot + vx r``
  from :func:`drift.vehicle.body_derivatives`, gyro ``r``;
- TF ``map -> base_link``: ``tf2_msgs/TFMessage`` on ``/tf`` when ``tf2_msgs`` is importable; the
  pip wheels of ROS 2 Jazzy lack it, then a ``geometry_msgs/TransformStamped`` on
  ``/map_to_base_link`` carries the same transform;
- ``/camera/image_raw`` (sensor_msgs/Image, rgb8) at ``camera_rate_hz`` when ``track`` names a track:
  the environment's camera (:class:`drift.racing.camera.TrackCamera`, ``image_px`` square, placed as
  the preset's camera or by ``camera_height_m``, ``camera_pitch_rad``, ``camera_fov_rad``);
- ``~/lap`` (std_msgs/Float64MultiArray ``[lap_time_s, valid]``) at each timed lap (the first crossing
  of the start line starts the clock; valid: never off course), with a track;
- ``~/ground_truth`` (nav_msgs/Odometry): the true state every tick, never delayed or dropped (for
  evaluating a run under injected sensor faults).

It accepts what a car accepts: ``/drive`` as ``ackermann_msgs/AckermannDriveStamped`` (if
installed) or ``std_msgs/Float64MultiArray`` (``"delta_rad,Fx_N"`` or ``"delta_rad,throttle"``).
Actuation is the car's (:func:`drift.racing.sim.advance`): the wheel follows the commanded angle at
the steering rate limit, drive limited by force and power, brakes that oppose the direction of travel
and never reverse the car (:func:`drift.vehicle.applied_force`); a ``throttle`` command passes the
environment's traction control and ABS (:meth:`drift.racing.RacingSim.force_command`) with a track, and
scales the force limits without one. Before the first command the car coasts; without a command for
``command_timeout_s`` (simulated) after it, the car stops itself with the drift-aware stop of
:class:`controllers.safety.DriftStop` (what a car's own watchdog must do: a controller that died
mid-drift leaves the car drifting).

Start: with ``start_paused`` the initial state is held (clock and topics running) until the
controller's first command issued with fresh odometry: the first ``/drive`` after an ``ok`` on
``/drive_mode`` (:mod:`drift_ros.conventions`), so that a controller's start-up stop commands do not
brake the car out of its initial condition (``start_on: any_command``: the first non-zero
command, for controllers that publish no ``/drive_mode``).

Synchronous mode (``sync_camera``): after each camera frame the simulation waits for the next
``/drive`` (at most ``sync_timeout_s`` wall seconds) before it steps on, as a simulator's synchronous
mode; an agent acting on each frame then drives exactly the steps it drove in the environment, however
loaded the machine. Paused, it waits after each frame too, so that the frame the controller starts on is
the last before the start.

Fault injection (for tests and robustness checks; simulated time): ``odom_drop_prob`` drops that
share of ``/odom`` and ``/imu`` messages, ``odom_delay_s`` delays them, and a ``std_msgs/Float64``
on ``~/blackout`` stops them for that many seconds.

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
from std_msgs.msg import Float64, Float64MultiArray, MultiArrayDimension, String  # noqa: E402

from controllers.safety import DriftStop, SafetyConfig  # noqa: E402
from drift.errors import ConfigError, DriftError  # noqa: E402
from drift.racing.sim import advance  # noqa: E402
from drift.vehicle import f, throttle_force  # noqa: E402
from drift_ros import conventions as conv  # noqa: E402
from drift_ros.camera import image_msg  # noqa: E402
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
        "hold the initial state (time and topics running) until the controller's first command "
        "(see start_on), so a controller that starts later takes over the initial condition",
        read_only=True,
    ),
    Param(
        "start_on",
        "ok_command",
        "-",
        "ok_command: the first /drive after 'ok' on /drive_mode (issued with fresh odometry); "
        "any_command: the first non-zero /drive",
        choices=("ok_command", "any_command"),
        read_only=True,
    ),
    Param(
        "command_timeout_s",
        0.5,
        "s",
        "simulated time without /drive after which the car stops itself (drift-aware stop)",
        positive,
    ),
    Param(
        "odom_drop_prob",
        0.0,
        "-",
        "fault injection: share of /odom and /imu messages dropped",
        lambda v: None if 0.0 <= v < 1.0 else "must lie in [0, 1)",
    ),
    Param(
        "odom_delay_s", 0.0, "s", "fault injection: delay of /odom and /imu (simulated time)", non_negative
    ),
    Param("fault_seed", 0, "-", "seed of the dropped messages", read_only=True),
    Param("camera_rate_hz", 10.0, "Hz", "camera image rate (simulated time); 0 = off", non_negative),
    Param("track", "", "-", "track (name or TUM csv); empty = open ground, no camera", read_only=True),
    Param(
        "preset",
        "iac",
        "-",
        "racing environment preset of the track (configs/racing/env.yaml: scale, walls, camera)",
        choices=("iac", "f1tenth"),
        read_only=True,
    ),
    Param("image_px", 0, "px", "camera image side; 0 = the preset's", non_negative, read_only=True),
    Param(
        "camera_height_m",
        0.0,
        "m",
        "camera height (unscaled); 0 = the preset's placement, > 0 = this one with camera_pitch_rad and "
        "camera_fov_rad",
        non_negative,
        read_only=True,
    ),
    Param("camera_pitch_rad", 0.0, "rad", "camera pitch down (with camera_height_m > 0)", read_only=True),
    Param(
        "camera_fov_rad",
        0.0,
        "rad",
        "camera horizontal field of view (with camera_height_m > 0)",
        non_negative,
        read_only=True,
    ),
    Param(
        "start_s_m",
        0.0,
        "m",
        "track_start: position along the centre line (m; negative = before the start line)",
        read_only=True,
    ),
    Param(
        "sync_camera",
        False,
        "-",
        "after each camera frame wait for the next /drive before stepping on (synchronous mode)",
        read_only=True,
    ),
    Param("sync_timeout_s", 1.0, "s", "synchronous mode: longest wait for a /drive (wall clock)", positive),
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
    """The simulated car behind the topics of a real one: steps ``drift.racing.RacingSim`` on a track
    (or ``drift.racing.sim.advance`` on open ground) with the commands on ``/drive`` and publishes
    odometry, IMU, camera, clock and laps (topics, parameters and units: ``PARAMS`` and docs/ros.md).
    I/O only: the physics is drift's one simulator core."""

    def __init__(self, **node_kwargs):
        super().__init__("sim_bridge", **node_kwargs)
        self.values = v = declare(self, PARAMS)
        self.add_on_set_parameters_callback(validator(self.get_name(), PARAMS))
        self.vehicle = vehicle_from_param(v["vehicle"])
        self.tires = tires_from_param(v["tires"], self.vehicle)
        self.dt = 1.0 / v["rate_hz"]
        self.sim = self._make_sim()
        self.camera = self.sim.camera if self.sim is not None else None
        self.x = self._initial_state()
        self.delta = 0.0  # road-wheel angle (rad)
        self.acc = np.zeros(2)  # body accelerations (m/s^2): none while held, as after an environment's reset
        self.cmd = (0.0, 0.0, "Fx_N")  # last command (delta rad, value, kind): straight, coasting
        self.t = v["start_time_s"] or time.time()
        self.t_cmd = -math.inf
        self.steps = 0
        self.sync_since: float | None = None  # wall time of the frame awaiting its command
        self.frame0 = 0  # camera frames every 1 / camera_rate_hz from this step (the start)
        self.paused = bool(v["start_paused"])
        self.stop = DriftStop(SafetyConfig.from_vehicle(self.vehicle))
        self.drive_mode = ""  # latest /drive_mode of the controller
        self.rng = np.random.default_rng(v["fault_seed"])
        self.sensor_queue: list = []  # (due time, odom, imu) awaiting publication (odom_delay_s)
        self.blackout_until = -math.inf

        self.pub_clock = self.create_publisher(ClockMsg, "/clock", 10)
        self.pub_odom = self.create_publisher(Odometry, "/odom", conv.SENSOR_QOS)
        self.pub_imu = self.create_publisher(Imu, "/imu", conv.SENSOR_QOS)
        self.pub_img = self.create_publisher(Image, "/camera/image_raw", conv.SENSOR_QOS)
        if TFMessage is not None:
            self.pub_tf = self.create_publisher(TFMessage, "/tf", 100)
        else:
            self.pub_tf = self.create_publisher(TransformStamped, "/map_to_base_link", 10)
        self.pub_rtf = self.create_publisher(Float64, "~/real_time_factor", 10)
        self.pub_truth = self.create_publisher(Odometry, "~/ground_truth", 10)
        self.pub_lap = self.create_publisher(Float64MultiArray, "~/lap", 10)
        self.create_subscription(String, "/drive_mode", self._on_drive_mode, conv.COMMAND_QOS)
        self.create_subscription(Float64, "~/blackout", self._on_blackout, 10)
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
            f"simulating {self.vehicle.name} ({self.tires.front.name} tyres) "
            f"{'on ' + self.sim.track.name if self.sim is not None else 'on open ground'} "
            f"at {v['rate_hz']:g} Hz, real-time factor {v['real_time_factor']:g}; "
            f"x0 = {np.round(self.x, 3).tolist()}; TF on "
            f"{'/tf' if TFMessage else '/map_to_base_link (no tf2_msgs)'}; camera "
            f"{'on' if self.camera else 'off'}"
        )

    def _wall(self) -> float:
        return self.steady.now().nanoseconds * 1e-9

    def _make_sim(self):
        """A one-car RacingSim on ``track`` ticking at ``rate_hz`` (None without a track)."""
        v = self.values
        if not v["track"]:
            return None
        from drift.racing import RacingSim, load_config
        from drift.racing.config import CAMERA_GEOMETRY

        try:
            cfg = load_config(
                v["preset"],
                track=v["track"],
                vehicle=self.vehicle.name,
                camera=v["camera_rate_hz"] > 0,
                dt_s=self.dt,
                physics_hz=v["rate_hz"] * v["substeps"],
                **({"image_px": v["image_px"]} if v["image_px"] else {}),
                **({k: v[k] for k in CAMERA_GEOMETRY} if v["camera_height_m"] > 0 else {}),
            )
            return RacingSim(cfg, 1, vehicle=self.vehicle, tires=self.tires)
        except (DriftError, OSError) as e:
            where = f"parameter track = {v['track']!r} (preset {v['preset']!r})"
            if v["camera_height_m"] > 0:
                where += ", " + ", ".join(f"{k} = {v[k]}" for k in CAMERA_GEOMETRY)
            raise ConfigError(f"{where}: {e}") from None

    def _initial_state(self) -> np.ndarray:
        v = self.values
        if v["initial_condition"] == "track_start":
            if self.sim is None:
                raise ConfigError(
                    "parameter initial_condition = 'track_start' needs a track (parameter track)"
                )
            L = self.sim.track.length_m
            self.sim.reset(
                s_m=v["start_s_m"] % L, n_m=0.0, speed_mps=v["initial_vx_mps"], heading_err_rad=0.0
            )
            return self.sim.x[0].copy()
        if v["initial_condition"] == "rest":
            x = np.array([0.0, 0.0, 0.0, v["initial_vx_mps"], 0.0, 0.0])
        else:
            from drift_ros.scenarios import make_scenario

            sc = make_scenario(v["scenario"], self.vehicle, self.tires, v["radius_m"], v["beta_ref_rad"])
            x = np.asarray(sc.x0, dtype=float)
        if self.sim is not None:
            self.sim.set_state(x[None])
        return x

    def _params_changed(self, params) -> None:
        for p in params:
            self.values[p.name] = (
                float(p.value)
                if isinstance(p.value, int) and p.name.endswith(("_s", "factor", "_prob"))
                else p.value
            )
            if p.name == "real_time_factor":
                self.timer.cancel()
                self.wall0, self.steps0 = self._wall(), self.steps
                self.timer = self.create_timer(self.dt / float(p.value), self._tick, clock=self.steady)

    # ---- commands ------------------------------------------------------------------------------
    def _on_drive_mode(self, msg: String) -> None:
        self.drive_mode = msg.data

    def _on_blackout(self, msg: Float64) -> None:
        self.blackout_until = self.t + max(0.0, float(msg.data))
        self.get_logger().warning(f"fault injection: no /odom or /imu for {msg.data:g} s")

    def _on_drive(self, msg) -> None:
        try:
            cmd = conv.parse_drive(msg, self.vehicle.m)
        except ValueError as e:
            self.get_logger().warning(f"ignoring /drive: {e}", throttle_duration_sec=1.0)
            return
        self.cmd, self.t_cmd = cmd, self.t
        if self.sync_since is not None:  # the frame's command: step on
            self.sync_since = None
            self.wall0, self.steps0 = self._wall(), self.steps
        if self.paused:
            if self.values["start_on"] == "ok_command":
                start = self.drive_mode == "ok"
            else:
                start = cmd[0] != 0.0 or cmd[1] != 0.0
            if start:
                self.paused = False
                self.frame0 = self.steps  # the next frame one camera period after the start
                if self.values["initial_condition"] == "scenario":  # a drift: its wheel angle, as it is
                    self.delta = float(np.clip(cmd[0], -self.vehicle.delta_max, self.vehicle.delta_max))
                    if self.sim is not None:
                        self.sim.delta[:] = self.delta
                self.get_logger().info("first command received: simulation running")

    def _command(self) -> tuple[float, float, str]:
        """The command in force: the last /drive, or the car's own stop once /drive went silent."""
        if math.isfinite(self.t_cmd) and self.t - self.t_cmd > self.values["command_timeout_s"]:
            if not self.stop.active:
                self.get_logger().warning("no /drive within command_timeout_s: the car stops itself")
            delta, Fx, _ = self.stop.command(self.t, *self.x[3:6])
            return delta, Fx, "Fx_N"
        if self.stop.active:
            self.stop.reset()
        return self.cmd

    # ---- simulation ----------------------------------------------------------------------------
    def _tick(self) -> None:
        if self.sync_since is not None:
            if self._wall() - self.sync_since < self.values["sync_timeout_s"]:
                return
            if not self.paused:  # paused: the controller may still be starting
                self.get_logger().warning(
                    "synchronous mode: no /drive for the last camera frame within sync_timeout_s; "
                    "stepping on",
                    throttle_duration_sec=5.0,
                )
            self.sync_since = None
            self.wall0, self.steps0 = self._wall(), self.steps
        # catch up when a tick came late, at most 3 steps per tick
        due = int((self._wall() - self.wall0) * self.values["real_time_factor"] / self.dt) - (
            self.steps - self.steps0
        )
        for _ in range(max(1, min(due, 3))):
            self.step()
            if self.sync_since is not None:
                break
        w, n = self._rtf_report
        if self._wall() - w >= 1.0:
            self.pub_rtf.publish(Float64(data=(self.steps - n) * self.dt / (self._wall() - w)))
            self._rtf_report = (self._wall(), self.steps)

    def step(self) -> None:
        """Advance one tick and publish clock, odometry, IMU, TF (and the camera when due)."""
        if not self.paused:
            self._physics(*self._command())
        x = self.x
        if not np.all(np.isfinite(x)):
            self.get_logger().error(
                "simulation diverged (non-finite state); restarting from the initial state"
            )
            self.delta = 0.0
            x = self.x = self._initial_state()
        x[2] = math.remainder(x[2], 2 * math.pi)
        self.t += self.dt
        self.steps += 1
        stamp = _stamp(self.t)
        self.pub_clock.publish(ClockMsg(clock=stamp))
        odom = conv.state_to_odometry(x, stamp)
        self.pub_truth.publish(odom)
        imu = conv.make_imu(self.acc[0], self.acc[1], x[5], x[2], stamp)
        self._publish_sensors(odom, imu)
        tf = TransformStamped()
        tf.header.stamp, tf.header.frame_id, tf.child_frame_id = stamp, "map", "base_link"
        tf.transform.translation.x, tf.transform.translation.y = float(x[0]), float(x[1])
        q = tf.transform.rotation
        q.x, q.y, q.z, q.w = conv.yaw_to_quaternion(float(x[2]))
        self.pub_tf.publish(TFMessage(transforms=[tf]) if TFMessage is not None else tf)
        rate = self.values["camera_rate_hz"]
        every = max(1, round(1.0 / (rate * self.dt))) if rate > 0 else 0
        if self.camera is not None and every and (self.steps - self.frame0) % every == 0:
            img = self.camera.render(x[None, 0], x[None, 1], x[None, 2])[0]
            self.pub_img.publish(image_msg(img, stamp))
            if self.values["sync_camera"]:  # paused too: no second frame before the start
                self.sync_since = self._wall()

    def _physics(self, delta: float, value: float, kind: str) -> None:
        """Advance one tick under the command (the environment's core, see the module doc)."""
        if self.sim is not None:
            _, _, info = self.sim.step_controls([delta], [value], kind)
            self.x, self.delta, self.acc = self.sim.x[0].copy(), float(self.sim.delta[0]), self.sim.acc[0]
            if info["lap_completed"][0]:
                lap, valid = float(info["lap_time_s"][0]), bool(info["lap_valid"][0])
                msg = Float64MultiArray(data=[lap, float(valid)])
                msg.layout.dim = [MultiArrayDimension(label="lap_time_s,valid", size=2, stride=2)]
                self.pub_lap.publish(msg)
                self.get_logger().info(
                    f"lap {int(info['lap_count'][0])}: {lap:.3f} s ({'valid' if valid else 'off course'})"
                )
            return
        p = self.vehicle
        if kind == "throttle":  # no traction control on open ground: a share of the force limits
            value = throttle_force(value, p)
        target = np.array([np.clip(delta, -p.delta_max, p.delta_max)])
        x, d, acc, _ = advance(
            self.x[None],
            np.array([self.delta]),
            target,
            lambda vx: np.full_like(vx, value),
            p,
            lambda x, u: f(x, u, p, self.tires),
            self.dt,
            self.values["substeps"],
        )
        self.x, self.delta, self.acc = x[0], float(d[0]), acc[0]

    def _publish_sensors(self, odom, imu) -> None:
        """Publish /odom and /imu through the injected faults (delay, drops, blackout)."""
        v = self.values
        self.sensor_queue.append((self.t + v["odom_delay_s"], odom, imu))
        while self.sensor_queue and self.sensor_queue[0][0] <= self.t + 1e-9:
            _, o, i = self.sensor_queue.pop(0)
            if self.t < self.blackout_until:
                continue
            if v["odom_drop_prob"] > 0.0 and self.rng.random() < v["odom_drop_prob"]:
                continue
            self.pub_odom.publish(o)
            self.pub_imu.publish(i)


def main(args=None) -> None:
    raise SystemExit(run_node(SimBridgeNode, args))


if __name__ == "__main__":
    main()
