"""ros2 launch drift_ros sim_sysid.launch.py [params_file:=...] : the 'sim_sysid' stack of drift_ros.stacks.

The same nodes with the same parameters as `drift ros up sim_sysid` (for installs without ros2 launch).
"""

from drift_ros.stacks import STACKS, config_dir
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

STACK = STACKS["sim_sysid"]


def generate_launch_description():
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
        for n in STACK.nodes
    ]
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "params_file",
                default_value=str(config_dir() / STACK.params_file),
                description="YAML with one section per node (keys carry units)",
            ),
            *nodes,
        ]
    )
