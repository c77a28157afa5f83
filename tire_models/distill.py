"""Distil any fitted tyre model (typically a ``neural_ode``) into the closed-form ``exptanh``.

The NMPC needs a CasADi-capable tyre; the Neural-ODE tyre is not. Djeumou et al. 2023 use the
ExpTanh family as the cheap, physically constrained approximation of the learned curve. Here the
ExpTanh parameters are fitted by bounded least squares (:func:`scipy.optimize.least_squares`,
trust-region reflective, inside :attr:`ExpTanh.bounds`, so the distilled curve keeps every
constraint proved in :mod:`tire_models.exptanh`) to the teacher's normalised force ``Fy / Fz`` on a
dense grid of slip angles and normal loads. The student's load sensitivity (``q``, ``w`` about the
reference load ``Fz0_N = Fz_nominal_N``) is fitted too, so a load-dependent teacher (the
``neural_ode``'s head network) is followed across the load range, not only at the nominal load.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from drift.errors import DriftError
from tire_models.base import AxleTires, TireModel
from tire_models.exptanh import _BOUNDS, ExpTanh


@dataclass(frozen=True)
class DistillResult:
    """A distilled axle tyre and how closely it follows its teacher.

    Attributes:
        tire: the fitted :class:`ExpTanh`.
        max_err_mu: largest ``|Fy_student - Fy_teacher| / (mu_teacher Fz)`` on the grid (dimensionless).
        rms_err_mu: RMS of the same (dimensionless).
    """

    tire: ExpTanh
    max_err_mu: float
    rms_err_mu: float


def distill_exptanh(
    teacher: TireModel,
    Fz_nominal_N: float,
    alpha_max_rad: float = 0.5,
    n_alpha: int = 401,
    load_range: tuple[float, float] = (0.6, 1.4),
    n_load: int = 5,
) -> DistillResult:
    """Least-squares ExpTanh fit to ``teacher.lateral_force`` on a slip x load grid.

    Args:
        teacher: any :class:`TireModel` (numpy-evaluable).
        Fz_nominal_N: nominal axle load (N); the grid spans ``load_range`` times it.
        alpha_max_rad: the slip grid is ``linspace(-alpha_max, alpha_max, n_alpha)`` (rad).
        n_alpha, n_load: grid sizes.
    Returns:
        :class:`DistillResult`.
    Raises:
        DriftError: non-positive load or slip range, or a teacher curve that is not finite.
    """
    if not (Fz_nominal_N > 0 and alpha_max_rad > 0 and n_alpha >= 11 and n_load >= 1):
        raise DriftError(
            f"distill_exptanh: need Fz_nominal_N > 0, alpha_max_rad > 0, n_alpha >= 11 "
            f"(got {Fz_nominal_N}, {alpha_max_rad}, {n_alpha})"
        )
    a = np.linspace(-alpha_max_rad, alpha_max_rad, n_alpha)
    Fz = Fz_nominal_N * np.linspace(*load_range, n_load)
    A, Z = np.meshgrid(a, Fz, indexing="ij")
    target = np.asarray(teacher.lateral_force(A, Z), float) / Z
    if not np.all(np.isfinite(target)):
        raise DriftError(f"distill_exptanh: the {teacher.name} teacher gives non-finite forces on the grid")
    mu_t = float(teacher.peak_mu)
    # start: stiffness from the smallest positive slip, peak from the grid maximum
    i = n_alpha // 2 + 1
    C0 = float(np.mean(target[i] / a[i]))
    mu0 = float(np.clip(np.max(np.abs(target)), _BOUNDS["mu"][0] * 1.01, _BOUNDS["mu"][1] * 0.99))
    start = ExpTanh.initial_guess(Fz_nominal_N, mu=mu0, C_per_rad=max(C0, 1.0))
    names = ("mu", "B", "d", "k", "q", "w")  # shape and load sensitivity about Fz0 = Fz_nominal_N
    lo = np.array([_BOUNDS[n][0] for n in names])
    hi = np.array([_BOUNDS[n][1] for n in names])
    x0 = np.clip(np.array([getattr(start, n) for n in names]), lo + 1e-9, hi - 1e-9)

    def student(x) -> ExpTanh:
        return ExpTanh(*(float(v) for v in x), Fz0_N=float(Fz_nominal_N))

    def resid(x):
        return (student(x).lateral_force(A, Z) / Z - target).ravel()

    sol = least_squares(
        resid,
        x0,
        bounds=(lo, hi),
        x_scale=np.array([0.1, 5.0, 0.1, 0.2, 0.05, 2.0]),
        xtol=1e-12,
        ftol=1e-12,
        gtol=1e-12,
        max_nfev=2000,
    )
    tire = student(sol.x)
    err = np.abs(tire.lateral_force(A, Z) / Z - target) / mu_t
    return DistillResult(tire, float(err.max()), float(np.sqrt(np.mean(err**2))))


def distill_axles(tires: AxleTires, Fzf_N: float, Fzr_N: float, **kw) -> tuple[AxleTires, dict[str, float]]:
    """Distil both axles (static loads ``Fzf_N``, ``Fzr_N``) -> ``(AxleTires of ExpTanh, errors)``.

    ``errors`` has ``front_max_err_mu``, ``front_rms_err_mu``, ``rear_max_err_mu``, ``rear_rms_err_mu``.
    """
    f = distill_exptanh(tires.front, Fzf_N, **kw)
    r = distill_exptanh(tires.rear, Fzr_N, **kw)
    errs = {
        "front_max_err_mu": f.max_err_mu,
        "front_rms_err_mu": f.rms_err_mu,
        "rear_max_err_mu": r.max_err_mu,
        "rear_rms_err_mu": r.rms_err_mu,
    }
    return AxleTires(f.tire, r.tire), errs
