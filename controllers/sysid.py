"""An identification drive: the manoeuvres that make a recording fit a tyre model.

A tyre fit needs the car's lateral dynamics excited across slip: grip driving with steering sweeps
at several speeds and amplitudes (the linear range and its approach to the limit), and power-over
drift entries with their exits (the rear axle beyond its peak). :class:`IdentificationDrive` runs
such a programme on any car, closed loop on the measured state, as a controller with
``step(state, t) -> (command, diagnostics)`` (the node interface of :mod:`drift_ros.control`):

1. ``sweep`` (``sweep_s``): speed held at a random target in ``v_range_mps`` by a P law on ``vx``;
   steering a sum of two sines whose amplitudes give a lateral acceleration of up to
   ``ay_sweep_mps2`` (kinematic estimate ``v^2 delta / L``);
2. ``entry`` (``entry_s``): steer ``delta_entry_rad`` into a turn with the drive at ``drive_frac`` of
   the rear axle's static friction force ``mu Fzr``: the rear breaks away (power over);
3. ``exit`` (``exit_s``): the stabilising law of :func:`controllers.safety.stabilising_steer`
   (front wheels along the front-axle velocity) with the drive released, back to grip.

A slide beyond ``beta_abort_rad`` ends an entry (or a sweep) early. The defaults give slides of about
15 deg on the sports preset and stay clear of a spin with up to 0.16 s between measurement and command
(0.08 s on a Fiala plant with 10 % less friction; ``drive_frac`` 0.8 and ``beta_abort_rad`` 0.35 give
30 deg slides, but spin beyond 0.08 s on the default tyres).
After ``duration_s`` the diagnostics carry ``done: True`` (a node then stops the car and ends).
Deterministic for a given ``seed``.
Units: SI; state ``[X, Y, psi, vx, vy, r]``, command ``[delta rad, Fx N]``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from controllers.safety import stabilising_steer
from drift.errors import ConfigError
from drift.vehicle import VehicleParams, axle_loads


@dataclass(frozen=True)
class IdentificationConfig:
    """Settings of :class:`IdentificationDrive` (SI units)."""

    duration_s: float = 300.0
    v_range_mps: tuple[float, float] = (8.0, 16.0)
    sweep_s: float = 14.0
    ay_sweep_mps2: float = 6.0
    entry_s: float = 2.0
    exit_s: float = 3.0
    delta_entry_rad: float = 0.2
    drive_frac: float = 0.7
    beta_abort_rad: float = 0.25
    k_speed_per_s: float = 1.5
    seed: int = 0

    def __post_init__(self):
        for name in (
            "duration_s",
            "sweep_s",
            "ay_sweep_mps2",
            "entry_s",
            "exit_s",
            "delta_entry_rad",
            "drive_frac",
            "beta_abort_rad",
            "k_speed_per_s",
        ):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise ConfigError(f"identification drive: {name} must be a positive number, got {v}")
        lo, hi = self.v_range_mps
        if not 0 < lo <= hi:
            raise ConfigError(f"identification drive: v_range_mps must satisfy 0 < low <= high, got {lo, hi}")


class IdentificationDrive:
    """The identification programme (module doc) for ``vehicle`` (:class:`VehicleParams`)."""

    def __init__(self, vehicle: VehicleParams, config: IdentificationConfig | None = None):
        self.vehicle = vehicle
        self.config = c = config or IdentificationConfig()
        self.rng = np.random.default_rng(c.seed)
        self.t0: float | None = None
        self.phase, self.t_phase = "sweep", 0.0
        self._new_sweep()
        self.turn = 1.0

    def _new_sweep(self) -> None:
        c, rng = self.config, self.rng
        self.v_ref = float(rng.uniform(*c.v_range_mps))
        self.freqs = rng.uniform(0.15, 0.9, 2)  # Hz: slow cornering to quick transients
        self.phases = rng.uniform(0.0, 2 * math.pi, 2)
        self.ay = float(rng.uniform(0.3, 1.0)) * c.ay_sweep_mps2

    def step(self, state, t: float):
        """Command for the measured state at time ``t`` (s, any clock that advances with the car).

        Args:
            state: ``[X, Y, psi, vx, vy, r]`` (6,), SI units (only the body velocities are used).
        Returns:
            ``([delta rad, Fx N], diagnostics)``; ``delta`` clipped to ``+-delta_max``, ``Fx`` a force
            demand (the actuator applies its limits); diagnostics ``solve_time_s``, ``status`` (the
            phase: ``sweep``, ``entry``, ``exit``) and ``done`` (the programme is over).
        """
        t_start = time.perf_counter()
        c, p = self.config, self.vehicle
        vx, vy, r = (float(v) for v in np.asarray(state, float)[3:6])
        if self.t0 is None:
            self.t0 = self.t_phase = t
        beta = math.atan2(vy, max(vx, 0.5))
        elapsed = t - self.t_phase
        if self.phase == "sweep" and elapsed >= c.sweep_s:
            self.phase, self.t_phase, self.turn = "entry", t, float(self.rng.choice([-1.0, 1.0]))
        elif self.phase != "exit" and (
            abs(beta) > c.beta_abort_rad or (self.phase == "entry" and elapsed >= c.entry_s)
        ):
            self.phase, self.t_phase = "exit", t
        elif self.phase == "exit" and elapsed >= c.exit_s:
            self.phase, self.t_phase = "sweep", t
            self._new_sweep()
        if self.phase == "sweep":
            v = max(vx, 3.0)
            amp = self.ay * p.L / (v * v)  # kinematic: ay = v^2 delta / L
            delta = (
                amp
                * 0.5
                * sum(
                    math.sin(2 * math.pi * f * (t - self.t_phase) + ph)
                    for f, ph in zip(self.freqs, self.phases, strict=True)
                )
            )
            Fx = p.m * c.k_speed_per_s * (self.v_ref - vx)
        elif self.phase == "entry":
            delta = self.turn * c.delta_entry_rad
            Fx = c.drive_frac * p.mu * float(axle_loads(0.0, 0.0, p)[1])
        else:
            delta = stabilising_steer(vx, vy, r, p.lf, p.delta_max)
            Fx = 0.0
        done = t - self.t0 >= c.duration_s
        diag = {"solve_time_s": time.perf_counter() - t_start, "status": self.phase, "done": done}
        return np.array([float(np.clip(delta, -p.delta_max, p.delta_max)), float(Fx)]), diag
