"""The wheel plant: backends agree, physical invariants, and the single-track model in the linear range."""

import math

import numpy as np
import pytest

from drift.vehicle import axle_loads, driving_resistance, f, load_vehicle, rk4_step
from drift.vehicle.wheel_plant import (
    NX,
    WheelPlantParams,
    rolling_state,
    wheel_plant_f,
    wheel_plant_step,
)
from tire_models import AxleTires

P = load_vehicle("sports")
W = WheelPlantParams()


def _energy(x, p=P, w=W):
    return 0.5 * (
        p.m * (x[3] ** 2 + x[4] ** 2) + p.Iz * x[5] ** 2 + w.wheel_inertia_kgm2 * (x[6] ** 2 + x[7] ** 2)
    )


def test_numpy_torch_and_casadi_agree():
    import casadi as ca
    import torch

    rng = np.random.default_rng(0)
    x = np.column_stack(
        [
            rng.normal(0, 5, (64, 3)),
            rng.uniform(5, 20, 64),
            rng.normal(0, 3, 64),
            rng.normal(0, 0.8, 64),
            rng.uniform(10, 70, (64, 2)),
            rng.normal(0, 0.3, 64),
            rng.normal(0, 800, 64),
        ]
    )
    u = np.column_stack([rng.normal(0, 0.3, 64), rng.normal(0, 5000, 64)])
    ref = wheel_plant_f(x, u, P, W)
    xt, ut = torch.as_tensor(x), torch.as_tensor(u)
    np.testing.assert_allclose(wheel_plant_f(xt, ut, P, W).numpy(), ref, rtol=1e-10, atol=1e-9)
    xs, us = ca.SX.sym("x", NX), ca.SX.sym("u", 2)
    F = ca.Function("f", [xs, us], [wheel_plant_f(xs, us, P, W)])
    np.testing.assert_allclose(np.asarray(F.map(64)(x.T, u.T)).T, ref, rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("vx, delta", [(10.0, 0.02), (20.0, 0.01), (15.0, -0.03)])
def test_steady_cornering_matches_the_single_track_model_in_the_linear_range(vx, delta):
    """Same lateral curves, small slip: the yaw rate and sideslip of both models agree."""
    step = wheel_plant_step(P, W, 0.02, 20)
    single = AxleTires(W.front_lat, W.rear_lat)
    x, xs = rolling_state(0, 0, 0, vx), np.array([0, 0, 0, vx, 0, 0.0])
    for _ in range(300):  # 6 s at constant steering, speed held by a drive force
        x = step(x, [delta, 2000.0 * (vx - x[3]) + driving_resistance(x[3], P)])
        u = np.array([delta, 2000.0 * (vx - xs[3]) + driving_resistance(xs[3], P)])
        xs = rk4_step(lambda a, b: f(a, b, P, single), xs, u, 0.02, 4)
    assert abs(x[5]) > 0.01  # a real turn
    assert x[5] == pytest.approx(xs[5], rel=0.02)
    assert math.degrees(abs(math.atan2(x[4], x[3]) - math.atan2(xs[4], xs[3]))) < 0.05
    assert x[8] == pytest.approx(delta, abs=1e-6)  # the servo has settled on the command


def test_free_rolling_keeps_speed_and_wheel_speed():
    p = P.replace(c_drag=0.0, c_roll=0.0)
    step = wheel_plant_step(p, W, 0.02, 20)
    x = rolling_state(0, 0, 0.3, 12.0)
    for _ in range(100):
        x = step(x, [0.0, 0.0])
    assert x[3] == pytest.approx(12.0, abs=1e-9) and x[4] == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(x[6:8], 12.0 / W.wheel_radius_m, rtol=1e-9)
    assert x[0] == pytest.approx(2.0 * 12.0 * math.cos(0.3), rel=1e-9)


def test_a_sliding_car_without_input_only_loses_energy():
    """No drive, no brake, no resistance: the tyres only dissipate (kinetic energy of body and wheels)."""
    p = P.replace(c_drag=0.0, c_roll=0.0)
    step = wheel_plant_step(p, W, 0.01, 10)
    x = rolling_state(0, 0, 0, 12.0)
    x[4], x[5], x[7] = -4.0, 0.9, 50.0  # a drift: sideslip, yaw rate, a spinning rear wheel
    e = [_energy(x, p)]
    for _ in range(300):
        x = step(x, [0.1, 0.0])
        e.append(_energy(x, p))
    d = np.diff(e)
    assert np.all(d <= 1e-6 * e[0]) and e[-1] < 0.8 * e[0]


def test_full_drive_spins_the_rear_wheel_and_the_ground_force_stays_within_friction():
    step = wheel_plant_step(P, W, 0.02, 20)
    x = rolling_state(0, 0, 0, 10.0)
    for _ in range(10):  # 0.2 s of 12 kN drive: the command asks for far more than the rear can give
        x_prev, x = x, step(x, [0.0, 12000.0])
    kappa_r = (x[7] * W.wheel_radius_m - x[3]) / x[3]
    assert kappa_r > W.peak_slips[3]  # wheel spin beyond the peak slip
    ax = (x[3] - x_prev[3]) / 0.02
    Fzr0 = axle_loads(0.0, 0.0, P)[1]  # static
    Fzr = Fzr0 + x[9]
    mu_max = W.rear_lon.D * (1 + W.load_sensitivity * (Fzr / Fzr0 - 1))
    assert x[9] > 0  # load moved to the driven axle
    assert 0 < ax * P.m < mu_max * Fzr  # the ground force, not the 12 kN command


def test_steering_servo_lag_and_rate_limit():
    step = wheel_plant_step(P, W, 0.02, 20)
    x = rolling_state(0, 0, 0, 10.0)
    for _ in range(5):  # 0.1 s: rate-limited while 20 1/s x error exceeds 1.5 rad/s
        x = step(x, [0.3, 0.0])
    assert x[8] == pytest.approx(P.delta_rate_max * 0.1, abs=1e-9)
    for _ in range(45):
        x = step(x, [0.3, 0.0])
    assert x[8] == pytest.approx(0.3, abs=1e-3)


def test_bad_parameters_are_refused():
    from drift.errors import ConfigError

    with pytest.raises(ConfigError, match="wheel_radius_m must be positive"):
        WheelPlantParams(wheel_radius_m=0.0)


def test_traction_control_cuts_drive_force_on_wheel_spin():
    from drift.vehicle.wheel_plant import traction_factor

    k, vx, R = W.traction_kappa_max, 10.0, W.wheel_radius_m
    den = np.hypot(vx, W.v_min_mps)  # the slip ratio's denominator (slip_ratio)
    for kappa, share in ((0.5 * k, 1.0), (1.5 * k, 0.5), (2.5 * k, 0.0)):
        assert traction_factor((vx + kappa * den) / R, vx, W) == pytest.approx(share)
    assert traction_factor(3 * vx / R, vx, WheelPlantParams(traction_kappa_max=None)) == 1.0
    # full drive demand: the slip settles where the cut drive force meets the ground force
    step = wheel_plant_step(P, W, 0.02, 20)
    x = rolling_state(0, 0, 0, 10.0)
    for _ in range(25):
        x = step(x, [0.0, 12000.0])
    kappa = (x[7] * R - x[3]) / np.hypot(x[3], W.v_min_mps)
    assert k < kappa < 2 * k
    free = wheel_plant_step(P, WheelPlantParams(traction_kappa_max=None), 0.02, 20)
    x = rolling_state(0, 0, 0, 10.0)
    for _ in range(25):
        x = free(x, [0.0, 12000.0])
    assert (x[7] * R - x[3]) / x[3] > 2 * k  # without it the wheel runs away


def test_bad_states_and_circles_are_named():
    from drift.errors import ConfigError, DriftError
    from drift.vehicle.wheel_plant import steady_state_on_circle

    step = wheel_plant_step(P, W, 0.02, 20)
    with pytest.raises(DriftError, match=r"expected x \(1, 10\)"):
        step(np.zeros(6), [0.0, 0.0])  # a single-track state by mistake
    with pytest.raises(DriftError, match="radians"):
        steady_state_on_circle(P, W, 15.0, -25.0)  # degrees by mistake
    with pytest.raises(ConfigError, match="traction_kappa_max"):
        WheelPlantParams(traction_kappa_max=-0.5)
