"""A higher-fidelity plant: wheel speeds, combined-slip tyres, a steering servo and load transfer.

The fitted tyre models and the NMPC use the single-track model of :mod:`drift.vehicle.dynamics`
(body velocities only, lateral tyre curves, a friction circle on the driven axle, steering and drive
force as direct inputs). This plant is built differently on purpose, so that a controller or a fit
shown to work on it has crossed a model mismatch of the kind a real car presents (the sim-to-real
gap in miniature, ``DESIGN.md`` section 4):

* **wheel speeds** ``omega_f, omega_r`` (rad/s, one wheel per axle, inertia ``wheel_inertia_kgm2``):
  the drive torque ``R Fx`` spins the rear wheel and the ground force follows from the longitudinal
  slip ``kappa = (omega R - v_wheel) / |v_wheel|``, not from the command;
* **combined-slip Magic Formula tyres**: the pure curves ``Fx0(kappa)``, ``Fy0(alpha)``
  (:class:`tire_models.Pacejka`'s formula) combined by the normalised slip
  ``rho = sqrt((kappa / kappa_pk)^2 + (alpha / alpha_pk)^2)``:
  ``Fx = Fx0(rho kappa_pk) (kappa / kappa_pk) / rho``, ``Fy = Fy0(rho alpha_pk) (alpha / alpha_pk) / rho``
  (Pacejka, *Tire and Vehicle Dynamics*, 3rd ed., Sec. 4.3.2; Bakker, Nyborg & Pacejka 1987), with a
  degressive load sensitivity of the friction;
* **a steering servo**: the road-wheel angle ``delta`` follows the command through a first-order lag
  ``servo_bandwidth_radps`` and the vehicle's rate limit ``delta_rate_max``;
* **dynamic longitudinal load transfer** ``dFz`` (N, to the rear), lagging ``h_cg m ax / L`` with
  time constant ``load_transfer_tau_s``, where ``ax`` is the acceleration the tyre forces give.

State ``x = [X, Y, psi, vx, vy, r, omega_f, omega_r, delta, dFz]`` (:data:`STATE_NAMES`); input
``u = [delta_cmd, Fx]``: the commanded road-wheel angle (rad) and the applied force demand (N) of
:func:`drift.vehicle.applied_force`, as for :func:`drift.vehicle.f`: ``Fx > 0`` is a drive torque
``R Fx`` on the rear wheel (less what the traction control cuts, :func:`traction_factor`),
``Fx < 0`` a brake torque ``R |Fx|`` shared by ``brake_front_share``, opposing each wheel's rotation.
Shapes ``(..., 10), (..., 2) -> (..., 10)`` for numpy and torch, ``(10, 1)`` for CasADi: one
implementation for every backend, as the single-track model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from drift.backend import namespace
from drift.vehicle.dynamics import AxleForces, axle_loads, body_derivatives
from drift.vehicle.params import VehicleParams
from tire_models.pacejka import Pacejka

STATE_NAMES = ("X", "Y", "psi", "vx", "vy", "r", "omega_f", "omega_r", "delta", "dFz")
NX = len(STATE_NAMES)


def _peak_slip(curve: Pacejka) -> float:
    """Slip (rad, or the slip ratio) of the peak of a pure Magic Formula curve."""
    s = np.linspace(1e-4, 1.5, 30001)
    return float(s[np.argmax(curve.lateral_force(s, 1.0))])


@dataclass(frozen=True)
class WheelPlantParams:
    """What the wheel plant adds to :class:`drift.vehicle.VehicleParams` (SI units).

    Attributes:
        front_lat, rear_lat: pure lateral curves ``Fy0(alpha) / Fz`` (``D`` = peak friction at ``Fz0``).
        front_lon, rear_lon: pure longitudinal curves ``Fx0(kappa) / Fz``.
        load_sensitivity: change of the peak friction per unit relative load,
            ``mu(Fz) = D (1 + load_sensitivity (Fz / Fz0 - 1))`` with ``Fz0`` the static axle load
            (dimensionless; < 0: degressive, as real tyres).
        wheel_radius_m: rolling radius (m). wheel_inertia_kgm2: spin inertia of one axle's wheels
            with their share of the drivetrain (kg m^2).
        servo_bandwidth_radps: steering servo bandwidth (1/s). load_transfer_tau_s: lag of the
            longitudinal load transfer (s). v_min_mps: floor of the speeds that divide the slips (m/s).
        traction_kappa_max: the car's traction control (:func:`traction_factor`): rear slip ratio
            above which the drive force is cut (dimensionless; None: none, the wheel spins freely).

    Defaults: a rear-drive saloon of the class of ``configs/vehicles/sports.yaml`` (peak lateral
    friction 1.05 front, 1.0 rear, peak longitudinal friction 1.1 at about 12 % slip).
    """

    front_lat: Pacejka = field(default_factory=lambda: Pacejka(B=11.0, C=1.45, D=1.05, E=-0.2))
    rear_lat: Pacejka = field(default_factory=lambda: Pacejka(B=12.5, C=1.4, D=1.0, E=-0.4))
    front_lon: Pacejka = field(default_factory=lambda: Pacejka(B=12.0, C=1.65, D=1.1, E=0.0))
    rear_lon: Pacejka = field(default_factory=lambda: Pacejka(B=12.0, C=1.65, D=1.1, E=0.0))
    load_sensitivity: float = -0.1
    wheel_radius_m: float = 0.31
    wheel_inertia_kgm2: float = 2.4
    servo_bandwidth_radps: float = 20.0
    load_transfer_tau_s: float = 0.05
    v_min_mps: float = 1.0
    traction_kappa_max: float | None = 0.5

    def __post_init__(self):
        for k in (
            "wheel_radius_m",
            "wheel_inertia_kgm2",
            "servo_bandwidth_radps",
            "load_transfer_tau_s",
            "v_min_mps",
        ):
            v = getattr(self, k)
            if not (math.isfinite(v) and v > 0):
                from drift.errors import ConfigError

                raise ConfigError(f"WheelPlantParams: {k} must be positive, got {v!r}")
        k = self.traction_kappa_max
        if k is not None and not (math.isfinite(k) and k > 0):
            from drift.errors import ConfigError

            raise ConfigError(f"WheelPlantParams: traction_kappa_max must be positive or None, got {k!r}")
        # peak slips of the pure curves (the normalised slip's units), computed once
        object.__setattr__(self, "_pk", tuple(_peak_slip(c) for c in self.curves()))

    def curves(self) -> tuple[Pacejka, Pacejka, Pacejka, Pacejka]:
        """``(front_lat, rear_lat, front_lon, rear_lon)``."""
        return self.front_lat, self.rear_lat, self.front_lon, self.rear_lon

    @property
    def peak_slips(self) -> tuple[float, float, float, float]:
        """Peak slips of :meth:`curves` (rad for lateral, slip ratio for longitudinal)."""
        return self._pk


def rim_slip(v_rim, v_wheel, v_min_mps: float = 1.0):
    """Longitudinal slip ratio ``(v_rim - v) / sqrt(v^2 + v_min^2)`` (dimensionless) of a wheel whose
    rim moves at ``v_rim = omega R`` (m/s) and whose centre moves at ``v_wheel`` (m/s) along it; the
    floor ``v_min_mps`` (m/s) keeps it finite at standstill. Any backend, broadcast. Source: Pacejka,
    *Tire and Vehicle Dynamics*, 3rd ed., eq. 2.10 (SAE slip definition)."""
    m = namespace(v_rim, v_wheel)
    return (v_rim - v_wheel) / m.sqrt(v_wheel * v_wheel + v_min_mps**2)


def slip_ratio(omega, v_wheel, w: WheelPlantParams):
    """:func:`rim_slip` of a plant wheel at ``omega`` (rad/s) whose centre moves at ``v_wheel`` (m/s)."""
    return rim_slip(omega * w.wheel_radius_m, v_wheel, w.v_min_mps)


def axle_tyre_forces(vxw, vyw, omega, Fz, Fz0, lat: Pacejka, lon: Pacejka, pk, w: WheelPlantParams):
    """Combined-slip forces ``(Fx, Fy)`` (N, wheel frame) of one axle at wheel-frame velocities
    ``vxw, vyw`` (m/s), wheel speed ``omega`` (rad/s) and load ``Fz`` (N); ``Fz0`` (N) the load of the
    curves' ``D``, ``pk = (alpha_pk, kappa_pk)`` their peak slips. Any backend, broadcast. Source:
    normalised combined slip, Pacejka, *Tire and Vehicle Dynamics*, 3rd ed., Sec. 4.3.2."""
    m = namespace(vxw, vyw, omega, Fz)
    kappa = slip_ratio(omega, vxw, w)
    alpha = m.atan(-vyw / m.sqrt(vxw * vxw + w.v_min_mps**2))
    kn, an = kappa / pk[1], alpha / pk[0]
    rho = m.sqrt(kn * kn + an * an + 1e-12)
    scale = 1.0 + w.load_sensitivity * (Fz / Fz0 - 1.0)
    Fx = lon.lateral_force(rho * pk[1], Fz) * scale * kn / rho
    Fy = lat.lateral_force(rho * pk[0], Fz) * scale * an / rho
    return Fx, Fy


class WheelForces(NamedTuple):
    """Loads and tyre forces of a wheel-plant state (N; ``Fx``, ``Fy`` in each wheel's frame)."""

    Fzf: object
    Fzr: object
    Fxf: object
    Fyf: object
    Fxr: object
    Fyr: object


def wheel_forces(x, p: VehicleParams, w: WheelPlantParams) -> WheelForces:
    """Axle loads (static split, downforce, the load-transfer state) and combined-slip tyre forces of
    the state ``x (..., 10)`` (:data:`STATE_NAMES`); any backend; each field of the batch shape, N.
    The front axle's velocity is rotated into the steered wheel's frame (Rajamani, Sec. 2.3)."""
    m = namespace(x)
    _, _, _, vx, vy, r, om_f, om_r, delta, dFz = m.unstack(x)
    Fz0f, Fz0r = axle_loads(0.0, 0.0, p)  # static split (the load-transfer state adds the rest)
    down = p.c_down * vx * vx
    Fzf = Fz0f - dFz + p.down_front_share * down
    Fzr = Fz0r + dFz + (1.0 - p.down_front_share) * down
    cd, sd = m.cos(delta), m.sin(delta)
    vyf = vy + p.lf * r  # front axle velocity, rotated into the steered wheel's frame below
    Fxf, Fyf = axle_tyre_forces(
        vx * cd + vyf * sd,
        -vx * sd + vyf * cd,
        om_f,
        Fzf,
        Fz0f,
        w.front_lat,
        w.front_lon,
        (w.peak_slips[0], w.peak_slips[2]),
        w,
    )
    Fxr, Fyr = axle_tyre_forces(
        vx, vy - p.lr * r, om_r, Fzr, Fz0r, w.rear_lat, w.rear_lon, (w.peak_slips[1], w.peak_slips[3]), w
    )
    return WheelForces(Fzf, Fzr, Fxf, Fyf, Fxr, Fyr)


def wheel_plant_f(x, u, p: VehicleParams, w: WheelPlantParams):
    """State derivative ``dx/dt`` of the wheel plant (module docstring); ``(..., 10), (..., 2) -> (..., 10)``.

    Source: the rigid body of :func:`drift.vehicle.body_derivatives` (Rajamani, *Vehicle Dynamics and
    Control*, 2nd ed., Sec. 2.3) with wheel spin dynamics (Sec. 4.2) and the combined-slip tyre of the
    module docstring.
    """
    m = namespace(x, u)
    X, Y, psi, vx, vy, r, om_f, om_r, delta, dFz = m.unstack(x)
    delta_cmd, Fx_cmd = m.unstack(u)
    R, Iw = w.wheel_radius_m, w.wheel_inertia_kgm2
    Fzf, Fzr, Fxf, Fyf, Fxr, Fyr = wheel_forces(x, p, w)
    # drive at the rear, brakes on both axles against the wheel's rotation (smooth at standstill)
    drive = m.maximum(Fx_cmd, 0.0) * traction_factor(om_r, vx, w)
    brake = m.minimum(Fx_cmd, 0.0)
    Tf = p.brake_front_share * brake * R * m.tanh(om_f / 0.5)
    Tr = drive * R + (1.0 - p.brake_front_share) * brake * R * m.tanh(om_r / 0.5)
    # the rigid body is the single-track model's, driven by these tyre forces instead of its own
    zero = 0.0 * vx
    forces = AxleForces(zero, zero, Fzf, Fzr, Fxf, Fxr, Fyf, Fyr)
    vx_dot, vy_dot, r_dot = m.unstack(
        body_derivatives(m.stack([vx, vy, r]), m.stack([delta, Fx_cmd]), p, None, forces=forces)
    )
    Fx_body = p.m * (vx_dot - vy * r)  # tyre forces along the body less the driving resistance (N)
    rate = w.servo_bandwidth_radps * (delta_cmd - delta)
    delta_dot = m.minimum(m.maximum(rate, -p.delta_rate_max), p.delta_rate_max)
    dFz_dot = (p.h_cg * Fx_body / p.L - dFz) / w.load_transfer_tau_s
    cp, sp = m.cos(psi), m.sin(psi)
    return m.stack(
        [
            vx * cp - vy * sp,
            vx * sp + vy * cp,
            r,
            vx_dot,
            vy_dot,
            r_dot,
            (Tf - R * Fxf) / Iw,
            (Tr - R * Fxr) / Iw,
            delta_dot,
            dFz_dot,
        ]
    )


def traction_factor(omega_r, vx, w: WheelPlantParams):
    """Share of the drive force the car's traction control passes on at the rear wheel speed
    ``omega_r`` (rad/s) and speed ``vx`` (m/s): ``clip(2 - kappa_r / kappa_max, 0, 1)``, all of it up
    to the slip ratio ``traction_kappa_max``, none at twice it (1 where there is none). It acts inside
    the plant's integration, as an ECU's slip control acts at a kilohertz, not at the control rate.
    Any backend, broadcast."""
    if w.traction_kappa_max is None:
        return 1.0
    m = namespace(omega_r, vx)
    kappa = slip_ratio(omega_r, vx, w)  # the rear wheel is not steered: its velocity is vx
    return m.minimum(m.maximum(2.0 - kappa / w.traction_kappa_max, 0.0), 1.0)


def rolling_state(X, Y, psi, vx, vy=0.0, r=0.0, w: WheelPlantParams | None = None):
    """A wheel-plant state with free-rolling wheels (``omega = vx / R``), straight wheels, no load
    transfer: ``(10,)``."""
    w = w or WheelPlantParams()
    om = vx / w.wheel_radius_m
    return np.array([X, Y, psi, vx, vy, r, om, om, 0.0, 0.0], dtype=float)


def wheel_plant_step(p: VehicleParams, w: WheelPlantParams, dt: float, substeps: int = 20, batch: int = 1):
    """``step(x (B, 10), u (B, 2)) -> x_next (B, 10)``: ``substeps`` RK4 steps of :func:`wheel_plant_f`
    over ``dt`` s, traced once into a CasADi function mapped over ``batch`` cars (numpy on scalars is
    ~100x slower). The wheel spin is stiff (a time constant of about 1 ms at 10 m/s): keep
    ``dt / substeps`` at or below 1 ms."""
    import casadi as ca

    from drift.vehicle.integrate import rk4_step

    xs, us = ca.SX.sym("x", NX), ca.SX.sym("u", 2)
    F = ca.Function(
        "wheel_step", [xs, us], [rk4_step(lambda a, b: wheel_plant_f(a, b, p, w), xs, us, dt, substeps)]
    )
    Fm = F.map(batch) if batch > 1 else F

    def step(x, u):
        if np.size(x) != batch * NX or np.size(u) != batch * 2:
            from drift.errors import DriftError

            raise DriftError(
                f"wheel plant step: expected x ({batch}, {NX}) and u ({batch}, 2) "
                f"[X, Y, psi, vx, vy, r, omega_f, omega_r, delta, dFz] / [delta_cmd, Fx], "
                f"got {np.shape(x)} and {np.shape(u)}"
            )
        out = np.asarray(
            Fm(np.asarray(x, float).reshape(batch, NX).T, np.asarray(u, float).reshape(batch, 2).T)
        )
        return out.T.reshape(np.shape(x))

    return step


def steady_state_on_circle(
    p: VehicleParams, w: WheelPlantParams, radius_m: float, beta: float, guess: dict | None = None
) -> dict[str, float]:
    """The wheel plant's own steady state on a left-hand circle of ``radius_m`` (m) at sideslip
    ``beta`` (rad): every derivative but the position's zero, the servo at rest (``delta_cmd =
    delta``). Solves ``vx, delta, Fx, omega_f, omega_r, dFz`` with IPOPT (bounded: ``|delta| <=
    delta_max``, ``0 <= Fx <= Fx_drive_max``), ``vy = vx tan(beta)`` and ``r = V / radius_m``.

    Args:
        guess: starting ``{"vx", "delta", "Fx"}`` (e.g. a single-track equilibrium); default: a
            drift at 0.9 of the friction-limited speed.
    Returns:
        ``{"vx", "vy", "r", "delta", "Fx", "omega_f", "omega_r", "dFz", "residual"}`` (SI); ``residual``
        is the largest derivative left (m/s^2, rad/s^2).
    Raises:
        DriftError: a radius under 1 m, ``|beta|`` of 80 deg or more (degrees by mistake?), or no
            steady state within the bounds (residual above 1e-6).
    """
    import casadi as ca

    from drift.errors import DriftError

    if not (math.isfinite(radius_m) and radius_m > 1.0):
        raise DriftError(f"steady_state_on_circle: radius_m must be > 1 m, got {radius_m!r}")
    if not (math.isfinite(beta) and abs(beta) < math.radians(80)):
        raise DriftError(f"steady_state_on_circle: beta must be in radians, |beta| < 80 deg, got {beta!r}")
    tb = math.tan(beta)
    z = ca.SX.sym("z", 6)  # vx, delta, Fx / 1000, omega_f, omega_r, dFz / 1000
    vx = z[0]
    V = vx * math.sqrt(1 + tb * tb)
    x = ca.vertcat(0, 0, 0, vx, vx * tb, V / radius_m, z[3], z[4], z[1], 1000 * z[5])
    d = wheel_plant_f(x, ca.vertcat(z[1], 1000 * z[2]), p, w)
    eqs = ca.vertcat(d[3] / p.g, d[4] / p.g, d[5] * p.L / p.g, d[6] / 100, d[7] / 100, d[9] / 1e4)
    solver = ca.nlpsol(
        "steady",
        "ipopt",
        {"x": z, "f": 0, "g": eqs},
        {
            "ipopt.print_level": 0,
            "print_time": False,
            "ipopt.sb": "yes",
            "ipopt.tol": 1e-12,
            "show_eval_warnings": False,
        },
    )
    g = guess or {}
    v0 = g.get("vx", 0.9 * math.sqrt(p.g * p.mu * radius_m) * math.cos(beta))
    Fx0 = g.get("Fx", 0.5 * p.m * p.g * p.lf / p.L)
    om = v0 / w.wheel_radius_m
    best = None
    for kappa0 in (0.05, 0.2, 0.01):
        z0 = [v0, g.get("delta", -0.3 if beta < 0 else 0.05), Fx0 / 1000, om, om * (1 + kappa0), 0.0]
        sol = solver(
            x0=z0,
            lbx=[0.5, -p.delta_max, 0, 0, 0, -50],
            ubx=[60, p.delta_max, p.Fx_drive_max / 1000, 1e4, 1e4, 50],
            lbg=0,
            ubg=0,
        )
        zs = np.asarray(sol["x"]).ravel()
        xs = np.array(
            [
                0,
                0,
                0,
                zs[0],
                zs[0] * tb,
                zs[0] * math.sqrt(1 + tb * tb) / radius_m,
                zs[3],
                zs[4],
                zs[1],
                1000 * zs[5],
            ]
        )
        res = float(np.max(np.abs(wheel_plant_f(xs, np.array([zs[1], 1000 * zs[2]]), p, w)[3:])))
        if best is None or res < best[0]:
            best = (res, xs, zs)
        if res < 1e-6:
            break
    res, xs, zs = best
    if res > 1e-6:
        raise DriftError(
            f"wheel plant: no steady state on R = {radius_m:g} m at beta = {math.degrees(beta):.3g} deg "
            f"(best residual {res:.2e})"
        )
    return {
        "vx": xs[3],
        "vy": xs[4],
        "r": xs[5],
        "delta": zs[1],
        "Fx": 1000 * zs[2],
        "omega_f": xs[6],
        "omega_r": xs[7],
        "dFz": xs[9],
        "residual": res,
    }
