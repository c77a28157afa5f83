"""Baseline tyre models: physical properties and the textbook steady-state cornering golden value."""

import numpy as np
import pytest
from scipy.optimize import fsolve

from drift.vehicle import body_derivatives, load_vehicle
from tire_models import AxleTires, Fiala, Linear, Pacejka
from tire_models.fit.forces import estimate_axle_forces

MODELS = [Linear(C=12.0, mu=1.2), Fiala(C=14.0, mu=1.1), Pacejka(B=11.0, C=1.5, D=1.2, E=0.3)]
ALPHA = np.linspace(-0.5, 0.5, 2001)


@pytest.mark.parametrize("tire", MODELS, ids=lambda t: t.name)
def test_odd_zero_at_zero_positive_slope(tire):
    Fz = 4000.0
    F = tire.lateral_force(ALPHA, Fz)
    np.testing.assert_allclose(F, -tire.lateral_force(-ALPHA, Fz), atol=1e-9)
    assert tire.lateral_force(0.0, Fz) == pytest.approx(0.0, abs=1e-12)
    assert tire.lateral_force(1e-4, Fz) > 0


@pytest.mark.parametrize("tire", MODELS[1:], ids=lambda t: t.name)
def test_saturating_models_bounded_by_mu_fz_and_scale_with_load(tire):
    for Fz in (1000.0, 4000.0):
        F = tire.lateral_force(ALPHA, Fz)
        assert np.max(np.abs(F)) <= tire.peak_mu * Fz * (1 + 1e-9)
        assert np.max(np.abs(F)) >= 0.9 * tire.peak_mu * Fz  # the peak is reached within +-0.5 rad
    np.testing.assert_allclose(
        tire.lateral_force(ALPHA, 2000.0), 2 * tire.lateral_force(ALPHA, 1000.0), rtol=1e-12
    )


@pytest.mark.parametrize("tire", MODELS, ids=lambda t: t.name)
def test_friction_circle_bounds_combined_force(tire):
    Fz = 3000.0
    for Fx in (0.0, 0.5 * tire.peak_mu * Fz, 0.99 * tire.peak_mu * Fz):
        F = tire.combined_force(ALPHA, Fz, Fx)
        assert np.all(np.abs(F) <= np.abs(tire.lateral_force(ALPHA, Fz)) * (1 + 1e-6))
        if tire.name != "linear":
            assert np.max(np.abs(F)) <= np.sqrt((tire.peak_mu * Fz) ** 2 - Fx**2) * 1.01 + 1.0


@pytest.mark.parametrize("tire", MODELS, ids=lambda t: t.name)
def test_initial_guess_has_requested_stiffness(tire):
    g = type(tire).initial_guess(4000.0, mu=1.3, C_per_rad=9.0)
    slope = g.lateral_force(1e-6, 4000.0) / 1e-6 / 4000.0
    assert slope == pytest.approx(9.0, rel=1e-3)


def test_steady_state_cornering_matches_understeer_gradient():
    """Linear tyres, small steering: r = vx delta / (L + K vx^2) with K = m/L (lr/Cf - lf/Cr).

    Source: Rajamani, Vehicle Dynamics and Control, 2nd ed., eq. 3.15 (steady-state cornering).
    """
    p = load_vehicle("iac").replace(c_down=0.0, c_drag=0.0, c_roll=0.0, h_cg=0.0)
    tires = AxleTires(Linear(C=12.0, mu=5.0), Linear(C=16.0, mu=5.0))
    Fzf, Fzr = p.m * p.g * p.lr / p.L, p.m * p.g * p.lf / p.L
    Cf, Cr = 12.0 * Fzf, 16.0 * Fzr
    K = p.m / p.L * (p.lr / Cf - p.lf / Cr)  # rad per m/s^2
    delta, vx = 0.004, 20.0

    def resid(z):
        v = np.array([vx, z[0], z[1]])
        return body_derivatives(v, np.array([delta, 0.0]), p, tires)[1:]

    vy, r = fsolve(resid, [0.0, 0.0], xtol=1e-13)
    r_textbook = vx * delta / (p.L + K * vx**2)
    assert K > 0  # this choice understeers
    assert r == pytest.approx(r_textbook, rel=2e-3)
    # steady state: the estimated axle forces equal the model's own forces
    v = np.array([[vx, vy, r]])
    est = estimate_axle_forces(v, np.zeros((1, 3)), np.array([[delta, 0.0]]), p)
    assert est["Fyf"][0] == pytest.approx(12.0 * est["Fzf"][0] * est["alpha_f"][0], rel=1e-6)
    assert est["Fyr"][0] == pytest.approx(16.0 * est["Fzr"][0] * est["alpha_r"][0], rel=1e-6)
