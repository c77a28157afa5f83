"""Benchmark: the racing agents on one track, same environment, same environment steps, several seeds.

Variants (issue 11):

1. ``qrsac-image-priv``: QR-SAC, image actor + privileged critic (the vision paper's agent);
2. ``qrsac-image-actor``: the ablation, image actor + a critic that sees only what the actor sees;
3. ``qrsac-state``: QR-SAC with a state actor (privileged + proprio, no pixels);
4. ``tqc-state``: sb3-contrib TQC (truncated quantile critics) on the state observation, the peer an RL
   user would pick, with its defaults except the replay size and the updates per car-step (QR-SAC's
   update-to-data ratio), same environment steps.

Each run trains for ``--steps`` car-steps on ``--track`` (defaults of ``QRSACConfig``; TQC on
``--num-envs`` cars through sb3's vectorised env), then drives ``--laps`` deterministic laps with
:func:`drift.racing.run_laps`. One table, one row per variant (mean over seeds, and the best seed):
seeds with a valid lap, best valid lap (s), best valid lap / minimum-time lap
(:mod:`controllers.yardstick`), the share of evaluation laps without time off course, the last training
evaluation's return (mean +- sd over seeds), car-steps/s with updates (the update-to-data ratio stated),
wall time; printed and written to ``--out``/table.md. Training curves (evaluation return against
steps) go to ``--out`` as CSV and PNG.

Each run's row and curve are written to ``--out`` when it ends; run the same command again with the same
``--out`` after an interruption and the finished runs are kept and not repeated (an interrupted QR-SAC run
resumes from its last checkpoint, without its replay buffer, so not bitwise; an interrupted TQC run
starts again).

    python benchmarks/race_agent.py [--track Norisring] [--steps 200000] [--seeds 0,1,2]
        [--variants qrsac-image-priv,qrsac-image-actor,qrsac-state,tqc-state] [--laps 3] [--out DIR]

Long: on 2 CPU cores, two runs side by side with one thread each, the image actor trains at 44-53
car-steps/s with the privileged critic and 19-20 with the critic on the image (its own encoder), the
state actor at 77-84 and TQC at 61-66: 200k steps of the ablation take about 3 hours. Run it where time
allows and quote the table with the command.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

VARIANTS = ("qrsac-image-priv", "qrsac-image-actor", "qrsac-state", "tqc-state")


def _reporter(name: str, steps: int, every_s: float = 30.0) -> Callable[[int, float], None]:
    """A progress line for one run at most every ``every_s`` seconds: car-steps done, car-steps/s."""
    last = [-float("inf")]

    def report(step: int, steps_per_s: float) -> None:
        if time.monotonic() - last[0] >= every_s or step >= steps:
            last[0] = time.monotonic()
            print(f"  {name}: {step} of {steps} car-steps, {steps_per_s:.0f} car-steps/s", flush=True)

    return report


def _qrsac(variant: str, track, steps: int, seed: int, run_dir: Path, eval_every: int):
    from controllers.qrsac import QRSACConfig, load_agent, train

    actor_obs = "state" if variant == "qrsac-state" else "image"
    critic_obs = "actor" if variant == "qrsac-image-actor" else "privileged"
    cfg = QRSACConfig(actor_obs=actor_obs, critic_obs=critic_obs, seed=seed, eval_every=eval_every)
    report = _reporter(f"{variant} seed {seed}", steps)
    t0 = time.perf_counter()
    m = train(
        cfg,
        run_dir,
        steps,
        env_kwargs={"track": track},
        resume=(run_dir / "checkpoint.pt").exists(),
        progress=lambda d: report(d["step"], d["steps_per_s"]),
        log=lambda line: print(f"  {variant} seed {seed}: {line}", flush=True),
    )
    wall = time.perf_counter() - t0
    curve = [(e["step"], e["return"]) for e in m["evaluations"]]
    agent = load_agent(run_dir / ("best.pt" if (run_dir / "best.pt").exists() else "checkpoint.pt"))
    return agent, {"steps_per_s": m["steps_per_s"], "wall_s": wall, "utd": cfg.utd, "curve": curve}


def _tqc(track, steps: int, seed: int, num_envs: int, eval_every: int, utd: float):
    """sb3-contrib TQC on the flattened state observation (privileged + proprio)."""
    import gymnasium as gym
    from sb3_contrib import TQC
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    import drift.racing  # noqa: F401 - registers the ids
    from controllers.qrsac import evaluate

    def make():
        env = gym.make("drift/Racing-v0", track=track, camera=False)
        env = gym.wrappers.FilterObservation(env, ["privileged", "proprio"])
        return gym.wrappers.FlattenObservation(env)

    venv = make_vec_env(make, n_envs=num_envs, seed=seed)
    # one update per vector step is sb3's default; gradient_steps matches QR-SAC's update-to-data ratio
    model = TQC("MlpPolicy", venv, seed=seed, buffer_size=min(steps, 1_000_000), verbose=0,
                gradient_steps=max(1, round(utd * num_envs)))
    curve: list[tuple[int, float]] = []
    report = _reporter(f"tqc-state seed {seed}", steps)

    class Curve(BaseCallback):  # the same deterministic evaluation as QR-SAC's training runs
        def _on_step(self) -> bool:
            n = self.num_timesteps
            if eval_every and n % eval_every < num_envs:
                ev = evaluate(TQCPolicy(model), env_kwargs={"track": track})
                curve.append((n, ev["return"]))
                print(f"  tqc-state seed {seed}: evaluation at {n}: return {ev['return']:.1f}", flush=True)
            report(n, n / (time.perf_counter() - t0))
            return True

    t0 = time.perf_counter()
    model.learn(total_timesteps=steps, callback=Curve())
    wall = time.perf_counter() - t0
    utd = model.gradient_steps / (model.train_freq.frequency * num_envs)
    return TQCPolicy(model), {"steps_per_s": steps / wall, "wall_s": wall, "utd": utd, "curve": curve}


class TQCPolicy:
    """TQC's deterministic action from the environment's observation dict (privileged + proprio), with the
    ``config`` and ``shapes`` of a state agent so that :func:`controllers.qrsac.evaluate` drives it."""

    def __init__(self, model):
        from controllers.qrsac import QRSACConfig

        self.model = model
        self.config = QRSACConfig(actor_obs="state")
        self.shapes = {"privileged": (365,), "proprio": (12,)}
        self.camera = None  # no camera: nothing to check against the environment's

    def act(self, obs, deterministic=True):
        x = np.concatenate([obs["privileged"], obs["proprio"]], axis=-1)  # FlattenObservation's key order
        return self.model.predict(x, deterministic=deterministic)[0]


def _laps(policy, track, laps: int) -> dict:
    from controllers.qrsac.driver import AgentDriver
    from drift.racing import RacingEnv, run_laps

    needs_image = "image" in getattr(getattr(policy, "config", None), "stored_keys", ())
    env = RacingEnv(track=track, camera=needs_image)
    run = run_laps(AgentDriver(policy), laps=laps, config=env.cfg, track=env.sim.track)
    valid = [t for t, ok in zip(run.lap_times_s, run.lap_valid, strict=True) if ok]
    return {
        "laps": len(run.lap_times_s),
        "valid_laps": len(valid),
        "best_valid_lap_s": min(valid) if valid else float("nan"),
        "clean_share": len(valid) / laps,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--track", default="Norisring")
    ap.add_argument("--steps", type=int, default=200_000, help="car-steps per run")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--laps", type=int, default=3, help="deterministic evaluation laps per run")
    ap.add_argument("--num-envs", type=int, default=8, help="TQC's cars (QR-SAC: its config's num_envs)")
    ap.add_argument("--eval-every", type=int, default=20_000, help="car-steps between curve points")
    ap.add_argument("--out", default="runs/bench-race-agent")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (more than free cores spin)")
    a = ap.parse_args()

    import os

    import torch

    torch.set_num_threads(a.threads)

    from controllers.qrsac import QRSACConfig
    from controllers.yardstick import yardstick
    from drift.racing import RacingEnv

    variants = [v for v in a.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variants {sorted(unknown)}; known: {', '.join(VARIANTS)}")
    seeds = [int(s) for s in a.seeds.split(",") if s]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    env = RacingEnv(track=a.track, camera=False)
    ys = yardstick(env.sim.track, env.sim.p, env.sim.tires)
    print(
        f"{env.sim.track.name}: minimum-time lap {ys.ocp_lap_s:.2f} s, "
        f"pure pursuit {ys.pure_pursuit_lap_s:.2f} s; "
        f"{a.steps} car-steps per run, seeds {seeds}; load average {os.getloadavg()[0]:.1f} "
        f"({os.cpu_count()} cores)",
        flush=True,
    )
    rows, curves = _load(out, a.steps)
    for v in variants:
        for seed in seeds:
            if any(r["variant"] == v and r["seed"] == seed for r in rows):
                print(f"{v} seed {seed}: done in {out / 'runs.csv'}, kept", flush=True)
                continue
            print(f"{v} seed {seed}: training {a.steps} car-steps", flush=True)
            if v == "tqc-state":
                policy, info = _tqc(a.track, a.steps, seed, a.num_envs, a.eval_every, QRSACConfig().utd)
            else:
                policy, info = _qrsac(v, a.track, a.steps, seed, out / f"{v}-seed{seed}", a.eval_every)
            print(f"{v} seed {seed}: {a.laps} deterministic laps", flush=True)
            ev = _laps(policy, a.track, a.laps)
            row = {"variant": v, "seed": seed, "steps": a.steps, **ev, "steps_per_s": info["steps_per_s"],
                   "utd": info["utd"], "wall_s": info["wall_s"]}
            row["lap_over_ocp"] = ev["best_valid_lap_s"] / ys.ocp_lap_s
            rows.append(row)
            curves += [{"variant": v, "seed": seed, "step": s, "return": r} for s, r in info["curve"]]
            _save(out, rows, curves)  # each run as it ends, so an interruption loses only the current one
            print(json.dumps(row), flush=True)
    rows = [r for r in rows if r["variant"] in variants and r["seed"] in seeds]
    _plot_curves(curves, out / "curves.png")

    head = (f"{env.sim.track.name}, {a.steps} car-steps per run, seeds {seeds}; minimum-time lap "
            f"{ys.ocp_lap_s:.2f} s, pure pursuit {ys.pure_pursuit_lap_s:.2f} s "
            f"({ys.pure_pursuit_lap_s / ys.ocp_lap_s:.3f} x)")
    table = [
        "| variant | seeds with a valid lap | best lap s | mean lap s | best lap / OCP | clean laps | "
        "last evaluation return | car-steps/s | utd | wall min |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for v in variants:
        rs = [r for r in rows if r["variant"] == v]
        if not rs:
            continue
        laps = np.array([r["best_valid_lap_s"] for r in rs])
        lapped = np.isfinite(laps)
        best = np.min(laps[lapped]) if lapped.any() else float("nan")
        mean = np.mean(laps[lapped]) if lapped.any() else float("nan")
        last = [max((c for c in curves if c["variant"] == v and c["seed"] == r["seed"]),
                    key=lambda c: c["step"], default={"return": float("nan")})["return"] for r in rs]
        table.append(
            f"| {v} | {lapped.sum()} of {len(rs)} | {_fmt(best, '.2f')} | {_fmt(mean, '.2f')} | "
            f"{_fmt(best / ys.ocp_lap_s, '.3f')} | "
            f"{np.mean([r['clean_share'] for r in rs]):.2f} | {np.mean(last):.0f} +- {np.std(last):.0f} | "
            f"{np.mean([r['steps_per_s'] for r in rs]):.0f} | {rs[0]['utd']:.2f} | "
            f"{np.mean([r['wall_s'] for r in rs]) / 60:.1f} |"
        )
    (out / "table.md").write_text(head + "\n\n" + "\n".join(table) + "\n")
    print("\n" + head + "\n" + "\n".join(table))
    print(f"tables and curves in {out}")


def _fmt(x: float, spec: str) -> str:
    return format(x, spec) if np.isfinite(x) else "-"


def _load(out: Path, steps: int) -> tuple[list[dict], list[dict]]:
    """The finished runs (and their curves) of an earlier call with this ``--out``; none if it is new.

    Raises SystemExit when those runs trained for another number of car-steps (their rows would not compare)
    or when runs.csv or curves.csv cannot be read (naming the file).
    """
    if not (out / "runs.csv").exists():
        return [], []
    try:
        rows, curves = _read_tables(out)
    except (KeyError, TypeError, ValueError) as e:
        raise SystemExit(
            f"{out}: runs.csv or curves.csv is not this script's table ({type(e).__name__}: {e}); "
            "move it aside or give another --out"
        ) from None
    other = {r["steps"] for r in rows} - {steps}
    if other:
        raise SystemExit(f"{out} holds runs of {sorted(other)} car-steps, not {steps}: give another --out")
    return rows, curves


def _read_tables(out: Path) -> tuple[list[dict], list[dict]]:
    with open(out / "runs.csv", newline="") as fh:
        rows = [{k: v if k == "variant" else float(v) for k, v in r.items()} for r in csv.DictReader(fh)]
    for r in rows:
        for k in ("seed", "steps", "laps", "valid_laps"):
            r[k] = int(r[k])
    curves = []
    if (out / "curves.csv").exists():
        with open(out / "curves.csv", newline="") as fh:
            curves = [{"variant": c["variant"], "seed": int(c["seed"]), "step": int(c["step"]),
                       "return": float(c["return"])} for c in csv.DictReader(fh)]
    return rows, curves


def _save(out: Path, rows: list[dict], curves: list[dict]) -> None:
    for name, table, fields in (("runs.csv", rows, list(rows[0])),
                                ("curves.csv", curves, ["variant", "seed", "step", "return"])):
        tmp = out / f"{name}.tmp"
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=fields)
            w.writeheader()
            w.writerows(table)
        tmp.replace(out / name)  # whole or not at all


def _plot_curves(curves, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    styles = ("-", "--", ":", "-.")  # one colour per variant, one line style per seed
    for i, v in enumerate(dict.fromkeys(c["variant"] for c in curves)):
        for j, seed in enumerate(dict.fromkeys(c["seed"] for c in curves if c["variant"] == v)):
            pts = [(c["step"], c["return"]) for c in curves if c["variant"] == v and c["seed"] == seed]
            if pts:
                s, r = zip(*pts, strict=True)
                ls = styles[j % len(styles)]
                ax.plot(s, r, label=f"{v} seed {seed}", lw=1.2, color=f"C{i % 10}", ls=ls)
    ax.set_xlabel("car-steps")
    ax.set_ylabel("deterministic evaluation return")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
