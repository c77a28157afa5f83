"""The node sets ("stacks") started by the launch files and by ``drift ros up``: one source of truth.

Each stack lists its nodes (module and executable name) and one parameter file in ``config/``
holding a section per node, so ``ros2 launch drift_ros sim_drift.launch.py`` and
``drift ros up sim_drift`` start the same processes with the same parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class NodeSpec:
    """One node: ``executable`` (console script / module ``drift_ros.<executable>``) and ``name``."""

    executable: str
    name: str


@dataclass(frozen=True)
class Stack:
    name: str
    description: str
    nodes: tuple[NodeSpec, ...]
    params_file: str  #: file name in config/


BRIDGE = NodeSpec("sim_bridge_node", "sim_bridge")
MPC = NodeSpec("drift_mpc_node", "drift_mpc")
RECORDER = NodeSpec("log_recorder_node", "log_recorder")

STACKS: dict[str, Stack] = {
    "sim_drift": Stack(
        "sim_drift",
        "simulator bridge + drift NMPC + log recorder (simulated time)",
        (BRIDGE, MPC, RECORDER),
        "sim_drift.yaml",
    ),
    "car_drift": Stack(
        "car_drift",
        "drift NMPC + log recorder against a real car's /odom, /imu, /drive",
        (MPC, RECORDER),
        "car_drift.yaml",
    ),
}


def config_dir() -> Path:
    """``config/`` of the package: the installed share directory under colcon, else the source tree."""
    src = Path(__file__).resolve().parents[1] / "config"
    if src.is_dir():
        return src
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory("drift_ros")) / "config"
    except Exception:  # noqa: BLE001
        return src
