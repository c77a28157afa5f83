"""Fiala brush tyre model (pure lateral slip)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drift.backend import namespace
from tire_models.base import TireModel, register


@register
@dataclass(frozen=True)
class Fiala(TireModel):
    """Fiala brush model with a parabolic contact-pressure distribution.

    For ``z = tan(alpha)`` and the sliding limit ``z_sl = 3 mu / C``::

        Fy/Fz = C z - C^2/(3 mu) |z| z + C^3/(27 mu^2) z^3    for |z| < z_sl
        Fy/Fz = mu sign(z)                                    otherwise

    The slip is clipped at ``+-z_sl`` so the same expression covers both branches.

    Attributes:
        C: cornering stiffness per unit load (1/rad).
        mu: friction coefficient (dimensionless), the peak of ``Fy/Fz``.

    Source: Pacejka, *Tire and Vehicle Dynamics*, 3rd ed., Sec. 3.2.2; used as the analytic
    baseline by Djeumou et al. 2023 (eq. 3) and by Hindiyeh & Gerdes 2014.
    """

    name = "fiala"
    units = {"C": "C_per_rad", "mu": "mu"}
    bounds = {"C": (0.5, 60.0), "mu": (0.1, 3.0)}
    C: Any = 15.0
    mu: Any = 1.0

    def lateral_force(self, alpha, Fz):
        m = namespace(alpha, Fz, self.C, self.mu)
        z_sl = 3.0 * self.mu / self.C
        z = m.minimum(m.maximum(m.tan(alpha), -z_sl), z_sl)
        f = self.C * z - self.C**2 / (3.0 * self.mu) * m.abs(z) * z + self.C**3 / (27.0 * self.mu**2) * z**3
        return Fz * f

    @property
    def peak_mu(self):
        return self.mu

    @classmethod
    def initial_guess(
        cls, Fz_nominal_N: float, mu: float = 1.0, C_per_rad: float = 10.0, seed: int = 0
    ) -> Fiala:
        """Starting point of a fit: stiffness ``C_per_rad`` (1/rad) and peak ``mu``, clipped to the bounds."""
        from tire_models.linear import _clip

        return cls(C=_clip(C_per_rad, cls.bounds["C"]), mu=_clip(mu, cls.bounds["mu"]))
