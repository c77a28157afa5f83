"""ros2 launch drift_ros car_drift.launch.py [params_file:=...] : the 'car_drift' stack of drift_ros.stacks.

The same nodes with the same parameters as `drift ros up car_drift` (for installs without ros2 launch).
"""

from drift_ros.launching import launch_description
from drift_ros.stacks import STACKS


def generate_launch_description():
    return launch_description(STACKS["car_drift"])
