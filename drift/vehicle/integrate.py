"""Integrators for the vehicle model: fixed-step RK4 (any backend) and torchdiffeq (torch)."""

from __future__ import annotations

from collections.abc import Callable


def rk4_step(fun: Callable, x, u, dt: float, substeps: int = 1):
    """Advance ``x`` by ``dt`` seconds with ``substeps`` classic RK4 steps, ``u`` held constant.

    ``fun(x, u) -> dx/dt``. Works for numpy, torch and CasADi alike.
    """
    h = dt / substeps
    for _ in range(substeps):
        k1 = fun(x, u)
        k2 = fun(x + 0.5 * h * k1, u)
        k3 = fun(x + 0.5 * h * k2, u)
        k4 = fun(x + h * k3, u)
        x = x + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return x


def compiled_step(p, tires, dt: float, substeps: int = 1):
    """Fast scalar evaluation of the single-track model for simulators and predictors.

    Returns ``(step, derivs)``: ``step(x, u) -> x_next`` advances ``x = [X, Y, psi, vx, vy, r]`` (6,)
    by ``dt`` s with ``substeps`` RK4 steps of :func:`drift.vehicle.f` under the applied input
    ``u = [delta, Fx]`` (2,); ``derivs(v, u) -> [vx_dot, vy_dot, r_dot]`` (3,) is
    :func:`drift.vehicle.body_derivatives`. With tyres that CasADi can evaluate, both are traced once
    into CasADi functions (same equations, ~100x faster per call than numpy on scalars); otherwise
    numpy evaluates them. ``p``: :class:`VehicleParams`; ``tires``: :class:`AxleTires`.
    """
    import numpy as np

    from drift.vehicle.dynamics import body_derivatives, f

    fun = lambda x, u: f(x, u, p, tires)  # noqa: E731
    if getattr(tires.front, "casadi", False) and getattr(tires.rear, "casadi", False):
        import casadi as ca

        xs, us, vs = ca.SX.sym("x", 6), ca.SX.sym("u", 2), ca.SX.sym("v", 3)
        F = ca.Function("step", [xs, us], [rk4_step(fun, xs, us, dt, substeps)])
        D = ca.Function("derivs", [vs, us], [body_derivatives(vs, us, p, tires)])
        return (lambda x, u: np.asarray(F(x, u)).reshape(6)), (lambda v, u: np.asarray(D(v, u)).reshape(3))
    return (
        lambda x, u: rk4_step(fun, np.asarray(x, float), np.asarray(u, float), dt, substeps)
    ), lambda v, u: body_derivatives(np.asarray(v, float), np.asarray(u, float), p, tires)


def rollout(fun: Callable, x0, us, dt: float, substeps: int = 1):
    """Integrate from ``x0 (..., nx)`` through inputs ``us (..., T, nu)`` held for ``dt`` each.

    Returns the states after each step, shape ``(..., T, nx)`` (numpy or torch).
    """
    m_stack = _stack_like(x0)
    xs, x = [], x0
    for k in range(us.shape[-2]):
        x = rk4_step(fun, x, us[..., k, :], dt, substeps)
        xs.append(x)
    return m_stack(xs)


def odeint_zoh(fun: Callable, x0, us, dt: float, method: str = "rk4", step_size: float | None = None, **kw):
    """torchdiffeq ``odeint`` through zero-order-hold inputs ``us (..., T, nu)``.

    Returns ``(..., T, nx)``; differentiable w.r.t. ``x0``, ``us`` and any parameters in ``fun``.
    ``kw`` passes to :func:`torchdiffeq.odeint` (e.g. ``rtol``, ``atol`` for adaptive methods).
    """
    import torch
    from torchdiffeq import odeint

    T = us.shape[-2]
    t = torch.arange(T + 1, dtype=x0.dtype, device=x0.device) * dt

    def rhs(tt, x):
        k = torch.clamp((tt / dt).floor().long(), 0, T - 1)
        return fun(x, us[..., k, :])

    opts = {"step_size": step_size or dt} if method in ("rk4", "euler", "midpoint") else None
    xs = odeint(rhs, x0, t, method=method, options=opts, **kw)
    return torch.movedim(xs[1:], 0, -2)


def _stack_like(x):
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and isinstance(x, torch.Tensor):
        return lambda xs: torch.stack(xs, dim=-2)
    import numpy as np

    return lambda xs: np.stack(xs, axis=-2)
