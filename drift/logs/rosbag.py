"""rosbag2 recordings (``.mcap``, sqlite3 ``.db3``, or a bag directory with ``metadata.yaml``), read with
``rosbags``.

Topics (ROS 2 conventions of this project, see notes/contracts):

- ``/odom`` ``nav_msgs/msg/Odometry`` (required): pose in ``map`` -> ``x, y`` (m) and ``psi`` (rad, yaw
  from the quaternion, unwrapped to a continuous angle); twist in ``base_link`` -> ``vx, vy`` (m/s),
  ``r`` (rad/s).
- ``/imu`` ``sensor_msgs/msg/Imu`` (optional): ``linear_acceleration.x/y -> ax, ay`` (m/s^2, body),
  ``angular_velocity.z -> r_imu`` (rad/s).
- ``/drive`` (optional): ``ackermann_msgs/msg/AckermannDriveStamped`` (``steering_angle -> delta``,
  ``acceleration -> ax_cmd``, ``speed -> v_cmd``, and ``Fx = mass_kg * acceleration`` when ``mass_kg``
  is given), or ``std_msgs/msg/Float64MultiArray`` whose ``layout.dim[0].label`` lists the entries,
  e.g. ``"delta_rad,Fx_N"`` or ``"delta_rad,throttle"`` (``name_unit`` with a unit of the unit table,
  or a standard name in SI).

The AckermannDrive types are registered in the typestore from their ``.msg`` text, so no ROS install is
needed. Time stamps come from ``header.stamp`` (``stamp="header"``, falling back to the bag's receive
time for messages with a zero stamp and for headerless Float64MultiArray) or from the receive time
(``stamp="bag"``).

Resampling: the odometry stamps are the time base (or a uniform grid at ``rate_hz``); odometry and IMU
are interpolated linearly, drive commands are zero-order held (see :mod:`drift.logs.resample`). The
result covers the time where every stream present has data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from drift.frames import quaternion_to_yaw, yaw_to_quaternion
from drift.logs.errors import LogError
from drift.logs.log import DrivingLog
from drift.logs.resample import interp_linear, overlap, zero_order_hold
from drift.logs.units import STANDARD_SIGNALS, unit_factor

ODOM = "nav_msgs/msg/Odometry"
IMU = "sensor_msgs/msg/Imu"
ACK = "ackermann_msgs/msg/AckermannDriveStamped"
ACK_DRIVE = "ackermann_msgs/msg/AckermannDrive"
MULTI = "std_msgs/msg/Float64MultiArray"

# Message definitions of ackermann_msgs (ROS 2), registered into the typestore when missing.
ACKERMANN_DRIVE_MSG = """float32 steering_angle
float32 steering_angle_velocity
float32 speed
float32 acceleration
float32 jerk
"""
ACKERMANN_DRIVE_STAMPED_MSG = """std_msgs/Header header
ackermann_msgs/AckermannDrive drive
"""

_HINT_CORRUPT = (
    "The recording looks truncated or corrupt (e.g. the recorder was killed before closing it). "
    "Re-record it, or repair it: for .mcap `mcap recover in.mcap -o fixed.mcap`, for a bag directory "
    "`ros2 bag reindex <dir>`."
)


def typestore():
    """A ROS 2 (Jazzy) ``rosbags`` typestore with the ackermann_msgs types registered."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_JAZZY)
    if ACK not in store.types:
        types = {}
        types.update(get_types_from_msg(ACKERMANN_DRIVE_MSG, ACK_DRIVE))
        types.update(get_types_from_msg(ACKERMANN_DRIVE_STAMPED_MSG, ACK))
        store.register(types)
    return store


def _stamp_ns(msg, bag_ns: int, mode: str) -> int:
    if mode == "header" and hasattr(msg, "header"):
        s = msg.header.stamp
        ns = int(s.sec) * 1_000_000_000 + int(s.nanosec)
        if ns != 0:
            return ns
    return int(bag_ns)


