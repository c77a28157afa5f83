"""Race tracks in the TUM race-track format: loading, closed-loop geometry and batched queries.

File format (TUM race-track database, https://github.com/TUMFTM/racetrack-database):

- ``tracks/<Name>.csv``: optional ``#`` header ``x_m,y_m,w_tr_right_m,w_tr_left_m``, then one row per
  centre-line point: x, y (m, local Cartesian frame), width to the right and to the left of the centre
  line (m, relative to the driving direction). The loop is closed implicitly (first point not repeated;
  a repeated first point is accepted and dropped).
- ``racelines/<Name>.csv``: ``x_m,y_m`` rows of a minimum-curvature race line.

Geometry: the raw points are smoothed with a periodic Gaussian kernel (``smooth_m``), interpolated with a
periodic cubic spline and resampled every ``ds_m`` metres. Heading and curvature come from the spline
derivatives, ``kappa = (x' y'' - y' x'') / (x'^2 + y'^2)^(3/2)`` (positive = left turn). Boundaries are
``left = xy + w_left * n_hat``, ``right = xy - w_right * n_hat`` with ``n_hat = (-sin psi, cos psi)``.

Frames: world (x, y) in metres as in the file; Frenet coordinates ``(s, n)`` with ``s`` the arc length
along the centre line from its first point and ``n`` the lateral offset (positive = left).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.ndimage import gaussian_filter1d
from scipy.spatial import cKDTree

from drift.errors import DriftError

__all__ = [
    "ClosedPath",
    "RaceLine",
    "Track",
    "TrackError",
    "TrackFileError",
    "TrackFormatError",
    "TrackTooShortError",
    "TrackWidthError",
    "TrackSelfIntersectionError",
    "load_track",
    "track_names",
    "track_dirs",
    "make_track",
    "TRACK_COLUMNS",
    "MIN_POINTS",
]

TRACK_COLUMNS = ("x_m", "y_m", "w_tr_right_m", "w_tr_left_m")
RACELINE_COLUMNS = ("x_m", "y_m")
MIN_POINTS = 8
FOLD_TOLERANCE_M = 1.0  # total backwards-running boundary length tolerated (m)


class TrackError(DriftError, ValueError):
    """A track file or track geometry is invalid."""


class TrackFileError(TrackError, FileNotFoundError):
    """A track name or path could not be resolved to a file."""


class TrackFormatError(TrackError):
    """Wrong columns, non-numeric or non-finite values in a track file."""


class TrackTooShortError(TrackError):
    """Too few distinct points to form a closed loop."""


class TrackWidthError(TrackError):
    """A non-positive track width."""


class TrackSelfIntersectionError(TrackError):
    """A boundary (or the centre line) crosses itself or the other boundary."""


# ----------------------------------------------------------------------------------------------
# closed paths


def _segments_intersect_any(a: np.ndarray, b: np.ndarray, skip_adjacent: bool) -> np.ndarray | None:
    """First pair (i, j) of crossing segments, or None.

    ``a`` (N, 2) and ``b`` (M, 2) are closed polylines (segment k joins point k to k+1 mod len). With
    ``skip_adjacent`` (a == b) segments sharing an endpoint are not compared. Candidate pairs come from
    an x-interval sweep (sorted by min x), then a bounding-box and exact orientation test.
    """
    a0, a1 = a, np.roll(a, -1, axis=0)
    b0, b1 = b, np.roll(b, -1, axis=0)
    axmin, axmax = np.minimum(a0[:, 0], a1[:, 0]), np.maximum(a0[:, 0], a1[:, 0])
    bxmin, bxmax = np.minimum(b0[:, 0], b1[:, 0]), np.maximum(b0[:, 0], b1[:, 0])
    order = np.argsort(bxmin)
    bxmin_sorted = bxmin[order]
    hi = np.searchsorted(bxmin_sorted, axmax, side="right")  # b segments with bxmin <= axmax
    lo = np.zeros_like(hi)
    counts = hi - lo
    if counts.sum() == 0:
        return None
    # chunk to bound memory
    n = len(a)
    chunk = max(1, int(2_000_000 // max(1, counts.max())))
    for start in range(0, n, chunk):
        idx = np.arange(start, min(n, start + chunk))
        c = counts[idx]
        ii = np.repeat(idx, c)
        offs = np.arange(c.sum()) - np.repeat(np.cumsum(c) - c, c)
        jj = order[offs]
        keep = bxmax[jj] >= axmin[ii]
        ii, jj = ii[keep], jj[keep]
        if skip_adjacent:
            m = len(b)
            d = np.abs(ii - jj)
            keep = (d > 1) & (d < m - 1)
            ii, jj = ii[keep], jj[keep]
        ymin_a = np.minimum(a0[ii, 1], a1[ii, 1])
        ymax_a = np.maximum(a0[ii, 1], a1[ii, 1])
        ymin_b = np.minimum(b0[jj, 1], b1[jj, 1])
        ymax_b = np.maximum(b0[jj, 1], b1[jj, 1])
        keep = (ymax_a >= ymin_b) & (ymax_b >= ymin_a)
        ii, jj = ii[keep], jj[keep]
        if len(ii) == 0:
            continue
        p, p2, q, q2 = a0[ii], a1[ii], b0[jj], b1[jj]

        def orient(u, v, w):
            return (v[:, 0] - u[:, 0]) * (w[:, 1] - u[:, 1]) - (v[:, 1] - u[:, 1]) * (w[:, 0] - u[:, 0])

        o1, o2 = orient(p, p2, q), orient(p, p2, q2)
        o3, o4 = orient(q, q2, p), orient(q, q2, p2)
        hit = (o1 * o2 < 0) & (o3 * o4 < 0)
        if hit.any():
            k = int(np.argmax(hit))
            return np.array([ii[k], jj[k]])
    return None


def _smooth_resample(xy: np.ndarray, smooth_m: float, ds_m: float, extra: np.ndarray | None = None):
    """Smooth a closed polyline and resample it uniformly.

    Args:
        xy: (N, 2) raw points of a closed loop (last point not repeated), metres.
        smooth_m: standard deviation of the periodic Gaussian smoothing along the path (m); 0 = none.
        ds_m: target spacing of the resampled points (m).
        extra: optional (N, K) per-point values (e.g. widths) resampled and smoothed the same way.
    Returns:
        xy (M, 2), s (M,), heading (M,), kappa (M,), length, extra (M, K) or None.
    """
    seg = np.linalg.norm(np.diff(np.vstack([xy, xy[:1]]), axis=0), axis=1)
    spacing = float(np.median(seg))
    if smooth_m > 0:
        sigma = smooth_m / spacing
        xy = gaussian_filter1d(xy, sigma, axis=0, mode="wrap")
        if extra is not None:
            extra = gaussian_filter1d(extra, sigma, axis=0, mode="wrap")
        seg = np.linalg.norm(np.diff(np.vstack([xy, xy[:1]]), axis=0), axis=1)
    u = np.concatenate([[0.0], np.cumsum(seg)])  # chord-length parameter, closed
    pts = np.vstack([xy, xy[:1]])
    spline = CubicSpline(u, pts, bc_type="periodic")
    m = max(MIN_POINTS, int(round(u[-1] / ds_m)))
    uu = np.linspace(0.0, u[-1], m, endpoint=False)
    p, d1, d2 = spline(uu), spline(uu, 1), spline(uu, 2)
    heading = np.unwrap(np.arctan2(d1[:, 1], d1[:, 0]))
    speed = np.linalg.norm(d1, axis=1)
    kappa = (d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]) / speed**3
    # arc length from a fine evaluation of the spline (parameter is chord length, not exactly arc)
    fine = 8
    uf = np.linspace(0.0, u[-1], m * fine + 1)
    sf = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(spline(uf), axis=0), axis=1))])
    s = sf[::fine][:m]
    length = float(sf[-1])
    ex = None
    if extra is not None:
        ex_closed = np.vstack([extra, extra[:1]])
        ex = np.stack([np.interp(uu, u, ex_closed[:, k]) for k in range(extra.shape[1])], axis=1)
    return p, s, heading, kappa, length, ex


@dataclass(frozen=True, eq=False)
class ClosedPath:
    """A closed, uniformly resampled path with batched Frenet queries.

    Attributes:
        xy: (N, 2) points (m, world); segment k joins point k to point (k+1) mod N.
        s: (N,) arc length of each point (m), s[0] = 0, periodic with ``length_m``.
        heading: (N,) tangent direction (rad, unwrapped).
        kappa: (N,) signed curvature (1/m, positive = left turn).
        length_m: closed-loop length (m).
    """

    xy: np.ndarray
    s: np.ndarray
    heading: np.ndarray
    kappa: np.ndarray
    length_m: float
    _tree: cKDTree = field(init=False, repr=False)
    _seg: np.ndarray = field(init=False, repr=False)
    _seg_len: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "_tree", cKDTree(self.xy))
        seg = np.roll(self.xy, -1, axis=0) - self.xy
        object.__setattr__(self, "_seg", seg)
        object.__setattr__(self, "_seg_len", np.maximum(np.linalg.norm(seg, axis=1), 1e-12))
        # O(1) point location: a uniform table of 4 cells per point gives the segment at each cell start
        n = len(self.s)
        s_ext = np.append(self.s, self.length_m)
        cells = 4 * n
        edges = np.arange(cells) * (self.length_m / cells)
        object.__setattr__(self, "_s_ext", s_ext)
        object.__setattr__(self, "_ds_ext", np.maximum(np.diff(s_ext), 1e-12))
        object.__setattr__(self, "_lut", np.clip(np.searchsorted(self.s, edges, side="right") - 1, 0, n - 1))
        object.__setattr__(self, "_cell", cells / self.length_m)

    @property
    def n_points(self) -> int:
        return len(self.s)

    def wrap(self, s) -> np.ndarray:
        """Arc length(s) wrapped into [0, length_m)."""
        return np.mod(np.asarray(s, dtype=float), self.length_m)

    def _locate(self, s):
        """Segment index i (...) and fraction t in [0, 1] of arc length(s) ``s`` (wrapped)."""
        s = np.asarray(s, dtype=float)
        L = self.length_m
        s = s - L * np.floor(s * (1.0 / L))  # wrap into [0, L) (faster than np.mod)
        n = len(self.s)
        i = np.take(self._lut, np.minimum((s * self._cell).astype(np.int64), len(self._lut) - 1))
        # cells are 4x shorter than the mean segment: at most one segment start lies inside a cell
        i = np.minimum(i + (s >= np.take(self._s_ext, i + 1)), n - 1)
        i = np.minimum(
            i + (s >= np.take(self._s_ext, i + 1)), n - 1
        )  # uneven spacing (up to 8x) is still exact
        t = (s - np.take(self.s, i)) / np.take(self._ds_ext, i)
        return i, np.clip(t, 0.0, 1.0)

    def lerp_rows(self, table: np.ndarray, s) -> np.ndarray:
        """Periodic linear interpolation of the rows of ``table`` (N, K) at arc length(s) ``s`` (...) ->
        (..., K) in the table's dtype; one point location for all K columns."""
        i, t = self._locate(s)
        j = i + 1
        j[j == len(self.s)] = 0
        a = np.take(table, i, axis=0)
        return a + (np.take(table, j, axis=0) - a) * t[..., None].astype(table.dtype)

    def interp(self, values: np.ndarray, s) -> np.ndarray:
        """Periodic linear interpolation of per-point ``values`` at arc length(s) ``s``.

        Args:
            values: (N,) or (N, K) values at the path points.
            s: (...) arc length (m), any real (wrapped).
        Returns:
            (...) or (..., K) interpolated values.
        """
        values = np.asarray(values)
        i, t = self._locate(s)
        j = i + 1
        j[j == len(self.s)] = 0
        if values.ndim > 1:
            t = t[..., None]
        a = np.take(values, i, axis=0)
        return a + (np.take(values, j, axis=0) - a) * t

    def heading_at(self, s) -> np.ndarray:
        """(...) tangent heading (rad, wrapped to (-pi, pi]) at arc length(s) ``s``; angle-safe."""
        c = self.interp(np.cos(self.heading), s)
        sn = self.interp(np.sin(self.heading), s)
        return np.arctan2(sn, c)

    def position(self, s, n=0.0) -> np.ndarray:
        """World position (..., 2) of Frenet coordinates: arc length ``s`` (m) and left offset ``n`` (m).

        Uses the polyline segment containing ``s`` and its left normal, so it is the exact inverse of
        :meth:`project` for offsets smaller than the local radius of curvature.
        """
        i, t = self._locate(s)
        seg = self._seg[i]
        u = seg / self._seg_len[i][..., None]
        nrm = np.stack([-u[..., 1], u[..., 0]], axis=-1)
        n = np.asarray(n, dtype=float)
        return self.xy[i] + t[..., None] * seg + n[..., None] * nrm

    def project(self, xy) -> tuple[np.ndarray, np.ndarray]:
        """Project world positions onto the path.

        Args:
            xy: (..., 2) world positions (m).
        Returns:
            s (...): arc length of the closest point on the polyline (m, in [0, length_m)).
            n (...): signed lateral offset (m, positive = left of the driving direction).
        The nearest path point comes from a KD-tree; the two segments around it are tested and the
        closer foot point is kept.

        Raises:
            TrackError: ``xy`` is not of shape (..., 2).
        """
        xy = np.asarray(xy, dtype=float)
        if xy.shape[-1] != 2:
            raise TrackError(f"project expects positions of shape (..., 2), got {xy.shape}")
        shape = xy.shape[:-1]
        p = xy.reshape(-1, 2)
        _, k = self._tree.query(p)
        s, n = self._refine(p, k)
        return s.reshape(shape), n.reshape(shape)

    def project_near(self, xy, s_hint, window_m: float = 50.0) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`project`, but only path points within ``window_m`` of ``s_hint`` (m, (...)) are
        candidates: keeps a car on its own part of the track where other parts pass close by.

        Args:
            xy: (..., 2) world positions (m). s_hint: (...) previous arc length (m).
        Returns:
            s (...), n (...) as :meth:`project`.
        """
        xy = np.asarray(xy, dtype=float)
        shape = xy.shape[:-1]
        p = xy.reshape(-1, 2)
        hint = np.broadcast_to(np.asarray(s_hint, dtype=float), shape).reshape(-1)
        nn = len(self.s)
        step = self.length_m / nn
        w = max(1, int(np.ceil(window_m / step)))
        i0, _ = self._locate(hint)
        cand = (i0[:, None] + np.arange(-w, w + 1)[None, :]) % nn  # (P, 2w+1)
        d2 = ((self.xy[cand] - p[:, None, :]) ** 2).sum(-1)
        k = cand[np.arange(len(p)), np.argmin(d2, axis=1)]
        s, n = self._refine(p, k)
        return s.reshape(shape), n.reshape(shape)

    def _refine(self, p: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Foot points on the two segments around the nearest path points ``k`` (P,) of ``p`` (P, 2)."""
        nn = len(self.s)
        best_d = np.full(len(p), np.inf)
        best_s = np.zeros(len(p))
        best_n = np.zeros(len(p))
        for i in ((k - 1) % nn, k):
            a = self.xy[i]
            seg = self._seg[i]
            L = self._seg_len[i]
            u = seg / L[:, None]
            rel = p - a
            t = np.clip((rel * u).sum(-1), 0.0, L)
            foot = a + t[:, None] * u
            d = np.linalg.norm(p - foot, axis=1)
            n = u[:, 0] * rel[:, 1] - u[:, 1] * rel[:, 0]
            seg_s = np.where(i + 1 < nn, self.s[np.minimum(i + 1, nn - 1)], self.length_m) - self.s[i]
            s = self.s[i] + t / L * seg_s
            better = d < best_d - 1e-12
            best_d = np.where(better, d, best_d)
            best_s = np.where(better, s, best_s)
            best_n = np.where(better, n, best_n)
        return self.wrap(best_s), best_n


