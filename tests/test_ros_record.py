"""Recording round trip: `drift ros up sim_drift` records a simulated drive to mcap with the
log_recorder node; drift.logs loads it, and `drift fit` fits a tyre model on it (slow)."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytestmark = pytest.mark.ros

from drift_ros.testing import node_env, random_domain_id  # noqa: E402

# an identification drive: cruise controller on a 25 m circle at 7 m/s with a steering sweep
DRIVE = [
    "drift_mpc.controller:=cruise",
    "drift_mpc.v_ref_mps:=7.0",
    "drift_mpc.radius_m:=25.0",
    "drift_mpc.excitation_amplitude_rad:=0.06",
    "drift_mpc.excitation_period_s:=2.5",
    "sim_bridge.initial_condition:=rest",
    "sim_bridge.initial_vx_mps:=7.0",
    "sim_bridge.substeps:=2",
    # this test is about the recording, not the stale-input stops: keep a loaded CI machine's
    # scheduling stalls from triggering them
    "drift_mpc.odom_timeout_s:=1.0",
    "sim_bridge.command_timeout_s:=2.0",
]


def _ros_up(out: Path, extra: list[str], rtf: float, duration_s: float | None):
    sets = [a for s in [*DRIVE, f"sim_bridge.real_time_factor:={rtf}", *extra] for a in ("--set", s)]
    cmd = [
        sys.executable,
        "-m",
        "drift.cli",
        "ros",
        "up",
        "sim_drift",
        "--out",
        str(out),
        "--quiet",
        "--domain-id",
        str(random_domain_id()),
        *sets,
    ]
    if duration_s:
        cmd += ["--duration-s", str(duration_s)]
    env = node_env(0)
    env.pop("ROS_DOMAIN_ID")
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_driving(out: Path, timeout_s: float) -> bool:
    """The recorder records /odom and the simulated car runs (the bridge holds it until the first command,
    which a loaded machine can delay by seconds: the recording before it is of a car held still)."""
    end = time.monotonic() + timeout_s
    logs = {"log_recorder.log": "recording /odom", "sim_bridge.log": "simulation running"}
    while time.monotonic() < end:
        if all((out / f).exists() and line in (out / f).read_text() for f, line in logs.items()):
            return True
        time.sleep(0.2)
    return False


def test_ros_up_records_mcap_that_loads_as_a_driving_log_and_stops_on_ctrl_c(tmp_path):
    from drift.logs import load_log

    out = tmp_path / "run"
    proc = _ros_up(out, [], rtf=2.0, duration_s=None)
    try:
        assert _wait_for_driving(out, 90.0), proc.stdout.read() if proc.poll() is not None else "not driving"
        time.sleep(4.0)
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        text = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, text
    m = json.loads((out / "metrics.json").read_text())
    assert m["exit_codes"] == {"sim_bridge_node": 0, "drift_mpc_node": 0, "log_recorder_node": 0}
    assert m["stop_reason"] == "signal SIGINT"
    assert m["bag_message_counts"]["/odom"] > 200 and m["bag_message_counts"]["/drive"] > 50
    bag = out / "bag"
    assert (bag / "metadata.yaml").exists() and list(bag.glob("*.mcap"))
    log = load_log(bag)
    for name in ("x", "y", "psi", "vx", "vy", "r", "ax", "ay", "delta", "Fx"):
        assert log.has(name) and np.all(np.isfinite(log[name])), name
    assert log.t[-1] > 4.0  # simulated seconds (2x real time)
    # the recording is the drive that was commanded: ~7 m/s, left circle with a steering sweep (from the
    # first steering command on: before it the bridge holds the car still)
    steered = np.flatnonzero(np.abs(log["delta"]) > 1e-6)
    assert steered.size, "no steering command reached the car"
    k = steered[0]
    vx, r, delta = log["vx"][k:], log["r"][k:], log["delta"][k:]
    assert 5.0 < np.median(vx) < 8.0 and log.t[-1] - log.t[k] > 4.0
    assert np.median(r) > 0.1 and np.ptp(delta) > 0.05
    # the IMU's lateral acceleration matches the kinematics ay = vy_dot + vx r of the odometry
    ay_kin = np.gradient(log["vy"], log.t) + log["vx"] * log["r"]
    assert np.median(np.abs(log["ay"] - ay_kin)[k:]) < 0.3


@pytest.mark.slow
def test_ros_to_fit_workflow_of_the_readme(tmp_path):
    """`drift ros up sim_sysid`, then `drift fit --log RUN/bag --vehicle sports` with its defaults: the fit
    beats persistence on the held-out 1 s yaw rate."""
    env = node_env(0)
    env.pop("ROS_DOMAIN_ID")
    out = tmp_path / "rec"
    up = subprocess.run(
        [sys.executable, "-m", "drift.cli", "ros", "up", "sim_sysid", "--out", str(out), "--quiet"]
        + ["--domain-id", str(random_domain_id())],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    m = json.loads((out / "metrics.json").read_text())
    assert m["stop_reason"] == "node drift_mpc_node finished"  # the identification drive ends by itself
    fit = subprocess.run(
        [sys.executable, "-m", "drift.cli", "fit", "--log", str(out / "bag"), "--vehicle", "sports"]
        + ["--out", str(tmp_path / "fit")],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert fit.returncode == 0, fit.stdout[-3000:] + fit.stderr[-3000:]
    m = json.loads((tmp_path / "fit" / "metrics.json").read_text())
    r_fit = m["heldout"]["multi_step_rmse"]["r"]
    r_persistence = m["baselines"]["persistence"]["multi_step_rmse"]["r"]
    assert r_fit < r_persistence, (r_fit, r_persistence)
