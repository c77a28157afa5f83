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
