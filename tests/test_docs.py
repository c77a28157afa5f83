"""Every code block of the README and docs/ runs, so none of them rots.

``python`` blocks execute as they stand, each in a fresh interpreter. Every ``drift ...`` line of a
shell block parses (its command and flags exist, with values of the right type); the slow test runs
them (those without placeholders such as ``RUN``) with their output sent to a temporary folder.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def _blocks(langs: tuple[str, ...]):
    for path in DOCS:
        text = path.read_text()
        for m in FENCE.finditer(text):
            if m.group(1) in langs:
                line = text.count("\n", 0, m.start()) + 1
                yield f"{path.relative_to(ROOT)}:{line}", m.group(2)


def _drift_commands():
    for where, code in _blocks(("bash", "sh", "console")):
        for cmd in code.replace("\\\n", " ").splitlines():
            for part in cmd.split("&&"):
                argv = shlex.split(part, comments=True)
                if argv[:1] == ["drift"]:
                    yield pytest.param(argv[1:], id=f"{where}: {' '.join(argv)}")


PYTHON = [pytest.param(code, id=where) for where, code in _blocks(("python",))]
DRIFT = list(_drift_commands())


def test_the_docs_have_blocks_to_check():
    assert len(PYTHON) >= 3 and len(DRIFT) >= 10


@pytest.mark.parametrize("code", PYTHON)
def test_python_block_runs(code, tmp_path):
    r = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip(), "a documented example should print what it computes"


@pytest.mark.parametrize("argv", DRIFT)
def test_drift_command_parses(argv):
    from drift.cli import parse

    try:
        parse(argv)
    except SystemExit as e:  # --help and --version exit 0; a bad flag exits 2
        assert e.code == 0


@pytest.mark.slow
@pytest.mark.parametrize("argv", DRIFT)
def test_drift_command_runs(argv, tmp_path):
    from drift.cli import parse

    if any(re.fullmatch(r"[A-Z_]+(/.*)?", a) for a in argv):
        pytest.skip("has a placeholder the reader fills in")
    _, options = parse(argv)
    if "out" in {f.name for f in dataclasses.fields(options)} and "--out" not in argv:
        argv = [*argv, "--out", str(tmp_path / "run")]
    r = subprocess.run(
        [sys.executable, "-m", "drift.cli", *argv], cwd=tmp_path, capture_output=True, text=True, timeout=1800
    )
    assert r.returncode == 0, r.stderr[-3000:]
