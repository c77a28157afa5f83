"""Generic CSV driving logs read through a YAML column map.

Column map format (YAML), one entry per CSV column to use::

    delimiter: ","            # optional (default ","); a header line may start with "# "
    columns:
      stamp_ns:   {name: t,     unit: ns}                 # exactly one column must map to t
      speed_kmh:  {name: vx,    unit: km/h}
      steer_deg:  {name: delta, unit: deg, scale: 0.0667, sign: -1}   # steering-wheel deg -> road wheel
      gas:        {name: throttle, unit: "%"}

The top-level ``columns:`` key may be omitted (then the whole mapping is the column table).
For each column: ``value_SI = sign * scale * unit_factor(unit) * raw + offset`` where ``unit`` is one
of :data:`drift.logs.units.UNITS` (default: already SI), ``scale`` a float (default 1), ``sign``
+1 or -1 (default +1) and ``offset`` an additive constant in SI units (default 0). ``name`` is a
standard name (``STANDARD_SIGNALS``; the unit's dimension is checked against it) or any other
identifier for extra signals. Columns not listed are ignored. ``psi`` is unwrapped to a
continuous angle after conversion.
"""

from __future__ import annotations

import gzip
import io
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from drift.logs.errors import LogError
from drift.logs.log import _NAME_RE, DrivingLog
from drift.logs.units import unit_factor


@dataclass(frozen=True)
class ColumnSpec:
    """How one CSV column becomes one signal: ``sign * scale * unit_factor * raw + offset`` (SI)."""

    column: str
    name: str
    unit: str | None = None
    scale: float = 1.0
    sign: int = 1
    offset: float = 0.0


@dataclass(frozen=True)
class ColumnMap:
    """A parsed column map: the column specs and the CSV delimiter. ``source`` names the YAML file."""

    columns: tuple[ColumnSpec, ...]
    delimiter: str = ","
    source: str = "<column map>"


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def parse_column_map(spec: Mapping[str, Any], source: str = "<column map>") -> ColumnMap:
    """Validate a column-map mapping (already parsed from YAML) into a :class:`ColumnMap`.

    Raises:
        LogError: bad structure, sign not +-1, non-finite/zero scale, bad names, no or several
            ``t`` columns, two columns mapped to one name, unknown units.
    """
    if not isinstance(spec, Mapping):
        raise LogError(f"{source}: a column map must be a mapping 'column: {{name: ..., unit: ...}}'.")
    delimiter = spec.get("delimiter", ",") if "columns" in spec else ","
    table = spec["columns"] if "columns" in spec else spec
    if not isinstance(table, Mapping) or not table:
        raise LogError(f"{source}: the column map has no columns; add 'column: {{name: ..., unit: ...}}'.")
    cols: list[ColumnSpec] = []
    seen: dict[str, str] = {}
    for col, entry in table.items():
        where = f"{source}: column {col!r}"
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, Mapping) or "name" not in entry:
            raise LogError(f"{where}: expected a mapping with at least 'name' (and optional unit, scale, "
                           "sign, offset).")
        unknown = set(entry) - {"name", "unit", "scale", "sign", "offset"}
        if unknown:
            raise LogError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: name, unit, scale, sign, "
                           "offset.")
        name = str(entry["name"])
        if not _NAME_RE.match(name):
            raise LogError(f"{where}: target name {name!r} is not a valid identifier.")
        if name in seen:
            raise LogError(f"{where}: name {name!r} is already given to column {seen[name]!r}; map each "
                           "signal once.")
        seen[name] = str(col)
        try:
            scale = float(entry.get("scale", 1.0))
            offset = float(entry.get("offset", 0.0))
        except (TypeError, ValueError):
            raise LogError(f"{where}: scale and offset must be numbers.") from None
        if not math.isfinite(scale) or scale == 0 or not math.isfinite(offset):
            raise LogError(f"{where}: scale must be finite and non-zero and offset finite.")
        sign = entry.get("sign", 1)
        if sign not in (1, -1, "+", "-", "+1", "-1"):
            raise LogError(f"{where}: sign must be +1 or -1, got {sign!r}.")
        sign = -1 if str(sign).startswith("-") else 1
        unit = entry.get("unit")
        unit = None if unit is None else str(unit)
        unit_factor(unit, where, name)  # validates unit and dimension now
        cols.append(ColumnSpec(str(col), name, unit, scale, sign, offset))
    if "t" not in seen:
        raise LogError(f"{source}: no column is mapped to the time 't'; "
                       "add e.g. 'stamp: {{name: t, unit: s}}'.")
    return ColumnMap(tuple(cols), str(delimiter), source)


def load_column_map(path: str | Path) -> ColumnMap:
    """Read a YAML column map file (see module docstring). Raises LogError if absent or invalid."""
    path = Path(path)
    if not path.is_file():
        raise LogError(f"column map {path} does not exist; give the path of a YAML column map "
                       "(examples in configs/column_maps/).")
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise LogError(f"column map {path} is not valid YAML: {e}") from None
    return parse_column_map(spec or {}, str(path))


