"""Reference paths for drift path tracking: sampled curves with Frenet projection.

A :class:`Path` is a closed curve sampled every ``ds`` metres with arc length ``s`` (m),
position ``xy`` (m, world frame), tangent heading (rad) and signed curvature ``kappa``
(1/m, positive = left turn). :meth:`Path.project` turns a world pose into the path errors the
NMPC uses: progress ``s``, lateral error ``e`` (m, positive = left of the path) and heading error
``dpsi = psi - heading(s)`` (rad). Projection searches a window around the previous progress so a
figure-eight's crossing point is resolved by continuity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from drift.errors import DriftError
from drift.frames import wrap_angle


@dataclass(frozen=True)
class Path:
    """Closed path. Arrays have shape ``(M,)`` (``xy``: ``(M, 2)``), samples ``ds`` apart."""

    name: str
    s: np.ndarray
    xy: np.ndarray
    heading: np.ndarray
    kappa: np.ndarray
    length_m: float

    @property
    def ds(self) -> float:
        return float(self.s[1] - self.s[0])

    def _idx(self, s):
        return np.round(np.mod(s, self.length_m) / self.ds).astype(int) % len(self.s)

    def kappa_at(self, s):
        """Curvature (1/m) at arc length(s) ``s`` (m), periodic; shape of ``s``."""
        return self.kappa[self._idx(np.asarray(s, float))]

    def position(self, s, e=0.0):
        """World position ``(..., 2)`` at arc length ``s`` and lateral offset ``e`` (m)."""
        s = np.asarray(s, float)
        i = self._idx(s)
        ds = np.mod(s, self.length_m) - self.s[i]
        ds = np.where(ds > self.length_m / 2, ds - self.length_m, ds)
        h = self.heading[i]
        base = self.xy[i] + ds[..., None] * np.stack([np.cos(h), np.sin(h)], -1)
        return base + np.asarray(e)[..., None] * np.stack([-np.sin(h), np.cos(h)], -1)

    def project(self, X: float, Y: float, psi: float, s_guess: float | None = None, window_m: float = 15.0):
        """Frenet errors of pose ``(X, Y, psi)`` (m, m, rad).

        Returns ``(s, e, dpsi)``: progress (m, unwrapped around ``s_guess``), lateral error (m,
        + left) and heading error ``psi - heading(s)`` wrapped to ``[-pi, pi)`` (rad). Without
        ``s_guess`` the whole path is searched.
        """
        p = np.array([X, Y], float)
        M = len(self.s)
        if s_guess is None:
            lo, hi = 0, M
        else:
            n = int(window_m / self.ds)
            i0 = int(round(np.mod(s_guess, self.length_m) / self.ds))
            lo, hi = i0 - n, i0 + n + 1
        if lo >= 0 and hi <= M:  # a slice: no copy (this runs at the control rate)
            d2 = (self.xy[lo:hi, 0] - X) ** 2 + (self.xy[lo:hi, 1] - Y) ** 2
            i = lo + int(np.argmin(d2))
        else:  # the window wraps around the start of the closed path
            cand = np.arange(lo, hi) % M
            i = int(cand[np.argmin(np.sum((self.xy[cand] - p) ** 2, axis=1))])
        h = self.heading[i]
        t = np.array([math.cos(h), math.sin(h)])
        d = p - self.xy[i]
        along = float(d @ t)
        e = float(-d[0] * t[1] + d[1] * t[0])
        s = self.s[i] + along
        if s_guess is not None:  # unwrap to stay continuous with the previous progress
            s = s_guess + float(wrap_angle(2 * np.pi * (s - s_guess) / self.length_m)) * self.length_m / (
                2 * np.pi
            )
        dpsi = float(wrap_angle(psi - (h + self.kappa[i] * along)))
        return float(s), e, dpsi


def circle_path(radius_m: float, left: bool = True, ds: float = 0.05) -> Path:
    """Circle through the origin, tangent to the x-axis there (heading 0), centre ``(0, +-R)``."""
    if not radius_m > 0:
        raise DriftError(f"circle path: radius_m must be > 0, got {radius_m!r}")
    L = 2 * math.pi * radius_m
    s = np.arange(0.0, L, ds)
    sg = 1.0 if left else -1.0
    th = s / radius_m
    xy = np.stack([radius_m * np.sin(th), sg * radius_m * (1 - np.cos(th))], -1)
    return Path("circle", s, xy, sg * th, np.full_like(s, sg / radius_m), L)


def figure_eight_path(radius_m: float, ds: float = 0.05) -> Path:
    """Figure-eight: a left circle (centre ``(0, R)``) then a right circle (centre ``(0, -R)``),
    both through the origin with heading 0 there; curvature switches sign at the crossing."""
    a, b = circle_path(radius_m, True, ds), circle_path(radius_m, False, ds)
    L = a.length_m + b.length_m
    return Path(
        "figure8",
        np.concatenate([a.s, a.length_m + b.s]),
        np.concatenate([a.xy, b.xy]),
        np.concatenate([a.heading, b.heading]),
        np.concatenate([a.kappa, b.kappa]),
        L,
    )
