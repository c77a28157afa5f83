"""One math namespace for numpy, torch and CasADi.

The physics in :mod:`drift.vehicle` and :mod:`tire_models` is written once against the
small namespace returned by :func:`namespace`, so the same function evaluates numpy arrays,
batched differentiable torch tensors and CasADi symbols (for the NMPC and the lap-time OCP).

Conventions: numpy and torch arrays carry the vector components in the *last* dimension
(shape ``(..., n)``); CasADi symbols are column vectors of shape ``(n, 1)``.
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np


def _is_torch(x) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _is_casadi(x) -> bool:
    casadi = sys.modules.get("casadi")
    return casadi is not None and isinstance(x, casadi.SX | casadi.MX | casadi.DM)


def _smooth_abs(m, x, eps):
    return m.sqrt(x * x + eps * eps)


def _numpy_ns():
    return SimpleNamespace(
        name="numpy",
        sin=np.sin, cos=np.cos, tan=np.tan, tanh=np.tanh, exp=np.exp, log=np.log,
        sqrt=np.sqrt, atan=np.arctan, atan2=np.arctan2, abs=np.abs, sign=np.sign,
        log1p=np.log1p,
        minimum=np.minimum, maximum=np.maximum,
        where=np.where,
        softplus=lambda x: np.logaddexp(0.0, x),
        stack=lambda xs: np.stack(np.broadcast_arrays(*xs), axis=-1),
        unstack=lambda x: [x[..., i] for i in range(x.shape[-1])],
        as_array=lambda x: np.asarray(x, dtype=float),
    )


def _torch_ns():
    import torch

    def stack(xs):
        ref = next(x for x in xs if isinstance(x, torch.Tensor))
        ts = [x if isinstance(x, torch.Tensor) else torch.as_tensor(x, dtype=ref.dtype, device=ref.device)
              for x in xs]
        return torch.stack(torch.broadcast_tensors(*ts), dim=-1)

    def minimum(a, b):
        return torch.minimum(torch.as_tensor(a), torch.as_tensor(b))

    def maximum(a, b):
        return torch.maximum(torch.as_tensor(a), torch.as_tensor(b))

    return SimpleNamespace(
        name="torch",
        sin=torch.sin, cos=torch.cos, tan=torch.tan, tanh=torch.tanh, exp=torch.exp, log=torch.log,
        sqrt=torch.sqrt, atan=torch.atan, atan2=torch.atan2, abs=torch.abs, sign=torch.sign,
        log1p=torch.log1p,
        minimum=minimum, maximum=maximum,
        where=lambda c, a, b: torch.where(c, torch.as_tensor(a), torch.as_tensor(b)),
        softplus=torch.nn.functional.softplus,
        stack=stack,
        unstack=lambda x: list(torch.unbind(x, dim=-1)),
        as_array=torch.as_tensor,
    )


def _casadi_ns():
    import casadi as ca

    return SimpleNamespace(
        name="casadi",
        sin=ca.sin, cos=ca.cos, tan=ca.tan, tanh=ca.tanh, exp=ca.exp, log=ca.log,
        sqrt=ca.sqrt, atan=ca.atan, atan2=ca.atan2, abs=ca.fabs, sign=ca.sign,
        log1p=ca.log1p,
        minimum=ca.fmin, maximum=ca.fmax,
        where=ca.if_else,
        softplus=lambda x: ca.log1p(ca.exp(-ca.fabs(x))) + ca.fmax(x, 0),
        stack=lambda xs: ca.vertcat(*xs),
        unstack=lambda x: [x[i] for i in range(x.shape[0])],
        as_array=lambda x: x,
    )


_CACHE: dict[str, SimpleNamespace] = {}


def namespace(*xs) -> SimpleNamespace:
    """Return the math namespace matching the inputs.

    Any CasADi input selects CasADi, else any torch tensor selects torch, else numpy.
    Python floats and numpy scalars mix freely with either.

    The namespace has elementwise ``sin cos tan tanh exp log log1p sqrt atan atan2 abs sign
    minimum maximum where softplus`` plus ``stack(list) -> (..., n)`` and
    ``unstack((..., n)) -> list`` over the component axis.
    """
    if any(_is_casadi(x) for x in xs):
        key = "casadi"
    elif any(_is_torch(x) for x in xs):
        key = "torch"
    else:
        key = "numpy"
    if key not in _CACHE:
        _CACHE[key] = {"numpy": _numpy_ns, "torch": _torch_ns, "casadi": _casadi_ns}[key]()
    return _CACHE[key]


def smooth_abs(x, eps: float = 1e-3):
    """``sqrt(x^2 + eps^2)``: an everywhere-differentiable ``|x|`` (same units as ``x``)."""
    return _smooth_abs(namespace(x), x, eps)


def smooth_relu(x, eps: float = 1e-3):
    """``0.5 (x + sqrt(x^2 + eps^2))``: a differentiable ``max(x, 0)`` with error at most ``eps/2``."""
    m = namespace(x)
    return 0.5 * (x + _smooth_abs(m, x, eps))
