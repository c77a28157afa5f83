"""Physical constraints of the learned tyre models (issue 3), their backends and serialisation.

Constraints are checked on a dense slip grid (4001 points over +-0.5 rad) for random initial
weights (several seeds / random admissible parameters) and for fitted models (distilled / fitted
to a Pacejka curve): odd symmetry, F(0) = 0, positive initial slope, |F| <= mu Fz, exactly one
peak on each side, no sign change after the peak.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from drift.errors import DriftError
from tire_models import REGISTRY, AxleTires
from tire_models.exptanh import ExpTanh, peak_location
from tire_models.neural_ode import NeuralODE
from tire_models.pacejka import Pacejka

ALPHA = np.linspace(-0.5, 0.5, 4001)  # includes 0 exactly (index 2000)
FZ = 4000.0


def check_constraints(tire, Fz=FZ, alpha=ALPHA, rel_tol=1e-9):
    """Assert every DESIGN.md §3 constraint on ``alpha``; returns the curve for further checks."""
    F = np.asarray(tire.lateral_force(alpha, Fz), float)
    mu = float(tire.peak_mu)
    i0 = len(alpha) // 2
    assert alpha[i0] == 0.0
    # odd symmetry and F(0) = 0
    np.testing.assert_allclose(F, -F[::-1], atol=1e-9 * Fz)
    assert F[i0] == 0.0
    # positive initial slope
    assert F[i0 + 1] > 0.0 and (F[i0 + 1] - F[i0]) / (alpha[i0 + 1] - alpha[i0]) > 0.5 * Fz
    # bounded by mu Fz
    assert mu > 0 and np.all(np.abs(F) <= mu * Fz * (1 + rel_tol))
    # exactly one peak on the positive side (by oddness also on the negative side): the increments
    # are positive, then non-positive; and no sign change anywhere on alpha > 0
    pos = F[i0:]
    inc = np.diff(pos)
    k = int(np.argmax(inc <= 0)) if np.any(inc <= 0) else len(inc)
    assert np.all(inc[:k] > 0), "curve must rise up to its peak"
    assert np.all(inc[k:] <= 1e-12 * Fz), "after the peak the curve must not rise again (second peak)"
    assert np.all(pos[1:] > 0), "the force changed sign on alpha > 0"
    return F


def has_interior_peak(F):
    """True when the positive branch has its maximum strictly inside the grid (a real peak)."""
    pos = F[len(F) // 2 :]
    return 0 < int(np.argmax(pos)) < len(pos) - 1


# ---------------------------------------------------------------------------------------------
# ExpTanh
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(8))
def test_exptanh_constraints_random_parameters(seed):
    rng = np.random.default_rng(seed)
    lo_hi = ExpTanh.bounds
    prm = {k: float(rng.uniform(*lo_hi[k])) for k in ("mu", "d", "k")}
    prm["B"] = float(rng.uniform(3.0, 60.0))  # peak inside +-0.5 rad for most draws
    t = ExpTanh(**prm)
    F = check_constraints(t)
    # the bound is attained: mu is the peak friction coefficient exactly
    x_star = peak_location(t.d, t.k) / t.B
    np.testing.assert_allclose(t.lateral_force(x_star, FZ), t.mu * FZ, rtol=1e-10)
    if x_star < 0.5:
        assert has_interior_peak(F)
        # falls toward the sliding value (1-d)/y_pk and stays above it
        y_pk = t.mu * t.B / t.cornering_stiffness
        assert np.all(F[ALPHA > x_star] > t.mu * FZ * (1 - t.d) / y_pk * (1 - 1e-12))


def test_exptanh_initial_slope_and_sliding_value():
    t = ExpTanh.initial_guess(FZ, mu=1.1, C_per_rad=12.0)
    h = 1e-7
    np.testing.assert_allclose(t.lateral_force(h, FZ) / h / FZ, 12.0, rtol=1e-5)
    np.testing.assert_allclose(t.cornering_stiffness, 12.0, rtol=1e-12)
    y_pk = t.mu * t.B / t.cornering_stiffness
    np.testing.assert_allclose(t.lateral_force(50.0, FZ), 1.1 * FZ * (1 - t.d) / y_pk, rtol=1e-9)
    # force scales with the load
    np.testing.assert_allclose(t.lateral_force(0.2, 2 * FZ), 2 * t.lateral_force(0.2, FZ), rtol=1e-14)


def test_exptanh_numpy_torch_casadi_agree():
    import casadi as ca

    t = ExpTanh(mu=0.95, B=13.0, d=0.4, k=0.7)
    a = np.linspace(-0.8, 0.8, 301)
    Fz = np.linspace(2000.0, 6000.0, 301)
    F_np = t.lateral_force(a, Fz)
    F_t = t.lateral_force(torch.tensor(a, dtype=torch.float64), torch.tensor(Fz, dtype=torch.float64)).numpy()
    sa, sz = ca.SX.sym("a"), ca.SX.sym("Fz")
    fun = ca.Function("Fy", [sa, sz], [t.lateral_force(sa, sz)])
    F_c = np.array(fun(a[None, :], Fz[None, :])).ravel()
    np.testing.assert_allclose(F_t, F_np, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(F_c, F_np, rtol=1e-9, atol=1e-9)
    # combined slip through the friction circle, also on CasADi
    sx = ca.SX.sym("Fx")
    fc = ca.Function("Fyc", [sa, sz, sx], [t.combined_force(sa, sz, sx)])
    Fx = np.linspace(-3000.0, 3000.0, 301)
    np.testing.assert_allclose(
        np.array(fc(a[None, :], Fz[None, :], Fx[None, :])).ravel(),
        t.combined_force(a, Fz, Fx),
        rtol=1e-9,
        atol=1e-9,
    )


def test_exptanh_friction_circle_reduces_capacity():
    t = ExpTanh(mu=1.0, B=12.0, d=0.3, k=0.5)
    F0 = np.abs(t.combined_force(ALPHA, FZ, 0.0))
    Fx = 0.8 * FZ
    F1 = np.abs(t.combined_force(ALPHA, FZ, Fx))
    assert np.all(F1 <= np.sqrt(FZ**2 - Fx**2) * (1 + 1e-6))
    np.testing.assert_allclose(F1, F0 * 0.6, rtol=1e-4)
    # beyond the circle the lateral force vanishes smoothly (no NaN)
    F2 = t.combined_force(ALPHA, FZ, 1.5 * FZ)
    assert np.all(np.isfinite(F2)) and np.max(np.abs(F2)) < 0.05 * FZ


def test_exptanh_gradients_are_exact():
    """Envelope-theorem gradient through the peak normalisation agrees with finite differences."""
    x = torch.tensor([1.0, 11.0, 0.35, 0.6], dtype=torch.float64, requires_grad=True)
    a = torch.linspace(-0.4, 0.4, 9, dtype=torch.float64)

    def fn(v):
        return ExpTanh(mu=v[0], B=v[1], d=v[2], k=v[3]).lateral_force(a, 1.0)

    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-6)


def test_exptanh_fits_pacejka_and_torch_module_roundtrip():
    """Least squares through the fitting contract reaches Pacejka within 2 % of mu Fz over +-0.5 rad."""
    truth = Pacejka(B=10.0, C=1.6, D=1.0, E=0.3)
    a = torch.linspace(-0.5, 0.5, 401, dtype=torch.float64)
    target = truth.lateral_force(a, 1.0)
    mod = ExpTanh.initial_guess(1.0, mu=1.0, C_per_rad=16.0).torch_module()
    opt = torch.optim.LBFGS(mod.parameters(), max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = ((mod.model().lateral_force(a, 1.0) - target) ** 2).mean()
        loss.backward()
        return loss

    opt.step(closure)
    fitted = mod.freeze()
    assert isinstance(fitted.mu, float)
    err = np.abs(fitted.lateral_force(a.numpy(), 1.0) - target.numpy()).max()
    assert err < 0.02
    check_constraints(fitted)
    back = ExpTanh.from_dict(fitted.to_dict())
    np.testing.assert_allclose(back.lateral_force(ALPHA, FZ), fitted.lateral_force(ALPHA, FZ), rtol=1e-14)


def test_exptanh_rejects_parameters_outside_the_proved_box():
    with pytest.raises(DriftError, match="k=2.5"):
        ExpTanh(k=2.5)
    with pytest.raises(DriftError, match="d=1.2"):
        ExpTanh(d=1.2)


# ---------------------------------------------------------------------------------------------
# Neural ODE
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(5))
def test_neural_ode_constraints_random_initial_weights(seed):
    t = NeuralODE.initial_guess(FZ, mu=1.0, C_per_rad=12.0, seed=seed)
    F = check_constraints(t)
    assert has_interior_peak(F)
    C = float(t.cornering_stiffness(FZ)[0])
    h = ALPHA[2001]
    np.testing.assert_allclose(F[2001] / h / FZ, C, rtol=0.05)


@pytest.mark.parametrize("seed", range(4))
def test_neural_ode_constraints_hold_for_wild_weights(seed):
    """Large random weights (far from any fit) still give a physical curve: the shape is built in."""
    t = NeuralODE.initial_guess(FZ, mu=0.8, C_per_rad=20.0, seed=100 + seed)
    mod = t.torch_module()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for prm in mod.parameters():
            prm.add_(3.0 * torch.randn(prm.shape, generator=g, dtype=prm.dtype))
    wild = mod.freeze()
    for Fz in (1500.0, FZ, 9000.0):
        check_constraints(wild, Fz=Fz, alpha=np.linspace(-1.5, 1.5, 6001))


def test_neural_ode_torch_numpy_agree_and_scale_with_load():
    t = NeuralODE.initial_guess(FZ, mu=1.0, C_per_rad=12.0, seed=3)
    a = np.linspace(-0.6, 0.6, 101)
    F_np = t.lateral_force(a, FZ)
    F_t = t.lateral_force(torch.tensor(a), torch.tensor(FZ, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(F_t, F_np, rtol=1e-12, atol=1e-9)
    assert F_np.shape == a.shape and isinstance(t.lateral_force(0.1, FZ), float)
    # proportional to Fz up to the (small, learned) load sensitivity of the head network
    r = t.lateral_force(a[60:], 2 * FZ) / (2 * t.lateral_force(a[60:], FZ))
    assert np.all(np.abs(r - 1) < 0.3)


def test_neural_ode_nan_slip_gives_nan_force_not_an_index_error():
    # a diverged LBFGS trial step feeds NaN slip; the fit's guards need a NaN loss to reject it
    t = NeuralODE.initial_guess(FZ, mu=1.0, C_per_rad=12.0, seed=3)
    F = t.lateral_force(torch.tensor([0.05, float("nan"), -0.05]), torch.tensor(FZ, dtype=torch.float64))
    assert torch.isnan(F[1]) and torch.isfinite(F[[0, 2]]).all()
    assert float(F[0]) == pytest.approx(-float(F[2]))


def test_neural_ode_rejects_casadi():
    import casadi as ca

    t = NeuralODE.initial_guess(FZ)
    assert t.casadi is False
    with pytest.raises(DriftError, match="exptanh"):
        t.lateral_force(ca.SX.sym("a"), FZ)


def test_neural_ode_save_load_roundtrip_and_seed_determinism():
    t = NeuralODE.initial_guess(FZ, seed=7)
    mod = t.torch_module()
    with torch.no_grad():
        for prm in mod.parameters():
            prm.add_(0.1)
    fitted = mod.freeze()
    back = NeuralODE.from_dict(fitted.to_dict(), weights=fitted.weights())
    np.testing.assert_array_equal(back.lateral_force(ALPHA, FZ), fitted.lateral_force(ALPHA, FZ))
    # the same seed gives the same initial weights; another seed does not
    a = NeuralODE.initial_guess(FZ, seed=7).lateral_force(ALPHA, FZ)
    np.testing.assert_array_equal(a, t.lateral_force(ALPHA, FZ))
    assert not np.array_equal(a, NeuralODE.initial_guess(FZ, seed=8).lateral_force(ALPHA, FZ))
    with pytest.raises(DriftError, match="missing keys"):
        NeuralODE.from_dict({"mu": 1.0})
    # through the registry and AxleTires as the fit pipeline saves it
    d = AxleTires(fitted, fitted).to_dict()
    assert d["model"] == "neural_ode" and REGISTRY["neural_ode"] is NeuralODE


def test_neural_ode_fits_pacejka_with_gradients():
    """A short direct regression through .model() gets a fitted curve, which keeps the constraints."""
    truth = Pacejka(B=10.0, C=1.5, D=1.0, E=0.0)
    a = torch.linspace(-0.5, 0.5, 201, dtype=torch.float64)
    target = truth.lateral_force(a, FZ) / FZ
    mod = NeuralODE.initial_guess(FZ, mu=1.0, C_per_rad=14.0, seed=0).torch_module()
    opt = torch.optim.Adam(mod.parameters(), lr=0.02)
    first = None
    for _ in range(60):
        opt.zero_grad()
        loss = ((mod.model().lateral_force(a, FZ) / FZ - target) ** 2).mean()
        loss.backward()
        opt.step()
        first = first if first is not None else float(loss.detach())
    fitted = mod.freeze()
    err = np.abs(fitted.lateral_force(a.numpy(), FZ) / FZ - target.numpy()).max()
    assert float(loss) < 0.5 * first and err < 0.05
    check_constraints(fitted)


@pytest.mark.parametrize("name", ["exptanh", "neural_ode"])
def test_save_and_load_through_tire_models_io(tmp_path, name):
    from tire_models.io import load_tires, save_tires

    cls = REGISTRY[name]
    tires = AxleTires(
        cls.initial_guess(FZ, mu=1.05, C_per_rad=11.0, seed=1),
        cls.initial_guess(FZ, mu=0.95, C_per_rad=13.0, seed=2),
    )
    save_tires(tires, tmp_path)
    back = load_tires(tmp_path)
    for axle in ("front", "rear"):
        np.testing.assert_array_equal(
            getattr(back, axle).lateral_force(ALPHA, FZ), getattr(tires, axle).lateral_force(ALPHA, FZ)
        )


# ---------------------------------------------------------------------------------------------
# Load sensitivity (issue 3 diagnosis: both learned models carry a bounded one)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_exptanh_load_sensitivity_keeps_every_constraint_and_its_bound(seed):
    rng = np.random.default_rng(100 + seed)
    b = ExpTanh.bounds
    prm = {k: float(rng.uniform(*b[k])) for k in ("mu", "d", "k", "q", "w")}
    prm["B"] = float(rng.uniform(3.0, 40.0))
    t = ExpTanh(**prm, Fz0_N=3500.0)
    C0 = t.cornering_stiffness  # per unit load at the reference load Fz0
    h = 1e-7
    for Fz in (800.0, 3500.0, 4200.0, 12000.0):
        check_constraints(t, Fz=Fz)
        C = t.lateral_force(h, Fz) / h / Fz
        expect = C0 * np.exp(prm["q"] * np.tanh(prm["w"] * np.log(Fz / 3500.0)))
        np.testing.assert_allclose(C, expect, rtol=1e-5)
        # the stiffness per unit load stays within x/ exp(|q|) <= exp(0.3) of its reference value
        assert abs(np.log(C / C0)) <= abs(prm["q"]) + 1e-6 <= b["q"][1] + 1e-6
        # the peak is still mu Fz exactly (the load only rescales the slip axis)
        x_star = peak_location(t.d, t.k) / (t.B * np.exp(prm["q"] * np.tanh(prm["w"] * np.log(Fz / 3500.0))))
        np.testing.assert_allclose(t.lateral_force(x_star, Fz), t.mu * Fz, rtol=1e-9)


def test_exptanh_load_sensitivity_on_every_backend_and_through_the_fit_module():
    import casadi as ca

    t = ExpTanh(mu=1.2, B=11.0, d=0.3, k=0.6, q=-0.2, w=4.0, Fz0_N=3000.0)
    a = np.linspace(-0.5, 0.5, 201)
    Fz = np.linspace(1500.0, 7000.0, 201)
    F_np = t.lateral_force(a, Fz)
    F_t = t.lateral_force(torch.tensor(a), torch.tensor(Fz)).numpy()
    sa, sz = ca.SX.sym("a"), ca.SX.sym("Fz")
    F_c = np.array(ca.Function("f", [sa, sz], [t.lateral_force(sa, sz)])(a[None, :], Fz[None, :])).ravel()
    np.testing.assert_allclose(F_t, F_np, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(F_c, F_np, rtol=1e-10, atol=1e-9)
    # degressive q < 0: stiffness per unit load falls with the load
    assert t.lateral_force(0.01, 6000.0) / 6000.0 < t.lateral_force(0.01, 3000.0) / 3000.0
    # the reference load is a fixed hyper-parameter: not a fitted parameter, kept by the module
    mod = t.torch_module()
    assert sorted(mod.raw.keys()) == ["B", "d", "k", "mu", "q", "w"]
    back = mod.freeze()
    assert back.Fz0_N == 3000.0
    np.testing.assert_allclose(back.lateral_force(a, Fz), F_np, rtol=1e-9)
    F_mod = mod.model().lateral_force(torch.tensor(a), torch.tensor(Fz))
    F_mod.sum().backward()
    assert mod.raw["q"].grad is not None and float(mod.raw["q"].grad) != 0.0
    # saved and read back with its units; a file without the load terms means none (q = 0)
    assert ExpTanh.from_dict(t.to_dict()) == t
    old = ExpTanh.from_dict({"mu": 1.2, "B_per_rad": 11.0, "d": 0.3, "k": 0.6})
    np.testing.assert_allclose(old.lateral_force(0.1, 2 * FZ), 2 * old.lateral_force(0.1, FZ), rtol=1e-14)
    with pytest.raises(DriftError, match="Fz0_N"):
        ExpTanh(Fz0_N=0.0)
    with pytest.raises(DriftError, match="q"):
        ExpTanh(q=0.9)


@pytest.mark.parametrize("seed", range(3))
def test_neural_ode_load_correction_is_zero_at_nominal_load_and_bounded(seed):
    from tire_models.neural_ode import LOAD_CLAMP

    t = NeuralODE.initial_guess(FZ, mu=1.0, C_per_rad=12.0, seed=seed)
    mod = t.torch_module()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, prm in mod.named_parameters():
            if name.startswith("head"):
                prm.add_(5.0 * torch.randn(prm.shape, generator=g, dtype=prm.dtype))
        mod.log_C.fill_(float(np.log(1.5)))
    wild = mod.freeze()
    loads = np.array([200.0, 0.5 * FZ, FZ, 1.3 * FZ, 5.0 * FZ])
    C = wild.cornering_stiffness(loads)
    # at the nominal load the network adds nothing: C = C0 exp(log_C) exactly
    np.testing.assert_allclose(C[2], 12.0 * 1.5, rtol=1e-12)
    assert np.all(np.abs(np.log(C / C[2])) <= LOAD_CLAMP + 1e-12)
    assert np.ptp(C) > 0  # the wild head does make the stiffness load dependent


def test_neural_ode_weights_saved_before_the_base_scalars_still_load():
    t = NeuralODE.initial_guess(FZ, seed=2)
    w = {k: v for k, v in t.weights().items() if k not in ("log_C", "log_alpha_i")}
    back = NeuralODE.from_dict(t.to_dict(), weights=w)
    np.testing.assert_array_equal(back.lateral_force(ALPHA, FZ), t.lateral_force(ALPHA, FZ))


def test_distillation_recovers_a_load_sensitive_exptanh_and_keeps_the_constraints():
    from tire_models.distill import distill_exptanh

    teacher = ExpTanh(mu=1.3, B=9.0, d=0.25, k=0.8, q=-0.2, w=3.0, Fz0_N=FZ)
    res = distill_exptanh(teacher, FZ)
    assert res.max_err_mu < 2e-3, res
    assert res.tire.Fz0_N == FZ and res.tire.q < -0.1
    for Fz in (0.6 * FZ, FZ, 1.4 * FZ):
        check_constraints(res.tire, Fz=Fz)
    # a teacher without load sensitivity gives a student without it (to within the fit)
    flat = distill_exptanh(Pacejka(B=10.0, C=1.6, D=1.1, E=0.2), FZ)
    assert flat.max_err_mu < 0.02
    a = np.linspace(0.01, 0.3, 30)
    np.testing.assert_allclose(
        flat.tire.lateral_force(a, 1.4 * FZ) / 1.4, flat.tire.lateral_force(a, FZ), rtol=0.02, atol=1e-3 * FZ
    )
