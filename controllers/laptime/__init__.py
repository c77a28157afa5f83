"""Minimum-lap-time optimal control: the physical limit of a car on a track.

The free-trajectory minimum-time problem of one closed ("flying") lap, solved as a nonlinear
program by direct collocation in curvilinear coordinates along the centre line's arc length ``s``
(trapezoidal rule on a uniform grid of about ``grid_m`` metres, inputs held constant over each
interval, as the simulator holds them over a control step).

State per node ``z = [vx, vy, r, n, xi]`` (m/s, m/s, rad/s, m, rad): body velocities and yaw rate
as in :mod:`drift.vehicle`, lateral offset ``n`` from the centre line (+ left) and heading error
``xi = psi - theta(s)`` relative to the centre line's heading ``theta``. Inputs per node
``u = [delta, Fx]`` (rad, N) exactly as in :func:`drift.vehicle.f`. With ``kappa(s)`` the centre
line's curvature (1/m)::

    dt/ds   = (1 - n kappa) / (vx cos xi - vy sin xi)
    dv/ds   = body_derivatives(v, u) * dt/ds        (drift.vehicle: same model as the simulator)
    dn/ds   = (vx sin xi + vy cos xi) * dt/ds
    dxi/ds  = r * dt/ds - kappa

Objective: the lap time ``T = integral dt/ds ds`` plus a small regulariser (seconds)
``w_smooth * integral [(delta_dot / delta_rate_max)^2 + (r_dot / r_dot_ref)^2
+ (Fx_dot t_rise / F_max)^2] dt``; the yaw-acceleration term suppresses a high-frequency
"scrubbing" slalom under braking that a brake-limited car would otherwise use to shed speed.
Constraints: the track width shrunk by half the car's width (plus a margin), the steering angle and
steering rate limits, drive force, brake force and engine power (``Fx vx <= P_max``), and the
friction circle: the tyre model's ``combined_force`` already shrinks lateral capacity with the
axle's longitudinal force; in addition ``|Fx_axle| <= mu Fz_axle`` on each axle. Periodicity is
built in: node ``N`` is node ``0``.

The NLP is solved by IPOPT (through CasADi, MUMPS) with every variable scaled to order one, from
an initial guess built from the track's race line (or the centre line) and a friction-limited
speed profile (:func:`speed_profile`), first on a coarse 12 m grid and then on the fine grid
warm-started from the coarse optimum (``LapTimeConfig.coarse_grid_m``): on the 17 shared tracks
this takes 40-175 iterations and 8-15 s in all per track on one core (a cold start on the 3 m grid
took up to 320 iterations and minutes).

Sources: Perantoni & Limebeer, "Optimal control for a Formula One car with variable parameters",
Vehicle System Dynamics 52(5), 2014 (curvilinear minimum-time formulation, eqs. 1-6);
Christ, Wischnewski, Heilmeier & Lohmann, "Time-optimal trajectory planning for a race car
considering variable tyre-road friction coefficients", VSD 2021 (curvilinear single-track OCP);
Betts, *Practical Methods for Optimal Control*, 2nd ed., Sec. 4.5 (trapezoidal collocation).

Modules: :mod:`~controllers.laptime.config` (settings, error), :mod:`~controllers.laptime.nlp`
(transcription and IPOPT solve on one grid), :mod:`~controllers.laptime.optimal_lap` (coarse-to-fine
:func:`min_lap_time`), :mod:`~controllers.laptime.diagnostics` (a failed solve in words),
:mod:`~controllers.laptime.result`, :mod:`~controllers.laptime.tracking` (simulator check),
:mod:`~controllers.laptime.speed_profile`, :mod:`~controllers.laptime.geometry`,
:mod:`~controllers.laptime.initial_guess`, :mod:`~controllers.laptime.tyre_limits`,
:mod:`~controllers.laptime.problem_size` (memory estimate; a grid too fine is refused before it is built).
"""

from controllers.laptime.config import LapTimeConfig, LapTimeError
from controllers.laptime.nlp import SolveProgress
from controllers.laptime.optimal_lap import min_lap_time
from controllers.laptime.problem_size import ProblemSize, check_problem_size, estimate_problem_size
from controllers.laptime.result import OCP_INPUTS, OCP_STATES, LapTimeResult
from controllers.laptime.speed_profile import grip_acceleration, speed_profile, top_speed
from controllers.laptime.tracking import TrackingLap, simulate_tracking
from controllers.laptime.tyre_limits import peak_slip
from drift.vehicle.tires import default_tires

__all__ = [
    "OCP_INPUTS",
    "OCP_STATES",
    "LapTimeConfig",
    "LapTimeError",
    "LapTimeResult",
    "ProblemSize",
    "SolveProgress",
    "TrackingLap",
    "check_problem_size",
    "default_tires",
    "estimate_problem_size",
    "grip_acceleration",
    "min_lap_time",
    "peak_slip",
    "simulate_tracking",
    "speed_profile",
    "top_speed",
]
