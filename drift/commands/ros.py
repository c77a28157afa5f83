"""``drift ros``: run the ROS 2 nodes of ``ros2_ws/src/drift_ros`` without ``ros2 launch``.

``drift ros up sim_drift`` starts the stack's nodes (:mod:`drift_ros.stacks`: the same nodes and
parameter file as ``ros2 launch drift_ros sim_drift.launch.py``) as separate processes
(``python -m drift_ros.<node> --ros-args -r __node:=<name> --params-file <yaml>``), writes their
logs and the recording (``bag/``, rosbag2 mcap) into the run folder, and stops them cleanly on
Ctrl-C / SIGTERM (or after ``--duration-s``, or when a node ends its program, e.g. ``sim_sysid``'s
identification drive): SIGINT to each node in the order controller, simulator, recorder (the
controller brings the car to rest first; the recording closes last and keeps the final stop), then
SIGTERM / SIGKILL for a node that does not exit within ``--stop-timeout-s``.

Isolation: the nodes join ROS domain ``--domain-id`` (default: ``ROS_DOMAIN_ID``, else 0) and die
with this process however it ends (SIGKILL included, see :mod:`drift_ros.runner`). Before starting,
``up`` refuses, naming them, when the topics the stack publishes (``/odom``, ``/drive``, ...)
already have publishers on that domain: two simulators or two controllers on one topic drive two
cars into one. Their process ids are in ``<run>/processes.json`` while they run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import tyro
import yaml

from drift.commands import write_options
from drift.errors import ConfigError, DriftError

#: stop order: controllers first (they publish a last stop command), the recorder last
_STOP_ORDER = ("drift_mpc_node", "racing_agent_node", "sim_bridge_node", "log_recorder_node")


def ros_package_dir() -> Path:
    """``ros2_ws/src/drift_ros`` of this repository (holds the ``drift_ros`` Python package)."""
    return Path(__file__).resolve().parents[2] / "ros2_ws" / "src" / "drift_ros"


def ros_env(domain_id: int | None = None) -> dict[str, str]:
    """Environment for node processes: ``drift_ros`` importable, ROS 2 wheels found, loopback discovery."""
    env = dict(os.environ)
    pkg = str(ros_package_dir())
    env["PYTHONPATH"] = pkg + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("AMENT_PREFIX_PATH", sys.prefix)
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("RCUTILS_LOGGING_BUFFERED_STREAM", "0")  # node logs as they happen
    env["DRIFT_PARENT_PID"] = str(os.getpid())  # the nodes die with this process
    if domain_id is not None:
        env["ROS_DOMAIN_ID"] = str(domain_id)
    return env


def default_domain_id() -> int:
    """The ROS domain of ``drift ros up`` without ``--domain-id``: ``ROS_DOMAIN_ID``, else 0.

    Raises:
        ConfigError: ``ROS_DOMAIN_ID`` is set but not an integer in 0..101.
    """
    raw = os.environ.get("ROS_DOMAIN_ID", "").strip()
    if not raw:
        return 0
    if not raw.isdigit() or not 0 <= int(raw) <= 101:
        raise ConfigError(f"ROS_DOMAIN_ID={raw!r}: must be an integer in 0..101")
    return int(raw)


def foreign_publishers(topics: list[str], domain_id: int, wait_s: float = 2.0) -> dict[str, list[str]]:
    """Publishers already on ``topics`` in ROS domain ``domain_id``: ``{topic: ["/namespace/node", ...]}``.

    Joins the domain with a temporary participant for ``wait_s`` seconds (DDS discovery), then
    leaves it. Only topics with publishers appear in the result.
    """
    env = ros_env(domain_id)
    for k in ("AMENT_PREFIX_PATH", "ROS_AUTOMATIC_DISCOVERY_RANGE"):
        os.environ.setdefault(k, env[k])
    import rclpy
    from rclpy.context import Context

    ctx = Context()
    rclpy.init(context=ctx, domain_id=domain_id)
    node = rclpy.create_node(f"drift_ros_up_check_{os.getpid()}", context=ctx)
    try:
        end = time.monotonic() + wait_s
        found: dict[str, list[str]] = {}
        while time.monotonic() < end:
            time.sleep(0.1)
            for t in topics:
                pubs = node.get_publishers_info_by_topic(t)
                if pubs:
                    found[t] = sorted({(p.node_namespace.rstrip("/") + "/" + p.node_name) for p in pubs})
        return found
    finally:
        node.destroy_node()
        rclpy.shutdown(context=ctx)


def _load_stacks():
    pkg = str(ros_package_dir())
    if pkg not in sys.path:
        sys.path.insert(0, pkg)
    from drift_ros import stacks

    return stacks


def node_command(executable: str, name: str, params_file: Path, overrides: list[str]) -> list[str]:
    """Command line of one node process."""
    cmd = [
        sys.executable,
        "-m",
        f"drift_ros.{executable}",
        "--ros-args",
        "-r",
        f"__node:={name}",
        "--params-file",
        str(params_file),
    ]
    for o in overrides:
        cmd += ["-p", o]
    return cmd


def _require_rclpy() -> None:
    """Fail with install instructions (not with each node's traceback) when rclpy is missing."""
    import importlib.util

    if importlib.util.find_spec("rclpy") is None:
        raise DriftError(
            "drift ros needs ROS 2 (rclpy): install the ROS 2 wheels with `pip install 'drift[ros]'`, "
            "or source a ROS 2 Jazzy install (`source /opt/ros/jazzy/setup.bash`)"
        )


def check_params_file(path: Path) -> None:
    """Check that ``path`` is a ROS 2 parameter file: ``NODE: {ros__parameters: {NAME: VALUE}}``.

    Raises:
        ConfigError: unreadable or invalid YAML, or a section without a ``ros__parameters`` mapping
            (the nodes would otherwise die with rcl's parse error).
    """
    import yaml

    try:
        d = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"--params-file {str(path)!r}: cannot read it as YAML ({e})") from None
    fix = "expected 'NODE:' sections each holding 'ros__parameters: {name: value}' (see config/*.yaml)"
    if not isinstance(d, dict) or not d:
        raise ConfigError(f"--params-file {str(path)!r}: {fix}")
    for node, sec in d.items():
        if not isinstance(sec, dict) or not isinstance(sec.get("ros__parameters"), dict):
            raise ConfigError(f"--params-file {str(path)!r}: section {node!r}: {fix}")


