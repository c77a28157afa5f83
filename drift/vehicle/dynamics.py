"""Dynamic single-track ("bicycle") model, written once for numpy, torch and CasADi.

State ``x = [X, Y, psi, vx, vy, r]``: world position (m), yaw (rad), body-frame velocities
(m/s) and yaw rate (rad/s). Input ``u = [delta, Fx]``: road-wheel steering angle (rad) and the
longitudinal force demand (N). A positive ``Fx`` drives the rear axle (rear-wheel drive); a
negative ``Fx`` brakes, ``brake_front_share`` of it at the front axle. For drift control
``Fx > 0`` is exactly the rear longitudinal force ``Fxr``.

On an inclined road the input carries the road's attitude too, ``u = [delta, Fx, bank, grade]``
(rad; :data:`ROAD_INPUT_NAMES`, :func:`road_gravity`): the car moves in the road plane, gravity adds
its in-plane components and sets the normal load. A 2-entry ``u`` is a flat road.

numpy / torch: arrays of shape ``(..., 6)`` and ``(..., 2)``, batched over leading dims.
CasADi: column vectors ``(6, 1)`` and ``(2, 1)``.

Source: Rajamani, *Vehicle Dynamics and Control*, 2nd ed., Sec. 2.3; friction circle on the
driven axle as in Goh & Gerdes 2016 and Djeumou et al. 2023, eqs. 1-2.
"""

from __future__ import annotations

from typing import NamedTuple

from drift.backend import namespace, smooth_relu
from drift.vehicle.params import VehicleParams
from tire_models.base import AxleTires

NX = 6
NU = 2
STATE_NAMES = ("X", "Y", "psi", "vx", "vy", "r")
INPUT_NAMES = ("delta", "Fx")
#: optional inputs 3 and 4: the road's attitude under the car (rad), see :func:`road_gravity`
ROAD_INPUT_NAMES = ("bank", "grade")


class AxleForces(NamedTuple):
    """Intermediate quantities of one model evaluation (each of the batch shape, SI units)."""

    alpha_f: object  # front slip angle (rad)
    alpha_r: object  # rear slip angle (rad)
    Fzf: object  # front axle load (N)
    Fzr: object  # rear axle load (N)
    Fxf: object  # front longitudinal force (N)
    Fxr: object  # rear longitudinal force (N)
    Fyf: object  # front lateral force (N), tyre frame
    Fyr: object  # rear lateral force (N)


def slip_angles(vx, vy, r, delta, p: VehicleParams):
    """Axle slip angles ``(alpha_f, alpha_r)`` in rad, positive when they yield positive ``Fy``.

    ``alpha_f = delta - atan2(vy + lf r, vx)``, ``alpha_r = -atan2(vy - lr r, vx)``.
    """
    m = namespace(vx, vy, r, delta)
    return delta - m.atan2(vy + p.lf * r, vx), -m.atan2(vy - p.lr * r, vx)


def axle_loads(vx, Fx, p: VehicleParams, gn=None):
    """Axle normal loads ``(Fzf, Fzr)`` in N: static split, downforce and load transfer ``h Fx / L``.

    ``gn`` (m/s^2, any shape): the specific force pressing the car onto the road (None: ``p.g``, a
    flat road); :func:`road_gravity` gives it on an inclined road. The transfer comes from the ground
    force ``Fx`` alone: gravity acts at the CG and has no pitch moment about it.
    """
    down = p.c_down * vx * vx
    w = p.m * (p.g if gn is None else gn)
    Fzf = (w * p.lr - p.h_cg * Fx) / p.L + p.down_front_share * down
    Fzr = (w * p.lf + p.h_cg * Fx) / p.L + (1.0 - p.down_front_share) * down
    return Fzf, Fzr


def road_gravity(vx, r, bank, grade, p: VehicleParams):
    """Gravity on an inclined road, per unit mass in the body frame: ``(gx, gy, gn)`` in m/s^2.

    ``bank`` (rad): the road's roll under the car, ISO 8855 sign (positive raises the car's left
    side); ``grade`` (rad): positive uphill. With the ISO roll-pitch composition
    ``gx = -g sin(grade)``, ``gy = -g sin(bank) cos(grade)`` are gravity's components in the road
    plane, added to ``dvx/dt`` and ``dvy/dt``. ``gn = g cos(bank) cos(grade) - vx r tan(bank)``
    presses the car onto the road: gravity's normal part plus the normal part of the centripetal
    acceleration when the path turns about the vertical, as in a banked turn (the yaw rate ``r`` is
    about the road normal, so the turn rate about the vertical is ``r / cos(bank)``). At the neutral
    speed of a banked turn the tyres carry no lateral force and ``gn = g / cos(bank)``.

    Shapes: any, broadcast. Source: ISO 8855:2011 (axes, angles); Rajamani, Ch. 3 (the road bank
    angle in the lateral model).
    """
    m = namespace(vx, r, bank, grade)
    cg = m.cos(grade)
    return -p.g * m.sin(grade), -p.g * m.sin(bank) * cg, p.g * m.cos(bank) * cg - vx * r * m.tan(bank)


def _road(m, u, vx, r, p: VehicleParams):
    """``(gx, gy, gn)`` of the road in ``u`` (:func:`road_gravity`), or ``(0, 0, None)`` when flat."""
    us = m.unstack(u)
    if len(us) < 4:
        return 0.0, 0.0, None
    return road_gravity(vx, r, us[2], us[3], p)