def parse_label(label: str, where: str) -> list[tuple[str, float]]:
    """Parse a Float64MultiArray layout label like ``"delta_rad,Fx_N"`` into [(name, SI factor), ...].

    Each entry is a standard name (already SI, e.g. ``throttle``, ``brake_Pa``) or ``name_unit``.
    Raises LogError for entries it cannot interpret.
    """
    out = []
    for entry in [e.strip() for e in label.split(",")]:
        if not entry:
            raise LogError(f"{where}: empty entry in layout label {label!r}; expected e.g. 'delta_rad,Fx_N'.")
        if entry in STANDARD_SIGNALS:
            out.append((entry, 1.0))
            continue
        if "_" not in entry:
            raise LogError(f"{where}: layout label entry {entry!r} is neither a standard name nor "
                           "'name_unit'; publish e.g. 'delta_rad,Fx_N'.")
        name, unit = entry.rsplit("_", 1)
        out.append((name, unit_factor(unit, f"{where}: layout label entry {entry!r}", name)))
    return out


def _check_times(t_ns: np.ndarray, where: str) -> None:
    d = np.diff(t_ns)
    if (d <= 0).any():
        i = int(np.argmax(d <= 0))
        kind = "duplicated" if d[i] == 0 else "non-monotonic (going backwards)"
        raise LogError(
            f"{where}: time stamps are {kind} at message {i + 1} ({t_ns[i]} ns then {t_ns[i + 1]} ns). "
            "Fix the publisher's header stamps, or load with stamp='bag' to use the receive times."
        )


