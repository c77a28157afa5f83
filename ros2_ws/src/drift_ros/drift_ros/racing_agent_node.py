"""``racing_agent_node``: a trained racing agent (``drift race train``) driving a car through ROS 2.

Subscribes ``/camera/image_raw`` (sensor_msgs/Image, rgb8 or bgr8), ``/odom``, ``/imu`` (its body
accelerations and gyro), ``/emergency_stop`` and ``/emergency_stop_reset``; publishes ``/drive``,
``/drive_mode``, ``~/status`` and ``~/diagnostics`` as ``drift_mpc_node`` does.

The actor of the run folder ``run`` drives deterministically from what the environment gave it in
training, built by the environment's own function (:class:`drift.racing.observations.CommandHistory`,
:func:`drift.racing.observations.proprio_vector`): the camera image and the proprio vector (speeds from
``/odom``, yaw rate and accelerations from ``/imu``, and the wheel angle, steering history and previous
action rebuilt from the node's own commands). Never the privileged observation: an actor that needs it
(``actor_obs: state``) is refused at start.

Timing: ``trigger: camera`` (default) acts once per camera frame, as soon as odometry and IMU of the
frame's time (header stamps) have arrived, which is when the environment acted; ``trigger: timer`` acts
at ``rate_hz`` on the node clock with the newest frame. Commands are ``[delta_rad, throttle]``
(``command_type: throttle``, the action's throttle/brake for the car's traction control, as in
training) or a force demand (``auto``, ``ackermann``, ``float64_array``).

Safety is ``drift_mpc_node``'s (:class:`controllers.safety.SafetyFilter`, wall clock): stale or NaN
odometry, ``/emergency_stop`` and shutdown stop the car with the drift-aware stop; so does a camera frame
older than ``camera_timeout_s`` (mode ``stale_camera``, latched like stale odometry) or one of the wrong
size or encoding. Commands are saturated and rate limited and never NaN. Rate limits of 0 mean twice the
car's own (the wheel follows its target at the vehicle's rate, so a tighter limit on the target would
change what the agent learned to do).

Run: ``python -m drift_ros.racing_agent_node --ros-args -p run:=RUN_DIR -p use_sim_time:=true``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from drift_ros import ensure_ros_env

ensure_ros_env()

from sensor_msgs.msg import Image, Imu  # noqa: E402

from controllers.safety import Mode, SafeCommand  # noqa: E402
from drift.errors import ConfigError, DriftError  # noqa: E402
from drift.vehicle import force_throttle, throttle_force  # noqa: E402
from drift_ros import conventions as conv  # noqa: E402
from drift_ros import drift_mpc_node as mpc  # noqa: E402
from drift_ros.camera import image_array  # noqa: E402
from drift_ros.params import Param, positive  # noqa: E402
from drift_ros.runner import run_node  # noqa: E402

#: parameters shared with drift_mpc_node (same meaning, units and checks): its safety settings
_SHARED = (*mpc._SAFETY_KEYS, *mpc._SAFETY_KEYS_EXACT, "use_imu", "shutdown_stop_s")

#: the shared rate limits, where 0 means twice the car's own (module doc)
_AGENT_DEFAULTS = {
    "delta_rate_max_radps": "steering rate limit; 0 = twice the car's steering rate",
    "Fx_rate_max_Nps": "force rate limit; 0 = twice (drive + brake limits) per control step",
}

PARAMS = [
    Param("run", "", "-", "drift race train run folder of the agent", read_only=True),
    Param("checkpoint", "best", "-", "best or last checkpoint", choices=("best", "last"), read_only=True),
    Param(
        "rate_hz",
        10.0,
        "Hz",
        "control rate (trigger timer) and safety watchdog rate",
        positive,
        read_only=True,
    ),
    Param(
        "trigger",
        "camera",
        "-",
        "camera: act once per frame with the frame's odometry; timer: act at rate_hz with the newest frame",
        choices=("camera", "timer"),
        read_only=True,
    ),
    Param(
        "command_type",
        "throttle",
        "-",
        "/drive: throttle ([delta_rad, throttle], the training's actuation) or a force demand (auto, "
        "ackermann, float64_array)",
        choices=("throttle", *conv.COMMAND_TYPES),
        read_only=True,
    ),
    Param(
        "camera_timeout_s", 0.3, "s", "a camera frame older than this stops the car (wall clock)", positive
    ),
    *(
        dataclasses.replace(p, description=_AGENT_DEFAULTS.get(p.name, p.description))
        for p in mpc.PARAMS
        if p.name in _SHARED
    ),
]


def check_actor(agent) -> None:
    """Raise ConfigError when the agent's actor needs more than a car has (privileged observations)."""
    keys = set(agent.actor.keys)
    if keys - {"image", "proprio"}:
        raise ConfigError(
            f"parameter run: the actor reads {sorted(keys)}; a car gives it only image and proprio "
            "(train with actor_obs=image)"
        )


