"""drift_ros: thin ROS 2 nodes around drift (NMPC controller, simulator bridge, log recorder).

Nodes convert messages and call the pure-Python core (``drift``, ``tire_models``,
``controllers``). Topic and message conventions: :mod:`drift_ros.conventions`.
"""

import os
import sys


def ensure_ros_env() -> None:
    """Make the pip-installed ROS 2 wheels findable before ``rclpy`` is imported.

    The wheels install their ament index into the Python prefix; ``AMENT_PREFIX_PATH``
    defaults to ``sys.prefix`` when unset (a full ROS 2 install sets it by sourcing
    ``setup.bash``, which takes precedence).
    """
    os.environ.setdefault("AMENT_PREFIX_PATH", sys.prefix)


ensure_ros_env()
