"""``DrivingLog``: one validated in-memory form for every driving log (standard names, SI units).

All readers (IAC CSV, generic CSV + column map, rosbag2, NPZ) return a ``DrivingLog``. Signal names
and units are listed in :data:`drift.logs.units.STANDARD_SIGNALS`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from drift.logs.errors import LogError

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _segment_ids(keep_idx: np.ndarray, old_segment: np.ndarray) -> np.ndarray:
    """New contiguous segment ids for the kept rows ``keep_idx`` (sorted indices into the old log).

    A new segment starts where rows between two kept rows were dropped or the old segment id changes.
    """
    if keep_idx.size == 0:
        return np.zeros(0, dtype=np.int64)
    gap = np.diff(keep_idx) != 1
    changed = np.diff(old_segment[keep_idx]) != 0
    starts = np.concatenate([[False], gap | changed])
    return np.cumsum(starts).astype(np.int64)


@dataclass(frozen=True, eq=False)
class DrivingLog:
    """A driving log: time series on one time base, standard signal names, SI units.

    Attributes:
        t: (T,) float64 time (s), strictly increasing. Loaders start it at 0; pieces made by
            ``select``/``split``/``segments`` keep the time axis of the log they came from, so a
            held-out piece can be placed in the full log.
        data: read-only mapping name -> (T,) float64 array in SI units (see ``STANDARD_SIGNALS``:
            ``x, y`` m world frame; ``psi`` rad; ``vx, vy`` m/s body frame; ``r`` rad/s; ``ax, ay``
            m/s^2 body frame; ``delta`` rad road wheel; ``throttle`` 0..1; ``brake_Pa`` Pa; ``Fx`` N;
            ``w_fl, w_fr, w_rl, w_rr`` m/s).
        source: where the log came from (file path), used in error messages.
        segment: (T,) int64 id of the contiguous stretch each row belongs to, 0..K-1, non-decreasing.
            Rows removed by a filter break a segment; never difference or integrate across segments.
        t0_s: absolute time of ``t == 0`` in the original recording (e.g. unix epoch s), if known.

    Construction validates everything (finite values, shapes, strictly increasing time); use
    :meth:`from_arrays` to build one from raw arrays.

    Raises:
        LogError: on any invalid content; the message names the source and the signal.
    """

    t: np.ndarray
    data: Mapping[str, np.ndarray]
    source: str = "<arrays>"
    segment: np.ndarray | None = None
    t0_s: float = 0.0

    def __post_init__(self) -> None:
        src = self.source
        t = np.array(self.t, dtype=np.float64, copy=True).reshape(-1) if np.ndim(self.t) <= 1 else None
        if t is None:
            raise LogError(f"{src}: time must be a 1-D array, got shape {np.shape(self.t)}.")
        if t.size == 0:
            raise LogError(f"{src}: the log has no samples. Check that the file holds data rows/messages.")
        bad = ~np.isfinite(t)
        if bad.any():
            i = int(np.argmax(bad))
            raise LogError(
                f"{src}: time has a non-finite value ({t[i]}) at row {i}. Remove or repair that row."
            )
        if t.size > 1:
            d = np.diff(t)
            if (d <= 0).any():
                i = int(np.argmax(d <= 0))
                kind = "duplicated" if d[i] == 0 else "non-monotonic (goes backwards)"
                raise LogError(
                    f"{src}: timestamps are {kind} at row {i + 1}: t[{i}]={t[i]!r}, t[{i + 1}]={t[i + 1]!r}. "
                    "Time must be strictly increasing: sort the rows by time and drop duplicates."
                )
        data: dict[str, np.ndarray] = {}
        for name, arr in dict(self.data).items():
            if not isinstance(name, str) or not _NAME_RE.match(name):
                raise LogError(f"{src}: signal name {name!r} is not a valid identifier; rename it.")
            if name == "t":
                raise LogError(f"{src}: 't' is the time base, not a signal; pass it as t.")
            try:
                a = np.array(arr, dtype=np.float64, copy=True)
            except (TypeError, ValueError) as e:
                raise LogError(f"{src}: signal {name!r} is not numeric ({e}).") from None
            if a.shape != t.shape:
                raise LogError(
                    f"{src}: signal {name!r} has shape {a.shape} but time has {t.shape}; "
                    "every signal needs one value per time sample."
                )
            bad = ~np.isfinite(a)
            if bad.any():
                i = int(np.argmax(bad))
                raise LogError(
                    f"{src}: signal {name!r} has {int(bad.sum())} non-finite value(s) (first: {a[i]} at "
                    f"row {i}, t={t[i]:.6g} s). Drop or interpolate those rows before loading."
                )
            a.setflags(write=False)
            data[name] = a
        if self.segment is None:
            seg = np.zeros(t.shape, dtype=np.int64)
        else:
            seg = np.array(self.segment, dtype=np.int64, copy=True).reshape(-1)
            if seg.shape != t.shape:
                raise LogError(f"{src}: segment has shape {seg.shape} but time has {t.shape}.")
            d = np.diff(seg)
            if seg[0] != 0 or ((d != 0) & (d != 1)).any():
                raise LogError(f"{src}: segment ids must be 0, 1, 2, ... in order (non-decreasing by 1).")
        t.setflags(write=False)
        seg.setflags(write=False)
        object.__setattr__(self, "t", t)
        object.__setattr__(self, "data", MappingProxyType(data))
        object.__setattr__(self, "segment", seg)
        object.__setattr__(self, "t0_s", float(self.t0_s))
        object.__setattr__(self, "source", str(self.source))

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrays(
        cls,
        t,
        data: Mapping[str, object],
        source: str = "<arrays>",
        segment=None,
        zero_time: bool = True,
    ) -> DrivingLog:
        """Build and validate a log from arrays.

        Args:
            t: (T,) time (s), strictly increasing.
            data: name -> (T,) values, already in SI units under standard names.
            source: label for error messages (usually the file path).
            segment: optional (T,) segment ids (default: one segment).
            zero_time: shift ``t`` so it starts at 0 and keep the offset in ``t0_s`` (default True).
        Raises:
            LogError: NaN/inf, duplicated or non-monotonic time, shape mismatch, empty log.
        """
        t_arr = np.asarray(t, dtype=np.float64)
        t0 = 0.0
        if zero_time and t_arr.ndim == 1 and t_arr.size and np.isfinite(t_arr[0]):
            t0 = float(t_arr[0])
            t_arr = t_arr - t0
        return cls(t=t_arr, data=dict(data), source=source, segment=segment, t0_s=t0)

    # ------------------------------------------------------------------ access
    def __getitem__(self, name: str) -> np.ndarray:
        """Signal ``name`` as a read-only (T,) float64 array (SI). Raises LogError if absent."""
        if name == "t":
            return self.t
        try:
            return self.data[name]
        except KeyError:
            raise LogError(
                f"{self.source}: the log has no signal {name!r} (it has: {', '.join(sorted(self.data))}). "
                f"Record {name!r}, or map a column to it with a column map (configs/column_maps/)."
            ) from None

    def has(self, name: str) -> bool:
        """True if signal ``name`` is present."""
        return name in self.data

    def require(self, *names: str) -> None:
        """Raise LogError listing every one of ``names`` that is missing."""
        missing = [n for n in names if n not in self.data]
        if missing:
            raise LogError(
                f"{self.source}: missing required signal(s) {', '.join(missing)} "
                f"(the log has: {', '.join(sorted(self.data))}). Record them, or map a column to them "
                "with a column map (configs/column_maps/)."
            )

    @property
    def names(self) -> list[str]:
        """Signal names, sorted."""
        return sorted(self.data)

    def __len__(self) -> int:
        return int(self.t.size)

    def __repr__(self) -> str:
        return (
            f"DrivingLog(source={self.source!r}, samples={len(self)}, duration_s={self.duration_s:.2f}, "
            f"dt={self.dt:.4g}, segments={self.n_segments}, signals={self.names})"
        )

    @property
    def n_segments(self) -> int:
        """Number of contiguous segments."""
        return int(self.segment[-1]) + 1

    @property
    def dt(self) -> float:
        """Nominal sample time (s): median time step within segments (nan for a single sample)."""
        if self.t.size < 2:
            return float("nan")
        d = np.diff(self.t)[np.diff(self.segment) == 0]
        if d.size == 0:
            return float("nan")
        return float(np.median(d))

    @property
    def duration_s(self) -> float:
        """Driving time covered (s): number of samples times ``dt`` (gaps between segments excluded)."""
        if self.t.size < 2:
            return 0.0
        return float(self.t.size * self.dt)

    # ------------------------------------------------------------------ selection
    def _take(self, idx: np.ndarray, source: str | None = None) -> DrivingLog:
        idx = np.asarray(idx, dtype=np.int64)
        if idx.size == 0:
            raise LogError(f"{self.source}: the selection is empty; widen the time window or lower the "
                           "speed threshold.")
        return DrivingLog(
            t=self.t[idx],
            data={k: v[idx] for k, v in self.data.items()},
            source=source or self.source,
            segment=_segment_ids(idx, self.segment),
            t0_s=self.t0_s,
        )

    def select(
        self,
        t_start_s: float | None = None,
        t_end_s: float | None = None,
        min_speed_mps: float | None = None,
        min_segment_s: float = 0.0,
    ) -> DrivingLog:
        """Rows with ``t_start_s <= t <= t_end_s`` and ``vx >= min_speed_mps``.

        Rows dropped by the speed filter split segments (new ids 0..K-1). Segments shorter than
        ``min_segment_s`` (by sample count times ``dt``) are dropped too.

        Raises:
            LogError: empty selection, or a speed threshold on a log without ``vx``.
        """
        keep = np.ones(self.t.shape, dtype=bool)
        if t_start_s is not None:
            keep &= self.t >= t_start_s
        if t_end_s is not None:
            keep &= self.t <= t_end_s
        if min_speed_mps is not None:
            keep &= self["vx"] >= min_speed_mps
        if not keep.any():
            raise LogError(
                f"{self.source}: no samples left after selecting t in [{t_start_s}, {t_end_s}] s and "
                f"vx >= {min_speed_mps} m/s (log spans 0..{self.t[-1]:.1f} s, vx max "
                f"{self.data['vx'].max() if 'vx' in self.data else float('nan'):.2f} m/s). "
                "Widen the window or lower the speed threshold."
            )
        idx = np.flatnonzero(keep)
        if min_segment_s > 0:
            seg = _segment_ids(idx, self.segment)
            dt = self.dt
            counts = np.bincount(seg)
            ok = counts * dt >= min_segment_s
            idx = idx[ok[seg]]
        return self._take(idx)

    def split(self, minutes: float = 3.0, min_speed_mps: float = 5.0) -> tuple[DrivingLog, DrivingLog]:
        """Split into (train, test): the first ``minutes`` of driving with ``vx >= min_speed_mps``
        and the rest of the driving.

        Driving time is counted as samples times ``dt`` after the speed filter, so train holds
        ``round(minutes * 60 / dt)`` samples. Each part may consist of several segments; the test part
        starts a new segment.

        Raises:
            LogError: not enough driving for the requested minutes plus at least one held-out sample.
        """
        if not minutes > 0:
            raise LogError(f"{self.source}: minutes must be positive, got {minutes}.")
        moving = self.select(min_speed_mps=min_speed_mps)
        n = int(round(minutes * 60.0 / moving.dt))
        if n >= len(moving):
            raise LogError(
                f"{self.source}: asked for {minutes} min of training data but the log has only "
                f"{moving.duration_s / 60:.2f} min with vx >= {min_speed_mps} m/s. Use fewer minutes "
                "(--minutes) so some driving is left for the held-out test."
            )
        idx = np.arange(len(moving))
        return moving._take(idx[:n]), moving._take(idx[n:])

    def segments(self) -> list[DrivingLog]:
        """The contiguous pieces, one log per segment id (each with a single segment 0)."""
        bounds = np.flatnonzero(np.diff(self.segment)) + 1
        pieces = np.split(np.arange(len(self)), bounds)
        return [self._take(p) for p in pieces]

    # ------------------------------------------------------------------ saving
    def to_npz(self, path: str | Path) -> Path:
        """Save as ``.npz`` (keys ``t``, ``segment``, ``t0_s``, one per signal); read back by ``load_log``."""
        path = Path(path)
        np.savez(path, t=self.t, segment=self.segment, t0_s=np.float64(self.t0_s), **dict(self.data))
        return path if path.suffix == ".npz" else path.with_suffix(path.suffix + ".npz")
