"""Helpers for tests and benchmarks: node processes on a private ROS domain and an in-process probe.

Usage::

    dom = random_domain_id()
    node = NodeProcess("drift_mpc_node", {"controller": "cruise"}, dom, log_dir=tmp_path)
    probe = Probe(dom)
    drives = probe.subscribe("/drive", Float64MultiArray)
    probe.wait_for(lambda: len(drives) > 0, timeout_s=30)
    ...
    probe.close(); node.stop()
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

PKG_DIR = Path(__file__).resolve().parents[1]


_draws = 0  # domains handed out by this process
_offset = random.SystemRandom().randrange(100)


def random_domain_id() -> int:
    """A ROS domain (1..100) that no other test worker uses and that this process did not hand out in its
    last 100 draws (50 per worker with two), so that nodes still running (a module fixture's) never hear
    a later test's.

    Under pytest-xdist each worker draws from its own band of domains (``gw0``: 1..50, ``gw1``:
    51..100 with two workers), so two workers never share one. Within the band the domains follow one
    another from a random start (random draws could meet a live fixture's domain, one chance in 50).
    """
    global _draws
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    n = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    base, width = 0, 100
    if worker.startswith("gw") and worker[2:].isdigit() and 1 < n <= 100:
        width = 100 // n
        base = int(worker[2:]) * width
    _draws += 1
    return 1 + base + (_offset + _draws) % width


def node_env(domain_id: int) -> dict[str, str]:
    """Environment of a node process: ``drift_ros`` importable, pip ROS 2 found, loopback only."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PKG_DIR) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("AMENT_PREFIX_PATH", sys.prefix)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = env.get("ROS_AUTOMATIC_DISCOVERY_RANGE") or "LOCALHOST"
    env["ROS_DOMAIN_ID"] = str(domain_id)
    env["PYTHONUNBUFFERED"] = "1"
    env["RCUTILS_LOGGING_BUFFERED_STREAM"] = "0"  # the log shows what a killed node last did
    env["DRIFT_PARENT_PID"] = str(os.getpid())  # nodes die with the test process
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def _fmt(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, list | tuple):
        return "[" + ",".join(f"'{x}'" if isinstance(x, str) else _fmt(x) for x in v) + "]"
    return str(v)


class NodeProcess:
    """One ``python -m drift_ros.<executable>`` process with ``-p`` parameters; output in ``log_dir``."""

    def __init__(
        self,
        executable: str,
        params: dict | None,
        domain_id: int,
        log_dir: Path,
        name: str | None = None,
        remaps: dict[str, str] | None = None,
        params_file: Path | None = None,
    ):
        self.name = name or executable
        cmd = [sys.executable, "-m", f"drift_ros.{executable}", "--ros-args"]
        if name:
            cmd += ["-r", f"__node:={name}"]
        for a, b in (remaps or {}).items():
            cmd += ["-r", f"{a}:={b}"]
        if params_file:
            cmd += ["--params-file", str(params_file)]
        for k, v in (params or {}).items():
            cmd += ["-p", f"{k}:={_fmt(v)}"]
        self.cmd = cmd
        self.log_path = Path(log_dir) / f"{self.name}.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            cmd, env=node_env(domain_id), stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout_s: float) -> int:
        return self.proc.wait(timeout_s)

    def stop(self, timeout_s: float = 15.0) -> int:
        """SIGINT, then SIGKILL after ``timeout_s`` (longer than a node's own exit deadline, see
        :func:`drift_ros.runner.run_node`); returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5.0)
        self._log.close()
        return self.proc.returncode

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text()


class Probe:
    """An rclpy node in the calling process, on its own context and domain."""

    def __init__(self, domain_id: int, name: str = "probe"):
        os.environ.setdefault("AMENT_PREFIX_PATH", sys.prefix)
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = (
            os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE") or "LOCALHOST"
        )
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor

        self.ctx = Context()
        rclpy.init(context=self.ctx, domain_id=domain_id)
        self.node = rclpy.create_node(name, context=self.ctx)
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)

    def subscribe(self, topic: str, msg_type, qos=None) -> list:
        """Subscribe; returns a list that fills with ``(monotonic time s, msg)``."""
        from drift_ros.conventions import COMMAND_QOS

        box: list = []
        self.node.create_subscription(
            msg_type, topic, lambda m: box.append((time.monotonic(), m)), qos or COMMAND_QOS
        )
        return box

    def publisher(self, topic: str, msg_type, qos=None):
        from drift_ros.conventions import COMMAND_QOS

        return self.node.create_publisher(msg_type, topic, qos or COMMAND_QOS)

    def spin_for(
        self, seconds: float, every: Callable[[], None] | None = None, period_s: float = 0.01
    ) -> None:
        """Spin for ``seconds``, calling ``every()`` each ``period_s`` (e.g. to publish odometry)."""
        end = time.monotonic() + seconds
        nxt = time.monotonic()
        while time.monotonic() < end:
            if every is not None and time.monotonic() >= nxt:
                every()
                nxt += period_s
            self.executor.spin_once(timeout_sec=min(0.005, period_s))

    def wait_for(
        self,
        pred: Callable[[], bool],
        timeout_s: float,
        every: Callable[[], None] | None = None,
        period_s: float = 0.01,
    ) -> bool:
        """Spin until ``pred()`` holds (True) or ``timeout_s`` passes (False)."""
        end = time.monotonic() + timeout_s
        nxt = time.monotonic()
        while time.monotonic() < end:
            if pred():
                return True
            if every is not None and time.monotonic() >= nxt:
                every()
                nxt += period_s
            self.executor.spin_once(timeout_sec=0.005)
        return pred()

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.ctx)


class NanController:
    """A broken controller for tests: returns NaN commands (the safety filter must never pass them)."""

    def step(self, state, t):
        return [float("nan"), float("nan")], {"status": "nan"}


def nan_controller(vehicle, tires, settings):
    """Factory for ``controller:=drift_ros.testing:nan_controller``."""
    return NanController()
