"""Drift equilibria: steady states of the single-track model at large sideslip.

A drift equilibrium is a state ``v = [vx, vy, r]`` and an input ``u = [delta, Fxr]`` with
``body_derivatives(v, u) = 0`` (``vx_dot = vy_dot = r_dot = 0``). Given the speed ``vx`` and the
sideslip ``beta = atan(vy / vx)`` the three unknowns are the yaw rate ``r``, the road-wheel
steering ``delta`` and the rear drive force ``Fxr``; in a drift ``delta`` has the opposite sign of
``r`` (countersteer) and ``Fxr`` saturates the rear tyre through the friction circle.

The equations are the ones of :func:`drift.vehicle.body_derivatives` evaluated on CasADi symbols
(the same model the NMPC predicts with). They are solved with IPOPT on a scaled feasibility
problem (bounds on ``delta`` and ``Fxr``) from several initial guesses, then polished with a
Newton rootfinder so that the residual reaches machine precision.

Source: Voser, Hindiyeh & Gerdes 2010 ("Analysis and control of high sideslip manoeuvres",
eqs. 6-8); Goh & Gerdes 2016; Djeumou et al. 2023, Sec. IV (equilibria as NMPC references).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import casadi as ca
import numpy as np

from drift.errors import DriftError
from drift.vehicle import axle_forces, body_derivatives
from drift.vehicle.params import VehicleParams
from tire_models.base import AxleTires


@dataclass(frozen=True)
class Equilibrium:
    """One steady state (SI units).

    Attributes:
        vx, vy: body-frame velocities (m/s). beta: sideslip ``atan2(vy, vx)`` (rad).
        r: yaw rate (rad/s). delta: road-wheel steering (rad). Fxr: rear drive force (N).
        V: speed (m/s). radius_m: radius of the circle driven, ``V / |r|`` (m; inf when r = 0).
        residual: max-norm of ``[vx_dot, vy_dot, r_dot]`` at the solution (m/s^2, rad/s^2).
    """

    vx: float
    vy: float
    beta: float
    r: float
    delta: float
    Fxr: float
    V: float
    radius_m: float
    residual: float

    @property
    def v(self) -> np.ndarray:
        """``[vx, vy, r]`` (3,)."""
        return np.array([self.vx, self.vy, self.r])

    @property
    def u(self) -> np.ndarray:
        """``[delta, Fxr]`` (2,)."""
        return np.array([self.delta, self.Fxr])

    def to_dict(self) -> dict:
        return asdict(self)


def _check(vehicle, tires):
    if not isinstance(vehicle, VehicleParams):
        raise DriftError(
            f"drift_equilibrium: vehicle must be a VehicleParams (drift.vehicle.load_vehicle), "
            f"got {type(vehicle).__name__}"
        )
    if not isinstance(tires, AxleTires):
        raise DriftError(f"drift_equilibrium: tires must be an AxleTires, got {type(tires).__name__}")
    for t in (tires.front, tires.rear):
        if not getattr(t, "casadi", False):
            raise DriftError(
                f"drift_equilibrium: tyre model {t.name!r} cannot be evaluated in CasADi "
                "(casadi = False); use linear, fiala, pacejka or exptanh"
            )


def _residual_fun(vehicle, tires):
    v, u = ca.SX.sym("v", 3), ca.SX.sym("u", 2)
    return ca.Function("steady", [v, u], [body_derivatives(v, u, vehicle, tires)])


def _solve(vehicle, tires, F_res, unknowns, build, guesses, lbz, ubz, what, branch):
    """Solve ``build(z) -> (v, u, extra_eqs) = 0`` for the scaled unknowns ``z``."""
    nz = len(unknowns)
    z = ca.SX.sym("z", nz)
    v, u, extra = build(z)
    # equations scaled to order one: accelerations by g, yaw acceleration by g / L
    res = F_res(v, u)
    eqs = ca.vertcat(res[0] / vehicle.g, res[1] / vehicle.g, res[2] * vehicle.L / vehicle.g, *extra)
    nlp = {"x": z, "f": 1e-6 * ca.sumsqr(z), "g": eqs}
    opts = {
        "ipopt.print_level": 0,
        "print_time": False,
        "ipopt.tol": 1e-12,
        "ipopt.max_iter": 200,
        "ipopt.sb": "yes",
        # trial points may leave the tyre model's domain (a load term's log of a negative load):
        # the solvers step back from NaN themselves, so CasADi's per-evaluation warnings are noise
        "show_eval_warnings": False,
    }
    solver = ca.nlpsol("eq", "ipopt", nlp, opts)
    newton = ca.rootfinder(
        "eqn",
        "newton",
        ca.Function("g", [z], [eqs]),
        {"abstol": 1e-13, "max_iter": 50, "error_on_fail": False, "show_eval_warnings": False},
    )
    G = ca.Function("g", [z], [eqs])
    found = []  # (rank, z, err)
    for z0 in guesses:
        sol = solver(x0=z0, lbx=lbz, ubx=ubz, lbg=0, ubg=0)
        zs = np.array(sol["x"]).ravel()
        try:
            zn = np.array(newton(zs)).ravel()
            if (
                np.all(np.isfinite(zn))
                and np.all(zn >= np.array(lbz) - 1e-9)
                and np.all(zn <= np.array(ubz) + 1e-9)
            ):
                zs = zn
        except RuntimeError:
            pass
        err = float(np.max(np.abs(np.array(G(zs)).ravel())))
        if not np.isfinite(err):
            continue
        vv, uu, _ = build(ca.DM(zs))
        vv, uu = np.array(ca.evalf(vv)).ravel(), np.array(ca.evalf(uu)).ravel()
        counter = uu[0] * vv[2] <= 0.0
        miss = counter != (branch == "drift") if branch in ("drift", "grip") else False
        found.append(((err >= 1e-9, miss, abs(uu[0])), zs, err, vv, uu))
        if err < 1e-9 and not miss:
            break
    found.sort(key=lambda t: t[0])
    _, zs, err, vv, uu = found[0]
    raw = float(np.max(np.abs(np.array(F_res(vv, uu)).ravel())))
    if not (err < 1e-8 and raw < 1e-6):
        raise DriftError(
            f"no drift equilibrium for {what} with delta in "
            f"[-{vehicle.delta_max:.3g}, {vehicle.delta_max:.3g}] rad "
            f"and Fxr in [{lbz[-1] * vehicle.Fx_drive_max:.0f}, {vehicle.Fx_drive_max:.0f}] N. "
            + _no_equilibrium(vehicle, tires, vv, uu)
        )
    V = float(math.hypot(vv[0], vv[1]))
    return Equilibrium(
        vx=float(vv[0]),
        vy=float(vv[1]),
        beta=float(math.atan2(vv[1], vv[0])),
        r=float(vv[2]),
        delta=float(uu[0]),
        Fxr=float(uu[1]),
        V=V,
        radius_m=float(V / abs(vv[2])) if abs(vv[2]) > 1e-12 else math.inf,
        residual=raw,
    )


def missing_axle_forces(vehicle: VehicleParams, tires: AxleTires, v, u) -> np.ndarray:
    """Lateral force (N, body frame, + left) each axle would need to add for ``v = [vx, vy, r]`` and
    ``u = [delta, Fxr]`` (SI) to be a steady state: ``[dFf, dFr]`` (2,).

    The unbalanced ``vy_dot`` (m/s^2) and ``r_dot`` (rad/s^2) of :func:`drift.vehicle.body_derivatives`
    are a missing lateral force ``-m vy_dot`` and yaw moment ``-Iz r_dot``; split over the axles:
    ``dFf + dFr = -m vy_dot`` and ``lf dFf - lr dFr = -Iz r_dot``. Zero at an equilibrium.
    """
    p = vehicle
    dv = np.asarray(body_derivatives(np.asarray(v, float), np.asarray(u, float), p, tires), float)
    A, M = -p.m * dv[1], -p.Iz * dv[2]
    return np.array([(A * p.lr + M) / p.L, (A * p.lf - M) / p.L])


def _no_equilibrium(vehicle: VehicleParams, tires: AxleTires, v, u) -> str:
    """Why the closest state found is no steady state: the unbalanced accelerations and, per axle,
    the missing lateral force against its capacity ``mu Fz``: along the cornering force (``sign(r)``)
    a shortfall of grip, against it an excess."""
    p = vehicle
    dv = np.asarray(body_derivatives(v, u, p, tires), float)
    dF = dict(zip(("front", "rear"), missing_axle_forces(p, tires, v, u), strict=True))
    f = axle_forces(v, u, p, tires)
    cap = {"front": tires.front.peak_mu * float(f.Fzf), "rear": tires.rear.peak_mu * float(f.Fzr)}
    turn = 1.0 if v[2] >= 0 else -1.0
    parts = []
    for axle in sorted(dF, key=lambda a: -abs(dF[a])):
        short = dF[axle] * turn > 0
        parts.append(
            f"the {axle} axle {'is' if short else 'gives'} {abs(dF[axle]):.0f} N "
            f"{'short of' if short else 'too much'} lateral force "
            f"({100 * abs(dF[axle]) / cap[axle]:.0f} % of its capacity mu Fz = {cap[axle]:.0f} N)"
        )
    worst = max(dF, key=lambda a: abs(dF[a]))
    grip = ("more " if dF[worst] * turn > 0 else "less ") + worst
    return (
        f"At the closest state found (vx {v[0]:.2f} m/s, vy {v[1]:.2f} m/s, r {v[2]:.3f} rad/s, delta "
        f"{u[0]:.3f} rad, Fxr {u[1]:.0f} N) vx_dot {dv[0]:.2f} m/s^2, vy_dot {dv[1]:.2f} m/s^2 and r_dot "
        f"{dv[2]:.2f} rad/s^2 stay unbalanced: {'; '.join(parts)}. Try a smaller |beta|, another speed "
        f"or a tyre model with {grip} grip."
    )


def drift_equilibrium(
    vehicle: VehicleParams,
    tires: AxleTires,
    vx: float,
    beta: float,
    *,
    r_guess: float | None = None,
    Fxr_min: float = 0.0,
    branch: str = "drift",
) -> Equilibrium:
    """Steady state with body speed ``vx`` (m/s) and sideslip ``beta`` (rad): solve ``r, delta, Fxr``.

    Args:
        vehicle: vehicle parameters (``delta_max`` and ``Fx_drive_max`` bound the solution).
        tires: front/rear tyre models that can be evaluated in CasADi.
        vx: longitudinal body velocity (m/s), > 0.
        beta: sideslip angle (rad), ``vy = vx tan(beta)``. A drift turning left has ``beta < 0``.
        r_guess: starting yaw rate (rad/s); default ``-sign(beta) 0.9 g / V``.
        Fxr_min: lower bound of the rear force (N); 0 keeps the car driving (no braking).
        branch: ``"drift"`` prefers countersteer (``delta r <= 0``), ``"grip"`` normal cornering
            (``delta r > 0``), ``"any"`` the smallest ``|delta|``; the other branch is returned
            only when the preferred one is not found.

    Returns:
        :class:`Equilibrium` whose ``residual`` (max |body_derivatives|) is below 1e-8.

    Raises:
        DriftError: bad arguments, or no equilibrium within the steering and force limits.
    """
    _check(vehicle, tires)
    if not (math.isfinite(vx) and vx > 0.5):
        raise DriftError(f"drift_equilibrium: vx must be a speed > 0.5 m/s, got {vx!r}")
    if not (math.isfinite(beta) and abs(beta) < math.radians(80)):
        raise DriftError(f"drift_equilibrium: beta must be in radians with |beta| < 80 deg, got {beta!r}")
    F_res = _residual_fun(vehicle, tires)
    vy = vx * math.tan(beta)
    V = math.hypot(vx, vy)
    sc = np.array([1.0, vehicle.delta_max, vehicle.Fx_drive_max])
    sgn = -1.0 if beta > 0 else 1.0

    def build(z):
        return ca.vertcat(vx, vy, z[0] * sc[0]), ca.vertcat(z[1] * sc[1], z[2] * sc[2]), []

    a = vehicle.g * vehicle.mu / V
    r0s = [r_guess] if r_guess is not None else []
    r0s += [s * k * a for k in (0.9, 0.5, 0.2, 1.2) for s in (sgn, -sgn)]
    guesses = [
        [r0, d * (1 if r0 > 0 else -1), f] for r0 in r0s for d in (-0.1, 0.1, -0.3, 0.02) for f in (0.3, 0.05)
    ]
    lbz = [-10.0, -1.0, Fxr_min / sc[2]]
    ubz = [10.0, 1.0, 1.0]
    return _solve(
        vehicle,
        tires,
        F_res,
        ("r", "delta", "Fxr"),
        build,
        guesses,
        lbz,
        ubz,
        f"vx = {vx:.3g} m/s, beta = {math.degrees(beta):.3g} deg",
        branch,
    )


def equilibrium_on_circle(
    vehicle: VehicleParams,
    tires: AxleTires,
    radius_m: float,
    beta: float,
    *,
    left: bool = True,
    vx_guess: float | None = None,
    Fxr_min: float = 0.0,
    branch: str = "drift",
) -> Equilibrium:
    """Steady state on a circle of ``radius_m`` (m) at sideslip ``beta`` (rad): solve ``vx, r, delta, Fxr``.

    The extra equation is ``V = R |r|`` with ``V = vx / cos(beta)``; ``left`` picks ``r > 0``
    (counter-clockwise); ``branch`` as in :func:`drift_equilibrium`.
    Raises :class:`DriftError` when no equilibrium exists.
    """
    _check(vehicle, tires)
    if not (math.isfinite(radius_m) and radius_m > 1.0):
        raise DriftError(f"equilibrium_on_circle: radius_m must be > 1 m, got {radius_m!r}")
    F_res = _residual_fun(vehicle, tires)
    sgn = 1.0 if left else -1.0
    tb = math.tan(beta)

    def build(z):
        vx = z[0] * 10.0
        V = vx * math.sqrt(1.0 + tb * tb)
        r = sgn * V / radius_m
        return (
            ca.vertcat(vx, vx * tb, r),
            ca.vertcat(z[1] * vehicle.delta_max, z[2] * vehicle.Fx_drive_max),
            [],
        )

    vg = (
        vx_guess
        if vx_guess is not None
        else 0.9 * math.sqrt(vehicle.g * vehicle.mu * radius_m) * math.cos(beta)
    )
    guesses = [
        [vg * k / 10.0, d, f]
        for k in (1.0, 0.7, 1.2, 0.5)
        for d in (-sgn * 0.1, sgn * 0.1, sgn * 0.03, -sgn * 0.3)
        for f in (0.3, 0.05)
    ]
    lbz = [0.1, -1.0, Fxr_min / vehicle.Fx_drive_max]
    ubz = [10.0, 1.0, 1.0]
    # unknowns are vx, delta, Fxr; r follows from the circle condition
    return _solve(
        vehicle,
        tires,
        F_res,
        ("vx", "delta", "Fxr"),
        build,
        guesses,
        lbz,
        ubz,
        f"radius {radius_m:.3g} m, beta = {math.degrees(beta):.3g} deg",
        branch,
    )
