"""The launch description of a stack (:mod:`drift_ros.stacks`), shared by every ``launch/*.launch.py``.

Needs the ROS 2 ``launch`` and ``launch_ros`` packages (a full ROS 2 install; the pip wheels lack
them, use ``drift ros up`` there).
"""

from __future__ import annotations

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from drift_ros.stacks import Stack, config_dir


def launch_description(stack: Stack) -> LaunchDescription:
    """The nodes of ``stack`` with one ``params_file`` argument (default: its ``config/`` file)."""
    params = LaunchConfiguration("params_file")
    nodes = [
        Node(
            package="drift_ros",
            executable=n.executable,
            name=n.name,
            parameters=[params],
            output="screen",
            emulate_tty=True,
        )
        for n in stack.nodes
    ]
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "params_file",
                default_value=str(config_dir() / stack.params_file),
                description="YAML with one section per node (keys carry units)",
            ),
            *nodes,
        ]
    )
