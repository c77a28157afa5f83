"""drift_mpc_node safety with real rclpy: separate node processes, loopback DDS, a private domain.

The controller is the pure-Python ``cruise`` controller (the safety behaviour does not depend
on the controller); a second node runs a controller that returns NaN. The probe plays the car:
straight driving at 10 m/s, so every stop here is in grip and brakes at once (the drift-aware
sequence itself: tests/test_safety.py and tests/test_ros_stops.py).
"""

import math
import time

import pytest

pytest.importorskip("rclpy")
pytestmark = pytest.mark.ros

from drift_ros import conventions as conv  # noqa: E402
from drift_ros.testing import NodeProcess, Probe, random_domain_id  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from std_msgs.msg import Bool, Empty, Float64MultiArray, String  # noqa: E402

STOP_FX = -7000.0  # half the sports preset's 14000 N brake limit
TIMEOUT_S = 0.1
PERIOD_S = 0.02
PARAMS = {
    "controller": "cruise",
    "vehicle": "sports",
    "rate_hz": 50.0,
    "odom_timeout_s": TIMEOUT_S,
    "v_ref_mps": 12.0,
    "radius_m": 0.0,
    "command_type": "float64_array",
}


class Rig:
    def __init__(self, tmp):
        self.domain = random_domain_id()
        self.node = NodeProcess("drift_mpc_node", PARAMS, self.domain, tmp, name="drift_mpc")
        self.nan_node = NodeProcess(
            "drift_mpc_node",
            {**PARAMS, "controller": "drift_ros.testing:nan_controller"},
            self.domain,
            tmp,
            name="drift_mpc_nan",
            remaps={"/drive": "/drive_nan"},
        )
        self.probe = Probe(self.domain)
        p = self.probe
        self.drive = p.subscribe("/drive", Float64MultiArray)
        self.drive_nan = p.subscribe("/drive_nan", Float64MultiArray)
        self.status = p.subscribe("/drift_mpc/status", String)
        self.status_nan = p.subscribe("/drift_mpc_nan/status", String)
        self.diag = p.subscribe("/drift_mpc/diagnostics", Float64MultiArray)
        self.pub_odom = p.publisher("/odom", Odometry, conv.SENSOR_QOS)
        self.pub_estop = p.publisher("/emergency_stop", Bool)
        self.pub_reset = p.publisher("/emergency_stop_reset", Empty)
        self.vx = 10.0
        ok = p.wait_for(lambda: self.drive and self.drive_nan and self.status, 90.0)
        assert ok, "nodes did not start:\n" + self.node.log()[-2000:] + self.nan_node.log()[-2000:]

    def odom(self, vx=None):
        x = [0.0, 0.0, 0.0, self.vx if vx is None else vx, 0.0, 0.0]
        self.pub_odom.publish(conv.state_to_odometry(x, self.probe.node.get_clock().now().to_msg()))

    def resume(self):
        """Fresh odometry and a reset of any latched stop, until the node drives again."""

        def tick():
            self.odom()
            self.pub_estop.publish(Bool(data=False))
            self.pub_reset.publish(Empty())

        assert self.probe.wait_for(lambda: self.mode() == "ok", 5.0, every=tick, period_s=0.02)

    def mode(self, box=None):
        box = self.status if box is None else box
        return box[-1][1].data.split(";")[0] if box else None

    def close(self):
        self.probe.close()
        codes = (self.node.stop(), self.nan_node.stop())
        return codes


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    r = Rig(tmp_path_factory.mktemp("ros_safety"))
    yield r
    codes = r.close()
    assert codes == (0, 0), r.node.log()[-3000:]


def _finite(box):
    return all(math.isfinite(v) for _, m in box for v in m.data)


def test_commands_follow_the_controller_with_fresh_odometry(rig):
    p = rig.probe
    assert rig.mode() == "no_odom" and rig.drive[-1][1].data[1] == 0.0  # neutral before any odometry
    assert p.wait_for(lambda: rig.mode() == "ok", 5.0, every=rig.odom)
    n0 = len(rig.drive)
    p.spin_for(0.5, every=rig.odom)
    msgs = [m for _, m in rig.drive[n0:]]
    assert len(msgs) >= 10  # ~25 at 50 Hz, fewer on a loaded machine
    assert msgs[-1].layout.dim[0].label == "delta_rad,Fx_N"
    # cruise: below v_ref -> drive force (m k (v_ref - vx) = 5.8 kN), straight ahead
    assert all(0.0 < m.data[1] <= 12000.0 and m.data[0] == 0.0 for m in msgs)
    assert _finite(rig.drive)


def test_stale_odometry_brakes_within_the_timeout(rig):
    p = rig.probe
    rig.resume()
    p.spin_for(0.3, every=rig.odom)
    rig.odom()
    t_last = time.monotonic()
    n0, nd = len(rig.drive), len(rig.diag)
    assert p.wait_for(lambda: any(m.data[1] == STOP_FX for _, m in rig.drive[n0:]), 3.0)
    t_brake = next(t for t, m in rig.drive[n0:] if m.data[1] == STOP_FX)
    # the node's own measurement: braking starts at the first control tick after the timeout
    assert p.wait_for(lambda: any(m.data[6] == 2.0 for _, m in rig.diag[nd:]), 1.0)  # mode code 2 = stale
    first = next(m for _, m in rig.diag[nd:] if m.data[6] == 2.0)
    assert TIMEOUT_S * 1e3 <= first.data[1] <= (TIMEOUT_S + 1.5 * PERIOD_S) * 1e3 + 30.0
    # end to end through DDS (loaded 2-core machine: generous margin for scheduling)
    assert t_brake - t_last <= TIMEOUT_S + 0.3
    assert rig.mode() == "stale" and _finite(rig.drive)
    # the stop is latched: fresh odometry alone does not drive the car off again
    p.spin_for(0.3, every=rig.odom)
    assert rig.mode() == "stale" and rig.drive[-1][1].data[1] == STOP_FX
    assert "(drift-aware stop)" in rig.node.log()


