"""Drift scenarios shared by the controller node and the simulator bridge.

``donut``: a steady drift on a circle of radius ``|radius_m|`` (left turn for ``radius_m > 0``)
through the origin, tangent to the x-axis there (:func:`controllers.mpc.paths.circle_path`), at
sideslip ``|beta_ref_rad|`` (a left drift has ``beta < 0``). The reference is the drift equilibrium
on that circle (:func:`controllers.mpc.equilibrium.equilibrium_on_circle`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drift.errors import ConfigError, DriftError

SCENARIOS = ("donut",)


@dataclass(frozen=True)
class Scenario:
    """A scenario: its path, the equilibrium it holds and the state ``x0`` (6,) of being on it."""

    name: str
    path: object  # controllers.mpc.paths.Path
    equilibrium: object  # controllers.mpc.equilibrium.Equilibrium
    x0: np.ndarray  # [X, Y, psi, vx, vy, r]


def make_scenario(name: str, vehicle, tires, radius_m: float, beta_ref_rad: float) -> Scenario:
    """Build scenario ``name`` for ``vehicle`` (VehicleParams) and ``tires`` (AxleTires).

    Thin wrapper over :func:`controllers.mpc.equilibrium.equilibrium_on_circle` and
    :func:`controllers.mpc.paths.circle_path`; it adds the sign convention of the node parameters and
    the start state on the equilibrium (the MPC package's own scenarios start from straight driving).

    Args:
        name: one of :data:`SCENARIOS`.
        radius_m: circle radius (m), ``> 0`` left turn, ``< 0`` right turn, ``|radius_m| > 1``.
        beta_ref_rad: sideslip magnitude of the drift (rad); its sign is set by the turn direction.
    Raises:
        ConfigError: unknown name, too small a radius, or no drift equilibrium for these values.
    """
    if name not in SCENARIOS:
        raise ConfigError(f"parameter scenario = {name!r} unknown; known: {list(SCENARIOS)}")
    from controllers.mpc.equilibrium import equilibrium_on_circle
    from controllers.mpc.paths import circle_path

    if not abs(radius_m) > 1.0:
        raise ConfigError(
            f"parameter radius_m = {radius_m!r}: the donut needs a circle radius |R| > 1 m (+ = left turn)"
        )
    left = radius_m > 0
    beta = -abs(beta_ref_rad) if left else abs(beta_ref_rad)
    try:
        eq = equilibrium_on_circle(vehicle, tires, abs(radius_m), beta, left=left)
    except DriftError as e:  # no equilibrium within the limits
        raise ConfigError(f"parameters radius_m = {radius_m}, beta_ref_rad = {beta_ref_rad}: {e}") from None
    path = circle_path(abs(radius_m), left=left)
    # on the path at the origin, velocity tangent to it: course psi + beta = heading(0) = 0
    x0 = np.array([0.0, 0.0, -eq.beta, eq.vx, eq.vy, eq.r])
    return Scenario(name, path, eq, x0)
