"""sim_bridge_node with real rclpy: it publishes what a car publishes, obeys /drive, paces time,
and a controller node brakes within its timeout when the bridge stops."""

import math
import time

import numpy as np
import pytest

pytest.importorskip("rclpy")
pytestmark = pytest.mark.ros

from drift_ros import conventions as conv  # noqa: E402
from drift_ros.testing import NodeProcess, Probe, random_domain_id  # noqa: E402
from geometry_msgs.msg import TransformStamped  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import Imu  # noqa: E402
from std_msgs.msg import Float64MultiArray, MultiArrayDimension, String  # noqa: E402


def _t(stamp):
    return stamp.sec + stamp.nanosec * 1e-9


def _drive(delta, Fx):
    m = Float64MultiArray()
    m.layout.dim = [MultiArrayDimension(label="delta_rad,Fx_N", size=2, stride=2)]
    m.data = [float(delta), float(Fx)]
    return m


def test_bridge_publishes_car_topics_and_follows_commands(tmp_path):
    dom = random_domain_id()
    bridge = NodeProcess(
        "sim_bridge_node",
        # command_timeout_s: coast without commands (after it the car would stop itself)
        {
            "initial_condition": "rest",
            "initial_vx_mps": 5.0,
            "real_time_factor": 2.0,
            "start_time_s": 1000.0,
            "command_timeout_s": 60.0,
        },
        dom,
        tmp_path,
    )
    probe = Probe(dom)
    try:
        odom = probe.subscribe("/odom", Odometry, conv.SENSOR_QOS)
        imu = probe.subscribe("/imu", Imu, conv.SENSOR_QOS)
        clock = probe.subscribe("/clock", Clock)
        tf = probe.subscribe("/map_to_base_link", TransformStamped)
        pub = probe.publisher("/drive", Float64MultiArray)
        assert probe.wait_for(lambda: len(odom) > 5 and imu and clock and tf, 90.0), bridge.log()[-2000:]
        # simulated time starts at start_time_s and runs ~2x faster than the wall clock
        t0w, t0s = time.monotonic(), _t(clock[-1][1].clock)
        assert 1000.0 < t0s < 1000.0 + 2.0 * 60
        probe.spin_for(1.0)
        rate = (_t(clock[-1][1].clock) - t0s) / (time.monotonic() - t0w)
        assert 1.2 < rate < 3.0, rate  # asked for 2.0; a loaded machine falls short, then catches up
        # odometry stamped in simulated time, at 100 Hz of simulated time
        st = np.array([_t(m.header.stamp) for _, m in odom[-20:]])
        steps = np.diff(st) / 0.01  # best-effort sensor QoS may drop a message on a loaded machine
        assert (
            np.allclose(steps, np.round(steps), atol=1e-4)
            and np.all(np.round(steps) >= 1)
            and np.median(np.round(steps)) == 1
        )
        assert odom[-1][1].header.frame_id == "map" and odom[-1][1].child_frame_id == "base_link"
        # no command: coasting, the speed decays slowly (drag, rolling resistance)
        vx0 = odom[-1][1].twist.twist.linear.x
        assert 3.0 < vx0 < 5.0
        # drive force and left steering: speeds up, turns left, lateral acceleration positive
        probe.spin_for(1.5, every=lambda: pub.publish(_drive(0.1, 4000.0)), period_s=0.02)
        last = odom[-1][1]
        assert last.twist.twist.linear.x > vx0 + 1.0
        assert last.twist.twist.angular.z > 0.3
        yaw = conv.quaternion_to_yaw(*(getattr(last.pose.pose.orientation, k) for k in "xyzw"))
        assert yaw > 0.1 and last.pose.pose.position.x > 0.0
        assert imu[-1][1].linear_acceleration.y > 1.0
        assert imu[-1][1].angular_velocity.z == pytest.approx(last.twist.twist.angular.z, abs=0.05)
        tr = tf[-1][1]
        assert (tr.header.frame_id, tr.child_frame_id) == ("map", "base_link")
        # commands beyond the car's limits are clipped: |delta| <= delta_max, no NaN state
        probe.spin_for(0.5, every=lambda: pub.publish(_drive(5.0, 1e9)), period_s=0.02)
        assert all(math.isfinite(m.twist.twist.linear.x) for _, m in odom)
        assert "ignoring /drive" not in bridge.log()
        pub.publish(_drive(float("nan"), 0.0))
        probe.spin_for(0.3)
        assert "ignoring /drive: /drive command holds NaN" in bridge.log()
    finally:
        probe.close()
        assert bridge.stop() == 0