@dataclass(frozen=True, eq=False)
class RaceLine(ClosedPath):
    """A closed race line (see :class:`ClosedPath`); ``s`` is the race line's own arc length."""


@dataclass(frozen=True, eq=False)
class Track(ClosedPath):
    """A closed race track: smoothed centre line, widths, boundaries and optional race line.

    Attributes (besides :class:`ClosedPath`): ``name``; ``w_left``, ``w_right`` (N,) positive widths (m)
    left and right of the centre line; ``left``, ``right`` (N, 2) boundaries; ``raceline`` or None;
    ``source`` (file path or "<arrays>").
    """

    w_left: np.ndarray = None
    w_right: np.ndarray = None
    name: str = "track"
    raceline: RaceLine | None = None
    source: str = "<arrays>"

    @property
    def normal(self) -> np.ndarray:
        """(N, 2) unit left normal of the centre line."""
        return np.stack([-np.sin(self.heading), np.cos(self.heading)], axis=1)

    @property
    def left(self) -> np.ndarray:
        """(N, 2) left boundary (m, world)."""
        return self.xy + self.w_left[:, None] * self.normal

    @property
    def right(self) -> np.ndarray:
        """(N, 2) right boundary (m, world)."""
        return self.xy - self.w_right[:, None] * self.normal

    def widths(self, s) -> tuple[np.ndarray, np.ndarray]:
        """(w_left, w_right) (...) at arc length(s) ``s`` (m)."""
        return self.interp(self.w_left, s), self.interp(self.w_right, s)

    def boundary_distances(self, xy) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Distances to the boundaries of world positions (..., 2).

        Returns ``(d_left, d_right, s, n)``, each (...): ``d_left = w_left(s) - n`` and
        ``d_right = w_right(s) + n`` (m, positive inside the track, negative beyond that boundary),
        measured along the centre-line normal; ``s, n`` as from :meth:`project`.
        """
        s, n = self.project(xy)
        wl, wr = self.widths(s)
        return wl - n, wr + n, s, n

    def raceline_track_s(self) -> np.ndarray:
        """(M,) centre-line arc length (m) of each race-line point (its projection).

        Raises:
            TrackError: the track has no race line.
        """
        if self.raceline is None:
            raise TrackError(f"track {self.name!r} has no race line; pass raceline=PATH to load_track")
        return self.project(self.raceline.xy)[0]


# ----------------------------------------------------------------------------------------------
# construction and loading


def _check_closed_points(xy: np.ndarray, what: str) -> np.ndarray:
    if len(xy) >= 2 and np.linalg.norm(xy[-1] - xy[0]) < 1e-6:
        xy = xy[:-1]  # repeated first point: loop already closed explicitly
    if len(xy) < MIN_POINTS:
        raise TrackTooShortError(
            f"{what}: {len(xy)} distinct points; a closed track needs at least {MIN_POINTS}. "
            "Give the whole loop (points about 5 m apart)."
        )
    seg = np.linalg.norm(np.diff(xy, axis=0), axis=1)
    if np.any(seg < 1e-9):
        k = int(np.argmin(seg))
        raise TrackFormatError(f"{what}: rows {k} and {k + 1} are the same point; remove duplicates")
    return xy


def make_path(xy: np.ndarray, smooth_m: float = 2.5, ds_m: float = 1.0, cls=ClosedPath, what="path", **kw):
    """Build a :class:`ClosedPath` (or subclass) from raw closed-loop points (N, 2) in metres."""
    xy = _check_closed_points(np.asarray(xy, dtype=float), what)
    p, s, h, k, L, _ = _smooth_resample(xy, smooth_m, ds_m)
    return cls(xy=p, s=s, heading=h, kappa=k, length_m=L, **kw)


def make_track(
    xy: np.ndarray,
    w_right: np.ndarray,
    w_left: np.ndarray,
    name: str = "track",
    raceline_xy: np.ndarray | None = None,
    smooth_m: float = 2.5,
    ds_m: float = 1.0,
    source: str = "<arrays>",
) -> Track:
    """Build a :class:`Track` from arrays in the TUM convention.

    Args:
        xy: (N, 2) centre-line points of a closed loop (m); the first point may or may not be repeated.
        w_right, w_left: (N,) widths right and left of the centre line (m, > 0).
        raceline_xy: optional (M, 2) race-line points (m).
        smooth_m: std of periodic Gaussian smoothing (m); 0 disables it.
        ds_m: spacing of the resampled centre line (m).
    Raises:
        TrackTooShortError, TrackWidthError, TrackSelfIntersectionError, TrackFormatError.
    """
    xy = np.asarray(xy, dtype=float)
    w = np.stack([np.asarray(w_left, float), np.asarray(w_right, float)], axis=1)
    if not np.all(np.isfinite(xy)) or not np.all(np.isfinite(w)):
        raise TrackFormatError(f"{source}: non-finite values (NaN/inf) in the track data")
    bad = np.where(~(w > 0))[0]
    if len(bad):
        r = int(bad[0])
        col = "w_tr_left_m" if not w[r, 0] > 0 else "w_tr_right_m"
        raise TrackWidthError(
            f"{source}: non-positive width in column {col} at data row {r} ({w[r].min():g} m); "
            "widths are distances from the centre line to each boundary and must be > 0"
        )
    if len(xy) >= 2 and np.linalg.norm(xy[-1] - xy[0]) < 1e-6:
        xy, w = xy[:-1], w[:-1]
    xy = _check_closed_points(xy, source)
    p, s, h, k, L, wex = _smooth_resample(xy, smooth_m, ds_m, extra=w)
    rl = None
    if raceline_xy is not None:
        rl = make_path(raceline_xy, smooth_m=smooth_m, ds_m=ds_m, cls=RaceLine, what=f"{source} race line")
    tr = Track(
        xy=p,
        s=s,
        heading=h,
        kappa=k,
        length_m=L,
        w_left=wex[:, 0],
        w_right=wex[:, 1],
        name=name,
        raceline=rl,
        source=source,
    )
    _check_simple(tr, xy)
    return tr


def _check_simple(tr: Track, raw_xy: np.ndarray) -> None:
    """Raise TrackSelfIntersectionError if the centre line or a boundary crosses itself or the other."""
    # check at about the raw spacing (cheap) on the smoothed geometry
    step = max(
        1,
        int(
            round(
                np.median(np.linalg.norm(np.diff(raw_xy, axis=0), axis=1))
                / max(tr.length_m / tr.n_points, 1e-9)
                / 2
            )
        ),
    )
    idx = np.arange(0, tr.n_points, step)
    for name, poly in (
        ("centre line", tr.xy[idx]),
        ("left boundary", tr.left[idx]),
        ("right boundary", tr.right[idx]),
    ):
        hit = _segments_intersect_any(poly, poly, skip_adjacent=True)
        if hit is not None:
            s_hit = tr.s[idx[hit]]
            raise TrackSelfIntersectionError(
                f"{tr.source}: the {name} crosses itself near s = {s_hit[0]:.0f} m and s = {s_hit[1]:.0f} m "
                "(width larger than the corner radius, or a track that crosses itself). Reduce the widths "
                "there or fix the centre line."
            )
    # folds: where a width exceeds the corner radius the boundary runs backwards (a swallowtail).
    # Sub-metre folds from curvature noise in real data (e.g. Sochi) are tolerated.
    c = np.roll(tr.xy, -1, axis=0) - tr.xy
    for name, b in (("left boundary", tr.left), ("right boundary", tr.right)):
        seg = np.roll(b, -1, axis=0) - b
        back = (seg * c).sum(axis=1) < 0
        if np.linalg.norm(seg[back], axis=1).sum() > FOLD_TOLERANCE_M:
            k = int(np.argmax(back))
            raise TrackSelfIntersectionError(
                f"{tr.source}: the {name} crosses itself (folds back) near s = {tr.s[k]:.0f} m: the width "
                f"there exceeds the corner radius {1 / max(abs(tr.kappa[k]), 1e-9):.1f} m. Reduce the widths "
                "there or smooth the centre line (smooth_m)."
            )
    hit = _segments_intersect_any(tr.left[idx], tr.right[idx], skip_adjacent=False)
    if hit is not None:
        s_hit = tr.s[idx[hit]]
        raise TrackSelfIntersectionError(
            f"{tr.source}: the left boundary near s = {s_hit[0]:.0f} m crosses the right boundary near "
            f"s = {s_hit[1]:.0f} m; the track overlaps itself. Fix the centre line or reduce the widths."
        )


def _read_csv(path: Path, columns: tuple[str, ...]) -> np.ndarray:
    """Read a TUM-format CSV with an optional ``#`` header; check the column names and count."""
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError as e:
        raise TrackFormatError(f"{path}: not a text CSV file ({e})") from None
    header = None
    rows = []
    for ln, line in enumerate(lines, 1):
        t = line.strip()
        if not t:
            continue
        if t.startswith("#"):
            if header is None and not rows:
                header = [c.strip() for c in t.lstrip("#").split(",")]
            continue
        parts = [c.strip() for c in t.split(",")]
        if header is None and not rows and not _is_number(parts[0]):
            header = parts  # uncommented header line
            continue
        if len(parts) != len(columns):
            raise TrackFormatError(
                f"{path}: line {ln} has {len(parts)} columns, expected {len(columns)} ({','.join(columns)})"
            )
        try:
            rows.append([float(c) for c in parts])
        except ValueError:
            raise TrackFormatError(
                f"{path}: line {ln} is not numeric: {t!r}; expected columns {','.join(columns)}"
            ) from None
    if header is not None and [h.lower() for h in header] != list(columns):
        raise TrackFormatError(
            f"{path}: header columns {','.join(header)} do not match the TUM format "
            f"{','.join(columns)}; rename or reorder the columns"
        )
    if not rows:
        raise TrackTooShortError(f"{path}: no data rows; a closed track needs at least {MIN_POINTS} points")
    arr = np.asarray(rows, dtype=float)
    if not np.all(np.isfinite(arr)):
        r = int(np.where(~np.isfinite(arr).all(axis=1))[0][0])
        raise TrackFormatError(f"{path}: non-finite value (NaN/inf) in data row {r}")
    return arr


