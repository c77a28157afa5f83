"""Single-track model: backend agreement, golden values and parameter validation."""

import casadi as ca
import numpy as np
import pytest
import torch

from drift.errors import ConfigError
from drift.vehicle import (
    NU,
    NX,
    axle_forces,
    body_derivatives,
    driving_resistance,
    f,
    load_vehicle,
    rk4_step,
    road_gravity,
    rollout,
)
from tire_models import AxleTires, Fiala, Linear, Pacejka

TIRES = [
    AxleTires(Linear(C=12.0, mu=1.1), Linear(C=14.0, mu=1.1)),
    AxleTires(Fiala(C=13.0, mu=1.2), Fiala(C=15.0, mu=1.1)),
    AxleTires(Pacejka(B=11.0, C=1.4, D=1.2, E=-0.3), Pacejka(B=9.0, C=1.6, D=1.1, E=0.2)),
]


def _random_xu(rng, n):
    x = np.column_stack(
        [
            rng.uniform(-50, 50, n),
            rng.uniform(-50, 50, n),
            rng.uniform(-np.pi, np.pi, n),
            rng.uniform(3, 40, n),
            rng.uniform(-5, 5, n),
            rng.uniform(-1.5, 1.5, n),
        ]
    )
    u = np.column_stack([rng.uniform(-0.4, 0.4, n), rng.uniform(-12000, 8000, n)])
    return x, u


