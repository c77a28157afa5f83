"""Settings of every test process.

* One torch thread: pytest-xdist runs two processes on two cores, and more torch (OpenMP) threads than
  free cores spin against each other (a QR-SAC update ran ~100x slower).
* The ROS 2 package ``drift_ros`` importable from its source folder, with the wheels' ament prefix and
  discovery kept on this machine (the ROS tests' processes must never reach another's).
"""

import os
import sys
from pathlib import Path

import torch

torch.set_num_threads(1)

ROS_PKG = Path(__file__).resolve().parents[1] / "ros2_ws" / "src" / "drift_ros"
sys.path.insert(0, str(ROS_PKG))
os.environ.setdefault("AMENT_PREFIX_PATH", sys.prefix)
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
