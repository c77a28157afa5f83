"""Stopping a drifting car over ROS 2: real nodes (sim_bridge_node + drift_mpc_node with the drift NMPC),
separate processes, loopback DDS, a private domain per test.

Each case holds the sim_drift donut (beta about -20 deg), then injects one fault mid-drift and checks
the bridge's true state (``~/ground_truth``, which the faults do not touch): the car ends at rest and
its sideslip never exceeds 30 deg after the event. The simulation runs at half real time, so that the
rest of the test suite running beside it on a 2-core machine cannot starve the drift before the event
(the stops do not depend on the pace; their timeouts are on the wall clock, which makes them harsher).
Then ``drift ros up``: a killed launcher leaves no node behind, and a second stack on the same domain
is refused.
"""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytest.importorskip("controllers.mpc")
pytestmark = pytest.mark.ros

from drift_ros.stacks import config_dir  # noqa: E402
from drift_ros.testing import NodeProcess, Probe, node_env, random_domain_id  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from std_msgs.msg import Bool, Float64, String  # noqa: E402

BETA_MAX_DEG = 30.0
AT_REST_MPS = 0.1


def _stamp(m) -> float:
    return m.header.stamp.sec + m.header.stamp.nanosec * 1e-9


def _stamps(box, t_from):
    """Simulated time (s) since ``t_from`` of the messages from ``t_from`` on."""
    return [_stamp(m) - t_from for _, m in box if _stamp(m) >= t_from]


def _beta_speed(box, t_from):
    """Sideslip (deg, where the car moves faster than 0.5 m/s) and speed (m/s) from sim time ``t_from``."""
    v = np.array([(m.twist.twist.linear.x, m.twist.twist.linear.y) for _, m in box if _stamp(m) >= t_from])
    speed = np.hypot(v[:, 0], v[:, 1])
    moving = speed > 0.5
    return np.degrees(np.arctan2(v[moving, 1], v[moving, 0])), speed


def _drift_then(tmp_path, event: str):
    dom = random_domain_id()
    pf = config_dir() / "sim_drift.yaml"
    bridge = NodeProcess(
        "sim_bridge_node", {"real_time_factor": 0.5}, dom, tmp_path, name="sim_bridge", params_file=pf
    )
    ctrl = NodeProcess("drift_mpc_node", {}, dom, tmp_path, name="drift_mpc", params_file=pf)
    probe = Probe(dom)
    try:
        truth = probe.subscribe("/sim_bridge/ground_truth", Odometry)
        status = probe.subscribe("/drift_mpc/status", String)
        ok = probe.wait_for(lambda: status and status[-1][1].data.startswith("ok") and truth, 180.0)
        assert ok, ctrl.log()[-3000:] + bridge.log()[-2000:]
        sim_t = lambda: _stamp(truth[-1][1])  # noqa: E731
        t_ok = sim_t()
        assert probe.wait_for(lambda: sim_t() > t_ok + 2.0, 60.0)  # hold the drift for 2 simulated s
        beta_before, _ = _beta_speed(truth, sim_t() - 1.0)
        assert np.all(beta_before < -12.0), "not drifting before the event: " + ctrl.log()[-2000:]
        t_event = sim_t()
        if event == "stale":
            probe.publisher("/sim_bridge/blackout", Float64).publish(Float64(data=0.5))
        elif event == "estop":
            probe.publisher("/emergency_stop", Bool).publish(Bool(data=True))
        elif event == "ctrl_c":
            ctrl.proc.send_signal(signal.SIGINT)
        elif event == "kill":
            ctrl.proc.kill()
        # 12 s: a stop from a 10 m/s drift takes 9-10 s; the bridge starts its own after its command timeout
        assert probe.wait_for(lambda: sim_t() > t_event + 12.0, 60.0), "the simulation stalled"
        beta, speed = _beta_speed(truth, t_event)
        log = ctrl.log() + bridge.log()
        assert np.abs(beta).max() < BETA_MAX_DEG, (np.abs(beta).max(), log[-3000:])
        assert speed[-1] < AT_REST_MPS and np.all(speed[-20:] < AT_REST_MPS), (speed[-1], log[-3000:])
        t_rest = next(t for t, v in zip(_stamps(truth, t_event), speed, strict=True) if v < AT_REST_MPS)
        print(
            f"{event}: max |beta| after the event {np.abs(beta).max():.1f} deg, at rest after {t_rest:.1f} s"
        )
        if event == "ctrl_c":
            assert ctrl.wait(5.0) == 0 and "stopping the car first" in ctrl.log()
            assert "final stop command published (stop phase hold)" in ctrl.log()
        if event == "kill":
            assert "the car stops itself" in bridge.log()
        if event in ("stale", "estop"):
            st = status[-1][1].data
            assert st.startswith("stale" if event == "stale" else "estop"), st  # latched
        return beta, speed
    finally:
        probe.close()
        ctrl.stop()
        assert bridge.stop() == 0


