"""Pacejka Magic Formula (pure lateral slip)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drift.backend import namespace
from tire_models.base import TireModel, register


@register
@dataclass(frozen=True)
class Pacejka(TireModel):
    """Simplified Magic Formula, ``Fy = Fz D sin(C atan(B a - E (B a - atan(B a))))``.

    Attributes:
        B: stiffness factor (1/rad).
        C: shape factor (dimensionless, 1 < C < 2 for a single peak).
        D: peak factor = peak friction coefficient (dimensionless).
        E: curvature factor (dimensionless, E <= 1).

    Cornering stiffness per unit load is ``B C D``.

    Source: Pacejka & Bakker 1992; Pacejka, *Tire and Vehicle Dynamics*, 3rd ed., eq. 4.49.
    """

    name = "pacejka"
    units = {"B": "B_per_rad", "C": "C", "D": "D", "E": "E"}
    bounds = {"B": (0.5, 60.0), "C": (1.0, 2.0), "D": (0.1, 3.0), "E": (-5.0, 1.0)}
    B: Any = 10.0
    C: Any = 1.5
    D: Any = 1.0
    E: Any = 0.0

    def lateral_force(self, alpha, Fz):
        m = namespace(alpha, Fz, self.B, self.C, self.D, self.E)
        ba = self.B * alpha
        return Fz * self.D * m.sin(self.C * m.atan(ba - self.E * (ba - m.atan(ba))))

    @property
    def peak_mu(self):
        return self.D

    @classmethod
    def initial_guess(
        cls, Fz_nominal_N: float, mu: float = 1.0, C_per_rad: float = 10.0, seed: int = 0
    ) -> Pacejka:
        """Starting point of a fit: ``C = 1.5``, ``D = mu``, ``E = 0`` and ``B = C_per_rad / (C D)``."""
        from tire_models.linear import _clip

        D = _clip(mu, cls.bounds["D"])
        return cls(B=_clip(C_per_rad / (1.5 * D), cls.bounds["B"]), C=1.5, D=D, E=0.0)
