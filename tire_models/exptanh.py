"""ExpTanh: a closed-form, physically constrained lateral tyre curve (CasADi-capable).

The learned tyre family of Djeumou et al., "Autonomous Drifting with 3 Minutes of Data via
Learned Tire Models" (ICRA 2023), approximated by tanh and exponential terms so that the drift
NMPC can evaluate it symbolically. The exact formula below is derived here (it is not copied from
the paper); it has four shape parameters and two load-sensitivity parameters per axle, all
box-constrained.

Derivation
----------
Write ``x = B alpha`` (dimensionless slip, ``B > 0`` in 1/rad; ``B_eff`` with the load sensitivity
below) and take the product of a rising, bounded odd term and a falling, bounded even term::

    y(x) = tanh(x) * h(x),      h(x) = 1 - d + d sech(k x),      0 < d < 1,  0 < k < 2.

``sech(z) = 2 / (exp(z) + exp(-z))`` is the exponential term. The curve is normalised by its own
peak ``y_pk(d, k) = max_x y(x)``::

    Fy(alpha, Fz) = mu * Fz * y(B alpha) / y_pk(d, k).

Why each constraint holds (for every admissible parameter value, not only fitted ones):

* **odd, F(0) = 0**: ``tanh`` is odd and ``h`` is even, so ``y`` is odd and ``y(0) = 0``.
* **scales with Fz**: ``Fy`` is ``Fz`` times a function of ``alpha`` and, through the load
  sensitivity (paragraph below), of ``Fz / Fz0``.
* **positive initial slope**: ``y'(0) = h(0) = 1``, so ``dFy/dalpha(0) = mu Fz B / y_pk > 0``
  (cornering stiffness per unit load ``mu B / y_pk``, see :attr:`ExpTanh.cornering_stiffness`).
* **exactly one peak on each side**: for ``x > 0``, ``y' = sech^2(x) h - tanh(x) d k sech(kx) tanh(kx)``.
  ``y' = 0`` iff ``Q(x) = 1`` with ``Q(x) = 2 ((1-d) cosh(kx) + d) / (d k sinh(2x) tanh(kx))``. The
  logarithmic derivative of ``Q`` is ``(1-d) k sinh(kx) / ((1-d) cosh(kx) + d) - 2 coth(2x)
  - k / (sinh(kx) cosh(kx))``; its first term is below ``k tanh(kx) < k < 2 < 2 coth(2x)``, so ``Q``
  is strictly decreasing. ``Q -> inf`` as ``x -> 0`` and ``Q ~ (1-d) exp((k-2) x) / (d k) -> 0`` as
  ``x -> inf`` (here ``k < 2`` is needed). Hence ``y'`` has exactly one zero ``x*`` on ``x > 0``:
  ``y`` rises before it and falls after it. By oddness the same holds on ``x < 0``.
* **|F| <= mu Fz, with equality only at the peak**: ``|y| <= y(x*) = y_pk`` by the previous point,
  so ``|Fy| <= mu Fz``; ``mu`` is the peak friction coefficient exactly (:attr:`peak_mu`).
* **falls smoothly to a sliding value, never changes sign**: after ``x*`` the curve decreases
  monotonically to ``mu Fz (1 - d) / y_pk > 0`` (``tanh -> 1``, ``sech -> 0``); both factors are
  positive for ``x > 0``, so the sign never flips.

Load sensitivity. The slip scale depends on the load through a bounded, saturating factor::

    B_eff(Fz) = B exp(q tanh(w ln(Fz / Fz0))),      |q| <= 0.3,  0.5 <= w <= 50,

with a fixed reference load ``Fz0`` (the static axle load in a fit) and ``q = 0`` for none. The
cornering stiffness per unit load is ``mu B_eff / y_pk``: it equals its reference value at ``Fz0``,
moves monotonically with ``ln Fz`` (down for ``q < 0``, the usual degressive tyre, Pacejka, *Tire
and Vehicle Dynamics*, Sec. 4.3.2; up for ``q > 0``) and never leaves ``x/ e^|q|`` of it, however
far the load goes, so a fit on a narrow load range cannot extrapolate wildly. ``B_eff > 0`` for
every load, and every constraint above is a statement about the shape in ``x = B_eff alpha`` at a
fixed load, so all of them hold for every admissible ``q, w``; the peak stays ``mu Fz`` exactly.
Why it is there (issue 3 diagnosis, IAC log): the training minutes span ~2 % of normal load, yet
the neural_ode's load input carried the stiffness difference between slow and fast driving
(downforce raises the load with speed); without a load term the closed form could not follow it.

``y_pk`` is found by bisection on the sign of ``Q(x) - 1`` (written overflow-free), 64 steps in
float64 (bracket [0, 400], so to ~2e-17), once per model instance (cached), then ``y`` is
evaluated at the root. Under torch the root is detached: by the envelope
theorem ``d y_pk / d theta = dy/dtheta (x*)`` because ``dy/dx (x*) = 0``, so gradients stay exact.
For float parameters (the usual case in the NMPC), ``y_pk`` is a float and ``Fy`` is an explicit
CasADi expression of ``alpha`` and ``Fz``.

The fit on Pacejka curves (``B`` 6-12, ``C`` 1.3-1.9, ``E`` -1..0.5) is within 1 % of ``mu Fz`` over
+-0.5 rad, see ``tests/test_learned_tires.py``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from drift.backend import _is_casadi, _is_torch, namespace
from tire_models.base import TireModel, register

#: parameter boxes; ``k < 2`` and ``0 < d < 1`` are required by the derivation above; ``|q| <= 0.3``
#: bounds the load sensitivity of the stiffness per unit load to x/ e^0.3 (as the neural_ode's)
_BOUNDS = {
    "mu": (0.1, 3.0),
    "B": (0.5, 100.0),
    "d": (0.01, 0.95),
    "k": (0.05, 1.9),
    "q": (-0.3, 0.3),
    "w": (0.5, 50.0),
}


def _phi_scaled(x, d, k, m):
    """``exp(-2x) * (2((1-d) cosh kx + d) - d k tanh(kx) sinh 2x)``: > 0 before the peak, < 0 after."""
    return (
        (1 - d) * (m.exp((k - 2) * x) + m.exp(-(k + 2) * x))
        + 2 * d * m.exp(-2 * x)
        - 0.5 * d * k * m.tanh(k * x) * (1 - m.exp(-4 * x))
    )


def _sech(z, m):
    """``sech(z) = 1 / cosh(z)``, overflow- and NaN-gradient-free for large ``|z|``."""
    if m.name == "casadi":
        import casadi as ca

        return 1.0 / ca.cosh(z)
    e = m.exp(-m.abs(z))
    return 2.0 * e / (1.0 + e * e)


def _shape(x, d, k, m):
    """``y(x) = tanh(x) (1 - d + d sech(kx))`` (dimensionless)."""
    return m.tanh(x) * (1 - d + d * _sech(k * x, m))


def peak_location(d, k, iters: int = 64):
    """Peak ``x* = B alpha*`` of the normalised shape (dimensionless), by bisection.

    Args:
        d: drop fraction in ``(0, 1)``; k: decay ratio in ``(0, 2)`` (floats, numpy or torch).
    Returns: ``x*`` of the broadcast shape of ``d, k`` (torch input: a detached tensor).
    """
    if _is_torch(d) or _is_torch(k):
        import torch

        dd = torch.as_tensor(d).detach().to(torch.float64)
        kk = torch.as_tensor(k).detach().to(torch.float64)
        lo = torch.zeros(torch.broadcast_shapes(dd.shape, kk.shape), dtype=torch.float64)
        hi = torch.full_like(lo, 400.0)
        m = namespace(dd)
        for _ in range(iters):
            mid = 0.5 * (lo + hi)
            pos = _phi_scaled(mid, dd, kk, m) > 0
            lo, hi = torch.where(pos, mid, lo), torch.where(pos, hi, mid)
        return 0.5 * (lo + hi)
    dd, kk = np.asarray(d, dtype=float), np.asarray(k, dtype=float)
    lo = np.zeros(np.broadcast(dd, kk).shape)
    hi = np.full_like(lo, 400.0)
    with np.errstate(over="ignore"):
        for _ in range(iters):
            mid = 0.5 * (lo + hi)
            pos = _phi_scaled(mid, dd, kk, np) > 0
            lo, hi = np.where(pos, mid, lo), np.where(pos, hi, mid)
    out = 0.5 * (lo + hi)
    return float(out) if out.ndim == 0 else out


@register
@dataclass(frozen=True)
class ExpTanh(TireModel):
    """``Fy = mu Fz tanh(B a) (1 - d + d sech(k B a)) / y_pk(d, k)`` (derivation in the module docstring).

    Attributes:
        mu: peak friction coefficient (dimensionless): ``max |Fy| = mu Fz`` exactly.
        B: slip scale (1/rad); cornering stiffness per unit load is ``mu B / y_pk``.
        d: drop from peak to sliding, ``0 < d < 1`` (sliding force ``mu Fz (1-d)/y_pk``).
        k: decay rate of the drop relative to ``B``, ``0 < k < 2`` (dimensionless).
        q: load sensitivity, ``B_eff = B exp(q tanh(w ln(Fz / Fz0_N)))``, ``|q| <= 0.3``
            (dimensionless; 0: none; < 0: degressive). The stiffness per unit load stays within
            ``x/ e^|q|`` of its value at ``Fz0_N``.
        w: rate of the load sensitivity in ``ln Fz`` (dimensionless, 0.5-50).
        Fz0_N: reference load of ``q`` (N); fixed, not fitted (the static axle load in a fit).

    ``mu, B, d, k, q, w`` are box-constrained (``bounds``) so :class:`tire_models.torch_params.BoundedParams`
    keeps every fit inside the region where the constraints are proved.

    Source: form derived here after Djeumou et al. 2023 (ICRA), Sec. III-B (ExpTanh family).
    """

    name = "exptanh"
    units = {"mu": "mu", "B": "B_per_rad", "d": "d", "k": "k", "q": "q_load", "w": "w_load", "Fz0_N": "Fz0_N"}
    bounds = _BOUNDS
    mu: Any = 1.0
    B: Any = 14.0
    d: Any = 0.3
    k: Any = 0.3
    q: Any = 0.0
    w: Any = 5.0
    Fz0_N: float = 1.0

    def __post_init__(self):
        for name, (lo, hi) in _BOUNDS.items():
            v = getattr(self, name)
            if isinstance(v, int | float) and not (math.isfinite(v) and lo <= v <= hi):
                from drift.errors import DriftError

                raise DriftError(
                    f"exptanh tyre: parameter {name}={float(v):g} outside its admissible box [{lo}, {hi}] "
                    f"(the shape constraints are only guaranteed there)"
                )
        if not (isinstance(self.Fz0_N, int | float) and math.isfinite(self.Fz0_N) and self.Fz0_N > 0):
            from drift.errors import DriftError

            raise DriftError(
                f"exptanh tyre: reference load Fz0_N={self.Fz0_N!r} must be a positive number (N)"
            )

    # ---- shape ---------------------------------------------------------------------------
    @functools.cached_property
    def _y_peak(self):
        d, k = self.d, self.k
        if _is_casadi(d) or _is_casadi(k):
            # fully symbolic shape parameters: bisection as an expression graph
            import casadi as ca

            lo, hi = 0.0, 400.0
            for _ in range(80):
                mid = 0.5 * (lo + hi)
                pos = _phi_scaled(mid, d, k, namespace(d)) > 0
                lo, hi = ca.if_else(pos, mid, lo), ca.if_else(pos, hi, mid)
            xs = 0.5 * (lo + hi)
        else:
            xs = peak_location(d, k)
        m = namespace(xs, d, k)
        return _shape(xs, d, k, m)

    def lateral_force(self, alpha, Fz):
        """Pure-slip ``Fy`` (N) for slip ``alpha`` (rad) and load ``Fz`` (N); any backend, broadcast."""
        m = namespace(alpha, Fz, self.mu, self.B, self.d, self.k, self.q, self.w)
        x = self.B * alpha
        if not (isinstance(self.q, int | float) and self.q == 0.0):
            ratio = Fz / self.Fz0_N
            if m.name == "torch" and not _is_torch(ratio):
                import torch

                ratio = torch.as_tensor(np.asarray(ratio, dtype=float), dtype=torch.float64)
            x = x * m.exp(self.q * m.tanh(self.w * m.log(ratio)))  # B exp(q tanh(w ln(Fz/Fz0)))
        return self.mu * Fz * _shape(x, self.d, self.k, m) / self._y_peak

    @property
    def peak_mu(self):
        return self.mu

    @property
    def cornering_stiffness(self):
        """``dFy/dalpha`` at zero slip per unit load (1/rad), at the reference load ``Fz0_N``."""
        return self.mu * self.B / self._y_peak

    @property
    def peak_slip(self):
        """Slip angle of the peak (rad)."""
        return peak_location(self.d, self.k) / self.B

    @classmethod
    def initial_guess(
        cls, Fz_nominal_N: float = 1.0, mu: float = 1.0, C_per_rad: float = 10.0, seed: int = 0
    ):
        """A Pacejka-like start: cornering stiffness ``C_per_rad`` per unit load, peak ``mu``, 30 % drop.

        No load sensitivity (``q = 0``) at the reference load ``Fz0_N = Fz_nominal_N``; ``seed`` is
        unused (no random weights).
        """
        d, k = 0.3, 0.3
        y_pk = float(_shape(peak_location(d, k), d, k, namespace(0.0)))
        B = min(max(C_per_rad * y_pk / mu, _BOUNDS["B"][0]), _BOUNDS["B"][1])
        Fz0 = float(Fz_nominal_N) if Fz_nominal_N and Fz_nominal_N > 0 else 1.0
        return cls(mu=float(mu), B=float(B), d=d, k=k, q=0.0, w=5.0, Fz0_N=Fz0)
