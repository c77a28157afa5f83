"""Synthetic driving logs and files for tests (CSV, rosbag2) with known, analytic values."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from drift.logs import DrivingLog

IAC_LOG = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "driving" / "iac" / "Putnam_park2023_run4_2.csv"
)


def circle_log(
    duration_s: float = 20.0,
    rate_hz: float = 50.0,
    radius_m: float = 30.0,
    v_mps: float = 12.0,
    t0_s: float = 1_700_000_000.0,
) -> DrivingLog:
    """Steady circular driving (counter-clockwise) with slowly varying inputs, all analytic.

    psi = v/R * t - pi/2 + 3.0, so yaw crosses +pi within a few seconds (tests unwrapping).
    ax is linear in t (interpolation is exact), delta a slow sine, Fx linear.
    """
    t = np.arange(0.0, duration_s, 1.0 / rate_hz)
    w = v_mps / radius_m
    psi = w * t + 3.0
    x = radius_m * np.sin(psi)
    y = -radius_m * np.cos(psi)
    data = {
        "x": x,
        "y": y,
        "psi": psi,
        "vx": np.full_like(t, v_mps),
        "vy": 0.1 * np.sin(0.5 * t),
        "r": np.full_like(t, w),
        "ax": 0.05 * t - 0.3,
        "ay": np.full_like(t, v_mps * w),
        "delta": 0.05 * np.sin(0.7 * t),
        "Fx": 100.0 * t - 500.0,
    }
    return DrivingLog.from_arrays(t0_s + t, data, source="<circle>")


def write_csv(path: Path, header: list[str], rows, comment: bool = False) -> Path:
    """Write a CSV with one header line (prefixed '# ' if ``comment``) and numeric or string rows."""
    lines = [("# " if comment else "") + ",".join(header)]
    for row in rows:
        lines.append(",".join(str(v) for v in row))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_odom_bag(path: Path, stamps_ns, storage: str = "mcap", topic: str = "/odom", values=None) -> Path:
    """A bag with only nav_msgs/Odometry on ``topic`` at the given header stamps (may be bad on purpose).

    ``values``: optional (N,) numbers written as twist.linear.x (vx); default 10 m/s.
    """
    from rosbags.rosbag2 import StoragePlugin, Writer

    from drift.logs.rosbag import ODOM, typestore

    store = typestore()
    T = store.types
    g = "geometry_msgs/msg/"
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=9, storage_plugin=plugin) as w:
        c = w.add_connection(topic, ODOM, typestore=store)
        for k, ns in enumerate(stamps_ns):
            vx = 10.0 if values is None else float(values[k])
            hdr = T["std_msgs/msg/Header"](
                stamp=T["builtin_interfaces/msg/Time"](sec=int(ns) // 10**9, nanosec=int(ns) % 10**9),
                frame_id="map",
            )
            pose = T[g + "PoseWithCovariance"](
                pose=T[g + "Pose"](
                    position=T[g + "Point"](x=0.0, y=0.0, z=0.0),
                    orientation=T[g + "Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0),
                ),
                covariance=np.zeros(36),
            )
            twist = T[g + "TwistWithCovariance"](
                twist=T[g + "Twist"](
                    linear=T[g + "Vector3"](x=vx, y=0.0, z=0.0), angular=T[g + "Vector3"](x=0.0, y=0.0, z=0.0)
                ),
                covariance=np.zeros(36),
            )
            msg = T[ODOM](header=hdr, child_frame_id="base_link", pose=pose, twist=twist)
            w.write(c, 10**9 + k * 10**7, store.serialize_cdr(msg, ODOM))
    return path
