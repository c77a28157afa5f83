"""ROS 2 round-trip latency of drift_mpc_node: odometry published -> command received, solve included.

The benchmark is the plant: it integrates the single-track model (``drift.vehicle``) of the donut
scenario with each command it gets back, publishes the next ``/odom`` 20 ms later (50 Hz) and
times the round trip through DDS on loopback to the node (``trigger:=odom``: one NMPC step per
odometry message) and back. Baseline measured in the same run: the bare ``DriftMPC.step()`` on the
same states in this process. Prints p50 / p99 of both, the node-side solve time, and the ratio of
the ROS overhead (round trip minus the node's own solve time) to the bare step time.

    python benchmarks/ros_latency.py [--messages 1000] [--controller drift_mpc|cruise]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "ros2_ws" / "src" / "drift_ros"))
os.environ.setdefault("AMENT_PREFIX_PATH", sys.prefix)
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--controller", default="drift_mpc")
    ap.add_argument("--rate-hz", type=float, default=50.0)
    a = ap.parse_args()

    from drift_ros import conventions as conv
    from drift_ros.control import make_controller
    from drift_ros.scenarios import make_scenario
    from drift_ros.testing import NodeProcess, Probe, random_domain_id
    from nav_msgs.msg import Odometry
    from std_msgs.msg import Float64MultiArray

    from drift.vehicle import f, load_vehicle, rk4_step
    from drift.vehicle.tires import default_tires

    vehicle = load_vehicle("sports")
    tires = default_tires(vehicle)
    sc = make_scenario("donut", vehicle, tires, 8.0, -0.35)
    params = {
        "controller": a.controller,
        "vehicle": "sports",
        "rate_hz": a.rate_hz,
        "trigger": "odom",
        "radius_m": 8.0,
        "beta_ref_rad": -0.35,
        "v_ref_mps": float(sc.equilibrium.vx),
        "command_type": "float64_array",
        "odom_timeout_s": 1.0,
    }
    dom = random_domain_id()
    tmp = Path(tempfile.mkdtemp(prefix="ros_latency-"))
    node = NodeProcess("drift_mpc_node", params, dom, tmp)
    probe = Probe(dom)
    drive = probe.subscribe("/drive", Float64MultiArray)
    diag = probe.subscribe("/drift_mpc/diagnostics", Float64MultiArray)
    pub = probe.publisher("/odom", Odometry, conv.SENSOR_QOS)
    period = 1.0 / a.rate_hz
    fun = lambda x, u: f(x, u, vehicle, tires)  # noqa: E731
    x = sc.x0.copy()
    try:
        assert probe.wait_for(lambda: len(drive) > 0, 120.0), node.log()[-2000:]
        states, rtt, solve = [], [], []
        # warm-up: 50 messages (first solves initialise the NMPC), not counted
        for k in range(a.messages + 50):
            t_pub = time.monotonic()
            n, nd = len(drive), len(diag)
            pub.publish(conv.state_to_odometry(x, probe.node.get_clock().now().to_msg()))
            got = probe.wait_for(lambda n=n, nd=nd: len(drive) > n and len(diag) > nd, 2.0)
            if not got:
                raise SystemExit(f"no command for message {k}:\n{node.log()[-2000:]}")
            t_rx, msg = drive[n]
            u = np.array(msg.data[:2])
            if k >= 50:
                states.append(x.copy())
                rtt.append(t_rx - t_pub)
                solve.append(diag[nd][1].data[0] * 1e-3)
            x = rk4_step(fun, x, u, period, 4)
            while time.monotonic() < t_pub + period:
                probe.executor.spin_once(timeout_sec=0.001)
    finally:
        probe.close()
        node.stop()
    # baseline: the bare controller step on the same states, same process kind of work
    ctrl = make_controller(a.controller, vehicle, tires, params)
    bare = []
    for i, s in enumerate(states):
        t0 = time.perf_counter()
        ctrl.step(s, i * period)
        bare.append(time.perf_counter() - t0)
    rtt, solve, bare = (np.array(v) * 1e3 for v in (rtt, solve, bare))
    over = rtt - solve
    p = lambda v, q: float(np.percentile(v, q))  # noqa: E731
    print(f"controller: {a.controller}, messages: {len(rtt)}, rate: {a.rate_hz:g} Hz")
    print(f"round trip odom -> command p50: {p(rtt, 50):.2f} ms")
    print(f"round trip odom -> command p99: {p(rtt, 99):.2f} ms")
    print(f"node-side step (solve) p50: {p(solve, 50):.2f} ms")
    print(f"node-side step (solve) p99: {p(solve, 99):.2f} ms")
    print(f"bare step() in-process p50: {p(bare, 50):.2f} ms")
    print(f"bare step() in-process p99: {p(bare, 99):.2f} ms")
    print(f"ROS overhead (round trip - node step) p50: {p(over, 50):.2f} ms")
    print(f"ROS overhead (round trip - node step) p99: {p(over, 99):.2f} ms")
    print(f"round trip p99 within the {period * 1e3:.0f} ms control period: {p(rtt, 99) < period * 1e3}")
    print(f"ratio ROS overhead / bare step() (p50): {p(over, 50) / p(bare, 50):.2f}")


if __name__ == "__main__":
    main()
