"""Generalisation check (issue 3): the shared fitting pipeline recovers a known tyre from a
simulated drifting log.

:func:`drift.simulate.simulate_log` drives the project's single-track model with a Pacejka plant of
known parameters through drift excitation (large slip, beyond the peak). ``neural_ode`` and
``exptanh`` are fitted on it by ``tire_models.fit`` (stage 1 + stage-2 rollouts, exactly what
``drift fit`` runs) and must match the true curve within 5 % of ``mu Fz`` over +-0.3 rad at the
static axle loads. The simulator measures at the CG, so no sensor terms are fitted.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from drift.simulate import SensorNoise, simulate_log
from drift.vehicle import load_vehicle
from drift.vehicle.tires import default_tires

ALPHA = np.linspace(-0.3, 0.3, 601)
PEAK_F, PEAK_R = 0.1732, 0.1445  # slip (rad) of the plant's peaks (checked below)


def _fit(name: str, minutes: float, epochs: int, seed: int = 0, **kw):
    from tire_models.fit.forces import fit_longitudinal_map
    from tire_models.fit.pipeline import FitConfig, fit_one, prepare

    torch.set_num_threads(1)
    p = load_vehicle("sports")
    plant = default_tires(p)
    log = simulate_log(p, plant, minutes=minutes, seed=seed, scenario="drift")
    cfg = FitConfig(
        model=name,
        baselines=(),
        vehicle="sports",
        epochs=epochs,
        sensor_terms=(),
        min_speed_mps=3.0,
        horizon_s=0.5,
        batch=128,
        seed=seed,
        **kw,
    )
    lon = fit_longitudinal_map(
        {k: np.asarray(log[k]) for k in log.data}, np.asarray(log.segment), log.dt, p, source=log.source
    )
    res = fit_one(name, prepare(log, lon), p, cfg)
    return p, plant, res


def _curve_errors(p, plant, tires) -> dict[str, float]:
    """Max curve error over +-0.3 rad / (mu Fz) per axle; also checks the fitted curves' constraints."""
    from test_learned_tires import check_constraints

    out = {}
    for axle, Fz in (("front", p.m * p.g * p.lr / p.L), ("rear", p.m * p.g * p.lf / p.L)):
        check_constraints(getattr(tires, axle), Fz=Fz)
        true = getattr(plant, axle)
        err = np.abs(getattr(tires, axle).lateral_force(ALPHA, Fz) - true.lateral_force(ALPHA, Fz))
        out[axle] = float(err.max() / (float(true.peak_mu) * Fz))
    return out


def test_simulated_log_reaches_beyond_the_peak_and_is_reproducible():
    p = load_vehicle("sports")
    log = simulate_log(p, minutes=0.5, seed=1)
    again = simulate_log(p, minutes=0.5, seed=1)
    np.testing.assert_array_equal(log["r"], again["r"])
    assert not np.array_equal(log["r"], simulate_log(p, minutes=0.5, seed=2)["r"])
    assert len(log.t) == 1500 and np.all(np.diff(log.t) > 0)
    # the Pacejka plant peaks at PEAK_F and PEAK_R rad: both are exceeded often (well beyond, too)
    a = np.linspace(0.0, 0.5, 5001)
    plant = default_tires(p)
    assert abs(a[np.argmax(plant.front.lateral_force(a, 1.0))] - PEAK_F) < 1e-3
    assert abs(a[np.argmax(plant.rear.lateral_force(a, 1.0))] - PEAK_R) < 1e-3
    assert np.mean(np.abs(log["alpha_f"]) > PEAK_F + 0.05) > 0.05
    assert np.mean(np.abs(log["alpha_r"]) > PEAK_R + 0.05) > 0.03
    # logged motion is consistent with the model: ay = dvy/dt + vx r within noise
    clean = simulate_log(p, minutes=0.5, seed=1, noise=SensorNoise.none())
    seg0 = np.asarray(clean.segment) == 0
    ay_fd = np.gradient(clean["vy"][seg0], clean.dt) + clean["vx"][seg0] * clean["r"][seg0]
    assert np.median(np.abs(ay_fd - clean["ay"][seg0])) < 0.1
    with pytest.raises(Exception, match="scenario"):
        simulate_log(p, minutes=0.1, scenario="rally")


def test_exptanh_recovers_the_true_tyre_fast():
    p, plant, res = _fit("exptanh", minutes=1.5, epochs=1)
    err = _curve_errors(p, plant, res.tires)
    assert err["front"] < 0.05 and err["rear"] < 0.05, err


def test_neural_ode_recovers_the_true_tyre_fast(monkeypatch):
    from tire_models.neural_ode import NeuralODE

    # a small net (8 hidden units) and short stages keep the default suite fast
    orig = NeuralODE.initial_guess.__func__
    small = classmethod(lambda cls, *a, **k: orig(cls, *a, **k, hidden=8))
    monkeypatch.setattr(NeuralODE, "initial_guess", small)
    p, plant, res = _fit("neural_ode", minutes=1.5, epochs=1, stage1_iters=15)
    err = _curve_errors(p, plant, res.tires)
    assert err["front"] < 0.05 and err["rear"] < 0.05, err


@pytest.mark.slow
@pytest.mark.parametrize("name", ["exptanh", "neural_ode"])
def test_learned_tyres_recover_the_true_tyre_from_three_minutes(name):
    p, plant, res = _fit(name, minutes=3.0, epochs=3, seed=2)
    err = _curve_errors(p, plant, res.tires)
    assert err["front"] < 0.05 and err["rear"] < 0.05, err
    # and the distilled exptanh of the fit stays within 5 % as well
    from tire_models.distill import distill_axles

    Fzf, Fzr = p.m * p.g * p.lr / p.L, p.m * p.g * p.lf / p.L
    dist, _ = distill_axles(res.tires, Fzf, Fzr)
    err_d = _curve_errors(p, plant, dist)
    assert err_d["front"] < 0.05 and err_d["rear"] < 0.05, err_d


@pytest.mark.slow
def test_neural_ode_fit_is_deterministic_for_a_seed(monkeypatch):
    """The same seed gives the same fitted network (initial weights, window order, optimiser)."""
    from tire_models.neural_ode import NeuralODE

    orig = NeuralODE.initial_guess.__func__
    small = classmethod(lambda cls, *a, **k: orig(cls, *a, **k, hidden=4))
    monkeypatch.setattr(NeuralODE, "initial_guess", small)
    fits = [_fit("neural_ode", minutes=0.3, epochs=1, stage1_iters=3, seed=s)[2] for s in (5, 5, 6)]
    w = [f.tires.rear.weights() for f in fits]
    assert all(torch.equal(w[0][k], w[1][k]) for k in w[0])
    assert not all(torch.equal(w[0][k], w[2][k]) for k in w[0])
