"""What a solve returns: :class:`LapTimeResult` and its node trajectory (:func:`node_trajectory`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from controllers.laptime.geometry import Grid
from drift.frames import wrap_angle
from drift.vehicle import VehicleParams, axle_forces, body_derivatives
from tire_models import AxleTires

#: names of the collocation states and inputs, in NLP order
OCP_STATES = ("vx", "vy", "r", "n", "xi")
OCP_INPUTS = ("delta", "Fx")


@dataclass
class LapTimeResult:
    """Result of :func:`min_lap_time`. Arrays are per collocation node, shape ``(N,)``.

    ``lap_time_s`` is NaN unless ``converged``; ``last_lap_time_s`` is the lap time of the last
    iterate whatever the outcome. ``status`` is IPOPT's return status, ``reason`` the same in
    words (empty when converged). ``active`` counts the nodes at which each constraint group is
    active (within 1e-3 of its bound, relative) or violated, at the last iterate; ``violation``
    gives each group's largest violation (in the constraint's own units).

    Trajectory: ``s`` (m, centre-line arc length), ``t`` (s, time at each node, t[0] = 0),
    ``x, y`` (m, world), ``psi`` (rad, yaw), ``vx, vy, r`` (m/s, m/s, rad/s), ``n`` (m, + left),
    ``xi`` (rad), ``delta`` (rad), ``Fx`` (N), ``speed`` (m/s), ``ax, ay`` (m/s^2, body),
    ``grip_front, grip_rear`` (combined grip usage ``sqrt(Fx^2 + Fy^2) / (mu Fz)`` per axle,
    dimensionless, 1 = at the friction circle), ``kappa`` (1/m, centre line), ``w_left,
    w_right`` (m).
    """

    track_name: str
    grid_m: float
    converged: bool
    status: str
    reason: str
    lap_time_s: float
    last_lap_time_s: float
    solve_s: float
    build_s: float
    iterations: int
    active: dict[str, int] = field(default_factory=dict)
    violation: dict[str, float] = field(default_factory=dict)
    traj: dict[str, np.ndarray] = field(default_factory=dict)
    stages: list = field(default_factory=list)

    def __getattr__(self, name):
        traj = self.__dict__.get("traj", {})
        if name in traj:
            return traj[name]
        raise AttributeError(name)

    @property
    def length_m(self) -> float:
        """Closed length of the centre line (m)."""
        return float(self.traj["s"][1] * len(self.traj["s"]))

    def summary(self) -> str:
        """One line: outcome, lap time, iterations and the active constraint groups."""
        act = ", ".join(f"{k}={v}" for k, v in self.active.items() if v) or "none"
        if self.converged:
            return (
                f"{self.track_name}: lap {self.lap_time_s:.3f} s ({self.status}, {self.iterations} it, "
                f"{self.solve_s:.1f} s); active constraints (nodes): {act}"
            )
        viol = ", ".join(f"{k}={v:.3g}" for k, v in self.violation.items() if v > 1e-6) or "none"
        return (
            f"{self.track_name}: NOT converged: {self.reason} [{self.status}] after {self.iterations} "
            f"iterations; active constraints (nodes): {act}; violated: {viol}"
        )

    def to_csv(self, path: str | Path) -> Path:
        """Write the optimal trajectory, one row per node, columns with units."""
        cols = [
            ("s", "s_m"),
            ("t", "t_s"),
            ("x", "x_m"),
            ("y", "y_m"),
            ("psi", "psi_rad"),
            ("vx", "vx_mps"),
            ("vy", "vy_mps"),
            ("r", "r_radps"),
            ("speed", "speed_mps"),
            ("n", "n_m"),
            ("xi", "xi_rad"),
            ("delta", "delta_rad"),
            ("Fx", "Fx_N"),
            ("ax", "ax_mps2"),
            ("ay", "ay_mps2"),
            ("grip_front", "grip_front"),
            ("grip_rear", "grip_rear"),
            ("kappa", "kappa_1pm"),
        ]
        data = np.column_stack([self.traj[k] for k, _ in cols])
        path = Path(path)
        np.savetxt(path, data, delimiter=",", header=",".join(c for _, c in cols), comments="", fmt="%.6g")
        return path


def node_trajectory(track, grid: Grid, Z, U, p: VehicleParams, tires: AxleTires) -> dict[str, np.ndarray]:
    """World-frame trajectory, time stamps, accelerations and grip usage of a node solution."""
    vx, vy, r, n, xi = Z.T
    delta, Fx = U.T
    kap = grid.kappa
    dtds = (1 - n * kap) / (vx * np.cos(xi) - vy * np.sin(xi))
    dt_seg = 0.5 * grid.ds * (dtds + np.roll(dtds, -1))
    t = np.concatenate([[0.0], np.cumsum(dt_seg)[:-1]])
    xy = np.asarray(track.position(grid.s, n), float)
    v = np.column_stack([vx, vy, r])
    frc = axle_forces(v, U, p, tires)
    dv = body_derivatives(v, U, p, tires, forces=frc)
    ax = dv[:, 0] - vy * r
    ay = dv[:, 1] + vx * r
    grip_f = np.hypot(frc.Fxf, frc.Fyf) / (float(tires.front.peak_mu) * frc.Fzf)
    grip_r = np.hypot(frc.Fxr, frc.Fyr) / (float(tires.rear.peak_mu) * frc.Fzr)
    return {
        "s": grid.s,
        "t": t,
        "x": xy[:, 0],
        "y": xy[:, 1],
        "psi": wrap_angle(grid.heading + xi),
        "vx": vx,
        "vy": vy,
        "r": r,
        "n": n,
        "xi": xi,
        "delta": delta,
        "Fx": Fx,
        "speed": np.hypot(vx, vy),
        "ax": ax,
        "ay": ay,
        "grip_front": grip_f,
        "grip_rear": grip_r,
        "kappa": kap,
        "w_left": grid.w_left,
        "w_right": grid.w_right,
        "dtds": dtds,
        "alpha_f": frc.alpha_f,
        "alpha_r": frc.alpha_r,
    }
