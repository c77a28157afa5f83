"""The ``drift`` command line. Each subcommand lives in ``drift/commands/<name>.py``.

A command module exposes either ``command`` (a function with typer annotations) or ``app``
(a ``typer.Typer`` group, e.g. ``drift ros up``). Heavy imports stay inside the functions so
``drift --help`` is fast.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

from drift.errors import DriftError

COMMANDS = ("fit", "equilibria", "mpc", "race", "laptime", "train", "tune", "ros")

app = typer.Typer(
    help="drift: physics-informed vehicle control. Results go to runs/<command>-<timestamp>/.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """drift: physics-informed vehicle control."""

for _name in COMMANDS:
    try:
        _mod = importlib.import_module(f"drift.commands.{_name}")
    except ModuleNotFoundError as _e:
        if _e.name != f"drift.commands.{_name}":
            raise
        continue
    if hasattr(_mod, "app"):
        app.add_typer(_mod.app, name=_name)
    else:
        app.command(_name, help=_mod.command.__doc__)(_mod.command)


def main() -> None:
    """Entry point: user errors print a one-line message and exit with status 2."""
    try:
        app()
    except DriftError as e:
        if os.environ.get("DRIFT_DEBUG"):
            raise
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
