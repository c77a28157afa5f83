"""drift race train, eval and sim --driver agent on a small oval: run folders, resume, yardsticks."""

import json

import numpy as np
import pytest

from drift.errors import DriftError
from tests.test_racing_env import stadium

TINY = [
    "--actor-obs",
    "state",
    "--num-envs",
    "4",
    "--buffer-capacity",
    "4000",
    "--learning-starts",
    "100",
    "--batch-size",
    "32",
    "--hidden",
    "32",
    "32",
    "--n-quantiles",
    "8",
    "--n-step",
    "3",
    "--eval-every",
    "200",
    "--eval-max-steps",
    "60",
    "--log-every",
    "100",
]


@pytest.fixture(scope="module")
def oval_csv(tmp_path_factory):
    tr = stadium(straight=200.0, R=50.0, w=8.0)
    path = tmp_path_factory.mktemp("tracks") / "Oval.csv"
    raw = np.column_stack([tr.xy[::2], tr.w_right[::2], tr.w_left[::2]])
    np.savetxt(path, raw, delimiter=",", header="x_m,y_m,w_tr_right_m,w_tr_left_m", fmt="%.4f")
    return path


def test_train_resume_eval_and_sim_with_the_agent(oval_csv, tmp_path, monkeypatch, capsys):
    from drift.cli import run

    monkeypatch.setenv("DRIFT_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "train"
    run(["race", "train", "--track", str(oval_csv), "--steps", "400", *TINY, "--out", str(out)])
    m = json.loads((out / "metrics.json").read_text())
    assert m["steps"] == 400 and m["updates"] > 0 and (out / "checkpoint.pt").exists()
    assert (out / "options.yaml").exists() and any((out / "tb").iterdir())
    # not a terminal (a log file): the progress line is printed, not only drawn as a bar at the end
    assert "steps/s, return" in capsys.readouterr().out
    # resume continues the same run (its own options) up to the new total
    run(["race", "train", "--resume", str(out), "--steps", "600"])
    assert json.loads((out / "metrics.json").read_text())["steps"] == 600

    ev = tmp_path / "eval"
    run(["race", "eval", "--run", str(out), "--laps", "1", "--gif-frames", "3", "--out", str(ev)])
    e = json.loads((ev / "metrics.json").read_text())
    assert e["track"] == "Oval" and e["ocp_lap_s"] > 0 and e["pure_pursuit_lap_s"] >= e["ocp_lap_s"]
    for f in ("trajectory.png", "speed.png", "camera.gif", "trajectory.npz"):
        assert (ev / f).stat().st_size > 0
    assert "minimum-time lap" in capsys.readouterr().out

    sim = tmp_path / "sim"
    run(
        [
            "race",
            "sim",
            "--driver",
            "agent",
            "--run",
            str(out),
            "--laps",
            "1",
            "--gif-frames",
            "0",
            "--out",
            str(sim),
        ]
    )
    assert json.loads((sim / "metrics.json").read_text())["driver"] == "agent"


def test_bad_agent_arguments_fail_before_a_run_folder(tmp_path):
    from drift.cli import run

    out = tmp_path / "x"
    with pytest.raises(DriftError, match="no options.yaml"):
        run(["race", "eval", "--run", str(tmp_path), "--out", str(out)])
    with pytest.raises(DriftError, match="--driver agent needs --run"):
        run(["race", "sim", "--driver", "agent", "--out", str(out)])
    with pytest.raises(DriftError, match="unknown track"):
        run(["race", "train", "--track", "Atlantis", "--out", str(out)])
    with pytest.raises(DriftError, match="--threads must be >= 1"):
        run(["race", "train", "--threads", "0", "--out", str(out)])
    assert not out.exists()
