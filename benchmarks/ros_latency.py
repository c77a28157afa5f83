"""ROS 2 round-trip latency of drift_mpc_node (odometry -> command) and racing_agent_node (camera -> command).

The benchmark is the plant: it integrates the single-track model (``drift.vehicle``) of the donut
scenario with each command it gets back, publishes the next ``/odom`` 20 ms later (50 Hz) and
times the round trip through DDS on loopback to the node (``trigger:=odom``: one NMPC step per
odometry message) and back. Baseline measured in the same run: the bare ``DriftMPC.step()`` on the
same states in this process. Prints p50 / p99 of both, the node-side solve time, and the ratio of
the ROS overhead (round trip minus the node's own solve time) to the bare step time.

With ``--agent RUN_DIR`` the node is ``racing_agent_node`` (``trigger: camera``) and the benchmark is
its car: the run's RacingEnv steps 0.1 s with each command received and the benchmark publishes the
next ``/odom``, ``/imu`` and camera frame (10 Hz), timing camera frame out -> ``/drive`` in. Baseline: the
bare actor call (``Agent.act``) on the same observations in this process.

    python benchmarks/ros_latency.py [--messages 1000] [--controller drift_mpc|cruise]
    python benchmarks/ros_latency.py --agent tests/data/racing_agent [--messages 1000]
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
    ap.add_argument("--agent", type=Path, default=None, help="a drift race train run folder")
    a = ap.parse_args()
    if a.agent is not None:
        return agent_latency(a.agent, a.messages)

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


def agent_latency(run: Path, messages: int) -> None:
    """Camera frame published -> /drive received through racing_agent_node, against the bare actor call."""
    from drift_ros import conventions as conv
    from drift_ros.camera import image_msg
    from drift_ros.testing import NodeProcess, Probe, random_domain_id
    from nav_msgs.msg import Odometry
    from sensor_msgs.msg import Image, Imu
    from std_msgs.msg import Float64MultiArray

    from drift.commands.race import load_run
    from drift.racing import RacingEnv

    agent, kw = load_run(run)
    env = RacingEnv(camera=True, **kw)
    obs, _ = env.reset(seed=0)
    period = env.cfg.dt_s
    dom = random_domain_id()
    tmp = Path(tempfile.mkdtemp(prefix="ros_latency-"))
    node = NodeProcess("racing_agent_node", {"run": str(run), "odom_timeout_s": 1.0}, dom, tmp)
    probe = Probe(dom)
    drive = probe.subscribe("/drive", Float64MultiArray)
    pub_odom = probe.publisher("/odom", Odometry, conv.SENSOR_QOS)
    pub_imu = probe.publisher("/imu", Imu, conv.SENSOR_QOS)
    pub_img = probe.publisher("/camera/image_raw", Image, conv.SENSOR_QOS)
    seen, rtt = [], []
    try:
        assert probe.wait_for(lambda: len(drive) > 0, 120.0), node.log()[-2000:]
        for k in range(messages + 20):  # 20 warm-up frames, not counted
            sim = env.sim
            x, stamp = sim.x[0], probe.node.get_clock().now().to_msg()
            pub_odom.publish(conv.state_to_odometry(x, stamp))
            pub_imu.publish(conv.make_imu(sim.acc[0, 0], sim.acc[0, 1], x[5], x[2], stamp))
            img = image_msg(sim.camera.render(x[None, 0], x[None, 1], x[None, 2])[0], stamp)
            n = len(drive)
            t_pub = time.monotonic()
            pub_img.publish(img)
            if not probe.wait_for(lambda n=n: len(drive) > n, 2.0):
                raise SystemExit(f"no command for frame {k}:\n{node.log()[-2000:]}")
            t_rx, msg = drive[n]
            if k >= 20:
                rtt.append(t_rx - t_pub)
                seen.append({key: obs[key][None] for key in ("image", "proprio")})
            steer = msg.data[0] / env.sim.p.delta_max
            obs, _, term, _, _ = env.step([steer, msg.data[1]])
            if term:
                obs, _ = env.reset()
            while time.monotonic() < t_pub + period:
                probe.executor.spin_once(timeout_sec=0.001)
    finally:
        probe.close()
        node.stop()
    bare = []
    for o in seen:
        t0 = time.perf_counter()
        agent.act(o, deterministic=True)
        bare.append(time.perf_counter() - t0)
    rtt, bare = np.array(rtt) * 1e3, np.array(bare) * 1e3
    p = lambda v, q: float(np.percentile(v, q))  # noqa: E731
    print(f"agent: {run}, frames: {len(rtt)}, rate: {1 / period:g} Hz, image {obs['image'].shape}")
    print(f"camera frame -> command p50: {p(rtt, 50):.2f} ms")
    print(f"camera frame -> command p99: {p(rtt, 99):.2f} ms")
    print(f"bare actor call in-process p50: {p(bare, 50):.2f} ms")
    print(f"bare actor call in-process p99: {p(bare, 99):.2f} ms")
    print(f"round trip p99 within the {period * 1e3:.0f} ms control period: {p(rtt, 99) < period * 1e3}")
    print(f"ratio frame -> command / bare actor call (p50): {p(rtt, 50) / p(bare, 50):.2f}")


if __name__ == "__main__":
    main()
