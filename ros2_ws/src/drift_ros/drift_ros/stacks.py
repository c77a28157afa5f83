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
    """One node: ``executable`` (console script / module ``drift_ros.<executable>``), ``name``, and the
    topics it publishes that must have no other publisher (``drift ros up`` checks before starting)."""

    executable: str
    name: str
    publishes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Stack:
    """A set of nodes started together, with its parameter file in ``config/`` (one section per node)."""

    name: str
    description: str
    nodes: tuple[NodeSpec, ...]
    params_file: str  #: file name in config/


BRIDGE = NodeSpec("sim_bridge_node", "sim_bridge", ("/odom", "/imu", "/clock"))
MPC = NodeSpec("drift_mpc_node", "drift_mpc", ("/drive",))
RECORDER = NodeSpec("log_recorder_node", "log_recorder")
AGENT = NodeSpec("racing_agent_node", "racing_agent", ("/drive",))

STACKS: dict[str, Stack] = {
    "sim_drift": Stack(
        "sim_drift",
        "simulator bridge + drift NMPC + log recorder (simulated time)",
        (BRIDGE, MPC, RECORDER),
        "sim_drift.yaml",
    ),
    "sim_sysid": Stack(
        "sim_sysid",
        "simulator bridge + an identification drive (grip, steering sweeps, drift entries and exits) "
        "+ log recorder; ends by itself, and its recording fits with `drift fit --log RUN/bag`",
        (BRIDGE, MPC, RECORDER),
        "sim_sysid.yaml",
    ),
    "sim_race": Stack(
        "sim_race",
        "simulator bridge on a track with its camera + a trained racing agent (racing_agent.run:=RUN_DIR) "
        "+ log recorder (simulated time, synchronous camera)",
        (BRIDGE, AGENT, RECORDER),
        "sim_race.yaml",
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
