"""Geometry of the collocation grid: periodic interpolation along the centre line, path curvature."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from drift.errors import DriftError
from drift.frames import wrap_angle


def periodic_interp(s_query, s_data, values, length):
    """Periodic linear interpolation of ``values`` sampled at ``s_data`` (m) on a loop of ``length``."""
    return np.interp(np.mod(s_query, length), s_data, values, period=length)


def path_curvature(xy: np.ndarray):
    """Arc length per segment (N,), heading (N,) and curvature (N,) of a closed polyline (N, 2)."""
    d_next = np.roll(xy, -1, axis=0) - xy
    seg = np.hypot(d_next[:, 0], d_next[:, 1])
    tang = np.roll(xy, -1, axis=0) - np.roll(xy, 1, axis=0)
    heading = np.arctan2(tang[:, 1], tang[:, 0])
    dh = wrap_angle(np.roll(heading, -1) - np.roll(heading, 1))
    ds2 = seg + np.roll(seg, 1)
    return seg, heading, dh / np.maximum(ds2, 1e-9)


def smooth_periodic(x: np.ndarray, width: int) -> np.ndarray:
    """Moving average (Hann window of ``width`` samples) of a periodic signal ``x`` (N,)."""
    if width <= 1:
        return x
    k = np.hanning(width + 2)[1:-1]
    k /= k.sum()
    pad = width
    xp = np.concatenate([x[-pad:], x, x[:pad]])
    return np.convolve(xp, k, mode="same")[pad:-pad]


@dataclass
class Grid:
    """Uniform collocation grid along the centre line: ``N`` nodes at ``s`` (m), spacing ``ds`` (m),
    centre-line curvature at the nodes and the interval midpoints (1/m), widths (m), heading (rad)."""

    s: np.ndarray
    ds: float
    kappa: np.ndarray
    kappa_mid: np.ndarray
    w_left: np.ndarray
    w_right: np.ndarray
    heading: np.ndarray
    length: float


def grid_nodes(length_m: float, grid_m: float) -> int:
    """Number of grid nodes ``N = max(round(length / grid_m), 8)`` of a closed track."""
    return max(int(round(length_m / grid_m)), 8)


def make_grid(track, grid_m: float) -> Grid:
    """The grid of about ``grid_m`` metres on ``track``; DriftError if ``grid_m`` is not a positive number."""
    L = float(track.length_m)
    if not (np.isfinite(grid_m) and grid_m > 0):
        raise DriftError(f"grid_m must be a positive number of metres, got {grid_m!r}")
    N = grid_nodes(L, grid_m)
    s = np.arange(N) * (L / N)
    s_tr = np.asarray(track.s, float)
    kappa = periodic_interp(s, s_tr, np.asarray(track.kappa, float), L)
    heading_tr = np.asarray(track.heading, float)
    heading = np.arctan2(
        periodic_interp(s, s_tr, np.sin(heading_tr), L), periodic_interp(s, s_tr, np.cos(heading_tr), L)
    )
    kappa_mid = periodic_interp(s + 0.5 * L / N, s_tr, np.asarray(track.kappa, float), L)
    return Grid(
        s,
        L / N,
        kappa,
        kappa_mid,
        periodic_interp(s, s_tr, np.asarray(track.w_left, float), L),
        periodic_interp(s, s_tr, np.asarray(track.w_right, float), L),
        heading,
        L,
    )