def actor_observation(image, x, acc, history, bounds) -> dict[str, np.ndarray]:
    """One car's actor observation, batched (1, ...), as :func:`drift.racing.observations.observe` gives it.

    Args:
        image: (H, W, 3) uint8 RGB camera frame. x: (6,) state ``[X, Y, psi, vx, vy, r]`` from ``/odom``
        (yaw rate from ``/imu``). acc: (2,) body-frame ``[ax, ay]`` (m/s^2) from ``/imu``.
        history: :class:`drift.racing.observations.CommandHistory` fed the node's commands.
        bounds: ``(low, high)`` of the proprio vector (:func:`drift.racing.observations.observation_bounds`).
    """
    return {"image": np.asarray(image, np.uint8)[None], "proprio": history.proprio(x, acc, bounds)[None]}


def _stamp_s(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


class RacingAgentNode(mpc.DriftMpcNode):
    """The agent node: ``drift_mpc_node``'s inputs, safety and outputs, with the agent as the controller."""

    NODE_NAME = "racing_agent"
    PARAMS = PARAMS

    def __init__(self, **node_kwargs):
        self._in_control = False
        self.frame = None  # (stamp s, wall s, (H, W, 3) image) of the newest frame
        self.pending = False  # a frame not yet acted on
        self.imu_acc: tuple[float, float, float] | None = None  # (stamp s, ax, ay) of the newest /imu
        self.odom_stamp = -math.inf
        self.imu_stamp = -math.inf
        super().__init__(controller_factory=lambda veh, tir, s: self.agent, **node_kwargs)
        self.create_subscription(Image, "/camera/image_raw", self._on_image, conv.SENSOR_QOS)
        self.get_logger().info(
            f"agent of {self.values['run']} on {self.env_kwargs['track']} "
            f"(preset {self.env_kwargs['preset']}), "
            f"trigger {self.values['trigger']}, image {self.image_shape[1]}x{self.image_shape[0]}"
        )

    # ---- the agent -----------------------------------------------------------------------------
    def _car(self):
        from drift.commands.race import load_run
        from drift.racing import RacingEnv
        from drift.racing.observations import CommandHistory

        v = self.values
        if not v["run"]:
            raise ConfigError("parameter run is empty: give the folder of a drift race train run")
        try:
            self.agent, self.env_kwargs = load_run(v["run"], v["checkpoint"])
        except DriftError as e:
            raise ConfigError(f"parameter run = {v['run']!r}: {e}") from None
        check_actor(self.agent)
        env = RacingEnv(camera=False, **self.env_kwargs)  # its config, car and observation bounds
        self.cfg, self.bounds = env.cfg, env.sim.obs_bounds["proprio"]
        self.image_shape = tuple(self.agent.shapes["image"])
        self.history = CommandHistory(env.cfg, env.sim.p)
        self.driving = False  # set by the first command issued in mode ok
        return env.sim.p, env.sim.tires

    def _safety_config(self):
        values = dict(self.values)
        p, dt = self.vehicle, self.cfg.dt_s
        values["delta_rate_max_radps"] = values["delta_rate_max_radps"] or 2.0 * p.delta_rate_max
        values["Fx_rate_max_Nps"] = values["Fx_rate_max_Nps"] or 2.0 * (p.Fx_drive_max + p.Fx_brake_max) / dt
        return mpc.safety_config(self.vehicle, values)

    def _controller_step(self, x, t):
        _, _, img = self.frame
        acc = self.imu_acc[1:] if self.imu_acc is not None else (0.0, 0.0)
        obs = actor_observation(img, x, np.asarray(acc), self.history, self.bounds)
        a = self.agent.act(obs, deterministic=True)[0]
        return np.array([self.history.target_rad(a), throttle_force(a[1], self.vehicle)]), {"status": "agent"}

    def _drive_msg(self, cmd: SafeCommand, speed: float, stamp):
        if self.values["command_type"] != "throttle":
            return super()._drive_msg(cmd, speed, stamp)
        return conv.throttle_msg(cmd.delta, force_throttle(cmd.Fx, self.vehicle))

    def _publish(self, cmd: SafeCommand, raw, diag: dict) -> None:
        super()._publish(cmd, raw, diag)
        if self._in_control:  # one control step: what the environment's proprio remembers of it
            if cmd.mode is Mode.OK and not self.driving:
                # the first command with fresh odometry starts the episode (a simulator starts on it):
                # the start-up stops before it, issued without odometry, are not the agent's actions
                self.history.reset()
                self.driving = True
            self.history.record([cmd.delta / self.vehicle.delta_max, force_throttle(cmd.Fx, self.vehicle)])

    # ---- inputs and timing ---------------------------------------------------------------------
    def _on_image(self, msg: Image) -> None:
        try:
            img = image_array(msg)
            if img.shape != self.image_shape:
                raise ValueError(f"image {img.shape} but the agent sees {self.image_shape} (H, W, 3)")
        except ValueError as e:
            self.get_logger().error(f"unusable camera frame: {e}", throttle_duration_sec=1.0)
            return  # treated as missing: the camera turns stale
        self.frame = (_stamp_s(msg.header.stamp), self._now(), img)
        self.pending = True
        self._maybe_act()

    def _on_odom(self, msg) -> None:
        before = self.state
        super()._on_odom(msg)
        if self.state is not before:  # accepted (finite)
            self.odom_stamp = _stamp_s(msg.header.stamp)
        self._maybe_act()

    def _on_imu(self, msg: Imu) -> None:
        super()._on_imu(msg)
        a = msg.linear_acceleration
        if math.isfinite(a.x) and math.isfinite(a.y):
            self.imu_acc = (_stamp_s(msg.header.stamp), float(a.x), float(a.y))
            self.imu_stamp = self.imu_acc[0]
        self._maybe_act()

    def _maybe_act(self) -> None:
        """trigger camera: act on a new frame once the odometry and IMU of its time are in."""
        if self.values["trigger"] != "camera" or not self.pending:
            return
        t = self.frame[0] - 1e-6
        if self.odom_stamp >= t and (self.imu_stamp >= t or not self.values["use_imu"]):
            self._control()

    def _watchdog(self) -> None:
        now = self._now()
        if self.pending and now - self.frame[1] > 0.5 * self.period:
            self._control()  # a frame whose odometry never came (dropped): act with the newest
        elif (
            now - self.last_publish >= 1.5 * self.period
            and not self.stopping
            and self.state is not None
            and self._camera_stale(now)
        ):
            self._publish(self._camera_stop(now), None, {"status": "camera stale"})  # frames stopped
        else:
            super()._watchdog()

    def _camera_stale(self, now: float) -> bool:
        return self.frame is None or now - self.frame[1] > self.values["camera_timeout_s"]

    def _control(self) -> None:
        now = self._now()
        self.pending = False
        if not self.stopping and self.state is not None and self._camera_stale(now):
            self._publish(self._camera_stop(now), None, {"status": "camera stale"})
            return
        self._in_control = True
        try:
            super()._control()
        finally:
            self._in_control = False

    def _camera_stop(self, now: float) -> SafeCommand:
        sf = self.safety
        if self.frame is None:  # no frame yet: starting, not a fault
            return sf.stop_command(now, Mode.ESTOP if sf.estop_latched else Mode.STALE_CAMERA)
        if sf.stop_latched is None:
            self.get_logger().warning(
                f"camera frame {(now - self.frame[1]) * 1e3:.0f} ms old (camera_timeout_s "
                f"{self.values['camera_timeout_s']:g}): stopping the car"
            )
        return sf.begin_stop(now, Mode.STALE_CAMERA)


def main(args=None) -> None:
    raise SystemExit(run_node(RacingAgentNode, args))


if __name__ == "__main__":
    main()
