"""Indy Autonomous Challenge (IAC) CSV logs, as in ``../shared/data/driving/iac/`` (see its SOURCE.md).

Source: Chrosniak, Ning, Behl, "Deep Dynamics", IEEE RA-L 2024, data file
``deep_dynamics/data/Putnam_park2023_run4_2.csv`` (linklab-uva/deep-dynamics, GPL-3.0).

Format: first line ``# time(s),x(m),y(m),vx(m/s),...`` with units in parentheses; 25 Hz rows.
The header's units are read and converted with the unit table; columns map to standard names:
``phi -> psi`` (unwrapped to a continuous angle), ``omega -> r``, ``deltadelta -> delta_rate``,
``wheel_xx(kmph) -> w_xx`` (m/s), ``throttle_ped_cmd(%) -> throttle`` (0..1),
``brake_ped_cmd(kPa) -> brake_Pa`` (Pa). Other columns keep their name when it is a valid identifier
and their unit is known, and are skipped otherwise.
"""

from __future__ import annotations

import re
from pathlib import Path

from drift.logs.csv_map import ColumnMap, ColumnSpec, columns_to_log, read_csv_table, read_header
from drift.logs.errors import LogError
from drift.logs.log import _NAME_RE, DrivingLog
from drift.logs.units import UNITS

# IAC column name -> standard name. Units come from the header.
IAC_NAMES: dict[str, str] = {
    "time": "t",
    "x": "x",
    "y": "y",
    "vx": "vx",
    "vy": "vy",
    "phi": "psi",
    "delta": "delta",
    "omega": "r",
    "ax": "ax",
    "ay": "ay",
    "deltadelta": "delta_rate",
    "wheel_fl": "w_fl",
    "wheel_fr": "w_fr",
    "wheel_rl": "w_rl",
    "wheel_rr": "w_rr",
    "roll": "roll",
    "throttle_ped_cmd": "throttle",
    "brake_ped_cmd": "brake_Pa",
}

_COL_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*\(([^)]*)\)\s*$")


def _first_line(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
        if head[:2] == b"\x1f\x8b":
            import gzip

            with gzip.open(path, "rb") as g:
                head = g.read(4096)
    except OSError:
        return ""
    return head.decode("utf-8", "replace").splitlines()[0] if head else ""


def is_iac_csv(path: str | Path) -> bool:
    """True if the first line is an IAC header: '# ' then ``name(unit)`` columns incl. time, vx, omega."""
    line = _first_line(Path(path))
    if not line.startswith("# "):
        return False
    names = []
    for c in line[2:].split(","):
        m = _COL_RE.match(c)
        if not m:
            return False
        names.append(m.group(1))
    return {"time", "vx", "omega"} <= set(names)


def iac_column_map(header: list[str], source: str) -> ColumnMap:
    """Column map for an IAC header (units taken from the header).

    Raises:
        LogError: a header entry without ``(unit)`` or with a unit not in the unit table.
    """
    specs = []
    for col in header:
        m = _COL_RE.match(col)
        if not m:
            raise LogError(f"{source}: header column {col!r} is not of the form name(unit) expected of an "
                           "IAC log. Use a column map (--column-map) for this file instead.")
        raw, unit = m.group(1), m.group(2).strip()
        name = IAC_NAMES.get(raw, raw)
        if name not in IAC_NAMES.values() and (unit not in UNITS or not _NAME_RE.match(name)):
            continue  # unknown extra column with unknown unit: skip
        specs.append(ColumnSpec(column=col, name=name, unit=unit))
    return ColumnMap(tuple(specs), ",", f"IAC header of {source}")


def load_iac_csv(path: str | Path) -> DrivingLog:
    """Load an IAC CSV log (see module docstring).

    Returns:
        DrivingLog, t from 0 (unix epoch of the first row in ``t0_s``), SI units; ``psi`` unwrapped.
    Raises:
        LogError: empty file, non-numeric or NaN cells, bad timestamps, unknown header units, missing
            required columns (time, x, y, phi, vx, vy, omega, delta).
    """
    path = Path(path)
    header = read_header(path)
    cmap = iac_column_map(header, str(path))
    present = {s.name for s in cmap.columns}
    need = ["t", "x", "y", "psi", "vx", "vy", "r", "delta"]
    missing = [n for n in need if n not in present]
    if missing:
        inv = {v: k for k, v in IAC_NAMES.items()}
        raise LogError(f"{path}: IAC log lacks required column(s) {[inv[n] for n in missing]}; the header "
                       f"has {header}. Use a complete log or a column map.")
    header, table = read_csv_table(path)
    return columns_to_log(header, table, cmap, str(path))
