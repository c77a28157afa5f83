"""Run folders: every command that produces results writes them under one folder."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any


def make_run_dir(command: str, out: str | Path | None = None, root: str | Path = "runs") -> Path:
    """Create and print the run folder: ``out`` if given, else ``runs/<command>-<timestamp>``."""
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = Path(root) / f"{command}-{stamp}"
        i = 1
        while path.exists():
            path = Path(root) / f"{command}-{stamp}-{i}"
            i += 1
    else:
        path = Path(out)
    path.mkdir(parents=True, exist_ok=True)
    print(f"run folder: {path}", flush=True)
    return path


def _clean(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    if hasattr(v, "item") and getattr(v, "ndim", 1) == 0:
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None  # JSON has no NaN; null marks a figure that could not be computed
    return v


def write_metrics(run_dir: str | Path, metrics: dict[str, Any]) -> Path:
    """Write ``metrics.json`` (numpy scalars converted, NaN/inf written as null)."""
    path = Path(run_dir) / "metrics.json"
    path.write_text(json.dumps(_clean(metrics), indent=2) + "\n")
    return path
