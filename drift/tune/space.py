"""The search space of a reward sweep: which reward weights (and agent hyperparameters) vary, and how.

A YAML file (default ``configs/tune/space.yaml``) with two sections, ``reward`` (keys of
:class:`drift.racing.reward.RewardWeights`: ``w_off_course``, ``alpha_free_rad``, ...) and ``agent``
(fields of :class:`controllers.qrsac.QRSACConfig`: ``lr_actor``, ``n_step``, ``alpha``, ...). Each key is:

- a number (or any YAML value): fixed;
- ``{low: L, high: H}``: uniform on [L, H]; ``log: true``: log-uniform (L > 0); ``int: true``: integers;
  ``grid: [...]``: the values a grid search takes (default: low, middle, high);
- ``{choices: [...]}``: one of the values.

A reward key that is absent keeps the default of ``configs/racing/reward.yaml``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from drift.config import config_dir
from drift.errors import ConfigError

__all__ = ["Param", "SearchSpace", "load_space"]


@dataclass(frozen=True)
class Param:
    """One swept key: ``section`` (``reward`` or ``agent``), ``name``, and either ``low``/``high``
    (``log``, ``integer``, ``grid``) or ``choices``."""

    section: str
    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple | None = None
    grid: tuple | None = None

    @property
    def key(self) -> str:
        """The trial parameter's name: ``reward.w_wall``, ``agent.lr_actor``."""
        return f"{self.section}.{self.name}"

    def distribution(self):
        """The optuna distribution of this key."""
        import optuna.distributions as d

        if self.choices is not None:
            return d.CategoricalDistribution(list(self.choices))
        if self.integer:
            return d.IntDistribution(int(self.low), int(self.high), log=self.log)
        return d.FloatDistribution(float(self.low), float(self.high), log=self.log)

    def grid_values(self) -> list:
        """The values of a grid search: ``choices``, ``grid``, or low, middle (geometric if ``log``), high."""
        if self.choices is not None:
            return list(self.choices)
        if self.grid is not None:
            return list(self.grid)
        mid = math.sqrt(self.low * self.high) if self.log else 0.5 * (self.low + self.high)
        vals = [self.low, mid, self.high]
        return sorted({int(round(v)) for v in vals}) if self.integer else vals


@dataclass(frozen=True)
class SearchSpace:
    """Swept keys (``params``) and fixed values (``fixed``: ``{"reward": {...}, "agent": {...}}``)."""

    params: tuple[Param, ...]
    fixed: dict[str, dict[str, Any]]

    def distributions(self) -> dict[str, Any]:
        """Optuna distributions per trial parameter (``{"reward.w_wall": FloatDistribution, ...}``)."""
        return {p.key: p.distribution() for p in self.params}

    def grid(self) -> dict[str, list]:
        """The values of a grid search per trial parameter (:meth:`Param.grid_values`)."""
        return {p.key: p.grid_values() for p in self.params}

    def split(self, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Trial values (``{"reward.w_wall": 3.0, ...}``) plus the fixed ones -> (reward keys, agent keys)."""
        reward, agent = dict(self.fixed["reward"]), dict(self.fixed["agent"])
        for k, v in values.items():
            section, _, name = k.partition(".")
            (reward if section == "reward" else agent)[name] = v
        return reward, agent


def _param(section: str, name: str, spec: dict, where: str) -> Param:
    unknown = set(spec) - {"low", "high", "log", "int", "choices", "grid"}
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)} (use low/high/log/int/grid or choices)")
    if "choices" in spec:
        ch = spec["choices"]
        if not isinstance(ch, list) or not ch:
            raise ConfigError(f"{where}: choices must be a non-empty list")
        return Param(section, name, choices=tuple(ch))
    try:
        low, high = float(spec["low"]), float(spec["high"])
    except (KeyError, TypeError, ValueError):
        raise ConfigError(f"{where}: a range needs numbers low and high, got {spec}") from None
    log = bool(spec.get("log", False))
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ConfigError(f"{where}: need finite low < high, got low={low}, high={high}")
    if log and low <= 0:
        raise ConfigError(f"{where}: a log-uniform range needs low > 0, got {low}")
    grid = spec.get("grid")
    if grid is not None and (not isinstance(grid, list) or not grid):
        raise ConfigError(f"{where}: grid must be a non-empty list")
    return Param(
        section, name, low, high, log, bool(spec.get("int", False)), None, tuple(grid) if grid else None
    )


def load_space(path: str | Path | None = None) -> SearchSpace:
    """Read a search-space YAML (module doc; default ``configs/tune/space.yaml``).

    Raises:
        ConfigError: unreadable YAML, unknown sections or keys (not reward weights or QR-SAC fields),
            malformed ranges (low >= high, a log range from 0, empty choices).
    """
    from controllers.qrsac import QRSACConfig
    from drift.racing.reward import RewardWeights

    p = Path(path) if path is not None else config_dir() / "tune" / "space.yaml"
    try:
        d = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read search space {p}: {e}") from None
    if not isinstance(d, dict) or set(d) - {"reward", "agent"}:
        raise ConfigError(f"{p}: expected sections 'reward' and/or 'agent', got {sorted(d or {})}")
    known = {
        "reward": set(RewardWeights().to_dict()),
        "agent": {f.name for f in dataclasses.fields(QRSACConfig)} - {"seed", "device", "workers"},
    }
    params: list[Param] = []
    fixed: dict[str, dict[str, Any]] = {"reward": {}, "agent": {}}
    for section in ("reward", "agent"):
        sec = d.get(section) or {}
        if not isinstance(sec, dict):
            raise ConfigError(f"{p}: section {section!r} must be a mapping")
        bad = sorted(set(sec) - known[section])
        if bad:
            raise ConfigError(f"{p}: {section} keys {bad} unknown; known: {sorted(known[section])}")
        for name, spec in sec.items():
            if isinstance(spec, dict):
                params.append(_param(section, name, spec, f"{p}: {section}.{name}"))
            else:
                fixed[section][name] = spec
    if not params:
        raise ConfigError(f"{p}: nothing to sweep (every key is fixed)")
    return SearchSpace(tuple(params), fixed)