def driving_resistance(vx, p: VehicleParams):
    """Resistance force (N) along the body x axis, opposing the motion, at speed ``vx`` (m/s), any shape.

    Aerodynamic drag ``c_drag vx |vx|`` plus rolling resistance ``c_roll m g tanh(vx / 0.5)`` (the tanh
    smooths the sign change at standstill); odd in ``vx``, so a car rolling backwards is slowed too.
    Source: Rajamani, Ch. 4 (longitudinal vehicle dynamics).
    """
    m = namespace(vx)
    return p.c_drag * vx * m.abs(vx) + p.c_roll * p.m * p.g * m.tanh(vx / 0.5)


def kinematic_velocities(vx, delta, p: VehicleParams):
    """Body velocities ``(vy, r)`` (m/s, rad/s) of the kinematic single-track model at the CG.

    No tyre slip: ``r = vx tan(delta) / L`` and ``vy = lr r`` (the rear axle moves along the body
    axis). Valid at walking pace, where the dynamic model's slip angles are ill-conditioned.
    Source: Rajamani, Sec. 2.2 (kinematic bicycle model).
    """
    m = namespace(vx, delta)
    r = vx * m.tan(delta) / p.L
    return p.lr * r, r


def longitudinal_split(Fx, p: VehicleParams, eps: float = 1.0):
    """Split the force demand ``Fx`` (N) into ``(Fxf, Fxr)``: drive at the rear, brakes shared."""
    brake = -smooth_relu(-Fx, eps)  # min(Fx, 0), smooth
    Fxf = p.brake_front_share * brake
    return Fxf, Fx - Fxf


def axle_forces(v, u, p: VehicleParams, tires: AxleTires, eps_split: float = 1.0) -> AxleForces:
    """Tyre forces for body velocities ``v = [vx, vy, r]`` and inputs ``u = [delta, Fx(, bank, grade)]``.

    ``eps_split`` (N): smoothing width of the drive/brake split (:func:`longitudinal_split`); the
    default 1 N is the simulator's, an optimiser may pass a wider one (e.g. 200 N) to soften the kink.
    """
    m = namespace(v, u)
    vx, vy, r = m.unstack(v)[:3]
    delta, Fx = m.unstack(u)[:2]
    alpha_f, alpha_r = slip_angles(vx, vy, r, delta, p)
    Fzf, Fzr = axle_loads(vx, Fx, p, _road(m, u, vx, r, p)[2])
    Fxf, Fxr = longitudinal_split(Fx, p, eps=eps_split)
    Fyf = tires.front.combined_force(alpha_f, Fzf, Fxf)
    Fyr = tires.rear.combined_force(alpha_r, Fzr, Fxr)
    return AxleForces(alpha_f, alpha_r, Fzf, Fzr, Fxf, Fxr, Fyf, Fyr)


def body_derivatives(
    v, u, p: VehicleParams, tires: AxleTires, forces: AxleForces | None = None, eps_split: float = 1.0
):
    """Time derivative of the body velocities ``v = [vx, vy, r]`` -> ``[vx_dot, vy_dot, r_dot]``.

    ``u = [delta, Fx]``, or ``[delta, Fx, bank, grade]`` on an inclined road (:func:`road_gravity`).
    ``eps_split`` (N) is passed to :func:`axle_forces` when ``forces`` is None.

    Shapes: ``(..., 3)`` and ``(..., 2 or 4)`` -> ``(..., 3)`` (CasADi: ``(3, 1)``).
    Units: m/s^2, m/s^2, rad/s^2.
    """
    m = namespace(v, u)
    vx, vy, r = m.unstack(v)[:3]
    delta = m.unstack(u)[0]
    f = forces if forces is not None else axle_forces(v, u, p, tires, eps_split=eps_split)
    cd, sd = m.cos(delta), m.sin(delta)
    resist = driving_resistance(vx, p)
    gx, gy, _ = _road(m, u, vx, r, p)
    vx_dot = (f.Fxr + f.Fxf * cd - f.Fyf * sd - resist) / p.m + vy * r + gx
    vy_dot = (f.Fyr + f.Fyf * cd + f.Fxf * sd) / p.m - vx * r + gy
    r_dot = (p.lf * (f.Fyf * cd + f.Fxf * sd) - p.lr * f.Fyr) / p.Iz
    return m.stack([vx_dot, vy_dot, r_dot])


def f(x, u, p: VehicleParams, tires: AxleTires):
    """Full state derivative ``dx/dt`` for ``x = [X, Y, psi, vx, vy, r]``, ``u = [delta, Fx(, bank, grade)]``.

    Shapes ``(..., 6), (..., 2 or 4) -> (..., 6)`` for numpy/torch, ``(6, 1)`` for CasADi. ``X, Y`` are
    in the road plane.
    """
    m = namespace(x, u)
    X, Y, psi, vx, vy, r = m.unstack(x)
    dv = m.unstack(body_derivatives(m.stack([vx, vy, r]), u, p, tires))
    c, s = m.cos(psi), m.sin(psi)
    return m.stack([vx * c - vy * s, vx * s + vy * c, r, *dv])