def _parse_sets(sets: list[str], names: set[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {n: [] for n in names}
    for s in sets:
        node, dot, rest = s.partition(".")
        if not dot or ":=" not in rest or node not in names:
            raise ConfigError(
                f"--set {s!r}: expected NODE.PARAM:=VALUE with NODE one of {sorted(names)}, "
                "e.g. --set sim_bridge.real_time_factor:=2.0"
            )
        out[node].append(rest)
    return out


def agent_world(overrides: dict[str, list[str]], params_file: Path) -> list[str]:
    """The bridge settings that show a racing agent the world it trained in: ``track``, ``preset``,
    ``vehicle`` (and ``tires``) of its run's ``options.yaml`` (``racing_agent.run``, from ``--set`` or the
    parameter file) and, for an image agent, the camera's placement in its checkpoint, except those given
    with ``--set sim_bridge.*``. Empty when the stack has no agent or no run. Raises ConfigError for a run
    folder without options.yaml or a checkpoint."""
    from drift.commands.race import _run_options, load_run

    if "racing_agent" not in overrides or "sim_bridge" not in overrides:
        return []
    file_params = ((yaml.safe_load(Path(params_file).read_text()) or {}).get("racing_agent") or {}).get(
        "ros__parameters"
    ) or {}

    def agent_param(name: str, default=None):
        given = [v.split(":=", 1)[1] for v in overrides["racing_agent"] if v.startswith(f"{name}:=")]
        return given[-1] if given else file_params.get(name, default)

    run = agent_param("run")
    if not run:
        return []
    try:
        opts = _run_options(Path(run))
        agent, _ = load_run(Path(run), agent_param("checkpoint", "best"))
    except DriftError as e:
        raise ConfigError(f"racing_agent.run: {e}") from None
    world = {"track": opts.track, "preset": opts.preset, "vehicle": opts.preset, **(agent.camera or {})}
    if opts.tires is not None:
        world["tires"] = str(opts.tires)
    given = {v.split(":=", 1)[0] for v in overrides["sim_bridge"]}
    return [f"{k}:={v}" for k, v in world.items() if k not in given]


def _pump(stream, log_path: Path, prefix: str, echo: bool) -> None:
    with open(log_path, "a", buffering=1) as f:
        for line in iter(stream.readline, ""):
            f.write(line)
            if echo:
                sys.stderr.write(f"[{prefix}] {line}")


class _Stop(Exception):
    pass


@dataclass(frozen=True)
class UpOptions:
    """Start a stack of drift_ros nodes as processes; Ctrl-C brings the car to rest, then stops them."""

    stack: Annotated[str, tyro.conf.Positional, tyro.conf.arg(metavar="STACK")]
    """sim_drift (bridge + NMPC + recorder), sim_sysid (identification drive), sim_race (bridge + racing
    agent + recorder; racing_agent.run:=RUN sets the bridge's track, preset and car to the run's) or
    car_drift"""
    params_file: Path | None = None
    """parameter YAML (None: the stack's config/<stack>.yaml in drift_ros)"""
    out: Path | None = None
    """run folder (None: runs/ros-<timestamp>)"""
    duration_s: float = 0.0
    """stop after this many wall seconds; 0: until Ctrl-C"""
    domain_id: int | None = None
    """ROS domain of the nodes (0..101); None: ROS_DOMAIN_ID, else 0"""
    set: Annotated[tuple[str, ...], tyro.conf.UseAppendAction] = ()
    """a parameter override NODE.PARAM:=VALUE (repeatable)"""
    record: bool = True
    """start the stack's log recorder"""
    quiet: bool = False
    """do not echo the nodes' output (still in <run>/<node>.log)"""
    stop_timeout_s: float = 10.0
    """grace period per node on stop (s)"""
    discovery_s: float = 3.0
    """time (s) spent looking for other publishers on the stack's topics (0: no check)"""
    config: Path | None = None
    """YAML file with these options' keys; flags given as well override it"""


SUBCOMMANDS = {"up": UpOptions}


def run(o: UpOptions) -> None:
    """Run ``drift ros up`` with options ``o``.

    Raises:
        ConfigError, DriftError: bad options, a busy ROS domain, or a node that failed.
    """
    stack, params_file, out, duration_s, domain_id = o.stack, o.params_file, o.out, o.duration_s, o.domain_id
    sets, record, quiet, stop_timeout_s = o.set, o.record, o.quiet, o.stop_timeout_s
    discovery_s = o.discovery_s
    from drift.runs import make_run_dir, write_metrics

    stacks = _load_stacks()
    if stack not in stacks.STACKS:
        raise ConfigError(f"unknown stack {stack!r}; known: {sorted(stacks.STACKS)}")
    if domain_id is None:
        domain_id = default_domain_id()
    if not 0 <= domain_id <= 101:
        raise ConfigError(f"--domain-id {domain_id}: must lie in 0..101")
    if duration_s < 0:
        raise ConfigError(f"--duration-s {duration_s}: must be >= 0")
    st = stacks.STACKS[stack]
    pf = params_file or stacks.config_dir() / st.params_file
    if not Path(pf).exists():
        raise ConfigError(f"--params-file {str(pf)!r}: no such file")
    check_params_file(Path(pf))
    if not discovery_s >= 0:
        raise ConfigError(f"--discovery-s {discovery_s}: must be >= 0 (0 skips the publisher check)")
    if not stop_timeout_s > 0:
        raise ConfigError(f"--stop-timeout-s {stop_timeout_s}: must be > 0")
    _require_rclpy()
    nodes = [n for n in st.nodes if record or n.executable != "log_recorder_node"]
    overrides = _parse_sets(sets, {n.name for n in nodes})
    world = agent_world(overrides, Path(pf))
    if world:
        print(f"sim_bridge: {', '.join(world)} (the agent's run)", flush=True)
        overrides["sim_bridge"] = world + overrides["sim_bridge"]
    topics = sorted({t for n in nodes for t in n.publishes})
    if topics and discovery_s > 0:
        print(f"ROS domain {domain_id}: looking for other publishers on {', '.join(topics)} ...", flush=True)
        busy = foreign_publishers(topics, domain_id, discovery_s)
        if busy:
            who = "; ".join(f"{t} by {', '.join(ns)}" for t, ns in busy.items())
            raise DriftError(
                f"ROS domain {domain_id} already has publishers on the topics of stack {stack!r}: {who}. "
                "Stop them, or run this stack on another domain (--domain-id N or ROS_DOMAIN_ID)"
            )
    run_dir = make_run_dir("ros", out)
    write_options(run_dir, o)
    bag = run_dir / "bag"
    env = ros_env(domain_id)

    procs: dict[str, subprocess.Popen] = {}
    pumps = []
    stop_reason = {"why": "duration"}

    def _on_signal(signum, frame):
        raise _Stop(signal.Signals(signum).name)

    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    t0 = time.monotonic()
    try:
        try:
            for n in nodes:
                extra = list(overrides[n.name])
                if n.executable == "log_recorder_node":
                    extra.append(f"output:={bag}")
                cmd = node_command(n.executable, n.name, Path(pf), extra)
                log = run_dir / f"{n.name}.log"
                log.write_text("$ " + " ".join(cmd) + "\n")
                p = subprocess.Popen(
                    cmd,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    start_new_session=True,
                )
                procs[n.executable] = p
                th = threading.Thread(target=_pump, args=(p.stdout, log, n.name, not quiet), daemon=True)
                th.start()
                pumps.append(th)
            (run_dir / "processes.json").write_text(
                json.dumps({"launcher": os.getpid(), **{k: p.pid for k, p in procs.items()}}, indent=1)
            )
            print(
                f"started {stack} on ROS domain {domain_id}: {', '.join(n.name for n in nodes)} "
                "(Ctrl-C to stop)",
                flush=True,
            )
            while True:
                time.sleep(0.1)
                dead = [(k, p.returncode) for k, p in procs.items() if p.poll() is not None]
                if dead:
                    k, code = dead[0]
                    stop_reason["why"] = (
                        f"node {k} finished" if code == 0 else f"node {k} exited with status {code}"
                    )
                    break
                if duration_s and time.monotonic() - t0 >= duration_s:
                    break
        except _Stop as s:
            stop_reason["why"] = f"signal {s}"
        codes = _stop_all(procs, stop_timeout_s)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    for th in pumps:
        th.join(timeout=2.0)
    wall = time.monotonic() - t0
    counts = _bag_counts(bag)
    metrics = {
        "stack": stack,
        "ros_domain_id": domain_id,
        "nodes": [n.name for n in nodes],
        "wall_time_s": wall,
        "stop_reason": stop_reason["why"],
        "exit_codes": {k: v for k, v in codes.items()},
        "bag": str(bag) if bag.exists() else None,
        "bag_message_counts": counts,
    }
    write_metrics(run_dir, metrics)
    print(
        f"stopped {stack} after {wall:.1f} s ({stop_reason['why']}); exit codes {codes}"
        + (f"; recording {bag} {counts}" if bag.exists() else ""),
        flush=True,
    )
    failed = {k: c for k, c in codes.items() if c not in (0, -signal.SIGINT)}
    if failed:
        k = next(iter(failed))
        name = next(n.name for n in nodes if n.executable == k)
        tail = "".join((run_dir / f"{name}.log").read_text().splitlines(True)[-8:])
        raise DriftError(
            f"node {name} failed with status {failed[k]}; last lines of {run_dir / (name + '.log')}:\n{tail}"
        )


def _stop_all(procs: dict[str, subprocess.Popen], timeout_s: float) -> dict[str, int]:
    """SIGINT each process in :data:`_STOP_ORDER`, escalate to SIGTERM then SIGKILL; return exit codes."""
    order = sorted(procs, key=lambda k: _STOP_ORDER.index(k) if k in _STOP_ORDER else -1)
    for k in order:
        p = procs[k]
        if p.poll() is not None:
            continue
        for sig, wait in ((signal.SIGINT, timeout_s), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            try:
                p.send_signal(sig)
                p.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                break
    return {k: p.wait() for k, p in procs.items()}


def _bag_counts(bag: Path) -> dict[str, int]:
    meta = bag / "metadata.yaml"
    if not meta.exists():
        return {}
    import yaml

    info = (yaml.safe_load(meta.read_text()) or {}).get("rosbag2_bagfile_information", {})
    return {
        t["topic_metadata"]["name"]: int(t["message_count"])
        for t in info.get("topics_with_message_count", [])
    }
