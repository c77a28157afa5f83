"""Where drift finds its shipped configuration files."""

from __future__ import annotations

import os
from pathlib import Path


def config_dir() -> Path:
    """The ``configs/`` folder: ``$DRIFT_CONFIG_DIR`` if set, else the repository's own."""
    env = os.environ.get("DRIFT_CONFIG_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "configs"
