"""Safety filter (controllers.safety): timeouts, latched stops, saturation, rate limits, NaN guard, and the
drift-aware stop sequence, closed loop against plants with other tyres than the stop's model."""

import math

import numpy as np
import pytest

from controllers.safety import DriftStop, Mode, SafetyConfig, SafetyFilter, StopPhase, stabilising_steer
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
    # in grip (no sideslip): braking force applied at once, not rate limited, clipped to the stop force
    assert c.mode is Mode.STALE and c.Fx == -150.0 and c.phase is StopPhase.BRAKE
    # the stop is latched: fresh odometry does not drive the car off again ...
    sf.odom_received(0.2, 5.0)
    assert sf.filter(0.21, 0.0, 50.0).mode is Mode.STALE and sf.stop_latched is Mode.STALE
    # ... until a reset
    assert sf.reset() and sf.filter(0.22, 0.0, 50.0).mode is Mode.OK


def test_unlatched_stale_stop_resumes_with_fresh_odometry():
    sf = SafetyFilter(SafetyConfig(**{**CFG.__dict__, "latch_stops": False}))
    sf.odom_received(0.0, 5.0)
    assert sf.filter(0.2, 0.0, 50.0).mode is Mode.STALE
    sf.odom_received(0.3, 5.0)
    assert sf.filter(0.31, 0.0, 50.0).mode is Mode.OK


def test_stop_is_neutral_at_standstill():
    sf = fresh(0.0, vx=0.2)
    assert sf.filter(1.0, 0.0, 50.0) == sf.filter(1.0, 0.0, 50.0)
    c = sf.filter(1.0, 0.0, 50.0)
    assert c.Fx == 0.0 and c.phase is StopPhase.HOLD
    held = SafetyFilter(SafetyConfig(**{**CFG.__dict__, "hold_Fx_N": 40.0}))
    held.odom_received(0.0, 0.2)
    assert held.filter(1.0, 0.0, 50.0).Fx == -40.0  # a holding brake when asked for


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


def test_estop_before_odometry_is_straight_and_neutral():
    sf = SafetyFilter(CFG)
    sf.emergency_stop(True)
    c = sf.filter(0.0, 0.3, 50.0)
    assert (c.delta, c.Fx, c.mode) == (0.0, 0.0, Mode.ESTOP)


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


# ---- the drift-aware stop --------------------------------------------------------------------------------
LF, LR = 1.25, 1.30


def test_stabilising_steer_zeroes_the_front_slip_angle():
    vx, vy, r = 8.0, -2.9, 1.0
    d = stabilising_steer(vx, vy, r, LF, 0.6, k_r_s=0.0)
    assert d == pytest.approx(math.atan2(vy + LF * r, vx))  # front axle moves along its wheels
    assert stabilising_steer(vx, vy, r, LF, 0.6, k_r_s=0.05) == pytest.approx(d - 0.05)
    assert stabilising_steer(8.0, -8.0, 0.0, LF, 0.6) == -0.6  # clipped
    assert stabilising_steer(float("nan"), 0.0, 0.0, LF, 0.6) == 0.0


def test_drift_stop_phases_on_hand_examples():
    cfg = SafetyConfig(stop_Fx_N=7000.0, Fx_brake_max_N=14000.0, lf_m=LF, lr_m=LR, recover_max_s=3.0)
    stop = DriftStop(cfg)
    # in a drift (beta = -20 deg): release the drive, steer along the front-axle velocity
    d, Fx, ph = stop.command(0.0, 8.0, -2.9, 1.0)
    assert ph is StopPhase.RECOVER and Fx == 0.0
    assert d == pytest.approx(math.atan2(-2.9 + LF * 1.0, 8.0) - 0.05 * 1.0)
    # sideslip 3 deg but rear slip angle atan((vy - lr r)/vx) = 11 deg: still recovering
    assert stop.command(0.5, 8.0, 0.42, 1.0)[2] is StopPhase.RECOVER
    # back in grip: brake
    d, Fx, ph = stop.command(1.0, 8.0, 0.1, 0.2)
    assert ph is StopPhase.BRAKE and Fx == -7000.0
    # a slide of 1.5 x the grip threshold while braking: keep braking (hysteresis); 2.5 x: recover again
    assert stop.command(1.1, 8.0, 8.0 * math.tan(0.15), 0.0)[2] is StopPhase.BRAKE
    assert stop.command(1.2, 8.0, 8.0 * math.tan(0.25), 0.0)[2] is StopPhase.RECOVER
    # recovery takes too long: brake regardless
    assert stop.command(3.0, 8.0, -2.9, 1.0)[2] is StopPhase.BRAKE
    # slow: hold, wheels straight
    assert stop.command(3.5, 0.3, 0.0, 0.0) == (0.0, 0.0, StopPhase.HOLD)
    # spun (moving sideways/backwards): brake, not steer
    stop.reset()
    assert stop.command(0.0, -1.0, 3.0, 0.5)[2] is StopPhase.BRAKE


