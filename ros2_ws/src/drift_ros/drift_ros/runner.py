"""``main()`` of every node: init, spin, clean shutdown on Ctrl-C / SIGTERM, clear config errors.

Every node dies with the process that started it (``drift ros up``, ``ros2 launch``, a test): on
Linux the kernel sends it SIGTERM when its parent exits, however the parent died (SIGKILL
included); elsewhere a watchdog thread notices the new parent within 0.2 s. An orphaned node would
keep publishing ``/odom`` or ``/drive`` beside the next stack.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

from drift_ros import ensure_ros_env

ensure_ros_env()

import rclpy  # noqa: E402
from rclpy.executors import ExternalShutdownException  # noqa: E402
from rclpy.signals import SignalHandlerOptions  # noqa: E402

from drift.errors import DriftError  # noqa: E402

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


class _Signal:
    last: int | None = None  #: the signal that stopped the node (SIGINT: stop the car first)
    spinning = False  #: the node runs: a signal only sets ``last`` (see :func:`run_node`)


def _on_signal(signum, frame):
    _Signal.last = signum
    if not _Signal.spinning:  # still starting: leave at once
        raise KeyboardInterrupt


def die_with_parent() -> None:
    """Have this process receive SIGTERM when its parent exits (see the module doc).

    ``DRIFT_PARENT_PID`` (set by ``drift ros up`` and the test helpers) closes the race of a parent
    that died before this call: the node then stops at once.
    """
    parent = os.getppid()
    expected = os.environ.get("DRIFT_PARENT_PID")
    if expected and expected.isdigit() and int(expected) != parent:
        os.kill(os.getpid(), signal.SIGTERM)
        return
    if sys.platform.startswith("linux"):
        try:
            if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0:
                return
        except (OSError, AttributeError):
            pass

    def watch():
        while os.getppid() == parent:
            time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


_TEARDOWN_S = 3.0  #: time (s) allowed for the last commands and the ROS teardown after a node's stop


def _force_exit(grace: float) -> None:
    print(f"shutdown did not finish within {grace:g} s; exiting with status 3", file=sys.stderr, flush=True)
    os._exit(3)


def run_node(node_cls, args=None) -> int:
    """Create ``node_cls()`` and spin it until Ctrl-C or SIGTERM; return the exit status.

    Signals are handled here, not by rclpy, so that the node's ``shutdown(graceful)`` hook (if any)
    can still publish before the context goes down: ``graceful`` is True after SIGINT (Ctrl-C: a
    controller brings the car to rest first) or when the node sets ``finished = True`` (its programme
    is over), and False after SIGTERM (stop now: one last command).
    Exit status: 0 after a clean stop, 2 when a parameter or file was rejected (message on stderr).
    A node may bound its hook's duration with a ``shutdown_time_s`` attribute (s); the process leaves
    at the latest 3 s after that, whatever hangs (status 3).
    """
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    die_with_parent()
    rclpy.init(args=args if args is not None else sys.argv, signal_handler_options=SignalHandlerOptions.NO)
    node, code = None, 0
    try:
        node = node_cls()
        # Once running, a signal only sets a flag that this loop reads: an exception raised from a
        # signal handler inside rclpy's native calls surfaces as an unrelated error (e.g. in a
        # message conversion) and can leave the executor half-way through a callback.
        _Signal.spinning = True
        executor = rclpy.get_global_executor()
        executor.add_node(node)
        while _Signal.last is None and not getattr(node, "finished", False) and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
        executor.remove_node(node)
    except DriftError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        code = 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # a process that hangs while going down (e.g. in the middle-ware's teardown) would outlive its
        # stack: leave at the latest this long after the stop began
        grace = float(getattr(node, "shutdown_time_s", 0.0)) + _TEARDOWN_S
        watchdog = threading.Timer(grace, _force_exit, args=(grace,))
        watchdog.daemon = True
        watchdog.start()
        if node is not None:
            hook = getattr(node, "shutdown", None)
            if hook is not None:
                try:
                    hook(graceful=_Signal.last != signal.SIGTERM)  # SIGINT, or the node finished
                except Exception as e:  # noqa: BLE001 - report, then still close cleanly
                    print(f"{node.get_name()}: shutdown hook failed: {e}", file=sys.stderr)
            node.destroy_node()
        rclpy.try_shutdown()
    return code
