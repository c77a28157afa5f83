"""Common interface of the lateral tyre models and the friction-circle coupling.

Every model is a frozen dataclass of per-axle parameters whose :meth:`TireModel.lateral_force`
is a pure function of slip angle ``alpha`` (rad) and normal load ``Fz`` (N). Parameter fields may
hold floats, torch tensors (for fitting) or CasADi symbols (for optimal control); the math
namespace is picked from the inputs (:func:`drift.backend.namespace`).

Sign convention: ``Fy`` has the sign of ``alpha`` (SAE-like lateral force on the axle for the
slip angles of :func:`drift.vehicle.dynamics.slip_angles`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from drift.backend import namespace, smooth_relu

#: registry of model name -> class, filled by :func:`register`
REGISTRY: dict[str, type[TireModel]] = {}


def register(cls):
    """Class decorator: make a tyre model loadable by its ``name``."""
    REGISTRY[cls.name] = cls
    return cls


class TireModel:
    """Base class. Subclasses are frozen dataclasses and set ``name`` and ``units``.

    ``units`` maps each dataclass field to its YAML key, which carries the unit.
    """

    name: ClassVar[str] = "base"
    units: ClassVar[dict[str, str]] = {}
    #: True when :meth:`lateral_force` can be evaluated on CasADi symbols
    casadi: ClassVar[bool] = True
    #: physical box ``(lo, hi)`` of each parameter, used when fitting
    bounds: ClassVar[dict[str, tuple[float, float]]] = {}

    def torch_module(self):
        """A ``torch.nn.Module`` for fitting, starting here (see :mod:`tire_models.torch_params`)."""
        from tire_models.torch_params import BoundedParams

        return BoundedParams(self)

    def lateral_force(self, alpha, Fz):
        """Pure-slip lateral force ``Fy`` (N), shape of ``broadcast(alpha, Fz)``."""
        raise NotImplementedError

    @property
    def peak_mu(self):
        """Friction coefficient bounding ``|Fy| <= peak_mu * Fz`` (dimensionless)."""
        raise NotImplementedError

    def combined_force(self, alpha, Fz, Fx=0.0, eps: float = 1e-3):
        """Lateral force with a longitudinal force ``Fx`` (N) on the same axle.

        The lateral capacity shrinks on the friction circle,
        ``Fy = Fy_pure * sqrt(1 - (Fx / (mu Fz))^2)``, i.e. ``|Fy| <= sqrt((mu Fz)^2 - Fx^2)``;
        the square root's argument is clipped smoothly at zero so gradients exist
        (Goh & Gerdes; Djeumou et al. 2023, Sec. III).
        """
        return self.lateral_force(alpha, Fz) * friction_circle_scale(Fx, Fz, self.peak_mu, eps)

    # ---- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Parameters as plain floats, keyed by their unit-carrying YAML names."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[self.units.get(f.name, f.name)] = _to_float(v)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        """Inverse of :meth:`to_dict`. Raises ``ValueError`` naming unknown or missing keys."""
        inv = {v: k for k, v in cls.units.items()}
        kwargs = {}
        known = {f.name for f in dataclasses.fields(cls)}
        for key, val in d.items():
            name = inv.get(key, key)
            if name not in known:
                expected = sorted(cls.units.get(k, k) for k in known)
                raise ValueError(f"{cls.name} tyre: unknown parameter {key!r}; expected {expected}")
            kwargs[name] = val
        try:
            return cls(**kwargs)
        except TypeError as e:
            raise ValueError(f"{cls.name} tyre: {e}") from None

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


def _to_float(v):
    try:
        return float(v)
    except TypeError:
        return v.tolist() if hasattr(v, "tolist") else v


def friction_circle_scale(Fx, Fz, mu, eps: float = 1e-3):
    """Dimensionless factor ``sqrt(max(1 - (Fx/(mu Fz))^2, 0))``, smoothed at the rim.

    Args:
        Fx: longitudinal axle force (N), any shape.
        Fz: normal axle load (N), broadcastable, positive.
        mu: friction coefficient (dimensionless).
        eps: smoothing of the clip at zero (dimensionless).
    """
    m = namespace(Fx, Fz, mu)
    u = Fx / (mu * Fz)
    return m.sqrt(smooth_relu(1.0 - u * u, eps) + 1e-12)


@dataclass(frozen=True)
class AxleTires:
    """The tyre models of the front and rear axle (lumped single-track tyres)."""

    front: TireModel
    rear: TireModel

    @property
    def name(self) -> str:
        return self.front.name

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.front.name, "front": self.front.to_dict(), "rear": self.rear.to_dict()}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> AxleTires:
        """Build from ``{"model": name, "front": {...}, "rear": {...}}``.

        Raises ``ValueError`` for an unknown model name or bad parameters.
        """
        name = d.get("model")
        if name not in REGISTRY:
            raise ValueError(f"unknown tyre model {name!r}; known: {sorted(REGISTRY)}")
        cls = REGISTRY[name]
        for axle in ("front", "rear"):
            if axle not in d:
                raise ValueError(f"tyre file lacks the {axle!r} section")
        return AxleTires(cls.from_dict(d["front"]), cls.from_dict(d["rear"]))
