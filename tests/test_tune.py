"""drift tune: the search space, the score, and sweeps on a small closed track (Norisring at 1:10) with a
small state-input agent, a thousand steps per trial: table, best YAML, plots, a crash, a kill and a
resume, and the Ray backend."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytest.importorskip("optuna")

from drift.errors import ConfigError  # noqa: E402
from drift.tune import ObjectiveConfig, load_space, score  # noqa: E402

AGENT = {
    "actor_obs": "state",
    "num_envs": 4,
    "hidden": [32, 32],
    "n_quantiles": 8,
    "batch_size": 64,
    "learning_starts": 200,
    "buffer_capacity": 5000,
    "eval_max_steps": 300,
}
SPACE = {
    "reward": {
        "w_off_course": {"low": 1.0, "high": 30.0, "log": True},
        "w_steer_change": {"low": 0.3, "high": 10.0, "log": True},
        "alpha_free_rad": 0.12,
    }
}


def _files(tmp_path, space=SPACE, agent=AGENT):
    s, a = tmp_path / "space.yaml", tmp_path / "agent.yaml"
    s.write_text(yaml.safe_dump(space))
    a.write_text(yaml.safe_dump(agent))
    return s, a


def _argv(out, space, agent, trials=4, steps=1000, *extra):
    return [
        "tune", "--track", "Norisring", "--preset", "f1tenth", "--trials", str(trials),
        "--steps-per-trial", str(steps), "--evals-per-trial", "2", "--space", str(space),
        "--agent", str(agent), "--out", str(out), "--quiet", *extra,
    ]  # fmt: skip


def _study(run):
    import optuna

    return optuna.load_study(study_name="drift-tune", storage=f"sqlite:///{Path(run).resolve() / 'study.db'}")


# ------------------------------------------------------------------ space and score
def test_space_reads_ranges_choices_and_fixed_values(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(
        yaml.safe_dump(
            {
                "reward": {"w_wall": {"low": 1, "high": 9, "log": True}, "w_progress": 1.0},
                "agent": {"n_step": {"choices": [3, 5]}, "lr_actor": {"low": 1e-4, "high": 1e-3}},
            }
        )
    )
    sp = load_space(p)
    assert sorted(q.key for q in sp.params) == ["agent.lr_actor", "agent.n_step", "reward.w_wall"]
    assert sp.grid()["reward.w_wall"] == pytest.approx([1.0, 3.0, 9.0])  # geometric middle of a log range
    assert sp.grid()["agent.n_step"] == [3, 5]
    reward, agent = sp.split({"reward.w_wall": 4.0, "agent.n_step": 5, "agent.lr_actor": 2e-4})
    assert reward == {"w_progress": 1.0, "w_wall": 4.0} and agent == {"n_step": 5, "lr_actor": 2e-4}


@pytest.mark.parametrize(
    "spec, match",
    [
        ({"reward": {"w_walls": {"low": 1, "high": 2}}}, "unknown"),
        ({"reward": {"w_wall": {"low": 2, "high": 1}}}, "low < high"),
        ({"reward": {"w_wall": {"low": 0, "high": 1, "log": True}}}, "low > 0"),
        ({"reward": {"w_wall": {"choices": []}}}, "non-empty"),
        ({"agent": {"seed": {"choices": [1, 2]}}}, "unknown"),
        ({"reward": {"w_wall": 3.0}}, "nothing to sweep"),
    ],
)
def test_space_refuses_bad_specs(tmp_path, spec, match):
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(spec))
    with pytest.raises(ConfigError, match=match):
        load_space(p)


def test_score_prefers_any_valid_lap_and_then_progress():
    pen = ObjectiveConfig()
    # a valid lap: its time plus 1 s per s off course
    assert score({"best_valid_lap_s": 50.0, "off_course_s": 2.0, "progress_m": 900}, 1000, 300, pen) == 52.0
    # no valid lap: (2 - share of the lap driven) x the evaluation's time limit
    assert score({"best_valid_lap_s": None, "progress_m": 250.0}, 1000.0, 300.0, pen) == 525.0
    assert score({"best_valid_lap_s": None, "progress_m": -10.0}, 1000.0, 300.0, pen) == 600.0
    assert score({"best_valid_lap_s": None, "progress_m": 5000.0}, 1000.0, 300.0, pen) == 300.0
    con = ObjectiveConfig(off_course="constraint", max_off_course_s=1.0)
    assert score({"best_valid_lap_s": 50.0, "off_course_s": 2.0}, 1000, 300, con) == 50.0
    with pytest.raises(ConfigError):
        ObjectiveConfig(off_course="ignore")


# ------------------------------------------------------------------ sweeps
@pytest.mark.parametrize(
    "extra, says",
    [
        (["--track", "Nowhere"], "Nowhere"),
        (["--workers", "0"], "--workers must be >= 1"),
        (["--search", "grid", "--off-course", "constraint", "--max-off-course-s", "-1"], ">= 0"),
        (["--threads", "0"], "threads must be >= 1"),
    ],
)
def test_bad_settings_fail_before_a_run_folder(tmp_path, extra, says):
    from drift.cli import run
    from drift.errors import DriftError

    space, agent = _files(tmp_path)
    out = tmp_path / "run"
    with pytest.raises(DriftError, match=says):
        run(_argv(out, space, agent, 2, 1000, *extra))
    assert not out.exists()


@pytest.mark.parametrize("agent, says", [({"hidden": ["a"]}, "invalid QR-SAC"), ({"n_stepz": 3}, "unknown")])
def test_bad_agent_settings_fail_before_a_run_folder(tmp_path, agent, says):
    from drift.cli import run
    from drift.errors import DriftError

    space, agent_file = _files(tmp_path, agent=agent)
    with pytest.raises(DriftError, match=says):
        run(_argv(tmp_path / "run", space, agent_file, 2, 1000))
    assert not (tmp_path / "run").exists()


def test_resume_of_a_folder_that_is_no_sweep_is_refused(tmp_path):
    from drift.cli import run
    from drift.errors import DriftError

    with pytest.raises(DriftError, match="not a drift tune run folder"):
        run(["tune", "--resume", str(tmp_path)])


def test_sweep_writes_table_best_reward_and_plots(tmp_path):
    from drift.cli import parse, run
    from drift.racing.reward import load_reward_weights

    space, agent = _files(tmp_path)
    out = tmp_path / "run"
    run(_argv(out, space, agent))
    rows = (out / "trials.csv").read_text().splitlines()
    assert len(rows) == 5 and rows[0].startswith(
        "trial,state,score_s,reward.w_off_course,reward.w_steer_change"
    )
    m = json.loads((out / "metrics.json").read_text())
    study = _study(out)
    best = min((t for t in study.trials if t.value is not None), key=lambda t: t.value)
    assert m["trials"] == 4 and m["complete"] + m["pruned"] == 4 and m["best_trial"] == best.number
    # the best weights as a reward YAML that drift race train --reward takes
    w = load_reward_weights(out / "best_reward.yaml")
    assert w.off_course == pytest.approx(best.params["reward.w_off_course"])
    assert w.steer_change == pytest.approx(best.params["reward.w_steer_change"])
    assert w.alpha_free_rad == 0.12 and w.wall == 10.0  # fixed in the space, default of reward.yaml
    _, opts = parse(["race", "train", "--reward", str(out / "best_reward.yaml")])
    assert opts.reward == out / "best_reward.yaml"
    for png in ("optimization_history.png", "param_importances.png", "best_learning_curve.png"):
        assert (out / png).stat().st_size > 5000, png
    # every trial keeps its agent run folder with its evaluations
    for t in study.trials:
        assert (Path(t.user_attrs["run_dir"]) / "evaluations.json").is_file()


def test_a_crashing_trial_is_recorded_and_the_sweep_completes(tmp_path):
    """Grid over a reward weight and n_step in {3, 0}: n_step 0 is refused by QR-SAC's config, so two of
    the four trials fail; the other two complete and the report names the error."""
    from drift.cli import run

    space = {
        "reward": {"w_wall": {"low": 2.0, "high": 20.0, "grid": [2.0, 20.0]}},
        "agent": {"n_step": {"choices": [3, 0]}},
    }
    s, a = _files(tmp_path, space)
    out = tmp_path / "run"
    run(_argv(out, s, a, 4, 1000, "--search", "grid"))
    states = sorted(t.state.name for t in _study(out).trials)
    assert states == ["COMPLETE", "COMPLETE", "FAIL", "FAIL"]
    text = (out / "trials.csv").read_text()
    assert text.count("n_step must be >= 1") == 2
    assert json.loads((out / "metrics.json").read_text())["failed"] == 2


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_interrupted_sweep_resumes_without_losing_or_rerunning_finished_trials(tmp_path, sig):
    from optuna.trial import TrialState

    space, agent = _files(tmp_path)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "drift.cli", *_argv(out, space, agent, 4, 4000)]
    log = open(tmp_path / "sweep.log", "w")
    # as from a terminal: a launcher in the background (nohup, CI) leaves SIGINT ignored for its children
    dfl = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)  # noqa: E731
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=dfl)

    def training_now():
        """A trial that runs, in training (its folder exists), after a finished one; or None."""
        try:
            trials = _study(out).get_trials(deepcopy=False)
        except Exception:  # noqa: BLE001 - the study is being created, or the database is busy
            return None
        done = any(t.state == TrialState.COMPLETE for t in trials)
        run = [t for t in trials if t.state == TrialState.RUNNING]
        if done and run and (out / "trials" / f"trial-{run[0].number:04d}" / "tb").is_dir():
            return run[0].number
        return None

    try:
        deadline, cut = time.monotonic() + 240, None
        while time.monotonic() < deadline and proc.poll() is None and cut is None:
            time.sleep(0.3)
            n = training_now() if (out / "trials").is_dir() else None  # the study is set up
            if n is not None:
                time.sleep(0.5)  # well inside its training, not between two trials
                cut = n if training_now() == n else None
        assert cut is not None and proc.poll() is None, (tmp_path / "sweep.log").read_text()[-3000:]
        os.killpg(proc.pid, sig)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    ended = (TrialState.COMPLETE, TrialState.PRUNED)
    before = {t.number: (t.params, t.value) for t in _study(out).trials if t.state in ended}
    stamps = {n: (out / "trials" / f"trial-{n:04d}" / "evaluations.json").stat().st_mtime_ns for n in before}
    interrupted = [t for t in _study(out).trials if t.state in (TrialState.RUNNING, TrialState.FAIL)]
    assert [t.number for t in interrupted] == [cut], (tmp_path / "sweep.log").read_text()[-3000:]

    r = subprocess.run(
        [sys.executable, "-m", "drift.cli", "tune", "--resume", str(out), "--quiet"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    after = _study(out).trials
    # finished trials: all there, unchanged, not run again (their folders untouched)
    for n, (params, value) in before.items():
        assert (after[n].params, after[n].value) == (params, value)
        assert (out / "trials" / f"trial-{n:04d}" / "evaluations.json").stat().st_mtime_ns == stamps[n]
    assert sum(t.params == p for t in after for p, _ in before.values()) == len(before)
    # the interrupted trial is recorded as such and its parameters ran again (the pruner may stop it); 4
    # trials count
    cut = after[interrupted[0].number]
    assert cut.state == TrialState.FAIL and cut.user_attrs["interrupted"]
    assert any(t.params == cut.params and t.state in ended for t in after)
    counted = [t for t in after if not t.user_attrs.get("interrupted")]
    assert len(counted) == 4 and all(t.state in ended for t in counted)
    m = json.loads((out / "metrics.json").read_text())
    assert m["complete"] + m["pruned"] == 4 and m["failed"] == 0 and m["interrupted"] == 1


def test_ray_backend_writes_the_same_report(tmp_path):
    pytest.importorskip("ray.tune", reason="the Ray backend needs pip install 'drift[ray]'")
    from drift.cli import run

    space, agent = _files(tmp_path)
    out = tmp_path / "run"
    run(_argv(out, space, agent, 2, 1000, "--backend", "ray", "--workers", "2"))
    rows = (out / "trials.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[0].startswith(
        "trial,state,score_s,reward.w_off_course,reward.w_steer_change"
    )
    assert all(",complete," in r for r in rows[1:])
    assert (out / "best_reward.yaml").is_file() and (out / "optimization_history.png").is_file()
    assert len(list((out / "trials").iterdir())) == 2


def test_two_worker_processes_share_one_study(tmp_path):
    from drift.cli import run

    space, agent = _files(tmp_path)
    out = tmp_path / "run"
    run(_argv(out, space, agent, 4, 1000, "--workers", "2"))
    trials = _study(out).trials
    assert len(trials) >= 4 and len({tuple(t.params.values()) for t in trials}) == len(trials)
    m = json.loads((out / "metrics.json").read_text())
    assert m["complete"] + m["pruned"] >= 4 and m["failed"] == 0
