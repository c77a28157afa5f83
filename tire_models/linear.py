"""Linear tyre: ``Fy = C * Fz * alpha`` (the textbook bicycle-model tyre)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tire_models.base import TireModel, register


@register
@dataclass(frozen=True)
class Linear(TireModel):
    """Linear lateral tyre, normalised by load.

    Attributes:
        C: cornering stiffness per unit normal load (1/rad): ``dFy/dalpha = C * Fz``.
        mu: friction coefficient used only for the friction circle (dimensionless).

    Source: Rajamani, *Vehicle Dynamics and Control*, 2nd ed., Sec. 2.3, eq. 2.23.
    """

    name = "linear"
    units = {"C": "C_per_rad", "mu": "mu"}
    bounds = {"C": (0.5, 60.0), "mu": (0.1, 3.0)}
    C: Any = 10.0
    mu: Any = 1.0

    def lateral_force(self, alpha, Fz):
        return self.C * Fz * alpha

    @property
    def peak_mu(self):
        return self.mu

    @classmethod
    def initial_guess(
        cls, Fz_nominal_N: float, mu: float = 1.0, C_per_rad: float = 10.0, seed: int = 0
    ) -> Linear:
        """Starting point of a fit: stiffness ``C_per_rad`` (1/rad) and ``mu``, clipped to the bounds."""
        return cls(C=_clip(C_per_rad, cls.bounds["C"]), mu=_clip(mu, cls.bounds["mu"]))


def _clip(v: float, box: tuple[float, float]) -> float:
    lo, hi = box
    return float(min(max(v, lo + 1e-3 * (hi - lo)), hi - 1e-3 * (hi - lo)))