def load_rosbag(
    path: str | Path,
    odom_topic: str = "/odom",
    imu_topic: str | None = "/imu",
    drive_topic: str | None = "/drive",
    mass_kg: float | None = None,
    rate_hz: float | None = None,
    stamp: str = "header",
) -> DrivingLog:
    """Read a rosbag2 recording into a DrivingLog (see module docstring for topics and units).

    Args:
        path: ``.mcap`` or ``.db3`` file, or a rosbag2 directory.
        odom_topic: nav_msgs/Odometry topic (required).
        imu_topic: sensor_msgs/Imu topic; skipped if absent from the bag (``None``: do not read).
        drive_topic: drive command topic (AckermannDriveStamped or Float64MultiArray); skipped if absent.
        mass_kg: vehicle mass to convert an Ackermann ``acceleration`` command into ``Fx`` (N).
        rate_hz: resample onto a uniform grid at this rate instead of the odometry stamps.
        stamp: ``"header"`` (message header stamps) or ``"bag"`` (receive times).
    Returns:
        DrivingLog with t from 0 (absolute start in ``t0_s``, unix s).
    Raises:
        LogError: unreadable/truncated bag, missing odometry topic (lists the bag's topics), a topic
            with an unexpected type, empty topics, NaN/inf values, duplicated or non-monotonic stamps.
    """
    from rosbags.highlevel import AnyReader

    path = Path(path)
    src = str(path)
    if stamp not in ("header", "bag"):
        raise LogError(f"stamp must be 'header' or 'bag', got {stamp!r}.")
    if not path.exists():
        raise LogError(f"{src}: no such file or directory.")
    if path.is_file() and path.stat().st_size == 0:
        raise LogError(f"{src}: the file is empty (0 bytes). Record the bag again.")
    if path.is_dir() and not (path / "metadata.yaml").exists():
        raise LogError(f"{src}: a bag directory needs a metadata.yaml; give the .mcap/.db3 file inside "
                       "instead, or run `ros2 bag reindex` on the directory.")

    streams: dict[str, dict] = {}
    try:
        reader = AnyReader([path], default_typestore=typestore())
        with reader:
            topics = {c.topic: c.msgtype for c in reader.connections}
            if odom_topic not in topics:
                raise LogError(
                    f"{src}: no odometry topic {odom_topic!r} in the bag (topics: {topics}). Record "
                    f"{ODOM} on it, or pass odom_topic=<your topic>."
                )
            wanted = {odom_topic: (ODOM,)}
            if imu_topic and imu_topic in topics:
                wanted[imu_topic] = (IMU,)
            if drive_topic and drive_topic in topics:
                wanted[drive_topic] = (ACK, MULTI)
            for topic, types in wanted.items():
                if topics[topic] not in types:
                    raise LogError(f"{src}: topic {topic!r} has type {topics[topic]}, expected "
                                   f"{' or '.join(types)}. Pass the right topic name.")
            conns = [c for c in reader.connections if c.topic in wanted]
            for c in conns:
                streams.setdefault(c.topic, {"t": [], "rows": [], "type": c.msgtype, "label": None})
            for conn, bag_ns, raw in reader.messages(connections=conns):
                msg = reader.deserialize(raw, conn.msgtype)
                s = streams[conn.topic]
                s["t"].append(_stamp_ns(msg, bag_ns, stamp))
                if conn.msgtype == ODOM:
                    p, q, tw = msg.pose.pose.position, msg.pose.pose.orientation, msg.twist.twist
                    s["rows"].append((p.x, p.y, quaternion_to_yaw(q.x, q.y, q.z, q.w),
                                      tw.linear.x, tw.linear.y, tw.angular.z))
                elif conn.msgtype == IMU:
                    a, w = msg.linear_acceleration, msg.angular_velocity
                    s["rows"].append((a.x, a.y, w.z))
                elif conn.msgtype == ACK:
                    d = msg.drive
                    s["rows"].append((d.steering_angle, d.acceleration, d.speed))
                else:
                    label = msg.layout.dim[0].label if len(msg.layout.dim) else ""
                    if s["label"] is None:
                        s["label"] = label
                    elif label != s["label"]:
                        raise LogError(f"{src}: topic {conn.topic!r}: layout label changes from "
                                       f"{s['label']!r} to {label!r}; keep one layout per recording.")
                    vals = tuple(float(v) for v in msg.data)
                    if s["rows"] and len(vals) != len(s["rows"][0]):
                        raise LogError(f"{src}: topic {conn.topic!r}: message with {len(vals)} values "
                                       f"after messages with {len(s['rows'][0])}.")
                    s["rows"].append(vals)
    except LogError:
        raise
    except Exception as e:  # rosbags / sqlite3 / struct errors on damaged files
        raise LogError(f"{src}: cannot read the rosbag2 recording ({type(e).__name__}: {e}). "
                       f"{_HINT_CORRUPT}") from None

    # ---- arrays per stream
    for topic, s in streams.items():
        if not s["rows"]:
            raise LogError(f"{src}: topic {topic!r} has no messages. Record it, or pass a different topic.")
        s["t"] = np.asarray(s["t"], dtype=np.int64)
        s["rows"] = np.asarray(s["rows"], dtype=np.float64)
        order_ok = np.diff(s["t"]) > 0
        if not order_ok.all():
            _check_times(s["t"], f"{src}: topic {topic!r}")
        bad = ~np.isfinite(s["rows"])
        if bad.any():
            i = int(np.argmax(bad.any(axis=1)))
            raise LogError(f"{src}: topic {topic!r}: message {i} contains NaN/inf. Fix the publisher or drop "
                           "those messages.")
    t0_ns = min(int(s["t"][0]) for s in streams.values())
    for s in streams.values():
        s["ts"] = (s["t"] - t0_ns).astype(np.float64) * 1e-9

    odom = streams[odom_topic]
    if len(odom["ts"]) < 2:
        raise LogError(f"{src}: topic {odom_topic!r} has a single message; a log needs at least two.")
    interp_streams = [odom["ts"]] + ([streams[imu_topic]["ts"]] if imu_topic in streams else [])
    held_streams = [streams[drive_topic]["ts"]] if drive_topic in streams else []
    if rate_hz is not None:
        if not rate_hz > 0:
            raise LogError(f"rate_hz must be positive, got {rate_hz}.")
        base = np.arange(odom["ts"][0], odom["ts"][-1] + 0.5 / rate_hz, 1.0 / rate_hz)
    else:
        base = odom["ts"]
    keep = overlap(base, interp_streams, held_streams)
    if keep.sum() < 2:
        raise LogError(f"{src}: the topics {list(streams)} do not overlap in time (fewer than 2 common "
                       "samples). Record them together.")
    base = base[keep]

    data: dict[str, np.ndarray] = {}
    o = odom["rows"]
    o_psi = np.unwrap(o[:, 2])
    for j, name in enumerate(["x", "y", "psi", "vx", "vy", "r"]):
        data[name] = interp_linear(odom["ts"], o_psi if name == "psi" else o[:, j], base)
    if imu_topic in streams:
        s = streams[imu_topic]
        for j, name in enumerate(["ax", "ay", "r_imu"]):
            data[name] = interp_linear(s["ts"], s["rows"][:, j], base)
    if drive_topic in streams:
        s = streams[drive_topic]
        if s["type"] == ACK:
            cols = [("delta", 1.0), ("ax_cmd", 1.0), ("v_cmd", 1.0)]
        else:
            cols = parse_label(s["label"] or "", f"{src}: topic {drive_topic!r}")
            if len(cols) != s["rows"].shape[1]:
                raise LogError(f"{src}: topic {drive_topic!r}: layout label {s['label']!r} names {len(cols)} "
                               f"entries but messages carry {s['rows'].shape[1]} values.")
        for j, (name, factor) in enumerate(cols):
            data[name] = zero_order_hold(s["ts"], factor * s["rows"][:, j], base)
        if s["type"] == ACK and mass_kg is not None:
            if not mass_kg > 0:
                raise LogError(f"mass_kg must be positive, got {mass_kg}.")
            data["Fx"] = mass_kg * data["ax_cmd"]
    return DrivingLog(t=base - base[0], data=data, source=src, t0_s=t0_ns * 1e-9 + float(base[0]))