@pytest.mark.parametrize("event", ["stale", "estop", "ctrl_c", "kill"])
def test_a_stop_mid_drift_ends_at_rest_without_a_spin(tmp_path, event):
    _drift_then(tmp_path, event)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in state  # a zombie has exited (nobody reaped it yet)


def _ros_up(out: Path, domain: int, *extra: str):
    env = node_env(domain)
    env.pop("ROS_DOMAIN_ID")
    cmd = [sys.executable, "-m", "drift.cli", "ros", "up", "sim_drift", "--out", str(out), "--quiet"]
    cmd += ["--domain-id", str(domain), "--set", "drift_mpc.controller:=cruise", *extra]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_ros_up_refuses_a_second_stack_and_its_nodes_die_with_it(tmp_path):
    dom = random_domain_id()
    first, second = _ros_up(tmp_path / "a", dom), None
    try:
        end = time.monotonic() + 120.0
        log = tmp_path / "a" / "drift_mpc.log"
        while time.monotonic() < end and not (log.exists() and "command mode ok" in log.read_text()):
            assert first.poll() is None, first.stdout.read()
            time.sleep(0.2)
        pids = json.loads((tmp_path / "a" / "processes.json").read_text())
        # a second stack on the same domain is refused, naming the publishers it would collide with
        second = _ros_up(tmp_path / "b", dom, "--discovery-s", "6", "--duration-s", "5")
        text = second.communicate(timeout=120)[0]
        assert second.returncode != 0, text
        assert f"ROS domain {dom} already has publishers" in text, text
        assert "/odom by /sim_bridge" in text and "/drive by /drift_mpc" in text, text
        assert not (tmp_path / "b" / "processes.json").exists()  # it started nothing
        # the launcher is killed outright: its nodes do not outlive it
        first.kill()
        first.wait(10)
        time.sleep(2.0)
        alive = {k: pid for k, pid in pids.items() if k != "launcher" and _alive(pid)}
        assert not alive, alive
    finally:
        for p in (first, second):
            if p is not None and p.poll() is None:
                p.kill()


def _busy(n: int):
    """``n`` processes spinning a core each (other work on the machine); killed by the caller."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


@pytest.mark.slow
@pytest.mark.parametrize("start", range(5))
def test_donut_holds_under_injected_faults(tmp_path, start):
    """5 % of /odom dropped, 30 ms added delay, both cores busy: |beta - beta_ref| < 3 deg for 60 s."""
    from drift_ros.scenarios import make_scenario

    from drift.vehicle import load_vehicle
    from drift.vehicle.tires import default_tires

    dom = random_domain_id()
    pf = config_dir() / "sim_drift.yaml"
    faults = {"odom_drop_prob": 0.05, "odom_delay_s": 0.03, "fault_seed": start}
    bridge = NodeProcess("sim_bridge_node", faults, dom, tmp_path, name="sim_bridge", params_file=pf)
    ctrl = NodeProcess("drift_mpc_node", {}, dom, tmp_path, name="drift_mpc", params_file=pf)
    probe = Probe(dom)
    busy = []
    try:
        truth = probe.subscribe("/sim_bridge/ground_truth", Odometry)
        status = probe.subscribe("/drift_mpc/status", String)
        ok = probe.wait_for(lambda: status and status[-1][1].data.startswith("ok") and truth, 180.0)
        assert ok, ctrl.log()[-3000:]
        busy = _busy(2)
        t0 = truth[-1][1].header.stamp.sec + truth[-1][1].header.stamp.nanosec * 1e-9
        sim_t = lambda: truth[-1][1].header.stamp.sec + truth[-1][1].header.stamp.nanosec * 1e-9  # noqa: E731
        assert probe.wait_for(lambda: sim_t() - t0 >= 60.0, 400.0), "the simulation fell behind"
        v = np.array([(m.twist.twist.linear.x, m.twist.twist.linear.y) for _, m in truth])
        stamps = np.array([m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for _, m in truth])
        v = v[stamps >= t0]
        p = load_vehicle("sports")
        beta_ref = make_scenario("donut", p, default_tires(p), 8.0, -0.35).equilibrium.beta
        err = np.degrees(np.abs(np.arctan2(v[:, 1], v[:, 0]) - beta_ref))
        assert status[-1][1].data.startswith("ok"), status[-1][1].data  # no stop was triggered
        assert err.max() < 3.0, (err.max(), np.percentile(err, [50, 95]))
        print(f"start {start}: |beta - beta_ref| max {err.max():.2f} deg, median {np.median(err):.2f} deg")
    finally:
        for b in busy:
            b.kill()
        probe.close()
        ctrl.stop()
        bridge.stop()
