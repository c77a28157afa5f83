"""Safety filter (controllers.safety): timeouts, e-stop latch, saturation, rate limits, NaN guard."""

import math

import pytest

from controllers.safety import Mode, SafetyConfig, SafetyFilter
from drift.errors import ConfigError
from drift.vehicle import load_vehicle

CFG = SafetyConfig(
    odom_timeout_s=0.1,
    delta_max_rad=0.4,
    delta_rate_max_radps=2.0,
    Fx_drive_max_N=100.0,
    Fx_brake_max_N=200.0,
    Fx_rate_max_Nps=1000.0,
    stop_Fx_N=150.0,
    stop_speed_mps=0.5,
)


def fresh(t=0.0, vx=5.0):
    sf = SafetyFilter(CFG)
    sf.odom_received(t, vx)
    return sf


def test_no_odometry_means_neutral_stop():
    sf = SafetyFilter(CFG)
    c = sf.filter(0.0, 0.1, 50.0)
    assert c.mode is Mode.NO_ODOM and c.Fx == 0.0 and c.odom_age_s == math.inf


def test_stale_odometry_brakes_exactly_after_timeout():
    sf = fresh(0.0, vx=5.0)
    assert sf.filter(0.05, 0.0, 50.0).mode is Mode.OK
    assert sf.filter(0.099, 0.0, 50.0).mode is Mode.OK
    c = sf.filter(0.101, 0.0, 50.0)
    # braking force applied at once, not rate limited, clipped to the stop force
    assert c.mode is Mode.STALE and c.Fx == -150.0
    sf.odom_received(0.2, 5.0)
    assert sf.filter(0.21, 0.0, 50.0).mode is Mode.OK


def test_stop_is_neutral_at_standstill():
    sf = fresh(0.0, vx=0.2)
    assert sf.filter(1.0, 0.0, 50.0) == sf.filter(1.0, 0.0, 50.0)
    assert sf.filter(1.0, 0.0, 50.0).Fx == 0.0


def test_nan_odometry_is_ignored_and_turns_stale():
    sf = fresh(0.0)
    assert sf.odom_received(0.05, float("nan")) is False
    assert sf.odom_received(float("inf"), 1.0) is False
    assert sf.filter(0.12, 0.0, 10.0).mode is Mode.STALE


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), None, "x"])
def test_non_finite_controller_output_never_passes(bad):
    sf = fresh(0.0)
    for raw in [(bad, 1.0), (0.1, bad)]:
        c = sf.filter(0.01, *raw)
        assert c.mode is Mode.INVALID
        assert math.isfinite(c.delta) and math.isfinite(c.Fx) and c.Fx == -150.0


def test_estop_latches_until_reset_and_reset_refused_while_asserted():
    sf = fresh(0.0)
    sf.emergency_stop(True)
    assert sf.filter(0.01, 0.0, 50.0).mode is Mode.ESTOP
    assert sf.reset() is False  # button still held
    sf.emergency_stop(False)
    sf.odom_received(0.02, 5.0)
    assert sf.filter(0.03, 0.0, 50.0).mode is Mode.ESTOP  # still latched
    assert sf.reset() is True
    assert sf.filter(0.04, 0.0, 50.0).mode is Mode.OK


def test_saturation_and_rate_limits():
    sf = fresh(0.0)
    c = sf.filter(0.0, 10.0, 1e6)  # first command: saturated only
    assert (c.delta, c.Fx) == (0.4, 100.0)
    c = sf.filter(0.01, -10.0, -1e6)  # limited to 2 rad/s * 0.01 s and 1000 N/s * 0.01 s
    assert c.delta == pytest.approx(0.4 - 0.02) and c.Fx == pytest.approx(100.0 - 10.0)
    # many steps: reaches the saturated target at the rate limit, never beyond
    t, prev = 0.01, c
    for _ in range(100):
        t += 0.01
        c = sf.filter(t, -10.0, -1e6)
        assert abs(c.delta - prev.delta) <= 2.0 * 0.01 + 1e-12
        assert abs(c.Fx - prev.Fx) <= 1000.0 * 0.01 + 1e-9
        assert -0.4 <= c.delta <= 0.4 and -200.0 <= c.Fx <= 100.0
        prev = c
        sf.odom_received(t, 5.0)
    assert c.delta == pytest.approx(-0.4)


def test_stop_steering_is_rate_limited_to_straight():
    sf = fresh(0.0)
    sf.filter(0.0, 0.4, 0.0)
    c = sf.filter(0.2, 0.4, 0.0)  # stale: steer back to 0 at 2 rad/s
    assert c.mode is Mode.STALE and c.delta == pytest.approx(0.0)
    sf2 = fresh(0.0)
    sf2.filter(0.0, 0.4, 0.0)
    sf2.emergency_stop(True)
    assert sf2.filter(0.05, 0.4, 0.0).delta == pytest.approx(0.3)


def test_config_from_vehicle_and_rejections():
    v = load_vehicle("f1tenth")
    c = SafetyConfig.from_vehicle(v, odom_timeout_s=0.2)
    assert c.delta_max_rad == v.delta_max and c.Fx_brake_max_N == v.Fx_brake_max and c.odom_timeout_s == 0.2
    with pytest.raises(ConfigError, match="odom_timeout_s"):
        SafetyConfig(odom_timeout_s=0.0)
    with pytest.raises(ConfigError, match="stop_Fx_N"):
        SafetyConfig(stop_Fx_N=float("nan"))
