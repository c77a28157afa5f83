"""Build ``tests/data/racing_agent``: a small image agent for the ROS closed-loop tests.

The tests need an agent that completes laps of a small closed track (Norisring at 1:10, the ``f1tenth``
preset), in the format of a ``drift race train`` run folder (``options.yaml``, ``best.pt``), and small
enough to ship. Training one with QR-SAC takes longer than a test suite may, so this script clones a
driver instead: the QR-SAC actor (camera image + proprio, never privileged) is fitted by regression to
the actions of :class:`controllers.baselines.PurePursuit`, with DAgger (Ross et al., AISTATS 2011): the
cars are driven by the current actor, mixed with the expert, and every visited state is labelled with the
expert's action. The critics keep their initial weights: only the actor drives.

    python tests/data/make_racing_agent.py      # ~5 min on 2 cores; prints the agent's lap
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from controllers.baselines import PurePursuit
from controllers.qrsac import Agent, QRSACConfig
from controllers.qrsac.qrsac import CHECKPOINT_FORMAT
from drift.commands import write_options
from drift.commands.race import TrainOptions
from drift.racing import VecRacingEnv

OUT = Path(__file__).resolve().parent / "racing_agent"
TRACK, PRESET, CARS = "Norisring", "f1tenth", 16
#: pure pursuit on the centre line (which the camera shows), scaled to the 1:10 track (look-ahead and
#: corner cut of the full-size defaults / 10), with more friction margin: valid laps of 29.6 s
EXPERT_SETTINGS = dict(lookahead_min_m=0.8, corner_cut_m=0.05, friction_margin=0.3)
CONFIG = QRSACConfig(hidden=(64, 64), image_features=64, n_quantiles=8, num_envs=CARS, seed=0)


def collect(envs, agent, expert, steps: int, beta: float, rng) -> dict[str, np.ndarray]:
    """Drive ``steps`` vector steps with the expert (probability ``beta`` per car and step) or the actor
    (steering noise added), recording the actor's inputs and the expert's action."""
    obs, _ = envs.reset(seed=int(rng.integers(1 << 30)))
    expert.reset(envs.sim)
    keys = CONFIG.actor_keys
    data = {k: [] for k in (*keys, "target")}
    for _ in range(steps):
        target = expert(envs.sim)
        for k in keys:
            data[k].append(obs[k])
        data["target"].append(target)
        act = agent.act({k: obs[k] for k in keys}, deterministic=True)
        act[:, 0] += rng.normal(0.0, 0.1, len(act))
        use_expert = rng.random(len(act)) < beta
        act[use_expert] = target[use_expert]
        obs, *_ = envs.step(np.clip(act, -1, 1))
    return {k: np.concatenate(v) for k, v in data.items()}


def fit(agent: Agent, data: dict[str, np.ndarray], epochs: int, rng) -> float:
    actor = agent.actor
    opt = torch.optim.Adam(actor.parameters(), lr=1e-3)
    n = len(data["target"])
    for _ in range(epochs):
        order = rng.permutation(n)
        for i in range(0, n - 127, 128):
            j = order[i : i + 128]
            x = {"image": torch.as_tensor(data["image"][j]), "proprio": torch.as_tensor(data["proprio"][j])}
            loss = ((actor.deterministic(x) - torch.as_tensor(data["target"][j]).float()) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return float(loss.detach())


def main() -> int:
    torch.manual_seed(0)
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    envs = VecRacingEnv(CARS, preset=PRESET, vehicle=PRESET, track=TRACK, camera=True, max_episode_steps=400)
    shapes = {k: sp.shape for k, sp in envs.single_observation_space.spaces.items()}
    agent = Agent(CONFIG, shapes, envs.cfg.camera_geometry)
    expert = PurePursuit(**EXPERT_SETTINGS, path_xy=envs.sim.track.xy)
    data: dict[str, list] = {}
    for it, beta in enumerate((1.0, 0.5, 0.3, 0.2, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0)):
        new = collect(envs, agent, expert, 250, beta, rng)
        data = {k: [*data.get(k, []), v] for k, v in new.items()}
        merged = {k: np.concatenate(v) for k, v in data.items()}
        loss = fit(agent, merged, 12, rng)
        print(f"DAgger round {it}: {len(merged['target'])} samples, loss {loss:.4f}", flush=True)
    OUT.mkdir(exist_ok=True)
    write_options(OUT, TrainOptions(qrsac=CONFIG, track=TRACK, preset=PRESET, steps=0, out=OUT))
    torch.save(
        {
            "format": CHECKPOINT_FORMAT,
            "config": CONFIG.to_dict(),
            "shapes": {k: list(v) for k, v in shapes.items()},
            "camera": agent.camera,
            "agent": agent.state_dict(),
        },
        OUT / "best.pt",
    )
    from controllers.qrsac.driver import AgentDriver
    from drift.racing import load_config, run_laps

    run = run_laps(AgentDriver(agent), laps=3, config=load_config(PRESET, track=TRACK), track=TRACK)
    print(f"wrote {OUT}; laps {run.lap_times_s} valid {run.lap_valid}; off course {run.off_course_s:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
