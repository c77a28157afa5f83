"""``log_recorder_node``: records topics to a rosbag2 recording (mcap by default) with ``rosbags``.

The recording is a rosbag2 directory (``metadata.yaml`` + ``<name>_0.mcap`` or ``.db3``) that
:func:`drift.logs.load_log` and ``drift fit`` read directly (``/odom``, ``/imu``, ``/drive``).

Each configured topic is subscribed once a publisher appears (its type is discovered from the
graph), with reliable QoS when every publisher is reliable and best effort otherwise. Messages
are taken as the serialized CDR bytes DDS delivered (``raw=True``: no deserialize/serialize round
trip), and the connection's message definition comes from the ``rosbags`` typestore
(:func:`drift.logs.rosbag.typestore`, ROS 2 Jazzy types plus ackermann_msgs); a topic whose type the
typestore does not know is skipped with a warning. The bag time stamp of a message is the node's
clock at reception (simulated time when ``use_sim_time`` is true; messages that arrive before the
first ``/clock`` are dropped), made strictly increasing per topic (1 ns apart when the clock has not
advanced between two messages, as happens with a simulated clock ticking at 100 Hz). The bag is closed
(metadata written) on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path

from drift_ros import ensure_ros_env

ensure_ros_env()

from rclpy.clock import Clock, ClockType  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402

from drift.errors import ConfigError  # noqa: E402
from drift_ros.params import Param, declare, validator  # noqa: E402
from drift_ros.runner import run_node  # noqa: E402

STORAGES = ("mcap", "sqlite3")


def _check_topics(v) -> str | None:
    if not v or not all(isinstance(t, str) and t.startswith("/") for t in v):
        return "must be a non-empty list of absolute topic names like ['/odom', '/imu', '/drive']"
    return None


PARAMS = [
    Param("output", "", "-", "bag directory to create; empty = ./recording-<timestamp>", read_only=True),
    Param("storage", "mcap", "-", "rosbag2 storage: mcap or sqlite3", choices=STORAGES, read_only=True),
    Param("topics", ["/odom", "/imu", "/drive"], "-", "topics to record", _check_topics, read_only=True),
    Param(
        "discovery_period_s",
        0.2,
        "s",
        "how often to look for publishers of topics not yet recorded",
        lambda v: None if v > 0 else "must be > 0",
        read_only=True,
    ),
]


def _typestore():
    try:
        from drift.logs.rosbag import typestore

        return typestore()
    except ImportError:  # drift.logs not installed: plain Jazzy types
        from rosbags.typesys import Stores, get_typestore

        return get_typestore(Stores.ROS2_JAZZY)


def _msg_class(type_name: str):
    pkg, _, name = type_name.partition("/msg/")
    return getattr(importlib.import_module(f"{pkg}.msg"), name)


class LogRecorderNode(Node):
    def __init__(self, **node_kwargs):
        super().__init__("log_recorder", **node_kwargs)
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.values = v = declare(self, PARAMS)
        self.add_on_set_parameters_callback(validator(self.get_name(), PARAMS))
        out = Path(v["output"] or f"recording-{time.strftime('%Y%m%d-%H%M%S')}")
        if out.exists():
            raise ConfigError(
                f"parameter output = {str(out)!r} exists already; the recorder never overwrites a "
                "recording: give a new directory"
            )
        out.parent.mkdir(parents=True, exist_ok=True)
        self.path = out
        self.store = _typestore()
        plugin = StoragePlugin.MCAP if v["storage"] == "mcap" else StoragePlugin.SQLITE3
        self.writer = Writer(out, version=9, storage_plugin=plugin)
        self.writer.open()
        self.connections: dict[str, object] = {}
        self.counts: dict[str, int] = {}
        self.last_ns: dict[str, int] = {}
        self.dropped = 0
        self._closed = False
        # wall clock: with use_sim_time the node clock stands still until the first /clock
        self.create_timer(
            v["discovery_period_s"], self._discover, clock=Clock(clock_type=ClockType.STEADY_TIME)
        )
        self._discover()
        self.get_logger().info(f"recording {list(v['topics'])} to {out} ({v['storage']})")

    def _discover(self) -> None:
        types = dict(self.get_topic_names_and_types())
        for topic in self.values["topics"]:
            if topic in self.connections or topic not in types:
                continue
            type_name = types[topic][0]
            if type_name not in self.store.types:
                self.get_logger().warning(
                    f"not recording {topic}: type {type_name} unknown to the rosbags typestore"
                )
                self.connections[topic] = None
                continue
            try:
                cls = _msg_class(type_name)
            except (ImportError, AttributeError) as e:
                self.get_logger().warning(f"not recording {topic}: cannot import {type_name} ({e})")
                self.connections[topic] = None
                continue
            infos = self.get_publishers_info_by_topic(topic)
            reliable = bool(infos) and all(
                i.qos_profile.reliability == ReliabilityPolicy.RELIABLE for i in infos
            )
            qos = QoSProfile(
                depth=100,
                reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
            )
            conn = self.writer.add_connection(topic, type_name, typestore=self.store)
            self.connections[topic] = conn
            self.counts[topic] = 0
            self.create_subscription(
                cls, topic, lambda data, c=conn, t=topic: self._write(c, t, data), qos, raw=True
            )
            self.get_logger().info(
                f"recording {topic} ({type_name}, {'reliable' if reliable else 'best effort'})"
            )

    def _write(self, conn, topic: str, data: bytes) -> None:
        if self._closed:
            return
        ns = self.get_clock().now().nanoseconds
        if ns == 0:  # simulated time not yet received
            self.dropped += 1
            return
        # strictly increasing per topic: the simulated clock advances in ticks (e.g. 10 ms), so two
        # messages of one topic may arrive within one tick
        ns = max(ns, self.last_ns.get(topic, 0) + 1)
        self.last_ns[topic] = ns
        self.writer.write(conn, ns, data)
        self.counts[topic] += 1

    def shutdown(self, graceful: bool = True) -> None:
        """Close the bag (writes metadata.yaml) and report the message counts."""
        if not self._closed:
            self._closed = True
            self.writer.close()
            self.get_logger().info(
                f"closed {self.path}: {self.counts} messages"
                + (f", {self.dropped} dropped before the first /clock" if self.dropped else "")
            )


def main(args=None) -> None:
    raise SystemExit(run_node(LogRecorderNode, args))


if __name__ == "__main__":
    main()
