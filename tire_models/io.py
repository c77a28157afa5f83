"""Saving and loading fitted tyres: ``model.yaml`` (+ ``weights.pt`` for network-backed models).

``model.yaml`` holds ``{"model": name, "front": {...}, "rear": {...}}`` (the keys of
:meth:`tire_models.base.AxleTires.to_dict`, each parameter key carrying its unit), plus any
extra sections the caller adds (``drift fit`` adds ``sensor``, ``longitudinal_map``, ``vehicle``,
``bounds_hit``). A model backed by network weights defines ``weights() -> dict[str, Tensor]``
and ``from_dict(d, weights=None)``; its weights go to ``weights.pt`` = ``{"front": ..., "rear": ...}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from drift.errors import DriftError
from tire_models.base import REGISTRY, AxleTires


def save_tires(
    tires: AxleTires, run_dir: str | Path, extra: dict[str, Any] | None = None, name: str = "model.yaml"
) -> Path:
    """Write ``run_dir/model.yaml`` (and ``run_dir/weights.pt`` when the model has weights).

    Args:
        tires: the fitted front and rear models (plain, frozen).
        run_dir: folder (created if missing).
        extra: further top-level sections (must be YAML-serialisable plain data).
        name: file name of the YAML.
    Returns:
        Path of the YAML file.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    d = tires.to_dict()
    if hasattr(tires.front, "weights"):
        import torch

        torch.save({"front": tires.front.weights(), "rear": tires.rear.weights()}, run_dir / "weights.pt")
        d["weights"] = "weights.pt"
    d.update(extra or {})
    path = run_dir / name
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    return path


def read_model_yaml(path: str | Path) -> tuple[dict, Path]:
    """The parsed ``model.yaml`` of a run folder or YAML path, and the file's path.

    Raises:
        DriftError: missing file, invalid YAML, or not a mapping.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "model.yaml"
    if not p.exists():
        raise DriftError(f"{p}: no such tyre file; pass a run folder of drift fit or its model.yaml")
    try:
        d = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise DriftError(f"{p}: not valid YAML ({e})") from None
    if not isinstance(d, dict):
        raise DriftError(f"{p}: expected a mapping with 'model', 'front' and 'rear'")
    return d, p


def load_tires(path: str | Path) -> AxleTires:
    """Load the tyres written by :func:`save_tires` (a run folder or a YAML path).

    Raises:
        DriftError: missing file, bad YAML, unknown model, bad parameters, missing weights.pt.
    """
    d, p = read_model_yaml(path)
    name = d.get("model")
    if name not in REGISTRY:
        raise DriftError(f"{p}: unknown tyre model {name!r}; known: {sorted(REGISTRY)}")
    cls = REGISTRY[name]
    for axle in ("front", "rear"):
        if not isinstance(d.get(axle), dict):
            raise DriftError(f"{p}: needs a '{axle}' section with the {name} parameters of that axle")
    try:
        if "weights" in d:
            import torch

            wp = p.parent / d["weights"]
            if not wp.exists():
                raise DriftError(f"{p}: names weights file {d['weights']!r} but {wp} is missing")
            try:
                w = torch.load(wp, weights_only=True)
            except Exception as e:  # noqa: BLE001 - torch.load raises many types for a damaged file
                raise DriftError(
                    f"{wp}: not a readable weights file ({type(e).__name__}: corrupt or truncated); "
                    "re-run drift fit to write it again"
                ) from None
            if not (isinstance(w, dict) and "front" in w and "rear" in w):
                raise DriftError(f"{wp}: expected a dict with 'front' and 'rear' weights; re-run drift fit")
            return AxleTires(
                cls.from_dict(d["front"], weights=w["front"]), cls.from_dict(d["rear"], weights=w["rear"])
            )
        return AxleTires.from_dict({"model": name, "front": d["front"], "rear": d["rear"]})
    except (ValueError, KeyError, TypeError) as e:
        raise DriftError(f"{p}: {e}") from None
