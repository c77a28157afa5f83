"""Merge signals recorded at different rates onto one time base.

Two rules: measured states (odometry, IMU) are interpolated linearly (``numpy.interp``; angles are
unwrapped first so the interpolation never crosses the +-pi jump); commands (steering, throttle,
force) are held: zero-order hold, the last command sent at or before each base time, which is what
the vehicle received.
"""

from __future__ import annotations

import numpy as np


def interp_linear(t_src: np.ndarray, y_src: np.ndarray, t_dst: np.ndarray) -> np.ndarray:
    """Linear interpolation of (N,) samples ``y_src`` at times ``t_src`` (s, increasing) onto ``t_dst`` (M,).

    Values outside ``[t_src[0], t_src[-1]]`` are clamped to the end values; callers crop ``t_dst`` to the
    overlap first (see :func:`overlap`).
    """
    return np.interp(t_dst, t_src, y_src)


def zero_order_hold(t_src: np.ndarray, y_src: np.ndarray, t_dst: np.ndarray) -> np.ndarray:
    """Last value of ``y_src`` (N,) sent at or before each time in ``t_dst`` (M,); before the first sample
    the first value is used (callers crop ``t_dst`` to start at ``t_src[0]``)."""
    idx = np.searchsorted(t_src, t_dst, side="right") - 1
    return np.asarray(y_src)[np.clip(idx, 0, len(t_src) - 1)]


def overlap(base: np.ndarray, interpolated: list[np.ndarray], held: list[np.ndarray]) -> np.ndarray:
    """Boolean mask of base times covered by every stream: inside ``[first, last]`` of each interpolated
    stream, and at or after the first sample of each held stream."""
    keep = np.ones(base.shape, dtype=bool)
    for ts in interpolated:
        keep &= (base >= ts[0]) & (base <= ts[-1])
    for ts in held:
        keep &= base >= ts[0]
    return keep
