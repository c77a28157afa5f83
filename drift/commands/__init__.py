"""Subcommands of ``drift``: one module each, exposing ``main(argv)``.

A command's options are one typed dataclass (its ``Options``), parsed by tyro: the flags, their help
and defaults come from the fields and their docstrings, and ``--config FILE`` reads the same keys from a
YAML file (flags given as well override it); ``--config NAME`` reads a shipped preset,
``configs/presets/<command>/NAME.yaml``. A config dataclass nested with ``tyro.conf.arg(name="")``
(e.g. ``drift fit``'s :class:`~tire_models.fit.pipeline.FitConfig`) contributes its fields as flags
without a prefix, and its keys sit at the top level of the YAML. The run folder gets the options in
effect as ``options.yaml``, which ``--config`` reads back.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from drift.errors import DriftError

T = TypeVar("T")


def parse_options(options_type: type[T], argv: Sequence[str], prog: str) -> T:
    """``argv`` parsed into ``options_type`` (a dataclass with a ``config: Path | None`` field).

    Raises:
        DriftError: an unreadable ``--config`` file or a key it has that is not an option.
        SystemExit: bad flags (tyro prints the usage and the reason).
    """
    import tyro

    argv = list(argv)
    default = None
    path = _config_arg(argv)
    if path is not None:
        default = options_from_yaml(options_type, _preset(path, prog))
    return tyro.cli(options_type, args=argv, prog=prog, default=default)


def _config_arg(argv: list[str]) -> Path | None:
    for i, a in enumerate(argv):
        if a == "--config" and i + 1 < len(argv):
            return Path(argv[i + 1])
        if a.startswith("--config="):
            return Path(a.split("=", 1)[1])
    return None


def _preset(path: Path, prog: str) -> Path:
    """``--config NAME`` without a suffix and no such file: the shipped preset
    ``configs/presets/<command>/NAME.yaml`` (e.g. ``drift fit --config drift``)."""
    if path.is_file() or path.suffix:
        return path
    from drift.config import config_dir

    folder = config_dir() / "presets" / Path(*prog.split()[1:])
    if (folder / f"{path}.yaml").is_file():
        return folder / f"{path}.yaml"
    known = sorted(f.stem for f in folder.glob("*.yaml"))
    raise DriftError(f"--config {path}: no such file, nor a preset of {prog} (presets: {known or 'none'})")


def _hints(cls) -> dict[str, Any]:
    """Field types with ``Annotated`` stripped."""
    return {k: typing.get_origin(v) is typing.Annotated and v.__origin__ or v
            for k, v in typing.get_type_hints(cls, include_extras=True).items()}


def _nested(cls) -> dict[str, type]:
    return {k: t for k, t in _hints(cls).items() if dataclasses.is_dataclass(t)}


def _is_path(t) -> bool:
    return t is Path or (isinstance(t, types.UnionType) and Path in typing.get_args(t))


def options_from_yaml(options_type: type[T], path: Path) -> T:
    """Options with the values of a YAML mapping ``path`` (keys as the flags, ``_`` for ``-``), defaults
    for the rest.

    Raises:
        DriftError: missing or invalid file, an unknown key, or a value its option refuses.
    """
    if not path.is_file():
        raise DriftError(f"--config {path}: no such file")
    try:
        d = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise DriftError(f"--config {path}: not valid YAML ({e})") from None
    if not isinstance(d, dict):
        raise DriftError(f"--config {path}: expected a mapping of option names to values")
    hints, nested = _hints(options_type), _nested(options_type)
    owner = {k: None for k in hints if k not in nested and k != "config"}
    for n, t in nested.items():
        owner.update({f.name: n for f in dataclasses.fields(t)})
    top: dict[str, Any] = {}
    sub: dict[str, dict[str, Any]] = {n: {} for n in nested}
    for key, v in d.items():
        key = str(key).replace("-", "_")
        if key not in owner:
            raise DriftError(f"--config {path}: unknown option {key!r}; known: {sorted(owner)}")
        v = tuple(v) if isinstance(v, list) else v
        hint = hints[key] if owner[key] is None else _hints(nested[owner[key]])[key]
        _check_type(path, key, v, hint)
        if owner[key] is None:
            top[key] = Path(v) if _is_path(hints[key]) and isinstance(v, str) else v
        else:
            sub[owner[key]][key] = v
    try:
        for n, t in nested.items():
            top[n] = t(**sub[n])
        return options_type(**top)
    except TypeError as e:
        raise DriftError(f"--config {path}: {e}") from None


def _check_type(path: Path, key: str, value: Any, hint) -> None:
    """A number-typed option given text (or text given a number) is named, with the type it takes."""
    args = typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) else (hint,)
    scalars = [t for t in args if t in (int, float, bool, str)]
    if value is None or not scalars or isinstance(value, tuple):
        return
    numeric = any(t in (int, float) for t in scalars)
    if isinstance(value, str) and str not in scalars or (
        numeric and str not in scalars and not isinstance(value, int | float)
    ):
        want = " or ".join(t.__name__ for t in args if t is not type(None))
        raise DriftError(f"--config {path}: {key} must be {want}, got {value!r}")


def options_to_dict(options: Any) -> dict[str, Any]:
    """The flat mapping :func:`options_from_yaml` reads (nested configs inlined, tuples as lists)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(options):
        v = getattr(options, f.name)
        if f.name == "config":
            continue
        if dataclasses.is_dataclass(v):
            out.update(options_to_dict(v))
        else:
            out[f.name] = str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v
    return out


def write_options(run_dir: Path, options: Any) -> Path:
    """Write ``run_dir/options.yaml``: the options in effect, readable by ``--config``."""
    path = Path(run_dir) / "options.yaml"
    path.write_text(yaml.safe_dump(options_to_dict(options), sort_keys=False))
    return path


def parse_subcommand(options: dict[str, type], argv: Sequence[str], prog: str) -> Any:
    """``prog NAME [options]``: ``argv[1:]`` parsed into ``options[NAME]`` (:func:`parse_options`).

    Raises:
        SystemExit: no or an unknown NAME (status 2; the usage lists the names), ``--help`` (status 0).
    """
    import sys

    argv = list(argv)
    if not argv or argv[0] not in options:
        width = max(map(len, options))
        names = ",".join(options)
        lines = [f"usage: {prog} {{{names}}} [OPTIONS]   ({prog} NAME --help for its options)", ""]
        lines += [f"  {n:<{width}}  {(t.__doc__ or '').strip().splitlines()[0]}" for n, t in options.items()]
        helped = bool(argv) and argv[0] in ("-h", "--help")
        if argv and not helped:
            lines += ["", f"error: unknown {prog} command {argv[0]!r}"]
        print("\n".join(lines), file=sys.stdout if helped else sys.stderr)
        raise SystemExit(0 if helped else 2)
    return parse_options(options[argv[0]], argv[1:], prog=f"{prog} {argv[0]}")
