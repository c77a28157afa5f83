"""Message conventions of drift's ROS 2 interface (see docs/ros.md).

- ``/odom`` ``nav_msgs/Odometry``: pose in ``map`` (x, y, yaw quaternion), twist in
  ``base_link`` (``linear.x = vx``, ``linear.y = vy``, ``angular.z = r``).
- ``/imu`` ``sensor_msgs/Imu``: ``linear_acceleration.x/y = ax/ay`` (body, m/s^2),
  ``angular_velocity.z = r`` (rad/s).
- ``/drive``: ``ackermann_msgs/AckermannDriveStamped`` when that package is importable
  (``drive.steering_angle = delta`` rad, ``drive.acceleration = Fx / m`` m/s^2,
  ``drive.speed`` = current speed, informative); otherwise ``std_msgs/Float64MultiArray`` with
  ``layout.dim[0].label = "delta_rad,Fx_N"`` (size 2) and ``data = [delta, Fx]``.
  Receivers also accept the label ``"delta_rad,throttle"`` (throttle in [-1, 1], scaled by
  the vehicle's drive / brake force limits).
- ``/drive_mode`` ``std_msgs/String``, published by a controller just before each ``/drive``: the
  command's safety mode (``ok``, ``no_odom``, ``stale``, ``estop``, ``invalid``, ``shutdown``;
  :class:`controllers.safety.Mode`). A paused simulator starts on the first ``ok`` command.
- ``/emergency_stop`` ``std_msgs/Bool``: ``True`` latches a stop; ``/emergency_stop_reset``
  ``std_msgs/Empty`` clears the latch (refused while the last ``/emergency_stop`` was ``True``).

State vectors are ``[X, Y, psi, vx, vy, r]`` (:data:`drift.vehicle.STATE_NAMES`).
"""

from __future__ import annotations

import math

import numpy as np

from drift.frames import quaternion_to_yaw, yaw_to_quaternion
from drift_ros import ensure_ros_env

ensure_ros_env()

from geometry_msgs.msg import PoseStamped  # noqa: E402
from nav_msgs.msg import Odometry, Path  # noqa: E402
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data  # noqa: E402,I001
from sensor_msgs.msg import Imu  # noqa: E402
from std_msgs.msg import Float64MultiArray, MultiArrayDimension  # noqa: E402

try:  # optional: the F1TENTH convention where the package is installed
    from ackermann_msgs.msg import AckermannDriveStamped  # type: ignore
except ImportError:  # the pip wheels of ROS 2 Jazzy do not ship ackermann_msgs
    AckermannDriveStamped = None

FALLBACK_LABEL = "delta_rad,Fx_N"
THROTTLE_LABEL = "delta_rad,throttle"
COMMAND_TYPES = ("auto", "ackermann", "float64_array")

#: sensors: best effort, keep last 5 (rclpy's sensor-data profile)
SENSOR_QOS = qos_profile_sensor_data
#: commands and events: reliable, keep last 10
COMMAND_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)


def ackermann_available() -> bool:
    """Whether ``ackermann_msgs`` is installed (else commands use the ``Float64MultiArray`` form)."""
    return AckermannDriveStamped is not None


def command_msg_type(command_type: str):
    """Message class for ``command_type`` in :data:`COMMAND_TYPES` (``auto`` prefers Ackermann)."""
    if command_type == "ackermann" or (command_type == "auto" and ackermann_available()):
        if not ackermann_available():
            raise ValueError(
                "command_type 'ackermann' needs ackermann_msgs, which is not installed; "
                "use 'float64_array' or 'auto'"
            )
        return AckermannDriveStamped
    return Float64MultiArray


# ---- odometry ------------------------------------------------------------------------------------
def state_to_odometry(
    x: np.ndarray, stamp, frame_id: str = "map", child_frame_id: str = "base_link"
) -> Odometry:
    """``x = [X, Y, psi, vx, vy, r]`` (6,) -> ``nav_msgs/Odometry`` (pose in map, twist in base_link)."""
    msg = Odometry()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.child_frame_id = child_frame_id
    X, Y, psi, vx, vy, r = (float(v) for v in x)
    msg.pose.pose.position.x, msg.pose.pose.position.y = X, Y
    q = msg.pose.pose.orientation
    q.x, q.y, q.z, q.w = yaw_to_quaternion(psi)
    msg.twist.twist.linear.x, msg.twist.twist.linear.y, msg.twist.twist.angular.z = vx, vy, r
    return msg


def odometry_to_state(msg: Odometry) -> np.ndarray:
    """``nav_msgs/Odometry`` -> ``[X, Y, psi, vx, vy, r]`` (6,) float64 (may contain NaN: check)."""
    p, q, tw = msg.pose.pose.position, msg.pose.pose.orientation, msg.twist.twist
    return np.array([p.x, p.y, quaternion_to_yaw(q.x, q.y, q.z, q.w), tw.linear.x, tw.linear.y, tw.angular.z])