def read_header(path: Path, delimiter: str = ",") -> list[str]:
    """The CSV header (first non-empty line, an optional leading '# ' stripped) as column names.

    Raises:
        LogError: the file has no non-empty line.
    """
    with _open_text(path) as f:
        for line in f:
            if line.strip():
                line = line.strip()
                if line.startswith("#"):
                    line = line[1:]
                return [c.strip() for c in line.split(delimiter)]
    raise LogError(f"{path}: the file is empty. Give a CSV with a header line and data rows.")


def read_csv_table(path: str | Path, delimiter: str = ",") -> tuple[list[str], np.ndarray]:
    """Read a numeric CSV with one header line.

    Returns:
        (header, table) with table of shape (N, C) float64 (NaN cells kept; validation happens later).
    Raises:
        LogError: missing/empty file, no data rows, ragged rows, non-numeric cells (names line and column).
    """
    path = Path(path)
    if not path.is_file():
        raise LogError(f"{path}: file not found.")
    header = read_header(path, delimiter)
    with _open_text(path) as f:
        lineno = 0
        while True:  # skip up to and including the header line
            line = f.readline()
            lineno += 1
            if not line or line.strip():
                break
        text = f.read()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": handled below
            table = np.loadtxt(io.StringIO(text), delimiter=delimiter, dtype=np.float64, ndmin=2)
    except ValueError:
        # find the offending line/column for a precise message
        for k, line in enumerate(text.splitlines(), start=lineno + 1):
            if not line.strip():
                continue
            cells = line.split(delimiter)
            if len(cells) != len(header):
                raise LogError(
                    f"{path}: line {k} has {len(cells)} fields but the header has {len(header)}. "
                    "The file may be truncated or have a stray delimiter; fix or delete that line."
                ) from None
            for c, cell in zip(header, cells, strict=True):
                try:
                    float(cell)
                except ValueError:
                    raise LogError(
                        f"{path}: line {k}, column {c!r}: {cell.strip()!r} is not a number. "
                        "Fix or delete that line."
                    ) from None
        raise LogError(f"{path}: could not parse the CSV data.") from None
    if table.size == 0:
        raise LogError(f"{path}: the file has a header but no data rows. Record some data.")
    if table.shape[1] != len(header):
        raise LogError(f"{path}: the data has {table.shape[1]} columns but the header names {len(header)}.")
    return header, table


def columns_to_log(
    header: list[str], table: np.ndarray, cmap: ColumnMap, source: str, post=None
) -> DrivingLog:
    """Apply a column map to a parsed table and validate the result as a DrivingLog.

    Raises:
        LogError: a mapped column absent from the file (lists the file's columns), NaN/inf cells
            (names the column and line), bad time stamps.
    """
    index = {c: i for i, c in enumerate(header)}
    missing = [s.column for s in cmap.columns if s.column not in index]
    if missing:
        raise LogError(
            f"{source}: column map {cmap.source} names column(s) {missing} that the file does not have. "
            f"The file's columns are: {header}. Fix the column names in the map."
        )
    out: dict[str, np.ndarray] = {}
    for s in cmap.columns:
        raw = table[:, index[s.column]]
        bad = ~np.isfinite(raw)
        if bad.any():
            i = int(np.argmax(bad))
            raise LogError(
                f"{source}: column {s.column!r} has {int(bad.sum())} NaN/inf value(s), first at data row "
                f"{i + 1} (line {i + 2}). Drop or interpolate those rows before loading."
            )
        f = unit_factor(s.unit, f"{source}: column {s.column!r}", s.name)
        out[s.name] = s.sign * s.scale * f * raw + s.offset
    t = out.pop("t")
    if "psi" in out:  # yaw is stored as a continuous angle (no +-pi jumps)
        out["psi"] = np.unwrap(out["psi"])
    if post is not None:
        out = post(out)
    return DrivingLog.from_arrays(t, out, source=source)


def load_csv(path: str | Path, column_map: str | Path | Mapping | ColumnMap) -> DrivingLog:
    """Load a CSV log through a column map (YAML path, parsed mapping or :class:`ColumnMap`).

    Args:
        path: CSV file (``.csv`` or ``.csv.gz``) with one header line (optionally prefixed '# ').
        column_map: see module docstring.
    Returns:
        DrivingLog with ``t`` starting at 0 (absolute start kept in ``t0_s``).
    Raises:
        LogError: see :func:`read_csv_table`, :func:`parse_column_map`, :func:`columns_to_log`.
    """
    if isinstance(column_map, ColumnMap):
        cmap = column_map
    elif isinstance(column_map, Mapping):
        cmap = parse_column_map(column_map)
    else:
        cmap = load_column_map(column_map)
    header, table = read_csv_table(path, cmap.delimiter)
    return columns_to_log(header, table, cmap, str(path))