def test_controller_brakes_within_timeout_when_the_bridge_stops(tmp_path):
    dom = random_domain_id()
    bridge = NodeProcess(
        "sim_bridge_node", {"initial_condition": "rest", "initial_vx_mps": 8.0}, dom, tmp_path
    )
    ctrl = NodeProcess(
        "drift_mpc_node",
        {
            "controller": "cruise",
            "v_ref_mps": 8.0,
            "radius_m": 0.0,
            "use_sim_time": True,
            "odom_timeout_s": 0.1,
            # resume after a scheduling hiccup of a loaded machine (the latch is tested elsewhere)
            "latch_stops": False,
            "command_type": "float64_array",
        },
        dom,
        tmp_path,
    )
    probe = Probe(dom)
    try:
        odom = probe.subscribe("/odom", Odometry, conv.SENSOR_QOS)
        drive = probe.subscribe("/drive", Float64MultiArray)
        status = probe.subscribe("/drift_mpc/status", String)
        ok = probe.wait_for(lambda: odom and status and status[-1][1].data.startswith("ok"), 90.0)
        assert ok, ctrl.log()[-2000:]
        probe.spin_for(0.5)
        assert status[-1][1].data.startswith("ok") and drive[-1][1].data[1] > -1.0
        bridge.proc.send_signal(2)  # SIGINT: the simulator (and its clock) stops
        assert probe.wait_for(lambda: status[-1][1].data.startswith("stale"), 5.0)
        t_last_odom = odom[-1][0]
        t_brake = next(t for t, m in drive if t > t_last_odom and m.data[1] == -7000.0)
        # stale after 100 ms (+ one 20 ms period) measured from the last odometry seen here
        assert t_brake - t_last_odom <= 0.1 + 0.3
        # the control timer runs on the stopped simulated clock: the wall-clock watchdog keeps braking
        n = len(drive)
        probe.spin_for(0.5)
        assert len(drive) - n >= 6 and all(m.data[1] == -7000.0 for _, m in drive[n:])
        assert bridge.wait(10.0) == 0
    finally:
        probe.close()
        bridge.stop()
        assert ctrl.stop() == 0


def test_bridge_camera_images_on_a_track(tmp_path):
    from sensor_msgs.msg import Image

    dom = random_domain_id()
    bridge = NodeProcess(
        "sim_bridge_node",
        {
            "track": "Monza",
            "initial_condition": "track_start",
            "initial_vx_mps": 10.0,
            "camera_rate_hz": 10.0,
            # a low camera, not the preset's (raised and pitched down, it sees no sky)
            "camera_height_m": 2.0,
            "camera_pitch_rad": 0.06,
            "camera_fov_rad": 1.4,
        },
        dom,
        tmp_path,
    )
    probe = Probe(dom)
    try:
        img = probe.subscribe("/camera/image_raw", Image, conv.SENSOR_QOS)
        odom = probe.subscribe("/odom", Odometry, conv.SENSOR_QOS)
        ok = probe.wait_for(lambda: (len(img) >= 3 and odom) or not bridge.running(), 120.0)
        assert ok and bridge.running(), bridge.log()[-2000:]
        m = img[-1][1]
        assert (m.width, m.height, m.encoding, m.step) == (64, 64, "rgb8", 192)
        a = np.frombuffer(bytes(m.data), np.uint8).reshape(64, 64, 3).astype(int)
        # sky above, grey asphalt ahead at the bottom centre (the car starts on the track)
        assert a[:10].mean(axis=(0, 1))[2] > a[:10].mean(axis=(0, 1))[1]  # blue sky
        r, g, b = a[-8:, 24:40].mean(axis=(0, 1))
        assert abs(r - g) < 20 and abs(g - b) < 20 and 60 < g < 140  # asphalt grey
        stamps = [_t(x.header.stamp) for _, x in img[-3:]]
        assert np.allclose(np.diff(stamps), 0.1, atol=1e-6)  # 10 Hz of simulated time
    finally:
        probe.close()
        assert bridge.stop() == 0


def test_bridge_refuses_a_camera_it_cannot_place_naming_the_parameters(tmp_path):
    params = {"track": "Monza", "camera_height_m": 2.0, "camera_pitch_rad": 0.06, "camera_fov_rad": 3.2}
    bridge = NodeProcess("sim_bridge_node", params, random_domain_id(), tmp_path)
    try:
        assert bridge.wait(60.0) != 0
    finally:
        bridge.stop()
    log = bridge.log_path.read_text()
    assert "camera_height_m = 2.0, camera_pitch_rad = 0.06, camera_fov_rad = 3.2" in log, log[-2000:]
    assert "camera_fov_rad within (0, pi)" in log


def test_bridge_starts_on_the_first_ok_command_and_brakes_never_reverse(tmp_path):
    from std_msgs.msg import String as Str

    dom = random_domain_id()
    bridge = NodeProcess(
        "sim_bridge_node",
        {"initial_condition": "rest", "initial_vx_mps": 2.0, "start_paused": True},
        dom,
        tmp_path,
    )
    probe = Probe(dom)
    try:
        truth = probe.subscribe("/sim_bridge/ground_truth", Odometry)
        mode, drive = probe.publisher("/drive_mode", Str), probe.publisher("/drive", Float64MultiArray)
        assert probe.wait_for(lambda: len(truth) > 5, 90.0), bridge.log()[-2000:]

        def send(m, Fx):
            mode.publish(Str(data=m))
            drive.publish(_drive(0.0, Fx))

        # a controller's start-up stop (no odometry yet) does not start the simulation
        probe.spin_for(1.0, every=lambda: send("no_odom", -7000.0), period_s=0.02)
        assert truth[-1][1].twist.twist.linear.x == 2.0 and "simulation running" not in bridge.log()
        # its first command with fresh odometry does; braking then stops the car and holds it
        n = len(truth)
        probe.spin_for(3.0, every=lambda: send("ok", -7000.0), period_s=0.02)
        vx = np.array([m.twist.twist.linear.x for _, m in truth[n:]])
        assert "first command received: simulation running" in bridge.log()
        assert vx.min() >= 0.0 and vx[-1] < 0.01 and np.all(np.diff(vx) <= 1e-9)
    finally:
        probe.close()
        assert bridge.stop() == 0