def write_rosbag(
    log: DrivingLog,
    path: str | Path,
    storage: str = "mcap",
    drive: str = "ackermann",
    odom_topic: str = "/odom",
    imu_topic: str | None = "/imu",
    drive_topic: str | None = "/drive",
    mass_kg: float | None = None,
    stride: dict[str, int] | None = None,
) -> Path:
    """Write a DrivingLog as a rosbag2 recording with the project's topics (inverse of :func:`load_rosbag`).

    Args:
        log: needs ``x, y, psi, vx, vy, r``; ``ax, ay`` for the IMU (zeros if absent); ``delta`` and a
            longitudinal signal for the drive topic.
        path: bag directory to create (must not exist).
        storage: ``"mcap"`` or ``"sqlite3"``.
        drive: ``"ackermann"`` (AckermannDriveStamped; acceleration = Fx/mass_kg if Fx and mass_kg, else
            ``ax_cmd``; speed = ``v_cmd`` or ``vx``) or ``"multiarray"`` (Float64MultiArray labelled
            ``delta_rad,Fx_N`` when the log has Fx, else ``delta_rad,throttle[,brake_Pa]`` with the ones
            present; :func:`load_rosbag` reads any such label).
        stride: publish every n-th sample per stream, e.g. ``{"imu": 1, "odom": 2, "drive": 4}``, to
            record streams at different rates.
    Returns:
        ``path``. Raises LogError on a missing signal or unknown option.
    """
    from rosbags.rosbag2 import StoragePlugin, Writer

    if storage not in ("mcap", "sqlite3"):
        raise LogError(f"storage must be 'mcap' or 'sqlite3', got {storage!r}.")
    if drive not in ("ackermann", "multiarray"):
        raise LogError(f"drive must be 'ackermann' or 'multiarray', got {drive!r}.")
    log.require("x", "y", "psi", "vx", "vy", "r")
    stride = {"odom": 1, "imu": 1, "drive": 1, **(stride or {})}
    store = typestore()
    T = store.types
    Header, Time = T["std_msgs/msg/Header"], T["builtin_interfaces/msg/Time"]
    geo = "geometry_msgs/msg/"
    path = Path(path)
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    t_ns = int(round(log.t0_s * 1e9)) + np.round(log.t * 1e9).astype(np.int64)
    zeros = np.zeros(len(log))
    cov36, cov9 = np.zeros(36), np.zeros(9)

    def header(k: int, frame: str):
        ns = int(t_ns[k])
        return Header(stamp=Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000), frame_id=frame)

    lon, layout = [], None
    write_drive = bool(drive_topic) and log.has("delta")
    if write_drive:
        if drive == "ackermann" and not ((log.has("Fx") and mass_kg) or log.has("ax_cmd")):
            raise LogError(f"{log.source}: an Ackermann drive command needs an acceleration: give "
                           "mass_kg with a log that has 'Fx', or a log with 'ax_cmd'; or write "
                           "drive='multiarray' (which carries Fx or throttle/brake_Pa).")
        if drive == "multiarray":
            lon = ["Fx"] if log.has("Fx") else [n for n in ("throttle", "brake_Pa") if log.has(n)]
            if not lon:
                raise LogError(f"{log.source}: no longitudinal command (Fx, throttle or brake_Pa) to write.")
            label = ",".join(["delta_rad"] + [("Fx_N" if n == "Fx" else n) for n in lon])
            MAD, MAL = T["std_msgs/msg/MultiArrayDimension"], T["std_msgs/msg/MultiArrayLayout"]
            layout = MAL(dim=[MAD(label=label, size=1 + len(lon), stride=1 + len(lon))], data_offset=0)
    with Writer(path, version=9, storage_plugin=plugin) as w:
        c_odom = w.add_connection(odom_topic, ODOM, typestore=store)
        c_imu = w.add_connection(imu_topic, IMU, typestore=store) if imu_topic else None
        c_drv = None
        if write_drive:
            c_drv = w.add_connection(drive_topic, ACK if drive == "ackermann" else MULTI, typestore=store)
        V3, Quat = T[geo + "Vector3"], T[geo + "Quaternion"]
        ax = log["ax"] if log.has("ax") else zeros
        ay = log["ay"] if log.has("ay") else zeros
        for k in range(len(log)):
            if k % stride["odom"] == 0:
                qx, qy, qz, qw = yaw_to_quaternion(float(log["psi"][k]))
                q = Quat(x=qx, y=qy, z=qz, w=qw)
                point = T[geo + "Point"](x=float(log["x"][k]), y=float(log["y"][k]), z=0.0)
                pose = T[geo + "PoseWithCovariance"](pose=T[geo + "Pose"](position=point, orientation=q),
                                                     covariance=cov36)
                lin = V3(x=float(log["vx"][k]), y=float(log["vy"][k]), z=0.0)
                ang = V3(x=0.0, y=0.0, z=float(log["r"][k]))
                twist = T[geo + "TwistWithCovariance"](twist=T[geo + "Twist"](linear=lin, angular=ang),
                                                       covariance=cov36)
                msg = T[ODOM](header=header(k, "map"), child_frame_id="base_link", pose=pose, twist=twist)
                w.write(c_odom, int(t_ns[k]), store.serialize_cdr(msg, ODOM))
            if c_imu is not None and k % stride["imu"] == 0:
                msg = T[IMU](
                    header=header(k, "base_link"),
                    orientation=Quat(x=0.0, y=0.0, z=0.0, w=1.0), orientation_covariance=cov9,
                    angular_velocity=V3(x=0.0, y=0.0, z=float(log["r"][k])),
                    angular_velocity_covariance=cov9,
                    linear_acceleration=V3(x=float(ax[k]), y=float(ay[k]), z=0.0),
                    linear_acceleration_covariance=cov9)
                w.write(c_imu, int(t_ns[k]), store.serialize_cdr(msg, IMU))
            if c_drv is not None and k % stride["drive"] == 0:
                delta = float(log["delta"][k])
                if drive == "ackermann":
                    if log.has("Fx") and mass_kg:
                        acc = float(log["Fx"][k]) / mass_kg
                    else:
                        acc = float(log["ax_cmd"][k])
                    spd = float(log["v_cmd"][k]) if log.has("v_cmd") else float(log["vx"][k])
                    d = T[ACK_DRIVE](steering_angle=delta, steering_angle_velocity=0.0, speed=spd,
                                     acceleration=acc, jerk=0.0)
                    msg = T[ACK](header=header(k, "base_link"), drive=d)
                    w.write(c_drv, int(t_ns[k]), store.serialize_cdr(msg, ACK))
                else:
                    vals = [delta] + [float(log[n][k]) for n in lon]
                    msg = T[MULTI](layout=layout, data=np.array(vals, dtype=np.float64))
                    w.write(c_drv, int(t_ns[k]), store.serialize_cdr(msg, MULTI))
    return path
