"""Driving logs: load any supported recording into one validated :class:`DrivingLog`.

Supported inputs (``load_log`` picks the reader from the path):

- ``.csv`` / ``.csv.gz`` with an IAC header (``# time(s),x(m),...``): :func:`load_iac_csv`;
- any other ``.csv`` with a YAML column map (``column_map=``): :func:`load_csv`;
- rosbag2 ``.mcap``, ``.db3`` or a bag directory with ``metadata.yaml``: :func:`load_rosbag`;
- ``.npz`` written by :meth:`DrivingLog.to_npz`: :func:`load_npz`.
"""

from __future__ import annotations

from pathlib import Path

from drift.logs.csv_map import ColumnMap, ColumnSpec, load_column_map, load_csv, parse_column_map
from drift.logs.errors import LogError
from drift.logs.iac import is_iac_csv, load_iac_csv
from drift.logs.log import DrivingLog
from drift.logs.units import STANDARD_SIGNALS, UNITS, unit_factor

__all__ = [
    "DrivingLog", "LogError", "load_log", "default_log_path", "load_iac_csv", "load_csv", "load_npz",
    "load_rosbag", "write_rosbag", "load_column_map", "parse_column_map", "ColumnMap", "ColumnSpec",
    "is_iac_csv",
    "STANDARD_SIGNALS", "UNITS", "unit_factor",
]

DEFAULT_LOG_NAME = "iac_putnam_park2023_run4_2_first300s.csv.gz"


def default_log_path() -> Path:
    """Path of the shipped excerpt of the real IAC log (first 300 s; GPL-3.0, see drift/data/NOTICE.md)."""
    return Path(__file__).resolve().parent.parent / "data" / DEFAULT_LOG_NAME


def load_npz(path: str | Path) -> DrivingLog:
    """Load a log saved by :meth:`DrivingLog.to_npz` (keys ``t``, optional ``segment``/``t0_s``, signals).

    Raises:
        LogError: unreadable file, no ``t`` key, invalid content.
    """
    import zipfile

    import numpy as np

    path = Path(path)
    with open(path, "rb") as fh:
        if fh.read(4) != b"PK\x03\x04":  # np.load would report anything else as "pickled data"
            raise LogError(f"{path}: not an .npz archive (no zip header). Save logs with DrivingLog.to_npz.")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise LogError(f"{path}: cannot read as .npz ({e}). Save logs with DrivingLog.to_npz.") from None
    if "t" not in arrays:
        raise LogError(f"{path}: the .npz has no 't' (time) array; it has {sorted(arrays)}.")
    t = arrays.pop("t")
    seg = arrays.pop("segment", None)
    t0 = float(arrays.pop("t0_s", 0.0))
    return DrivingLog(t=t, data=arrays, source=str(path), segment=seg, t0_s=t0)


def write_rosbag(log: DrivingLog, path, **kwargs):
    """Write a log as a rosbag2 recording; see :func:`drift.logs.rosbag.write_rosbag`."""
    from drift.logs.rosbag import write_rosbag as _write

    return _write(log, path, **kwargs)


def load_rosbag(path, **kwargs) -> DrivingLog:
    """Load a rosbag2 recording; see :func:`drift.logs.rosbag.load_rosbag`."""
    from drift.logs.rosbag import load_rosbag as _load

    return _load(path, **kwargs)


def load_log(path: str | Path | None = None, column_map=None, require=(), **kwargs) -> DrivingLog:
    """Load a driving log, choosing the reader from the path.

    Args:
        path: log file or bag directory; ``None`` loads the shipped IAC excerpt (:func:`default_log_path`).
        column_map: YAML path / mapping / ColumnMap for a generic CSV (overrides IAC auto-detection).
        require: signal names that must be present (e.g. ``("vx", "vy", "r", "delta")``).
        **kwargs: passed to the rosbag reader (topic names, ``mass_kg``, ``rate_hz``).
    Returns:
        DrivingLog (SI units, standard names).
    Raises:
        LogError: missing path, unsupported format, CSV without a column map, a required signal
            missing, or any reader error.
    """
    log = _load(path, column_map, **kwargs)
    log.require(*require)
    return log


def _load(path, column_map, **kwargs) -> DrivingLog:
    if path is None:
        path = default_log_path()
    path = Path(path)
    if not path.exists():
        raise LogError(f"{path}: no such file or directory. Give the path of a .csv, .mcap, .db3, .npz "
                       "log or a rosbag2 directory.")
    name = path.name.lower()
    if path.is_dir() or name.endswith((".mcap", ".db3")):
        return load_rosbag(path, **kwargs)
    if name.endswith(".npz"):
        return load_npz(path)
    if name.endswith((".csv", ".csv.gz", ".txt")):
        if column_map is not None:
            return load_csv(path, column_map)
        if path.stat().st_size == 0:
            raise LogError(f"{path}: the file is empty. Give a CSV with a header line and data rows.")
        if is_iac_csv(path):
            return load_iac_csv(path)
        raise LogError(f"{path}: not an IAC CSV (its first line is not '# time(s),...,vx(m/s),...,"
                       "omega(rad/s),...'); give a YAML column map (--column-map, examples in "
                       "configs/column_maps/) that maps its columns to standard names and units.")
    raise LogError(f"{path}: unsupported log format {path.suffix!r}; use .csv (+column map), .mcap, .db3, "
                   ".npz or a rosbag2 directory.")