@pytest.mark.parametrize("tires", TIRES, ids=lambda t: t.name)
@pytest.mark.parametrize("preset", ["iac", "f1tenth", "sports"])
def test_three_backends_agree(tires, preset):
    p = load_vehicle(preset)
    x, u = _random_xu(np.random.default_rng(0), 64)
    if preset == "f1tenth":
        x[:, 3:] *= 0.2
        u[:, 1] *= 0.003
    ref = f(x, u, p, tires)
    out_t = f(torch.tensor(x), torch.tensor(u), p, tires).numpy()
    xs, us = ca.SX.sym("x", NX), ca.SX.sym("u", NU)
    fun = ca.Function("f", [xs, us], [f(xs, us, p, tires)])
    out_c = np.array([np.array(fun(x[i], u[i])).ravel() for i in range(len(x))])
    assert ref.shape == (64, NX)
    np.testing.assert_allclose(out_t, ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(out_c, ref, rtol=1e-9, atol=1e-9)


def test_three_backends_agree_on_an_inclined_road():
    p, tires = load_vehicle("iac"), TIRES[2]
    rng = np.random.default_rng(3)
    x, u = _random_xu(rng, 32)
    u = np.column_stack([u, rng.uniform(-0.3, 0.3, 32), rng.uniform(-0.1, 0.1, 32)])  # bank, grade
    ref = f(x, u, p, tires)
    assert not np.allclose(ref, f(x, u[:, :2], p, tires))  # the road changes the motion
    out_t = f(torch.tensor(x), torch.tensor(u), p, tires).numpy()
    np.testing.assert_allclose(out_t, ref, rtol=1e-9, atol=1e-9)
    xs, us = ca.SX.sym("x", NX), ca.SX.sym("u", 4)
    fun = ca.Function("f", [xs, us], [f(xs, us, p, tires)])
    out_c = np.array([np.array(fun(x[i], u[i])).ravel() for i in range(len(x))])
    np.testing.assert_allclose(out_c, ref, rtol=1e-9, atol=1e-9)
    flat = np.column_stack([u[:, :2], 0 * u[:, :2]])
    np.testing.assert_allclose(f(x, flat, p, tires), f(x, u[:, :2], p, tires))


def test_banked_turn_at_the_neutral_speed_needs_no_tyre_force():
    """On a turn banked by phi at v^2 / R = g tan(phi) gravity alone holds the car on its circle: with
    both slip angles zero, sideslip and yaw rate stay put (speed changes only by the kinematic
    ``vy r``) and the road carries m g / cos(phi)."""
    p = load_vehicle("sports").replace(c_drag=0.0, c_roll=0.0)
    tires = TIRES[1]
    bank, vx = -0.3, 20.0  # a left turn, its inside (the car's left) lower: ISO roll negative
    r = -p.g * np.sin(bank) / vx  # yaw rate about the road normal: v^2/R cos(phi) = g sin(phi)
    vy = p.lr * r  # rear slip angle zero
    delta = np.arctan2(vy + p.lf * r, vx)  # front slip angle zero
    u = np.array([delta, 0.0, bank, 0.0])
    fo = axle_forces(np.array([vx, vy, r]), u, p, tires)
    assert abs(fo.alpha_f) < 1e-12 and abs(fo.alpha_r) < 1e-12
    dv = body_derivatives(np.array([vx, vy, r]), u, p, tires)
    np.testing.assert_allclose(dv, [vy * r, 0.0, 0.0], atol=1e-4)  # 1e-4: the tyres' smooth |Fx| at zero
    flat = body_derivatives(np.array([vx, vy, r]), u[:2], p, tires)
    assert flat[1] == pytest.approx(-vx * r, rel=1e-3)  # without the bank the car would slide out
    assert fo.Fzf + fo.Fzr == pytest.approx(p.m * p.g / np.cos(bank), rel=1e-12)
    # the horizontal circle: R = v^2 / (g tan phi) with v the speed along the road
    assert vx * r / np.cos(bank) == pytest.approx(p.g * np.tan(-bank), rel=1e-12)


def test_free_rolling_on_a_grade_accelerates_by_g_sin_grade():
    p = load_vehicle("sports").replace(c_drag=0.0, c_roll=0.0)
    gx, gy, gn = road_gravity(15.0, 0.0, 0.0, 0.1, p)
    assert (gx, gy) == pytest.approx((-p.g * np.sin(0.1), 0.0))
    dv = body_derivatives(np.array([15.0, 0.0, 0.0]), np.array([0.0, 0.0, 0.0, 0.1]), p, TIRES[1])
    np.testing.assert_allclose(dv, [-p.g * np.sin(0.1), 0.0, 0.0], atol=1e-12)
    fo = axle_forces(np.array([15.0, 0.0, 0.0]), np.array([0.0, 0.0, 0.0, 0.1]), p, TIRES[1])
    assert fo.Fzf + fo.Fzr == pytest.approx(p.m * gn) and gn == pytest.approx(p.g * np.cos(0.1))


def test_driving_resistance_opposes_the_motion_both_ways():
    p = load_vehicle("iac")
    vx = np.array([-30.0, -2.0, 0.0, 2.0, 30.0])
    R = driving_resistance(vx, p)
    np.testing.assert_allclose(R, -driving_resistance(-vx, p), atol=1e-12)  # odd: a car rolling back slows
    assert R[-1] == pytest.approx(p.c_drag * 900.0 + p.c_roll * p.m * p.g * np.tanh(60.0))
    assert R[0] < 0.0 < R[-1] and R[2] == 0.0
    xs = ca.SX.sym("vx")
    fun = ca.Function("R", [xs], [driving_resistance(xs, p)])
    np.testing.assert_allclose([float(fun(v)) for v in vx], R, rtol=1e-12)
    np.testing.assert_allclose(driving_resistance(torch.tensor(vx), p).numpy(), R, rtol=1e-12)


def test_torch_batched_and_differentiable():
    p = load_vehicle("iac")
    x, u = _random_xu(np.random.default_rng(1), 12)
    xt = torch.tensor(x.reshape(3, 4, NX), requires_grad=True)
    ut = torch.tensor(u.reshape(3, 4, NU))
    C = torch.tensor(12.0, dtype=torch.float64, requires_grad=True)
    tires = AxleTires(Linear(C=C), Linear(C=C))
    out = f(xt, ut, p, tires)
    assert out.shape == (3, 4, NX)
    out[..., 5].sum().backward()
    assert torch.isfinite(xt.grad).all() and C.grad is not None and C.grad != 0
    fn = lambda c: f(xt.detach()[:1, :2], ut[:1, :2], p, AxleTires(Linear(C=c), Linear(C=c)))
    assert torch.autograd.gradcheck(fn, (C,))


def test_steady_state_cornering_matches_understeer_gradient():
    """Linear tyres, constant speed: delta = L/R + K ay (Rajamani eq. 3.15 / Gillespie 6-8)."""
    p = load_vehicle("sports").replace(c_drag=0.0, c_roll=0.0, h_cg=0.0)
    Cf, Cr = 14.0, 16.0
    tires = AxleTires(Linear(C=Cf, mu=5.0), Linear(C=Cr, mu=5.0))
    vx, R = 15.0, 60.0
    Fzf, Fzr = p.m * p.g * p.lr / p.L, p.m * p.g * p.lf / p.L
    K = Fzf / (Cf * Fzf) - Fzr / (Cr * Fzr)  # (Wf/Cf - Wr/Cr) in rad per g; per-load C gives (1/Cf - 1/Cr)
    ay = vx**2 / R
    delta = p.L / R + K * ay / p.g
    # integrate the full nonlinear model to steady state with the textbook steering angle
    fun = lambda x, u: f(x, u, p, tires)
    x = np.array([0.0, 0.0, 0.0, vx, 0.0, vx / R])
    for _ in range(3000):
        x = rk4_step(fun, x, np.array([delta, 0.0]), 0.01)
        x[3] = vx  # hold speed: the formula is for constant speed
    r_ss = x[5]
    # small-angle linearisation error of atan2 and cos(delta) is O(delta^2) ~ 1e-3
    assert r_ss == pytest.approx(vx / R, rel=5e-3)


def test_rollout_matches_repeated_rk4():
    p = load_vehicle("iac")
    tires = TIRES[2]
    fun = lambda x, u: f(x, u, p, tires)
    x0 = np.array([0, 0, 0, 20.0, 0.1, 0.05])
    us = np.tile([0.03, 1000.0], (10, 1))
    xs = rollout(fun, x0, us, 0.04, substeps=2)
    x = x0
    for k in range(10):
        x = rk4_step(fun, x, us[k], 0.04, substeps=2)
    np.testing.assert_allclose(xs[-1], x)
    assert xs.shape == (10, NX)


@pytest.mark.parametrize(
    "text, match",
    [
        ("m_kg: -3\nIz_kgm2: 1\nlf_m: 1\nlr_m: 1\n", "m_kg must be a positive number"),
        ("m_kg: 100\nIz_kgm2: 0\nlf_m: 1\nlr_m: 1\n", "Iz_kgm2 must be a positive number"),
        ("mass: 100\n", "unknown vehicle key 'mass'"),
        ("m_kg: heavy\n", "m_kg must be a number"),
        ("- 1\n- 2\n", "expected a mapping"),
    ],
)
def test_bad_vehicle_files(tmp_path, text, match):
    path = tmp_path / "car.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_vehicle(path)


def test_missing_vehicle_names_presets():
    with pytest.raises(ConfigError, match="neither a preset"):
        load_vehicle("no_such_car")


def test_throttle_and_force_map_onto_each_other():
    from drift.vehicle import force_throttle, steer_toward, throttle_force

    p = load_vehicle("sports")  # drive limit 12 kN, brake limit 14 kN
    assert (p.Fx_drive_max, p.Fx_brake_max) == (12000.0, 14000.0)
    assert throttle_force(0.5, p) == 6000.0 and throttle_force(-0.5, p) == -7000.0
    assert throttle_force(2.0, p) == 12000.0  # clipped
    a = np.linspace(-1, 1, 9)
    np.testing.assert_allclose(force_throttle(throttle_force(a, p), p), a)
    assert force_throttle(-1e6, p) == -1.0
    # the wheel moves at most rate x dt towards its target, and stops there
    assert steer_toward(0.0, 0.3, 1.5, 0.1) == pytest.approx(0.15)
    assert steer_toward(0.25, 0.3, 1.5, 0.1) == pytest.approx(0.3)
