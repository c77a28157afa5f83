"""``main()`` of every node: init, spin, clean shutdown on Ctrl-C / SIGTERM, clear config errors."""

from __future__ import annotations

import signal
import sys

from drift_ros import ensure_ros_env

ensure_ros_env()

import rclpy  # noqa: E402
from rclpy.executors import ExternalShutdownException  # noqa: E402
from rclpy.signals import SignalHandlerOptions  # noqa: E402

from drift.errors import DriftError  # noqa: E402


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def run_node(node_cls, args=None) -> int:
    """Create ``node_cls()`` and spin it until Ctrl-C or SIGTERM; return the exit status.

    Signals are handled here, not by rclpy, so that the node's ``shutdown()`` hook (if any) can
    still publish (e.g. a final stop command) before the context goes down.
    Exit status: 0 after a clean stop, 2 when a parameter or file was rejected (message on stderr).
    """
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, _raise_interrupt)
    rclpy.init(args=args if args is not None else sys.argv, signal_handler_options=SignalHandlerOptions.NO)
    node, code = None, 0
    try:
        node = node_cls()
        rclpy.spin(node)
    except DriftError as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        code = 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if node is not None:
            hook = getattr(node, "shutdown", None)
            if hook is not None:
                try:
                    hook()
                except Exception as e:  # noqa: BLE001 - report, then still close cleanly
                    print(f"{node.get_name()}: shutdown hook failed: {e}", file=sys.stderr)
            node.destroy_node()
        rclpy.try_shutdown()
    return code