def test_stop_holds_neutral_below_the_stop_speed(rig):
    p = rig.probe
    rig.resume()
    slow = lambda: rig.odom(vx=0.2)  # noqa: E731
    p.spin_for(0.2, every=slow)
    rig.pub_estop.publish(Bool(data=True))
    assert p.wait_for(lambda: rig.mode() == "estop", 2.0, every=slow)
    p.spin_for(0.2, every=slow)
    assert list(rig.drive[-1][1].data) == [0.0, 0.0]  # straight and neutral (hold_Fx_N = 0)
    rig.pub_estop.publish(Bool(data=False))


def test_nan_odometry_never_yields_nan_commands(rig):
    p = rig.probe
    rig.resume()
    n0 = len(rig.drive)
    p.spin_for(0.6, every=lambda: rig.odom(vx=float("nan")))
    assert len(rig.drive) - n0 >= 10
    assert _finite(rig.drive)
    # NaN odometry is dropped, so the odometry turns stale and the car brakes
    assert rig.mode() == "stale" and rig.drive[-1][1].data[1] == STOP_FX
    assert "dropping /odom holding NaN" in rig.node.log()


def test_nan_controller_output_is_replaced_by_a_stop(rig):
    p = rig.probe
    rig.resume()
    n0 = len(rig.drive_nan)
    assert p.wait_for(lambda: rig.mode(rig.status_nan) == "invalid", 5.0, every=rig.odom)
    p.spin_for(0.3, every=rig.odom)
    assert len(rig.drive_nan) > n0 and _finite(rig.drive_nan)
    assert rig.drive_nan[-1][1].data[1] == STOP_FX


def test_emergency_stop_latches_until_reset(rig):
    p = rig.probe
    rig.resume()
    rig.pub_estop.publish(Bool(data=True))
    assert p.wait_for(lambda: rig.mode() == "estop", 2.0, every=rig.odom)
    assert rig.drive[-1][1].data[1] == STOP_FX
    rig.pub_reset.publish(Empty())  # refused: the stop is still asserted
    p.spin_for(0.3, every=rig.odom)
    assert rig.mode() == "estop"
    rig.pub_estop.publish(Bool(data=False))  # releasing the button does not clear the latch
    p.spin_for(0.5, every=rig.odom)
    assert rig.mode() == "estop" and rig.drive[-1][1].data[1] == STOP_FX
    rig.pub_reset.publish(Empty())
    n0 = len(rig.drive)
    assert p.wait_for(lambda: rig.mode() == "ok", 2.0, every=rig.odom)
    # back to driving, the force rising at its rate limit (10 x 14 kN per second) from the stop
    assert p.wait_for(lambda: rig.drive[-1][1].data[1] > 0.0, 2.0, every=rig.odom)
    fx = [m.data[1] for _, m in rig.drive[n0:]]
    assert all(b - a <= 140000.0 * 0.1 for a, b in zip(fx, fx[1:], strict=False))
    assert "emergency stop reset refused" in rig.node.log()


def test_stale_stop_is_reset_like_an_emergency_stop(rig):
    p = rig.probe
    rig.resume()
    assert p.wait_for(lambda: rig.mode() == "stale", 3.0)  # no odometry: stale, latched
    p.spin_for(0.3, every=rig.odom)
    assert rig.mode() == "stale"
    rig.pub_reset.publish(Empty())
    assert p.wait_for(lambda: rig.mode() == "ok", 2.0, every=rig.odom)
    assert "stale stop reset" in rig.node.log()


def test_bad_parameter_change_is_rejected_at_run_time(rig):
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    cli = rig.probe.node.create_client(SetParameters, "/drift_mpc/set_parameters")
    assert rig.probe.wait_for(cli.service_is_ready, 10.0)

    def set_(name, value):
        v = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
        fut = cli.call_async(SetParameters.Request(parameters=[Parameter(name=name, value=v)]))
        assert rig.probe.wait_for(fut.done, 10.0)
        return fut.result().results[0]

    bad = set_("odom_timeout_s", -1.0)
    assert not bad.successful and "odom_timeout_s" in bad.reason and "> 0" in bad.reason
    assert not set_("rate_hz", 10.0).successful  # fixed after start
    assert set_("odom_timeout_s", 0.1).successful


def test_bad_parameter_rejected_at_start(tmp_path):
    dom = random_domain_id()
    node = NodeProcess("drift_mpc_node", {**PARAMS, "rate_hz": -5.0, "command_type": "morse"}, dom, tmp_path)
    code = node.wait(60.0)
    log = node.log()
    node.stop()
    assert code == 2
    assert "parameter rate_hz = -5.0 rejected: must be > 0" in log
    assert "parameter command_type = 'morse' rejected: must be one of" in log
    assert "Traceback" not in log
