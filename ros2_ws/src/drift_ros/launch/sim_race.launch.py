"""ros2 launch drift_ros sim_race.launch.py [params_file:=...] : the 'sim_race' stack of drift_ros.stacks.

The same nodes with the same parameters as `drift ros up sim_race` (for installs without ros2 launch).
"""

from drift_ros.launching import launch_description
from drift_ros.stacks import STACKS


def generate_launch_description():
    return launch_description(STACKS["sim_race"])
