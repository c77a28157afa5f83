"""Planar orientation: yaw <-> quaternion (the rosbag reader, the ROS 2 nodes) and angle wrapping.

The vehicle moves in the plane, so only yaw ``psi`` (rad, about z, counter-clockwise from the
map's x axis; REP 103) is kept. Quaternions are ``(x, y, z, w)`` as in ``geometry_msgs``.
"""

from __future__ import annotations

import math


def yaw_to_quaternion(psi: float) -> tuple[float, float, float, float]:
    """``(x, y, z, w)`` of a rotation by ``psi`` (rad) about z."""
    return 0.0, 0.0, math.sin(psi / 2.0), math.cos(psi / 2.0)


def quaternion_to_yaw(x: float, y: float, z: float, w: float) -> float:
    """Yaw (rad, in ``(-pi, pi]``) of a unit quaternion, ZYX (yaw-pitch-roll) convention."""
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def wrap_angle(a):
    """Angle(s) ``a`` (rad, scalar or array, numpy) wrapped to ``[-pi, pi)``."""
    import numpy as np

    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi
