"""Initial guess of the NLP: the race line (or the centre line) driven at a friction-limited speed."""

from __future__ import annotations

import numpy as np

from controllers.laptime.geometry import Grid, path_curvature, periodic_interp, smooth_periodic
from controllers.laptime.speed_profile import speed_profile
from drift.frames import wrap_angle
from drift.vehicle import VehicleParams

#: share of the tyres' friction the guess's speed profile keeps in reserve
GUESS_FRICTION_MARGIN = 0.15


def initial_guess(track, grid: Grid, vehicle: VehicleParams, mu: float, n_lo, n_hi):
    """Initial guess (N, 5) states and (N, 2) inputs from the race line and a speed profile."""
    N, L = len(grid.s), grid.length
    n0 = np.zeros(N)
    rl = getattr(track, "raceline", None)
    if rl is not None:
        s_rl, n_rl = track.project(np.asarray(rl.xy, float))
        s_rl, n_rl = np.asarray(s_rl, float), np.asarray(n_rl, float)
        order = np.argsort(s_rl)
        s_rl, n_rl = s_rl[order], n_rl[order]
        keep = np.concatenate([[True], np.diff(s_rl) > 1e-6])
        n0 = periodic_interp(grid.s, s_rl[keep], n_rl[keep], L)
    n0 = np.clip(smooth_periodic(n0, 5), n_lo + 0.1, n_hi - 0.1)
    # path of the guess, its heading relative to the centre line and its curvature
    xy = np.asarray(track.position(grid.s, n0), float)
    seg, hdg, kap_p = path_curvature(xy)
    kap_p = smooth_periodic(kap_p, 7)
    xi0 = wrap_angle(hdg - grid.heading)
    v = speed_profile(seg, kap_p, vehicle, mu, friction_margin=GUESS_FRICTION_MARGIN)
    v = np.maximum(v, 5.0)
    p = vehicle
    r0 = v * kap_p
    # kinematic steering plus a little understeer
    delta0 = np.clip(p.L * kap_p, -0.9 * p.delta_max, 0.9 * p.delta_max)
    # longitudinal force from the profile's acceleration plus drag
    dv2 = (np.roll(v, -1) ** 2 - v**2) / (2 * seg)
    Fx0 = p.m * dv2 + p.c_drag * v * v + p.c_roll * p.m * p.g
    Fx0 = np.clip(Fx0, -0.8 * p.Fx_brake_max, np.minimum(0.95 * p.Fx_drive_max, 0.95 * p.P_max / v))
    Z = np.column_stack([v * np.cos(xi0) * 0 + v, np.zeros(N), r0, n0, xi0])
    U = np.column_stack([delta0, Fx0])
    return Z, U