def _is_number(x: str) -> bool:
    try:
        float(x)
        return True
    except ValueError:
        return False


def track_dirs() -> list[Path]:
    """Directories searched for track names, in order: env ``DRIFT_TRACK_DIR``, then the packaged
    TUM tracks in ``drift/racing/data`` (all 17 of the database; see its SOURCE.md)."""
    dirs = []
    env = os.environ.get("DRIFT_TRACK_DIR")
    if env:
        dirs += [Path(p) for p in env.split(os.pathsep) if p]
    dirs.append(Path(__file__).resolve().parent / "data")
    return dirs


def _find_named(name: str) -> Path | None:
    for d in track_dirs():
        for cand in (d / "tracks" / f"{name}.csv", d / f"{name}.csv"):
            if cand.is_file():
                return cand
    return None


def track_names() -> list[str]:
    """Names of the tracks found in :func:`track_dirs` (sorted)."""
    names = set()
    for d in track_dirs():
        for sub in (d / "tracks", d):
            if sub.is_dir():
                names.update(p.stem for p in sub.glob("*.csv"))
    return sorted(names)


def load_track(
    name_or_path: str | Path,
    raceline: str | Path | bool | None = True,
    smooth_m: float = 2.5,
    ds_m: float = 1.0,
) -> Track:
    """Load a track in the TUM race-track format.

    Args:
        name_or_path: a track name (e.g. ``"Monza"``, searched in :func:`track_dirs`, case-insensitive)
            or the path to any TUM-format CSV (``x_m,y_m,w_tr_right_m,w_tr_left_m``).
        raceline: True: load ``../racelines/<name>.csv`` next to the track's folder when present;
            a path: load that race line (``x_m,y_m``); False/None: no race line.
        smooth_m, ds_m: see :func:`make_track`.
    Returns:
        a :class:`Track`.
    Raises:
        TrackFileError (unknown name / missing file), TrackFormatError (wrong columns, non-numeric),
        TrackTooShortError, TrackWidthError, TrackSelfIntersectionError.
    Source: TUM race-track database (Heilmeier et al., 2019, minimum-curvature race lines).
    """
    p = Path(name_or_path)
    if p.suffix.lower() == ".csv" or p.exists() or os.sep in str(name_or_path):
        path = p
        if not path.is_file():
            raise TrackFileError(f"track file {path} does not exist; give an existing CSV or a track name")
    else:
        path = _find_named(str(name_or_path))
        if path is None:
            lower = {n.lower(): n for n in track_names()}
            if str(name_or_path).lower() in lower:
                path = _find_named(lower[str(name_or_path).lower()])
        if path is None:
            raise TrackFileError(
                f"unknown track {name_or_path!r}; known: {', '.join(track_names()) or '(none found)'}. "
                "Give a track name, a path to a TUM-format CSV, or set DRIFT_TRACK_DIR."
            )
    data = _read_csv(path, TRACK_COLUMNS)
    rl_xy = None
    if raceline is True:
        cand = path.parent.parent / "racelines" / path.name
        if cand.is_file() and cand.resolve() != path.resolve():
            rl_xy = _read_csv(cand, RACELINE_COLUMNS)
    elif raceline:
        rp = Path(raceline)
        if not rp.is_file():
            raise TrackFileError(f"race-line file {rp} does not exist")
        rl_xy = _read_csv(rp, RACELINE_COLUMNS)
    return make_track(
        data[:, :2],
        w_right=data[:, 2],
        w_left=data[:, 3],
        name=path.stem,
        raceline_xy=rl_xy,
        smooth_m=smooth_m,
        ds_m=ds_m,
        source=str(path),
    )


