"""The ``drift`` command line: ``drift <command> [options]``.

Each command lives in ``drift/commands/<name>.py``: its options are one dataclass, ``Options`` (or
``SUBCOMMANDS``, a dict of them, for ``drift race sim|tracks``), parsed by tyro
(:mod:`drift.commands`), and ``run(options)`` does the work. A command is imported only when it runs,
so ``drift --help`` is fast.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

from drift.errors import DriftError

COMMANDS = {
    "fit": "fit tyre models and sensor terms to a driving log; held-out errors against persistence",
    "eval": "a fitted tyre model on another log: held-out errors against persistence (and Deep Dynamics')",
    "equilibria": "drift equilibria of the single-track model: r, countersteer and Fxr against beta",
    "mpc": "a closed-loop drift scenario: the NMPC against a simulated car; metrics, plots, GIF",
    "laptime": "the minimum lap time of a car on a track (optimal control), checked in the simulator",
    "race": "the racing simulator and the QR-SAC agent: `drift race sim|train|eval|tracks`",
    "tune": "sweep the racing reward's weights: each trial trains the agent and is scored by its laps",
    "ros": "ROS 2 nodes of drift: `drift ros up STACK` starts a stack of nodes",
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("drift")
    except PackageNotFoundError:
        return "unknown (not installed)"


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [
        "usage: drift COMMAND [OPTIONS]   (drift COMMAND --help for its options)",
        "",
        "drift: physics-informed vehicle control. Results go to runs/<command>-<timestamp>/.",
        "",
        "commands:",
        *(f"  {n:<{width}}  {h}" for n, h in COMMANDS.items()),
        "",
        "  --version  print the version",
    ]
    return "\n".join(lines)


def parse(argv: Sequence[str]):
    """``(command module, its options)`` of ``drift argv...``, without running it.

    Raises:
        DriftError: an unreadable ``--config`` file.
        SystemExit: ``--help``, ``--version`` (status 0), an unknown command or bad flags (status 2).
    """
    from drift.commands import parse_options, parse_subcommand

    argv = list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        raise SystemExit(0)
    if argv[0] == "--version":
        print(f"drift {_version()}")
        raise SystemExit(0)
    name = argv[0]
    if name not in COMMANDS:
        print(f"{usage()}\n\nerror: unknown command {name!r}", file=sys.stderr)
        raise SystemExit(2)
    mod = importlib.import_module(f"drift.commands.{name}")
    if hasattr(mod, "SUBCOMMANDS"):
        return mod, parse_subcommand(mod.SUBCOMMANDS, argv[1:], prog=f"drift {name}")
    return mod, parse_options(mod.Options, argv[1:], prog=f"drift {name}")


def run(argv: Sequence[str]) -> None:
    """Run ``drift argv...``. Raises DriftError (user errors) and SystemExit (bad flags, --help)."""
    mod, options = parse(argv)
    mod.run(options)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: a user error prints a one-line message and exits with status 2
    (``DRIFT_DEBUG=1`` shows the traceback instead)."""
    try:
        run(sys.argv[1:] if argv is None else argv)
    except DriftError as e:
        if os.environ.get("DRIFT_DEBUG"):
            raise
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