def _stop_from_drift(plant_tires, stop_kind, seconds=8.0, dt=0.02):
    """A car holding the sports car's donut drift (beta ~ -20 deg) is stopped at t = 0; returns beta (deg)
    and speed (m/s) over time. ``stop_kind``: "drift" (DriftStop) or "brake" (brake at once, steering
    returned to straight at the rate limit: what a plain stop does)."""
    from controllers.mpc.equilibrium import equilibrium_on_circle
    from drift.vehicle import applied_force, f, load_vehicle, rk4_step
    from tire_models import AxleTires, Pacejka

    p = load_vehicle("sports")
    model = AxleTires(Pacejka(B=10.0, C=1.5, D=p.mu, E=0.0), Pacejka(B=10.0, C=1.5, D=p.mu, E=0.0))
    eq = equilibrium_on_circle(p, model, 8.0, -0.35, left=True)
    sf = SafetyFilter(SafetyConfig.from_vehicle(p))
    x = np.array([0.0, 0.0, 0.0, eq.vx, eq.vy, eq.r])
    sf.odom_received(-dt, eq.vx, eq.vy, eq.r)
    sf.filter(-dt, eq.delta, eq.Fxr)  # the last controller command: the drift's countersteer and drive
    sf.emergency_stop(True)
    betas, speeds = [], []
    for k in range(int(seconds / dt)):
        t = k * dt
        sf.odom_received(t, *x[3:6])
        if stop_kind == "drift":
            c = sf.filter(t, eq.delta, eq.Fxr)
            u = (c.delta, c.Fx)
        else:
            u = (eq.delta * max(0.0, 1.0 - t * p.delta_rate_max / abs(eq.delta)), -0.5 * p.Fx_brake_max)
        u = np.array([u[0], applied_force(u[1], x[3], p)])
        x = rk4_step(lambda xx, uu: f(xx, uu, p, plant_tires), x, u, dt, 4)
        betas.append(math.degrees(math.atan2(x[4], x[3])) if math.hypot(x[3], x[4]) > 0.5 else 0.0)
        speeds.append(math.hypot(x[3], x[4]))
    return np.array(betas), np.array(speeds)


def _plant(family: str, mu: float):
    """Plants with other tyres than the drift's model (other family, shape and friction)."""
    from tire_models import AxleTires, Fiala, Pacejka

    if family == "pacejka":
        return AxleTires(Pacejka(B=10.0, C=1.5, D=mu, E=0.0), Pacejka(B=12.0, C=1.4, D=mu, E=-0.5))
    return AxleTires(Fiala(C=14.0, mu=mu), Fiala(C=16.0, mu=mu))


@pytest.mark.parametrize("plant", ["pacejka", "fiala"])
@pytest.mark.parametrize("mu", [0.9, 1.1])
def test_drift_stop_brings_a_drifting_car_to_rest_without_a_spin(plant, mu):
    betas, speeds = _stop_from_drift(_plant(plant, mu), "drift")
    assert np.abs(betas).max() < 30.0, np.abs(betas).max()
    assert speeds[-1] < 0.5 and np.all(np.diff(speeds[speeds < 1.0]) < 0.01)


def test_braking_at_once_in_a_drift_spins_the_car():
    """The plain stop the drift-aware one replaces: the same drift, braked at once, spins."""
    betas, _ = _stop_from_drift(_plant("pacejka", 1.0), "brake")
    assert np.abs(betas).max() > 30.0


def test_stop_state_is_predicted_through_stale_odometry():
    from drift.vehicle import applied_force, body_derivatives, load_vehicle, rk4_step
    from tire_models import AxleTires, Pacejka

    p = load_vehicle("sports")
    tires = AxleTires(Pacejka(B=10.0, C=1.5, D=1.0, E=0.0), Pacejka(B=10.0, C=1.5, D=1.0, E=0.0))

    def predict(v, u, dt):
        u = np.array([u[0], applied_force(u[1], v[0], p)])
        return rk4_step(lambda vv, uu: body_derivatives(vv, uu, p, tires), np.asarray(v, float), u, dt, 2)

    sf = SafetyFilter(SafetyConfig.from_vehicle(p, odom_timeout_s=0.1), predict=predict)
    sf.odom_received(0.0, 10.0, 0.0, 0.0)
    sf.filter(0.0, 0.0, 0.0)
    c = sf.filter(0.5, 0.0, 0.0)  # stale: in grip, brake
    assert c.phase is StopPhase.BRAKE
    sf.filter(1.0, 0.0, 0.0)
    vx = sf.velocities(1.0)[0]
    # 0.5 s at 7 kN on 1450 kg: about 2.4 m/s less (plus drag), not the stale 10 m/s
    assert 7.0 < vx < 8.0
    # prediction stops after predict_max_s (1 s after the last odometry)
    assert sf.velocities(5.0) == sf.velocities(1.0)