_TRACK_CACHE: dict[tuple, Track] = {}


def scaled_track(name_or_path: str | Path | Track, scale: float = 1.0) -> Track:
    """A track by name or path (:func:`load_track`, cached per name and scale) with its geometry, widths
    and race line multiplied by ``scale`` (0.1: a 1:10 track for the F1TENTH-class car). A
    :class:`Track` is returned as it is (it is taken to be scaled already).

    Raises:
        TrackError: as :func:`load_track`.
    """
    if isinstance(name_or_path, Track):
        return name_or_path
    key = (str(name_or_path), float(scale))
    if key not in _TRACK_CACHE:
        tr = load_track(name_or_path)
        if scale != 1.0:
            raw = _read_csv(Path(tr.source), TRACK_COLUMNS)
            rl = None
            cand = Path(tr.source).parent.parent / "racelines" / Path(tr.source).name
            if tr.raceline is not None and cand.is_file():
                rl = _read_csv(cand, RACELINE_COLUMNS) * scale
            tr = make_track(
                raw[:, :2] * scale,
                raw[:, 2] * scale,
                raw[:, 3] * scale,
                name=tr.name,
                raceline_xy=rl,
                smooth_m=2.5 * scale,
                ds_m=1.0 * scale,
                source=tr.source,
            )
        _TRACK_CACHE[key] = tr
    return _TRACK_CACHE[key]