def make_imu(ax: float, ay: float, r: float, psi: float, stamp, frame_id: str = "base_link") -> Imu:
    """``sensor_msgs/Imu`` with body accelerations ``ax, ay`` (m/s^2), yaw rate ``r`` and orientation."""
    msg = Imu()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    q = msg.orientation
    q.x, q.y, q.z, q.w = yaw_to_quaternion(psi)
    msg.angular_velocity.z = float(r)
    msg.linear_acceleration.x, msg.linear_acceleration.y = float(ax), float(ay)
    msg.linear_acceleration.z = 9.81
    return msg


# ---- commands ------------------------------------------------------------------------------------
def make_command(
    msg_type, delta: float, Fx: float, mass_kg: float, speed_mps: float, stamp, frame_id: str = "base_link"
):
    """Build a ``/drive`` message of ``msg_type`` from ``delta`` (rad) and ``Fx`` (N)."""
    if AckermannDriveStamped is not None and msg_type is AckermannDriveStamped:
        msg = AckermannDriveStamped()
        msg.header.stamp = stamp
        msg.header.frame_id = frame_id
        msg.drive.steering_angle = float(delta)
        msg.drive.acceleration = float(Fx) / mass_kg
        msg.drive.speed = float(speed_mps)
        return msg
    msg = Float64MultiArray()
    msg.layout.dim = [MultiArrayDimension(label=FALLBACK_LABEL, size=2, stride=2)]
    msg.data = [float(delta), float(Fx)]
    return msg


def parse_drive(msg, mass_kg: float) -> tuple[float, float, str]:
    """``/drive`` message -> ``(delta rad, value, kind)``: ``kind`` ``"Fx_N"`` (value a force demand, N) or
    ``"throttle"`` (value in [-1, 1], label :data:`THROTTLE_LABEL`).

    Raises:
        ValueError: an unknown layout label, too few values, NaN or inf.
    """
    kind = "Fx_N"
    if AckermannDriveStamped is not None and isinstance(msg, AckermannDriveStamped):
        delta, value = msg.drive.steering_angle, msg.drive.acceleration * mass_kg
    else:
        label = msg.layout.dim[0].label if msg.layout.dim else FALLBACK_LABEL
        if len(msg.data) < 2:
            raise ValueError(f"/drive Float64MultiArray needs 2 values [{label}], got {len(msg.data)}")
        delta, value = float(msg.data[0]), float(msg.data[1])
        if label == THROTTLE_LABEL:
            kind, value = "throttle", min(max(value, -1.0), 1.0)
        elif label != FALLBACK_LABEL:
            raise ValueError(
                f"/drive layout label {label!r} unknown; expected {FALLBACK_LABEL!r} or {THROTTLE_LABEL!r}"
            )
    if not (math.isfinite(delta) and math.isfinite(value)):
        raise ValueError("/drive command holds NaN or inf")
    return float(delta), float(value), kind


def parse_command(msg, mass_kg: float, Fx_drive_max_N: float, Fx_brake_max_N: float) -> tuple[float, float]:
    """``/drive`` message -> ``(delta rad, Fx N)``, a throttle scaled by the drive / brake force limits.
    Raises ``ValueError`` as :func:`parse_drive`."""
    delta, value, kind = parse_drive(msg, mass_kg)
    if kind == "throttle":
        value = value * (Fx_drive_max_N if value >= 0 else Fx_brake_max_N)
    return delta, value


def throttle_msg(delta: float, throttle: float):
    """``/drive`` as ``std_msgs/Float64MultiArray`` labelled :data:`THROTTLE_LABEL`: ``[delta rad, throttle]``
    (throttle > 0 drive, < 0 brake, as a share of the car's limits)."""
    msg = Float64MultiArray()
    msg.layout.dim = [MultiArrayDimension(label=THROTTLE_LABEL, size=2, stride=2)]
    msg.data = [float(delta), float(throttle)]
    return msg


def make_path(xy: np.ndarray, psi: np.ndarray | None, stamp, frame_id: str = "map") -> Path:
    """``nav_msgs/Path`` through points ``xy (N, 2)`` (m, map frame) with headings ``psi (N,)`` (rad)."""
    msg = Path()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    for i, (px, py) in enumerate(np.asarray(xy, dtype=float).reshape(-1, 2)):
        if not (math.isfinite(px) and math.isfinite(py)):
            continue
        ps = PoseStamped()
        ps.header = msg.header
        ps.pose.position.x, ps.pose.position.y = float(px), float(py)
        q = ps.pose.orientation
        yaw = float(psi[i]) if psi is not None and math.isfinite(psi[i]) else 0.0
        q.x, q.y, q.z, q.w = yaw_to_quaternion(yaw)
        msg.poses.append(ps)
    return msg
