"""ament_python build of the drift_ros package (colcon build --packages-select drift_ros)."""

from glob import glob

from setuptools import find_packages, setup

package_name = "drift_ros"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/launch", glob("launch/*.launch.py")),
        ("share/" + package_name + "/config", glob("config/*.yaml")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="drift developers",
    maintainer_email="drift@example.org",
    description="ROS 2 nodes for drift: drift NMPC, racing agent, simulator bridge, rosbag2 log recorder.",
    license="GPL-3.0-or-later",
    entry_points={
        "console_scripts": [
            "drift_mpc_node = drift_ros.drift_mpc_node:main",
            "sim_bridge_node = drift_ros.sim_bridge_node:main",
            "log_recorder_node = drift_ros.log_recorder_node:main",
            "racing_agent_node = drift_ros.racing_agent_node:main",
        ],
    },
)
