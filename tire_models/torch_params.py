"""Torch parameterisation of tyre models for gradient-based fitting.

Contract used by the fitting pipeline: ``model.torch_module()`` returns an ``nn.Module`` with

* ``module.model() -> TireModel`` whose parameters are differentiable torch tensors, and
* ``module.freeze() -> TireModel`` with plain float parameters (for saving, CasADi, numpy).

:class:`BoundedParams` serves every dataclass model with ``bounds``: each parameter is
``lo + (hi - lo) * sigmoid(raw)``, so a fit can never leave its physical range.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from tire_models.base import TireModel


class BoundedParams(torch.nn.Module):
    """Box-constrained raw parameters of a dataclass :class:`TireModel`."""

    def __init__(self, init: TireModel, dtype=torch.float64):
        super().__init__()
        self.cls = type(init)
        # fields without a box (e.g. a reference load) are fixed hyper-parameters, not fitted
        self.names = [f.name for f in dataclasses.fields(init) if f.name in init.bounds]
        self.fixed = {
            f.name: getattr(init, f.name) for f in dataclasses.fields(init) if f.name not in init.bounds
        }
        self.raw = torch.nn.ParameterDict()
        for name in self.names:
            lo, hi = init.bounds[name]
            v = float(getattr(init, name))
            if not lo <= v <= hi:
                raise ValueError(f"{init.name}: initial {name}={v} outside its bounds [{lo}, {hi}]")
            z = min(max((v - lo) / (hi - lo), 1e-6), 1 - 1e-6)
            self.raw[name] = torch.nn.Parameter(torch.tensor(math.log(z / (1 - z)), dtype=dtype))

    def values(self) -> dict[str, torch.Tensor]:
        out = {}
        for name in self.names:
            lo, hi = self.cls.bounds[name]
            out[name] = lo + (hi - lo) * torch.sigmoid(self.raw[name])
        return out

    def model(self) -> TireModel:
        return self.cls(**self.values(), **self.fixed)

    def freeze(self) -> TireModel:
        return self.cls(**{k: float(v.detach()) for k, v in self.values().items()}, **self.fixed)

    def at_bounds(self, tol: float = 1e-3) -> list[str]:
        """Names of parameters within ``tol`` (relative to the box) of a bound."""
        out = []
        for name, v in self.values().items():
            lo, hi = self.cls.bounds[name]
            z = (float(v) - lo) / (hi - lo)
            if z < tol or z > 1 - tol:
                out.append(name)
        return out
