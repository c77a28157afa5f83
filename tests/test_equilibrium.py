"""Drift equilibria: steady-state residual, countersteer, circle condition and clear errors."""

import math

import numpy as np
import pytest

from controllers.mpc import drift_equilibrium, equilibrium_on_circle
from drift.errors import DriftError
from drift.vehicle import body_derivatives, load_vehicle
from tire_models import AxleTires, Fiala, Pacejka

P = load_vehicle("sports")
PAC = AxleTires(Pacejka(B=10.0, C=1.5, D=1.0, E=0.0), Pacejka(B=12.0, C=1.4, D=1.0, E=-0.5))
FIA = AxleTires(Fiala(C=14.0, mu=1.0), Fiala(C=16.0, mu=1.0))


@pytest.mark.parametrize("tires", [PAC, FIA], ids=["pacejka", "fiala"])
@pytest.mark.parametrize("vx,beta_deg", [(10.0, -30.0), (8.0, -20.0), (12.0, 25.0)])
def test_equilibrium_satisfies_steady_state_equations(tires, vx, beta_deg):
    eq = drift_equilibrium(P, tires, vx, math.radians(beta_deg))
    # the model's own steady-state equations, evaluated independently with numpy
    res = body_derivatives(np.array([eq.vx, eq.vy, eq.r]), np.array([eq.delta, eq.Fxr]), P, tires)
    assert np.max(np.abs(res)) < 1e-8
    assert eq.residual < 1e-8
    assert eq.vx == pytest.approx(vx) and eq.beta == pytest.approx(math.radians(beta_deg))
    # a drift: yaw rate against the sideslip, countersteer, drive force inside the limits
    assert eq.r * beta_deg < 0
    if abs(beta_deg) >= 25:  # at smaller slip the steering may still point into the turn
        assert eq.delta * eq.r < 0
    assert 0 < eq.Fxr <= P.Fx_drive_max and abs(eq.delta) <= P.delta_max
    # mirror symmetry of the single-track model
    if beta_deg < 0:
        mir = drift_equilibrium(P, tires, vx, -math.radians(beta_deg))
        assert mir.r == pytest.approx(-eq.r, abs=1e-7) and mir.delta == pytest.approx(-eq.delta, abs=1e-7)
        assert mir.Fxr == pytest.approx(eq.Fxr, rel=1e-6)


def test_equilibrium_on_circle_drives_that_circle():
    eq = equilibrium_on_circle(P, PAC, 15.0, math.radians(-30.0))
    assert eq.radius_m == pytest.approx(15.0, rel=1e-9)
    assert eq.V == pytest.approx(15.0 * abs(eq.r), rel=1e-9)
    res = body_derivatives(eq.v, eq.u, P, PAC)
    assert np.max(np.abs(res)) < 1e-8
    grip = equilibrium_on_circle(P, PAC, 15.0, math.radians(2.0), branch="grip")
    assert grip.delta * grip.r > 0 and abs(grip.Fxr) < 2000.0  # normal cornering: steer into the turn


def test_no_equilibrium_is_a_clear_error():
    weak = P.replace(Fx_drive_max=100.0)  # far too little drive force to hold a 30 deg drift
    with pytest.raises(DriftError, match="no drift equilibrium"):
        drift_equilibrium(weak, PAC, 10.0, math.radians(-30.0))


def test_bad_arguments():
    with pytest.raises(DriftError, match="vx"):
        drift_equilibrium(P, PAC, -3.0, -0.5)
    with pytest.raises(DriftError, match="radians"):
        drift_equilibrium(P, PAC, 10.0, -30.0)  # degrees by mistake
    with pytest.raises(DriftError, match="AxleTires"):
        drift_equilibrium(P, Pacejka(), 10.0, -0.5)


def _exptanh_pair(mu_front):
    """ExpTanh tyres with a load term (a log of the load: NaN at the trial points where it goes
    negative) on both axles; only the front friction differs."""
    from tire_models.exptanh import ExpTanh

    Fzf, Fzr = P.m * P.g * P.lr / P.L, P.m * P.g * P.lf / P.L
    kw = dict(B=12.0, d=0.2, k=0.6, q=-0.3, w=20.0)
    return AxleTires(ExpTanh(mu=mu_front, Fz0_N=Fzf, **kw), ExpTanh(mu=1.0, Fz0_N=Fzr, **kw))


def test_missing_axle_forces_are_the_front_grip_taken_away():
    from controllers.mpc.equilibrium import missing_axle_forces
    from drift.vehicle import axle_forces

    strong, weak = _exptanh_pair(1.0), _exptanh_pair(0.8)
    eq = equilibrium_on_circle(P, strong, 15.0, math.radians(-25.0))
    np.testing.assert_allclose(missing_axle_forces(P, strong, eq.v, eq.u), 0.0, atol=1e-6)
    # the same state on weaker front tyres: the front lacks exactly the lateral force taken away
    # (in the body frame, through cos(delta)), the rear nothing
    Fyf = [axle_forces(eq.v, eq.u, P, t).Fyf for t in (strong, weak)]
    lost = (Fyf[0] - Fyf[1]) * math.cos(eq.delta)
    assert abs(lost) > 500.0
    np.testing.assert_allclose(missing_axle_forces(P, weak, eq.v, eq.u), [lost, 0.0], atol=1e-6)


def test_no_equilibrium_names_the_axle_short_of_grip_and_stays_quiet(capfd):
    with pytest.raises(DriftError, match=r"front axle is \d+ N short of lateral force") as e:
        equilibrium_on_circle(P, _exptanh_pair(0.6), 15.0, math.radians(-25.0))
    assert "more front grip" in str(e.value)
    out, err = capfd.readouterr()
    assert "NaN detected" not in out + err  # CasADi's per-evaluation warnings are silenced
