"""Neural-ODE lateral tyre: the force curve is the solution of a 2nd-order ODE in slip angle.

After Djeumou et al., "Autonomous Drifting with 3 Minutes of Data via Learned Tire Models"
(ICRA 2023), Sec. III-A, and TRI's patent US 12,252,139 B2, claim 1: a small network gives the
inflection slip and the initial slope; two networks give the curvature, negative before the
inflection and positive after it, through exponentials, so the shape holds whatever they learn.

Formulation (per axle; ``Fz_n = Fz / Fz_nominal``)
---------------------------------------------------
* Head network ``NN0(Fz_n)`` -> cornering stiffness per unit load ``C(Fz) > 0`` (1/rad) and
  inflection slip ``alpha_i(Fz) > 0`` (rad), both ``exp`` of a learned log base (``log_C``,
  ``log_alpha_i``: scalar parameters, their values at the nominal load) plus the load-dependent
  correction ``LOAD_CLAMP tanh((NN0(Fz_n) - NN0(1)) / LOAD_CLAMP)``: zero at the nominal load and
  within ``x/ e^0.3`` of it at any load. The scalars learn at the pipeline's full rate; the network
  weights at ``LR_SCALE`` of it (see :class:`_ScaledMLP`). Why (IAC log, issue 3 diagnosis): without
  the scalars the axle stiffness could move only through the slowly learning network and stayed at
  its initial guess (both axles 14.8/rad; the linear fit finds 15.4/19.4); and with an unbounded
  network correction, three minutes that span only ~2 % of normal load let the stage-1 fit learn a
  spurious load slope (rear stiffness 8.8/rad at the training load, 380/rad at the 28 % higher
  load of the faster held-out driving). Real cornering stiffness per unit load varies by tens of
  per cent over such a range (Pacejka, *Tire and Vehicle Dynamics*, Sec. 4.3.2), hence the bound.
* In the normalised slip ``xi = |alpha| / alpha_i(Fz)`` the shape ``g(xi)`` (slip units) solves,
  with ``g(0) = 0``, ``g'(0) = p(0) = 1`` and a running peak ``m' = max(p, 0)``::

      region 1 (before the inflection):  p' = -(exp(NN1(xi, Fz_n)) + 4 c0 min(xi, 1)^3),  c0 = 1.5
      region 2 (after it):               p' = +exp(NN2(xi, Fz_n)) * |p|    (p < 0 there)

  Region 2 starts at ``xi = 1`` (the inflection slip from the head network) or earlier, once the
  shape has fallen below ``kappa = 0.5`` of its peak, whichever comes first. Both network outputs are
  soft-clamped to ``[-3, 3]`` so the ODE stays non-stiff. ``exp(NN2) |p|`` is ``exp(NN2 + log|p|)``:
  the network curvature is scaled by the slope so that the slope approaches zero from below
  instead of crossing it (a bare ``+exp(NN2)`` would make a second peak).
* Force: ``Fy = sign(alpha) Fz mu tanh(C alpha_i G(xi) / mu)`` with ``G = g`` in region 1 and
  ``G = q exp((g - q) / q)`` in region 2 (``q`` = the value of ``g`` at the switch), a positive,
  increasing map of ``g`` that is C1 at the switch.

Why the constraints hold for any network weights
-------------------------------------------------
* odd, ``F(0) = 0``: evaluated on ``|alpha|`` times ``sign(alpha)``; ``g(0) = 0``.
* positive initial slope: ``dFy/dalpha(0) = Fz C > 0``.
* single peak: in region 1 ``p' < 0``, so ``p`` falls strictly, and ``p(1) <= 1 - int_0^1 4 c0 xi^3
  = 1 - c0 < 0``: it crosses zero exactly once, before ``xi = 1`` (i.e. inside region 1). In
  region 2 ``p' = -exp(NN2) p`` keeps the sign of ``p`` (``p = p_s exp(-int exp(NN2))``), which
  is negative. So ``g`` (and ``G``, an increasing
  map of it) rises once and falls after the peak; ``tanh`` is increasing, so the same holds for ``Fy``.
* never changes sign after the peak: in region 1 ``g >= kappa * peak > 0`` after the peak (else
  region 2 would have started); in region 2 ``G = q exp(...) > 0``.
* ``|Fy| < mu Fz``: ``|tanh| < 1``; ``mu = exp(log_mu) > 0`` is learned. ``peak_mu`` returns
  ``mu`` (the bound of the friction circle; the curve's actual peak is
  ``mu tanh(C alpha_i G_peak / mu)``, slightly below it).
* scales with ``Fz``: ``Fy`` is ``Fz`` times a shape that depends on load only through ``NN0`` and
  the network inputs (load sensitivity).

Discretisation: the shape is integrated once per model instance with torchdiffeq
(``method="rk4"``, fixed step ``xi_max / n_steps``) on a shared grid of ``xi``, and evaluated by
linear interpolation between the grid nodes (beyond ``xi_max`` the value is held). Linear
interpolation is monotone between nodes, so the properties above carry over exactly to every
evaluated slip angle. With the soft clamps the region-2 rate is at most ``e^3``, so on the default
grid (``xi_max = 6``, 64 steps) ``z = h * rate <= 1.9``: RK4's factor on ``p' = -rate p``,
``1 - z + z^2/2 - z^3/6 + z^4/24``, is positive for every ``z``, and the increment of ``g``,
``h p (1 - z/2 + z^2/6 - z^3/24)``, keeps the sign of ``p`` for ``z < 2.7``: the discrete slope
never changes sign in region 2 (the wild-weight tests check it).
**Direct backpropagation, not the adjoint**: the state has 4 components and the grid 64
steps, so storing the graph costs kilobytes, while the adjoint would re-integrate backwards through
the state-dependent region switch (a discontinuous right-hand side), where its gradients are
inexact, and would take about twice the time.

Not CasADi-capable (``casadi = False``); numpy inputs are evaluated through torch (float64).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from drift.backend import _is_casadi, _is_torch
from drift.errors import DriftError
from tire_models.base import TireModel, register

C0 = 1.5  # guaranteed part of the pre-inflection curvature (normalised units)
KAPPA = 0.5  # region 2 starts once the shape falls below this fraction of its peak
CLAMP = 3.0  # soft clamp of the curvature network outputs
LOAD_CLAMP = 0.3  # bound of the head network's load-dependent log correction of C and alpha_i
LR_SCALE = 0.1  # network weights learn at this fraction of the pipeline's learning rate


def _soft_clamp(x, c):
    return c * torch.tanh(x / c)


class _ScaledMLP(torch.nn.Module):
    """``Linear-tanh-Linear-tanh-Linear`` whose weights are stored divided by ``lr_scale``.

    The fitting pipeline runs one Adam learning rate for every parameter (tuned for the box-bounded
    physical parameters of the baselines). Adam's step is about ``lr`` in the stored parameter, so
    storing ``w / lr_scale`` makes the step in ``w`` about ``lr_scale * lr``: a per-group learning
    rate without touching the pipeline.
    """

    def __init__(self, n_in: int, hidden: int, n_out: int, out_scale: float, lr_scale: float):
        super().__init__()
        layers = [
            torch.nn.Linear(n_in, hidden),
            torch.nn.Linear(hidden, hidden),
            torch.nn.Linear(hidden, n_out),
        ]
        with torch.no_grad():
            layers[-1].weight.mul_(out_scale)
            layers[-1].bias.zero_()
        self.lr_scale = float(lr_scale)
        self.w = torch.nn.ParameterList(
            [torch.nn.Parameter(lin.weight.detach().double() / lr_scale) for lin in layers]
        )
        self.b = torch.nn.ParameterList(
            [torch.nn.Parameter(lin.bias.detach().double() / lr_scale) for lin in layers]
        )

    def set_out_bias(self, bias: torch.Tensor) -> None:
        with torch.no_grad():
            self.b[-1].copy_(bias / self.lr_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.lr_scale
        for i, (w, b) in enumerate(zip(self.w, self.b, strict=True)):
            x = torch.nn.functional.linear(x, w * s, b * s)
            if i < len(self.w) - 1:
                x = torch.tanh(x)
        return x


class NeuralODEModule(torch.nn.Module):
    """Weights of one axle's Neural-ODE tyre (head network, two curvature networks, ``log mu``).

    Implements the fitting contract (:mod:`tire_models.torch_params`): :meth:`model` returns a
    differentiable :class:`NeuralODE`, :meth:`freeze` a detached copy.
    """

    def __init__(
        self,
        Fz_nominal_N: float,
        mu: float = 1.0,
        C_per_rad: float = 10.0,
        alpha_i_rad: float = 0.2,
        hidden: int = 16,
        xi_max: float = 6.0,
        n_steps: int = 64,
        seed: int = 0,
    ):
        super().__init__()
        if not (Fz_nominal_N > 0 and mu > 0 and C_per_rad > 0 and alpha_i_rad > 0):
            raise DriftError(
                f"neural_ode tyre: Fz_nominal_N, mu, C_per_rad, alpha_i_rad must be positive, got "
                f"{Fz_nominal_N}, {mu}, {C_per_rad}, {alpha_i_rad}"
            )
        self.hyper = dict(
            Fz_nominal_N=float(Fz_nominal_N),
            C0_per_rad=float(C_per_rad),
            alpha_i0_rad=float(alpha_i_rad),
            hidden=int(hidden),
            xi_max=float(xi_max),
            n_steps=int(n_steps),
            seed=int(seed),
        )
        gen_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            self.head = _ScaledMLP(1, hidden, 2, 0.1, LR_SCALE)
            self.curv = _ScaledMLP(2, hidden, 2, 0.5, LR_SCALE)
            # start near a Pacejka-like shape: little extra curvature, moderate decay
            self.curv.set_out_bias(torch.tensor([-2.0, math.log(2.0)], dtype=torch.float64))
        finally:
            torch.random.set_rng_state(gen_state)
        self.log_mu = torch.nn.Parameter(torch.tensor(math.log(mu), dtype=torch.float64))
        # load-independent parts of log C and log alpha_i, learned at the pipeline's full rate (the
        # head network only adds a bounded, load-dependent correction at LR_SCALE of that rate)
        self.log_C = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))
        self.log_alpha_i = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))

    # -- pieces ------------------------------------------------------------------------------
    def head_values(self, Fz_n: torch.Tensor):
        """``(C, alpha_i)`` at normalised loads ``Fz_n (N,)``: stiffness/load (1/rad), inflection (rad)."""
        h = self.head(torch.cat([Fz_n.reshape(-1, 1), torch.ones((1, 1), dtype=Fz_n.dtype)]))
        dh = _soft_clamp(h[:-1] - h[-1:], LOAD_CLAMP)  # zero at the nominal load, bounded
        C = self.hyper["C0_per_rad"] * torch.exp(self.log_C + dh[:, 0])
        ai = self.hyper["alpha_i0_rad"] * torch.exp(self.log_alpha_i + dh[:, 1])
        return C, ai

    def curvature_logits(self, xi: torch.Tensor, Fz_n_ref: float = 1.0) -> torch.Tensor:
        """Soft-clamped ``(NN1, NN2)`` at normalised slips ``xi (K,)`` -> ``(K, 2)``."""
        fz = torch.full_like(xi, Fz_n_ref)
        return _soft_clamp(self.curv(torch.stack([xi / 2.0, fz], dim=-1)), CLAMP)

    def shape_table(self, Fz_n_ref: float = 1.0):
        """Integrate the shape ODE on the ``xi`` grid. Returns ``(xi (N+1,), G (N+1,), g, p, region2)``.

        The curvature networks see ``Fz_n_ref`` (the load at which the shape is tabulated); load
        sensitivity then enters through ``C`` and ``alpha_i`` of the head network. The networks are
        evaluated in one batch at every stage abscissa of torchdiffeq's fixed-step RK4 (3/8 rule:
        ``t, t + h/3, t + 2h/3, t + h``), and the right-hand side looks them up.
        """
        from torchdiffeq import odeint

        n, xmax = self.hyper["n_steps"], self.hyper["xi_max"]
        h = xmax / n
        xi = torch.linspace(0.0, xmax, n + 1, dtype=torch.float64)
        stages = torch.linspace(0.0, xmax, 3 * n + 1, dtype=torch.float64)
        nn = self.curvature_logits(stages, Fz_n_ref)
        k1 = torch.exp(nn[:, 0])  # region-1 network curvature (normalised units)
        k2 = torch.exp(nn[:, 1])  # region-2 decay rate of the slope
        ramp = 4.0 * C0 * torch.clamp(stages, max=1.0) ** 3  # guaranteed part, integrates to C0 over [0, 1]

        c1 = k1 + ramp
        zero = torch.zeros((), dtype=torch.float64)

        def rhs(t, y):
            # the region test is a scalar branch (one trajectory), cheaper than evaluating both sides
            j = int(round(float(t) * 3.0 / h))
            g, p, m = y[:3].detach().tolist()
            if float(t) >= 1.0 or (p < 0.0 and g < KAPPA * m):
                return torch.stack([y[1], -k2[j] * y[1], zero, zero])
            return torch.stack([y[1], -c1[j], torch.clamp(y[1], min=0.0), y[1]])

        y0 = torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=torch.float64)
        ys = odeint(rhs, y0, xi, method="rk4", options={"step_size": h})
        g, p, m, q = ys.unbind(-1)
        reg2 = (xi >= 1.0) | ((p < 0) & (g < KAPPA * m))
        qs = torch.clamp(q, min=1e-12)
        G = torch.where(reg2, qs * torch.exp((g - qs) / qs), g)
        return xi, G, g, p, reg2

    @property
    def mu(self) -> torch.Tensor:
        return torch.exp(self.log_mu)

    # -- fitting contract ------------------------------------------------------------------
    def model(self) -> NeuralODE:
        """Differentiable tyre (tensor parameters; the shape is integrated now, once)."""
        xi, G, *_ = self.shape_table()
        return NeuralODE(module=self, mu=self.mu, table=G, trainable=True)

    def freeze(self) -> NeuralODE:
        """Detached copy with float ``mu`` (for saving, simulation, evaluation)."""
        import copy

        mod = copy.deepcopy(self)
        for prm in mod.parameters():
            prm.requires_grad_(False)
        with torch.no_grad():
            _, G, *_ = mod.shape_table()
        return NeuralODE(module=mod, mu=float(mod.mu), table=G.detach(), trainable=False)

    def forward(self, alpha: torch.Tensor, Fz: torch.Tensor, table: torch.Tensor, mu) -> torch.Tensor:
        alpha, Fz = torch.broadcast_tensors(alpha, Fz)
        shape = alpha.shape
        a, fz = alpha.reshape(-1), Fz.reshape(-1)
        C, ai = self.head_values(fz / self.hyper["Fz_nominal_N"])
        n, xmax = self.hyper["n_steps"], self.hyper["xi_max"]
        u = torch.clamp(a.abs() / ai, max=xmax) * (n / xmax)
        # NaN slip (e.g. a diverged line-search trial) must give NaN force, not a wild table index
        i0 = torch.clamp(torch.nan_to_num(u.detach(), nan=0.0).floor().long(), 0, n - 1)
        w = u - i0.to(u.dtype)
        G = table[i0] * (1 - w) + table[i0 + 1] * w
        F = torch.sign(a) * fz * mu * torch.tanh(C * ai * G / mu)
        return F.reshape(shape)


@register
@dataclass(frozen=True, eq=False)
class NeuralODE(TireModel):
    """Neural-ODE tyre of one axle (see the module docstring for the equations and the proofs).

    Build one with :meth:`initial_guess` or :meth:`from_dict`; fit it through :meth:`torch_module`.

    Attributes:
        module: the :class:`NeuralODEModule` holding the weights.
        mu: friction coefficient bounding ``|Fy| < mu Fz`` (float, or a tensor while fitting).
        table: the integrated shape ``G`` on the module's ``xi`` grid.
    """

    name = "neural_ode"
    casadi = False
    module: Any = None
    mu: Any = 1.0
    table: Any = None
    trainable: bool = field(default=False)

    def lateral_force(self, alpha, Fz):
        """``Fy`` (N) at slip ``alpha`` (rad) and load ``Fz`` (N); numpy or torch in, the same out."""
        if _is_casadi(alpha) or _is_casadi(Fz):
            raise DriftError(
                "neural_ode tyre cannot be evaluated on CasADi symbols; distil it into exptanh "
                "(tire_models.distill.distill_exptanh) for the NMPC"
            )
        if _is_torch(alpha) or _is_torch(Fz) or _is_torch(self.mu):
            ref = alpha if _is_torch(alpha) else Fz if _is_torch(Fz) else None
            dtype = ref.dtype if ref is not None else torch.float64
            a = torch.as_tensor(alpha, dtype=torch.float64)
            fz = torch.as_tensor(Fz, dtype=torch.float64)
            return self.module(a, fz, self.table, self.mu).to(dtype)
        with torch.no_grad():
            a = torch.as_tensor(np.asarray(alpha, dtype=float))
            fz = torch.as_tensor(np.asarray(Fz, dtype=float))
            out = self.module(a, fz, self.table, self.mu).numpy()
        return out if out.ndim else float(out)

    @property
    def peak_mu(self):
        return self.mu

    def cornering_stiffness(self, Fz):
        """``dFy/dalpha`` at zero slip per unit load (1/rad) at load ``Fz`` (N), numpy."""
        with torch.no_grad():
            C, _ = self.module.head_values(
                torch.as_tensor(np.atleast_1d(np.asarray(Fz, float))) / self.module.hyper["Fz_nominal_N"]
            )
        return C.numpy()

    # -- fitting and saving ----------------------------------------------------------------
    def torch_module(self):
        """The weights as a trainable module (a copy; fitting does not touch this model)."""
        import copy

        mod = copy.deepcopy(self.module)
        for prm in mod.parameters():
            prm.requires_grad_(True)
        return mod

    @classmethod
    def initial_guess(
        cls,
        Fz_nominal_N: float,
        mu: float = 1.0,
        C_per_rad: float = 10.0,
        seed: int = 0,
        hidden: int = 16,
        n_steps: int = 64,
    ):
        """Random network weights (``seed``) around stiffness ``C_per_rad`` per unit load and peak ``mu``.

        The inflection base is ``alpha_i = 3.4 mu / C`` (rad): the ODE peak then sits where
        ``tanh`` has saturated (``Fy`` about 0.98 ``mu Fz``), and the drop after it is Pacejka-like.
        """
        mod = NeuralODEModule(
            Fz_nominal_N,
            mu=mu,
            C_per_rad=C_per_rad,
            alpha_i_rad=3.4 * mu / C_per_rad,
            hidden=hidden,
            n_steps=n_steps,
            seed=seed,
        )
        return mod.freeze()

    def to_dict(self) -> dict[str, Any]:
        return {"mu": float(self.mu), **self.module.hyper}

    def weights(self) -> dict[str, torch.Tensor]:
        """Network weights (state dict of float64 tensors), saved next to ``model.yaml``."""
        return {k: v.detach().clone() for k, v in self.module.state_dict().items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any], weights: dict[str, torch.Tensor] | None = None):
        """Inverse of :meth:`to_dict` (+ :meth:`weights`). Without ``weights`` the networks are the
        seeded initial ones. Raises ``DriftError`` naming missing/unknown keys or bad weights."""
        need = {"mu", "Fz_nominal_N", "C0_per_rad", "alpha_i0_rad", "hidden", "xi_max", "n_steps", "seed"}
        missing, extra = need - set(d), set(d) - need
        if missing or extra:
            raise DriftError(
                f"neural_ode tyre: missing keys {sorted(missing)}, unknown keys {sorted(extra)}; "
                f"expected {sorted(need)}"
            )
        mod = NeuralODEModule(
            d["Fz_nominal_N"],
            mu=d["mu"],
            C_per_rad=d["C0_per_rad"],
            alpha_i_rad=d["alpha_i0_rad"],
            hidden=d["hidden"],
            xi_max=d["xi_max"],
            n_steps=d["n_steps"],
            seed=d["seed"],
        )
        if weights is not None:
            try:
                w = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in weights.items()}
                for k in ("log_C", "log_alpha_i"):  # weights saved before these existed: offset 0
                    w.setdefault(k, torch.zeros((), dtype=torch.float64))
                mod.load_state_dict(w)
            except RuntimeError as e:
                raise DriftError(f"neural_ode tyre: weights do not match hidden={d['hidden']}: {e}") from None
        return mod.freeze()
