"""QR-SAC: quantile-regression soft actor-critic with a privileged critic, for the racing simulator.

The algorithm of Gran Turismo Sophy (Wurman et al., *Nature* 2022, Methods) and its vision-based successor
(Vasco et al., *RLC* 2024, App. J), in one file in the shape of CleanRL's ``sac_continuous_action.py``:
the config, the pure loss and target functions, the learner's update, the training loop, evaluation and
checkpoints. Networks: :mod:`controllers.qrsac.networks`; replay buffer: :mod:`controllers.qrsac.buffer`;
rollout workers on Ray (``workers``, backend ``ray``): :mod:`controllers.qrsac.workers`.

- **Critics:** two distributional critics of ``N`` quantiles at fractions ``tau_i = (2i-1)/2N``, trained with
  the quantile Huber loss (kappa = 1, :func:`quantile_huber_loss`).
- **Target** (:func:`nstep_target`): ``y = sum_{k<m} gamma^k r_k + gamma^m (theta_j(s_m, a_m) - alpha log
  pi(a_m|s_m))``, ``a_m ~ pi(s_m)``, ``m = n`` or fewer where the episode ended; ``j`` is the TARGET critic
  with the lower mean at ``(s_m, a_m)`` (its whole quantile set: neither an element-wise min nor TQC
  truncation). The entropy enters only at the bootstrap step; a termination stops the sum without
  bootstrap; a time-limit truncation bootstraps from the truncated state (the env's ``final_obs``).
- **Actor:** tanh-squashed Gaussian over ``[steer, throttle_brake]`` on ``image`` + ``proprio``; its loss is
  ``alpha log pi(a|s) - min(mean theta_1(s, a), mean theta_2(s, a))``. The minimum of the two means is the
  mean of the lower-mean critic, so the two rules are the same here.
- **Critic inputs:** ``privileged`` + ``proprio`` + action (no pixels), or the actor's inputs
  (``critic_obs="actor"``); ``actor_obs="state"`` gives the actor ``privileged`` + ``proprio`` (no camera).

Usage::

    from controllers.qrsac import QRSACConfig, train, load_agent, evaluate

    metrics = train(QRSACConfig(actor_obs="state"), "runs/qrsac", steps=200_000,
                    env_kwargs=dict(track="Monza", camera=False))
    agent = load_agent("runs/qrsac/best.pt")
    print(evaluate(agent, laps=1, env_kwargs=dict(track="Monza", camera=False)))
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from controllers.qrsac.buffer import Batch, ReplayBuffer
from controllers.qrsac.networks import Actor, QuantileCritic, obs_keys
from drift.errors import ConfigError, DriftError

__all__ = [
    "BACKENDS",
    "QRSACConfig",
    "Agent",
    "train",
    "check_backend",
    "evaluate",
    "load_agent",
    "quantile_fractions",
    "quantile_huber_loss",
    "nstep_target",
    "lower_mean",
]

CHECKPOINT_FORMAT = "drift.qrsac/1"
#: checkpoints written before the camera's placement was a setting (2026-12-07) record none: every camera
#: then had this one
OLD_CAMERA = {"camera_height_m": 2.0, "camera_pitch_rad": 0.06, "camera_fov_rad": 1.4}
#: config fields whose behaviour a checkpoint that predates them had, where that is not their default
PREDATED = {"target_entropy_final": None}
#: where :func:`train` steps the cars: the learner itself, or rollout workers on Ray
BACKENDS = ("local", "ray")


# ====================================================================== config
@dataclass(frozen=True)
class QRSACConfig:
    """Every hyperparameter of QR-SAC. Defaults fit a 2-core CPU; the papers' values are named per field
    (GT Sophy: Wurman et al. 2022; vision: Vasco et al. 2024)."""

    num_envs: int = 8
    """Cars B stepped together in one VecRacingEnv (papers: 20 PlayStations x up to 20 cars)."""
    actor_obs: str = "image"
    """Actor inputs: ``image`` (camera + proprio, the vision paper) or ``state`` (privileged + proprio)."""
    critic_obs: str = "privileged"
    """Critic inputs: ``privileged`` (privileged + proprio + action, the papers) or ``actor`` (what the
    actor gets, through the critic's own encoder)."""
    buffer_capacity: int = 200_000
    """Replay rows (images as uint8: about 13.9 kB per row, 2.8 GB at 64x64; papers: 2.5M-10M)."""
    save_buffer: bool = False
    """Store the replay buffer in ``checkpoint.pt`` (needed for an exact resume; large with images)."""
    utd: float = 0.25
    """Gradient updates per environment (car) step (update-to-data ratio)."""
    learning_starts: int = 2_000
    """Car steps of uniform random actions before the first update."""
    gamma: float = 0.9896
    """Discount per 0.1 s step (papers: 0.9896 at 10 Hz, a ~10 s horizon)."""
    n_step: int = 1
    """n of the n-step target (papers: 7; GT Sophy used 5 early). The return over the window follows the
    actions stored in the buffer, not the current policy's, and here most windows are old (8 cars, 200k
    rows): on Norisring the state actor's best valid lap after 100k steps was 63.7 s at n = 1 against
    83.4 s at n = 7, three seeds each (docs/racing.md)."""
    n_quantiles: int = 32
    """Quantiles per critic (papers: 32)."""
    hidden: tuple[int, ...] = (256, 256)
    """MLP widths of actor and critics (papers: 4 x 2048)."""
    image_features: int = 64
    """Output size of the CNN image encoder."""
    lr_actor: float = 3e-4
    """Adam learning rate of the actor (papers: 2.5e-5)."""
    lr_critic: float = 3e-4
    """Adam learning rate of the critics (papers: 5e-5)."""
    batch_size: int = 256
    """Windows per update (papers: 512-1024)."""
    grad_clip: float = 10.0
    """Max global gradient norm of each optimiser's parameters, 0 = none (papers: 10); the critic loss
    sums over quantiles, see :func:`quantile_huber_loss`."""
    polyak: float = 0.005
    """Target-critic Polyak rate per update (CleanRL SAC: 0.005)."""
    alpha: float = 0.01
    """Entropy temperature; the initial value when ``autotune`` (papers: 0.01 fixed)."""
    autotune: bool = True
    """Tune alpha to ``target_entropy`` (papers: fixed). On Norisring a fixed 0.01 let the image actor's
    entropy fall to -5.4 nats (action std ~0.02) within 20k steps, and the agent stalled before the first
    hairpin for 480k steps (docs/racing.md)."""
    target_entropy: float = -2.0
    """Target entropy of the tuned alpha while the agent learns the track (nats; SAC: -action dims)."""
    target_entropy_final: float | None = -5.0
    """Target entropy once ``entropy_anneal_steps`` have passed (nats; None: no anneal). At -2 nats the
    tanh-squashed throttle stayed at 0.83-0.94 on the straights of Norisring although the critics valued
    full throttle higher: the entropy a mean of ``u`` = 3 costs outweighed the gain (docs/racing.md)."""
    entropy_anneal_steps: tuple[int, int] = (250_000, 550_000)
    """Car steps over which the target entropy moves linearly to ``target_entropy_final``; the start lies
    past the first valid laps of the default run, so the exploration that finds the braking points stays.
    Ending it sooner (200k-450k) gave no faster 2-hour run on Norisring (docs/racing.md)."""
    lr_alpha: float = 3e-4
    """Adam learning rate of log(alpha) when ``autotune``."""
    reward_scale: float = 0.1
    """Factor on the env reward before learning: progress of ~3 m per step becomes ~0.3, so alpha = 0.01
    weighs the entropy (~1 nat) at a few % of a step's reward (papers: unscaled, with slower cars)."""
    seed: int = 0
    """Seed of python, numpy, torch, the cars' resets and the buffer's sampling."""
    eval_every: int = 20_000
    """Car steps between deterministic evaluations (0: none)."""
    eval_laps: int = 1
    """Timed laps per evaluation (flying start)."""
    eval_max_steps: int = 3_000
    """Step limit of an evaluation (0.1 s each)."""
    checkpoint_every: int = 20_000
    """Car steps between checkpoints (one is always written at the end)."""
    log_every: int = 1_000
    """Car steps between TensorBoard scalars and progress callbacks."""
    device: str = "cpu"
    """Torch device (``cpu``, ``cuda``)."""
    workers: int = 0
    """Rollout workers (Ray actors, with backend ray), each stepping its own ``num_envs`` cars on CPU for
    the learner (GT Sophy: a fleet of consoles); 0: the learner steps the cars itself (backend local)."""
    rollout_steps: int = 25
    """With workers: vector steps each worker takes per round; the learner updates while the next round
    runs, so the workers' policy lags by up to a round plus ``broadcast_every`` updates."""
    broadcast_every: int = 100
    """With workers: learner updates between broadcasts of the actor's weights to the workers."""

    #: fields a resumed run may change: they do not change what is learned
    RUN_FIELDS = (
        "save_buffer",
        "eval_every",
        "eval_laps",
        "eval_max_steps",
        "checkpoint_every",
        "log_every",
        "device",
    )

    def __post_init__(self):
        if self.actor_obs not in ("image", "state"):
            raise ConfigError(f"actor_obs must be 'image' or 'state', got {self.actor_obs!r}")
        if self.critic_obs not in ("privileged", "actor"):
            raise ConfigError(f"critic_obs must be 'privileged' or 'actor', got {self.critic_obs!r}")
        positive = ("num_envs", "buffer_capacity", "n_step", "n_quantiles", "batch_size", "log_every")
        positive += ("rollout_steps", "broadcast_every")
        for name in positive:
            if not getattr(self, name) >= 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 < self.gamma <= 1.0:
            raise ConfigError(f"gamma must be in (0, 1], got {self.gamma}")
        if not 0.0 < self.polyak <= 1.0:
            raise ConfigError(f"polyak must be in (0, 1], got {self.polyak}")
        if not (self.alpha > 0 and self.utd > 0 and self.reward_scale > 0):
            raise ConfigError("alpha, utd and reward_scale must be > 0")
        for name in ("lr_actor", "lr_critic", "lr_alpha"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.grad_clip < 0 or self.learning_starts < 0 or self.eval_every < 0 or self.checkpoint_every < 0:
            raise ConfigError("grad_clip, learning_starts, eval_every and checkpoint_every must be >= 0")
        if self.workers < 0:
            raise ConfigError(f"workers must be >= 0, got {self.workers}")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        try:
            steps = tuple(int(n) for n in self.entropy_anneal_steps)
        except (TypeError, ValueError):
            steps = ()
        if len(steps) != 2 or not 0 <= steps[0] <= steps[1]:
            raise ConfigError(
                f"entropy_anneal_steps must be (start, end) car steps, 0 <= start <= end: "
                f"{self.entropy_anneal_steps!r}"
            )
        object.__setattr__(self, "entropy_anneal_steps", steps)

    def target_entropy_at(self, step: int) -> float:
        """The tuned alpha's target entropy (nats) at car step ``step``: ``target_entropy`` before
        ``entropy_anneal_steps[0]``, ``target_entropy_final`` after ``[1]``, linear in between."""
        if self.target_entropy_final is None:
            return self.target_entropy
        a0, a1 = self.entropy_anneal_steps
        w = 1.0 if step >= a1 else 0.0 if step <= a0 else (step - a0) / (a1 - a0)
        return self.target_entropy + w * (self.target_entropy_final - self.target_entropy)

    def replace(self, **kw) -> QRSACConfig:
        """A copy with the given fields changed (validated again)."""
        return dataclasses.replace(self, **kw)

    def to_dict(self) -> dict[str, Any]:
        """Every field by name (what checkpoints and options.yaml store)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @property
    def actor_keys(self) -> tuple[str, ...]:
        """Observation keys the actor reads: ``("image", "proprio")`` or ``("privileged", "proprio")``."""
        return obs_keys(self.actor_obs)

    @property
    def critic_keys(self) -> tuple[str, ...]:
        """Observation keys the critics read (the action is added): privileged + proprio, or the actor's."""
        return self.actor_keys if self.critic_obs == "actor" else obs_keys("privileged")

    @property
    def stored_keys(self) -> tuple[str, ...]:
        """Observation keys the replay buffer stores (those of the actor and the critics)."""
        return tuple(dict.fromkeys(self.actor_keys + self.critic_keys))

    def buffer_bytes(self, shapes: dict[str, tuple[int, ...]] | None = None) -> int:
        """Memory of the replay buffer (bytes) for observation ``shapes`` (default: 64x64 images, 12
        proprio, 365 privileged)."""
        shapes = shapes or {"image": (64, 64, 3), "proprio": (12,), "privileged": (365,)}
        keys = self.stored_keys
        dtypes = {k: np.uint8 if k == "image" else np.float32 for k in keys}
        return ReplayBuffer.memory_bytes(self.buffer_capacity, {k: shapes[k] for k in keys}, dtypes)


# ====================================================================== losses and target (pure functions)
def quantile_fractions(n: int, device=None) -> torch.Tensor:
    """Quantile midpoints ``tau_i = (2i - 1) / 2N``, i = 1..N, (N,)."""
    return (2.0 * torch.arange(1, n + 1, device=device, dtype=torch.float32) - 1.0) / (2.0 * n)


def quantile_huber_loss(
    pred: torch.Tensor, target: torch.Tensor, taus: torch.Tensor, kappa: float = 1.0
) -> torch.Tensor:
    """Quantile Huber loss (Dabney et al. 2018), SUMMED over the predicted quantiles, averaged over the
    target quantiles and the batch (QR-DQN's reduction; a gradient clip of 10 acts on this sum).

    ``u_ij = target_j - pred_i`` (target detached); ``rho_ij = |tau_i - 1{u_ij < 0}| * H_kappa(u_ij) / kappa``
    with ``H_kappa(u) = u^2 / 2`` for ``|u| <= kappa``, else ``kappa (|u| - kappa / 2)``; the indicator is
    taken on the detached error. Returns ``mean_b sum_i mean_j rho_bij``.

    Args:
        pred: (B, N) predicted quantiles at fractions ``taus`` (N,); target: (B, M) target samples.
    """
    u = target.detach()[:, None, :] - pred[:, :, None]  # (B, N, M)
    abs_u = u.abs()
    huber = torch.where(abs_u <= kappa, 0.5 * u.pow(2), kappa * (abs_u - 0.5 * kappa))
    weight = (taus[None, :, None] - (u.detach() < 0).to(pred.dtype)).abs()
    return (weight * huber / kappa).mean(dim=2).sum(dim=1).mean()


def lower_mean(q1: torch.Tensor, q2: torch.Tensor) -> torch.Tensor:
    """Per row, the whole quantile set (B, N) of the critic with the lower mean (``q1`` on ties)."""
    pick1 = q1.mean(dim=-1, keepdim=True) <= q2.mean(dim=-1, keepdim=True)
    return torch.where(pick1, q1, q2)


def nstep_target(
    rewards: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    next_q1: torch.Tensor,
    next_q2: torch.Tensor,
    next_logp: torch.Tensor,
    gamma: float,
    alpha: float | torch.Tensor,
) -> torch.Tensor:
    """The n-step distributional target (B, N).

    The window of each row ends at its first step ``k`` with ``terminated`` or ``truncated`` (else at
    ``n - 1``); it has ``m = k + 1`` steps and ``R = sum_{j<m} gamma^j r_j``. After a termination
    ``y = R`` (no bootstrap); otherwise ``y = R + gamma^m (theta - alpha * next_logp)`` where ``theta`` is
    the quantile set of the critic with the lower mean (:func:`lower_mean`) at the bootstrap state
    ``s_m`` (the final observation after a truncation). Rewards after the window's end are ignored.

    Args:
        rewards, terminated, truncated: (B, n) the window (flags bool).
        next_q1, next_q2: (B, N) target critics' quantiles at ``(s_m, a_m)``, ``a_m ~ pi(s_m)``.
        next_logp: (B,) ``log pi(a_m | s_m)``. gamma: discount per step. alpha: temperature.
    """
    B, n = rewards.shape
    stop = (terminated | truncated).to(torch.bool)
    # step k is in the window when no earlier step ended it
    before = torch.cumprod((~stop[:, :-1]).to(rewards.dtype), dim=1)
    inside = torch.cat([torch.ones(B, 1, dtype=rewards.dtype, device=rewards.device), before], dim=1)
    disc = gamma ** torch.arange(n, dtype=rewards.dtype, device=rewards.device)
    ret = (rewards * inside * disc).sum(dim=1)
    m = inside.sum(dim=1)
    ended_by_termination = (terminated.to(torch.bool) & inside.to(torch.bool)).any(dim=1)
    boot = torch.where(ended_by_termination, torch.zeros_like(m), gamma**m)
    theta = lower_mean(next_q1, next_q2)
    return ret[:, None] + boot[:, None] * (theta - alpha * next_logp[:, None])


# ====================================================================== agent and learner
def _tensors(obs: dict[str, np.ndarray], keys, device) -> dict[str, torch.Tensor]:
    """Observation arrays as tensors on ``device`` (images stay uint8; the encoder scales them)."""
    out = {}
    for k in keys:
        v = torch.as_tensor(np.asarray(obs[k]))
        out[k] = (v if k == "image" else v.float()).to(device)
    return out


class Agent(nn.Module):
    """The actor, the two critics and their targets.

    Args:
        config: :class:`QRSACConfig`. shapes: one car's observation shapes per key.
        camera: with an ``image`` input, the camera it learns from: the
            :data:`drift.racing.config.CAMERA_GEOMETRY` settings by name (``RacingConfig.camera_geometry``);
            evaluations and resumed runs must use the same.
    """

    def __init__(self, config: QRSACConfig, shapes: dict[str, tuple[int, ...]], camera: dict | None = None):
        super().__init__()
        c = config
        self.config = c
        self.shapes = {k: tuple(v) for k, v in shapes.items()}
        self.camera = dict(camera) if camera is not None and "image" in self.shapes else None
        self.actor = Actor(c.actor_keys, self.shapes, c.hidden, c.image_features)

        def critic():
            return QuantileCritic(c.critic_keys, self.shapes, c.n_quantiles, c.hidden, c.image_features)

        self.critic1, self.critic2 = critic(), critic()
        self.target1, self.target2 = critic(), critic()
        self.target1.load_state_dict(self.critic1.state_dict())
        self.target2.load_state_dict(self.critic2.state_dict())
        for p in (*self.target1.parameters(), *self.target2.parameters()):
            p.requires_grad_(False)
        self.log_alpha = nn.Parameter(torch.tensor(math.log(c.alpha)))

    @property
    def device(self) -> torch.device:
        """Where the networks' parameters live."""
        return self.log_alpha.device

    @torch.no_grad()
    def act(self, obs: dict[str, np.ndarray], deterministic: bool = True) -> np.ndarray:
        """Actions (B, 2) in [-1, 1] for observations of B cars (numpy dict, e.g. ``VecRacingEnv`` obs)."""
        x = _tensors(obs, self.actor.keys, self.device)
        a = self.actor.deterministic(x) if deterministic else self.actor.sample(x)[0]
        return a.cpu().numpy().astype(np.float64)


class Learner:
    """Optimisers and the QR-SAC update of an :class:`Agent`."""

    def __init__(self, agent: Agent):
        c = self.config = agent.config
        self.agent = agent
        self.critic_params = [*agent.critic1.parameters(), *agent.critic2.parameters()]
        self.actor_opt = torch.optim.Adam(agent.actor.parameters(), lr=c.lr_actor)
        self.critic_opt = torch.optim.Adam(self.critic_params, lr=c.lr_critic)
        self.alpha_opt = torch.optim.Adam([agent.log_alpha], lr=c.lr_alpha)
        self.taus = quantile_fractions(c.n_quantiles, agent.device)

    def _step(self, opt, loss, params) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip > 0:
            nn.utils.clip_grad_norm_(params, self.config.grad_clip)
        opt.step()

    def update(self, batch: Batch, step: int = 0) -> dict[str, float]:
        """One gradient step of the critics, the actor and (when tuned) alpha towards the target entropy
        at car step ``step``, then the Polyak update of the target critics. Returns the losses and
        diagnostics."""
        c, ag, dev = self.config, self.agent, self.agent.device
        keys = c.stored_keys
        obs, next_obs = _tensors(batch.obs, keys, dev), _tensors(batch.next_obs, keys, dev)
        action = torch.as_tensor(batch.action, device=dev)
        rewards = torch.as_tensor(batch.rewards, device=dev)
        term = torch.as_tensor(batch.terminated, device=dev)
        trunc = torch.as_tensor(batch.truncated, device=dev)
        alpha = ag.log_alpha.exp().detach()

        with torch.no_grad():
            a_next, logp_next = ag.actor.sample(next_obs)
            y = nstep_target(
                rewards,
                term,
                trunc,
                ag.target1(next_obs, a_next),
                ag.target2(next_obs, a_next),
                logp_next,
                c.gamma,
                alpha,
            )
        q1, q2 = ag.critic1(obs, action), ag.critic2(obs, action)
        critic_loss = quantile_huber_loss(q1, y, self.taus) + quantile_huber_loss(q2, y, self.taus)
        self._step(self.critic_opt, critic_loss, self.critic_params)

        a, logp = ag.actor.sample(obs)
        q_pi = torch.min(ag.critic1(obs, a).mean(dim=1), ag.critic2(obs, a).mean(dim=1))
        actor_loss = (alpha * logp - q_pi).mean()
        self._step(self.actor_opt, actor_loss, list(ag.actor.parameters()))

        out = {}
        if c.autotune:
            target = c.target_entropy_at(step)
            alpha_loss = -(ag.log_alpha * (logp.detach() + target)).mean()
            self.alpha_opt.zero_grad(set_to_none=True)
            alpha_loss.backward()
            self.alpha_opt.step()
            out.update(alpha_loss=float(alpha_loss.detach()), target_entropy=target)

        with torch.no_grad():
            for net, tgt in ((ag.critic1, ag.target1), (ag.critic2, ag.target2)):
                for p, tp in zip(net.parameters(), tgt.parameters(), strict=True):
                    tp.lerp_(p, c.polyak)
        out.update(
            critic_loss=float(critic_loss.detach()),
            actor_loss=float(actor_loss.detach()),
            alpha=float(alpha),
            entropy=float(-logp.detach().mean()),
            q_mean=float(q1.detach().mean()),
            quantile_spread=float((q1[:, -1] - q1[:, 0]).detach().mean()),
        )
        return out


# ====================================================================== evaluation
def _eval_sim(racing_cfg, track, vehicle, tires, agent: Agent, laps: int, max_steps: int, start_speed=None):
    """Deterministic laps of one car from a flying start ``150 m`` (scaled, at most a quarter lap) before
    the line, at the mean reset speed, until ``laps`` timed laps, a termination or ``max_steps``."""
    from drift.racing.sim import RacingSim

    sim = RacingSim(racing_cfg, 1, track=track, vehicle=vehicle, tires=tires, seed=0)
    L = sim.track.length_m
    run_in = min(150.0 * racing_cfg.track_scale, 0.25 * L)
    if start_speed is None:
        start_speed = 0.5 * (racing_cfg.reset_speed_min_mps + racing_cfg.reset_speed_max_mps)
    sim.reset(s_m=L - run_in, n_m=0.0, speed_mps=start_speed, heading_err_rad=0.0)
    ret, steps, terminated = 0.0, 0, False
    terms: dict[str, float] = {}
    wall_s = 0.0
    while steps < max_steps:
        rew, term, info = sim.step(agent.act(sim.observe()))
        steps += 1
        ret += float(rew[0])
        for k, v in info["reward_terms"].items():
            terms[k] = terms.get(k, 0.0) + float(v[0])
        wall_s += racing_cfg.dt_s * float(sim.wall_hit[0])
        if term[0] or info["stuck"][0]:
            terminated = True
            break
        if len(sim.laps[0]) >= laps:
            break
    times, valid = list(sim.laps[0]), list(sim.lap_valid[0])
    ok = [t for t, v in zip(times, valid, strict=True) if v]
    return {
        "return": ret,
        "steps": steps,
        "progress_m": float(sim.progress[0]),
        "laps": len(times),
        "lap_times_s": times,
        "lap_valid": valid,
        "best_valid_lap_s": min(ok) if ok else None,
        "off_course_s": float(sim.off_time[0]),
        "wall_contact_s": wall_s,
        "terminated": terminated,
        "reward_terms": terms,
    }


def evaluate(
    agent: Agent,
    laps: int = 1,
    env_kwargs: dict | None = None,
    max_steps: int | None = None,
    start_speed_mps: float | None = None,
) -> dict[str, Any]:
    """Deterministic evaluation of ``agent`` (the actor's ``tanh(mean)``) on one car.

    Args:
        agent: from :func:`load_agent` or :func:`train`'s run. laps: timed laps (flying start).
        env_kwargs: ``VecRacingEnv`` keyword arguments (track, preset, vehicle, camera, ...), as in
            :func:`train`; the camera's placement defaults to the agent's (``agent.camera``).
            max_steps: step limit (default the config's ``eval_max_steps``).
        start_speed_mps: initial speed (default the mean reset speed of the preset).
    Returns:
        dict (JSON-ready): ``return`` (unscaled env reward), ``steps``, ``progress_m``, ``laps``,
        ``lap_times_s``, ``lap_valid``, ``best_valid_lap_s`` (None without a valid lap), ``off_course_s``,
        ``wall_contact_s``, ``terminated`` (ended early: progress lost or stuck), ``reward_terms`` (sums).
    Raises:
        DriftError: an environment without the agent's inputs, or with other observation shapes or
            another camera placement than the agent learned from.
    """
    from drift.racing.vector import VecRacingEnv

    kw = _env_kwargs(agent.config, {**(agent.camera or {}), **(env_kwargs or {})})
    kw.pop("max_episode_steps", None)
    env = VecRacingEnv(num_envs=1, **kw)
    _check_shapes(agent.config, env, agent.shapes, "evaluate")
    _check_camera(agent, env.cfg, "evaluate")
    steps = agent.config.eval_max_steps if max_steps is None else int(max_steps)
    return _eval_sim(env.cfg, env.sim.track, env.sim.p, env.sim.tires, agent, laps, steps, start_speed_mps)


# ====================================================================== checkpoints
def _np_to_torch(x):
    """numpy arrays -> tensors, recursively (checkpoints load with ``weights_only=True``)."""
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.array(x))
    if isinstance(x, dict):
        return {k: _np_to_torch(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return type(x)(_np_to_torch(v) for v in x)
    if isinstance(x, np.generic):
        return x.item()
    return x


def _torch_to_np(x):
    if isinstance(x, torch.Tensor):
        return x.numpy()
    if isinstance(x, dict):
        return {k: _torch_to_np(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return type(x)(_torch_to_np(v) for v in x)
    return x


def _env_state(envs) -> dict:
    """The vector env's dynamic state: every numpy array of its simulator, laps, reset generators."""
    sim = envs.sim
    arrays = {k: v for k, v in vars(sim).items() if isinstance(v, np.ndarray)}
    return {
        "arrays": arrays,
        "laps": [list(v) for v in sim.laps],
        "lap_valid": [list(v) for v in sim.lap_valid],
        "rngs": [r.bit_generator.state for r in sim.rngs],
        "autoreset": envs._autoreset.copy(),
    }


def _load_env_state(envs, state: dict) -> None:
    sim = envs.sim
    for k, v in state["arrays"].items():
        setattr(sim, k, np.array(v))
    sim.laps = [list(v) for v in state["laps"]]
    sim.lap_valid = [list(v) for v in state["lap_valid"]]
    rngs = []
    for st in state["rngs"]:
        r = np.random.default_rng()
        r.bit_generator.state = st
        rngs.append(r)
    sim.rngs = rngs
    envs._autoreset = np.array(state["autoreset"])


def is_best_evaluation(ev: dict, best_lap_s: float | None, best_return: float | None) -> bool:
    """Whether an evaluation replaces ``best.pt``.

    A valid lap beats any evaluation without one, and a faster valid lap a slower one: what a user of a
    racing agent wants from its best checkpoint is the lap. Until the first valid lap, the highest return
    (progress counts there) is kept, so a run that never laps still has a best checkpoint.

    Args:
        ev: an :func:`evaluate` dict (reads ``best_valid_lap_s`` (s or None) and ``return``).
        best_lap_s: the fastest valid lap of the evaluations before it (s; None: none yet).
        best_return: the highest return of the evaluations before it (unscaled; None: none yet).
    Returns:
        True when ``ev`` is the new best.
    """
    lap = ev["best_valid_lap_s"]
    if lap is not None:
        return best_lap_s is None or lap < best_lap_s
    return best_lap_s is None and (best_return is None or ev["return"] > best_return)


def _save(ck: dict, path: Path) -> None:
    """Write a checkpoint whole or not at all: a kill while writing leaves the previous one readable.

    Raises:
        DriftError: the write failed (disk full, no permission); the previous checkpoint is kept.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(ck, tmp)
        os.replace(tmp, path)
    except OSError as e:
        raise DriftError(
            f"could not write the checkpoint {path}: {e}; the previous one is kept. Free space (or fix the "
            f"permissions), then continue with drift race train --resume {path.parent}"
        ) from e
    finally:
        tmp.unlink(missing_ok=True)  # a failed write (disk full) leaves no half file behind


def _read_checkpoint(path: Path) -> dict:
    """Load a checkpoint dict, or raise a DriftError saying why it cannot be used."""
    if not path.is_file():
        raise DriftError(f"no QR-SAC checkpoint at {path}: train first, or start without resume")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 (any failure to unpickle means a damaged file)
        raise DriftError(
            f"{path} is corrupt or not a QR-SAC checkpoint ({type(e).__name__}: {e}); delete it or train "
            "into a new run folder"
        ) from None
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
        got = ck.get("format") if isinstance(ck, dict) else type(ck).__name__
        raise DriftError(
            f"{path} is not a QR-SAC checkpoint (format {got!r}, expected {CHECKPOINT_FORMAT!r})"
        )
    missing = [k for k in ("config", "shapes", "agent") if k not in ck]
    if missing:
        raise DriftError(f"{path} is an incomplete QR-SAC checkpoint: missing {missing}")
    return ck


def _config_from(d: dict, path: Path) -> QRSACConfig:
    names = {f.name for f in dataclasses.fields(QRSACConfig)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise DriftError(f"{path}: config fields {unknown} are unknown to this version of QR-SAC")
    try:
        return QRSACConfig(**{**PREDATED, **d})
    except (TypeError, ConfigError) as e:
        raise DriftError(f"{path}: invalid config in the checkpoint: {e}") from None


def _checkpoint_camera(ck: dict, path: Path) -> dict | None:
    """The camera placement a checkpoint's image agent learned from (None without an image input)."""
    if "image" not in ck["shapes"]:
        return None
    cam = ck.get("camera", OLD_CAMERA)
    ok = isinstance(cam, dict) and sorted(cam) == sorted(OLD_CAMERA)
    number = (int, float)  # a placement given as 8 (not 8.0) is a number too; bool is not
    if not ok or not all(
        isinstance(v, number) and not isinstance(v, bool) and math.isfinite(v) for v in cam.values()
    ):
        raise DriftError(
            f"{path} is corrupt: its camera record {cam!r} is not {sorted(OLD_CAMERA)} in numbers"
        )
    return {k: float(v) for k, v in cam.items()}


def _camera_diffs(trained: dict | None, cfg) -> list[str]:
    if trained is None:
        return []
    now = cfg.camera_geometry
    return [
        f"{k}: {v!r} in training, {now[k]!r} now" for k, v in trained.items() if not math.isclose(v, now[k])
    ]


def _check_camera(agent: Agent, cfg, where: str) -> None:
    """Raise a DriftError when the environment's camera is placed otherwise than the agent's was."""
    diffs = _camera_diffs(agent.camera, cfg)
    if diffs:
        raise DriftError(
            f"{where}: the agent learned from another camera: {'; '.join(diffs)}. Pass the training values "
            f"as environment settings: {agent.camera}"
        )


def _check_resume(ck: dict, config: QRSACConfig, shapes: dict, path: Path, cfg) -> None:
    """Raise a DriftError naming every config field, observation shape and camera setting (``cfg``: the
    environment's :class:`drift.racing.RacingConfig`) that differs."""
    saved = ck["config"]
    defaults = {f.name: f.default for f in dataclasses.fields(QRSACConfig)}
    diffs = []
    for k, v in config.to_dict().items():
        if k in QRSACConfig.RUN_FIELDS:
            continue
        old = saved.get(k, PREDATED.get(k, defaults[k]))  # a field the checkpoint predates
        if (tuple(old) if isinstance(old, list) else old) != v:
            diffs.append(f"{k}: {old!r} in the checkpoint, {v!r} now")
    old_shapes = {k: tuple(v) for k, v in ck["shapes"].items()}
    for k in sorted(set(old_shapes) | set(shapes)):
        if old_shapes.get(k) != shapes.get(k):
            diffs.append(
                f"observation {k!r}: shape {old_shapes.get(k)} in the checkpoint, {shapes.get(k)} now"
            )
    diffs += _camera_diffs(_checkpoint_camera(ck, path), cfg)
    if diffs:
        raise DriftError(
            f"{path} does not match this run; differences: "
            + "; ".join(diffs)
            + ". Resume with the checkpoint's settings, or train into a new run folder"
        )


def load_agent(path: str | Path, device: str | None = None) -> Agent:
    """The :class:`Agent` of a checkpoint (``checkpoint.pt`` or ``best.pt``), on ``device`` (default the
    config's, falling back to CPU when CUDA is absent).

    Raises:
        DriftError: missing, corrupt or incompatible file.
    """
    path = Path(path)
    ck = _read_checkpoint(path)
    config = _config_from(ck["config"], path)
    dev = device or (config.device if config.device == "cpu" or torch.cuda.is_available() else "cpu")
    shapes = {k: tuple(v) for k, v in ck["shapes"].items()}
    agent = Agent(config.replace(device=dev), shapes, _checkpoint_camera(ck, path))
    try:
        agent.load_state_dict(ck["agent"])
    except RuntimeError as e:
        raise DriftError(f"{path}: the networks do not match the config: {e}") from None
    return agent.to(dev).eval()


# ====================================================================== training
def _env_kwargs(config: QRSACConfig, env_kwargs: dict | None) -> dict:
    """VecRacingEnv keywords: the camera on only when an input needs it, the registered time limit."""
    from drift.racing.registration import MAX_EPISODE_STEPS

    kw = {"camera": "image" in config.stored_keys, "max_episode_steps": MAX_EPISODE_STEPS}
    kw.update(env_kwargs or {})
    return kw


def _check_shapes(config: QRSACConfig, envs, shapes: dict | None, where: str) -> dict:
    space = envs.single_observation_space
    missing = [k for k in config.stored_keys if k not in space.spaces]
    if missing:
        raise DriftError(
            f"{where}: the environment gives no {missing} observation, which actor_obs={config.actor_obs!r} "
            f"/ critic_obs={config.critic_obs!r} need: pass env_kwargs camera=True"
        )
    got = {k: tuple(space[k].shape) for k in config.stored_keys}
    if shapes is not None and {k: tuple(shapes[k]) for k in got} != got:
        raise DriftError(
            f"{where}: the environment's observation shapes {got} differ from the agent's {shapes}"
        )
    return got


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _step_values(info: dict) -> dict[str, np.ndarray]:
    """Per-car (B,) values of one vector step, the finished cars' from ``final_info``; reward terms as
    ``reward_terms/<term>``."""
    out: dict[str, np.ndarray] = {}
    for src in (info, info.get("final_info")):
        if not src:
            continue
        for k, v in src.items():
            if k.startswith("_") or k in ("final_obs", "final_info"):
                continue
            if isinstance(v, dict):
                for t, tv in v.items():
                    if not t.startswith("_"):
                        key = f"{k}/{t}"
                        out[key] = np.where(v[f"_{t}"], tv, out.get(key, 0.0))
            else:
                out[k] = np.where(src[f"_{k}"], v, out.get(k, 0))
    return out


def check_backend(config: QRSACConfig, backend: str) -> None:
    """Raise a DriftError unless ``backend`` can run ``config``: ``local`` without workers, ``ray`` with
    workers and Ray installed (the message says ``pip install 'drift[ray]'``)."""
    if backend not in BACKENDS:
        raise DriftError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "ray":
        from controllers.qrsac.workers import import_ray

        import_ray()
        if config.workers < 1:
            raise DriftError("backend 'ray' needs rollout workers: --workers N (N >= 1)")
    elif config.workers > 0:
        raise DriftError(f"{config.workers} rollout workers need backend 'ray' (--backend ray)")


def train(
    config: QRSACConfig,
    run_dir: str | Path,
    steps: int,
    env_kwargs: dict | None = None,
    resume: bool = False,
    progress: Callable[[dict], None] | None = None,
    log: Callable[[str], None] | None = None,
    backend: str = "local",
    address: str | None = None,
    on_evaluation: Callable[[dict], None] | None = None,
) -> dict[str, Any]:
    """Train QR-SAC on ``VecRacingEnv`` (``config.num_envs`` cars) until ``steps`` car steps.

    Backend ``local`` (``config.workers == 0``): the learner steps the cars itself, one vector step then
    the updates due. Backend ``ray`` (``config.workers >= 1``, needs ``pip install 'drift[ray]'``): the
    cars run in ``workers`` Ray actors (:mod:`controllers.qrsac.workers`), one replay stream per car per
    worker. Synchronous rounds, pipelined by one: the learner collects every worker's ``rollout_steps``
    vector steps (``ray.get``), starts the next round, adds the collected one to the buffer, runs the
    updates due (``utd`` per car step over all workers' cars) and, once ``broadcast_every`` more updates
    are done, broadcasts the actor's weights (applied from the worker's next round).

    Args:
        config: :class:`QRSACConfig`.
        run_dir: folder for ``checkpoint.pt``, ``best.pt`` (see :func:`is_best_evaluation`),
            ``evaluations.json`` and TensorBoard scalars in ``tb/``.
        steps: total car steps (each vector step adds ``num_envs``); a resumed run continues up to it.
        env_kwargs: ``VecRacingEnv`` keywords (``track`` (name, path or Track), ``preset``, ``vehicle``,
            ``camera``, ``image_px``, ``max_episode_steps`` (default 3000), ...); the camera is on by default
            only when an input needs it.
        resume: continue from ``run_dir/checkpoint.pt`` (same config except :attr:`QRSACConfig.RUN_FIELDS`,
            same observation shapes). With the buffer saved, on CPU, resumed equals uninterrupted (backend
            local). With Ray the resume is not exact: the workers restart their cars in new episodes (seeds
            offset by the step), the buffer's open episodes end as truncations where they stopped.
        progress: called every ``log_every`` steps with a dict: ``step``, ``steps_per_s``, ``episode_return``
            (mean over episodes finished since the last call, None if none), ``laps`` (total timed laps),
            ``best_valid_lap_s`` (training and evaluation), ``updates``.
        log: called with one line of text per event (run start, evaluations, checkpoints), e.g. ``print``.
        backend: ``local`` or ``ray`` (see above).
        address: with backend ``ray``, the Ray cluster to join (None: start a local Ray instance, shut down
            at the end; an instance the caller already initialised is used and left running).
        on_evaluation: called with each evaluation (an :func:`evaluate` dict with ``step``) once it is
            saved; an exception it raises ends the run there (e.g. a pruned trial of ``drift tune``).
    Returns:
        metrics dict (JSON-ready): ``steps``, ``updates``, ``episodes``, ``wall_s``, ``steps_per_s``,
        ``best_eval_return``, ``best_valid_lap_s``, ``evaluations`` (list of :func:`evaluate` dicts with
        ``step``), ``buffer_bytes``; with Ray also ``workers`` and ``broadcasts``.
    Raises:
        DriftError: an environment without the inputs the config needs; a buffer larger than the machine's
            memory; resume without, or with a corrupt or mismatched, checkpoint; backend ``ray`` without
            Ray installed or without workers, workers with backend ``local``; a checkpoint that cannot be
            written (disk full), the previous one kept.
        KeyboardInterrupt: on SIGINT (Ctrl-C; called from the main thread), after the current step and a
            checkpoint of it, so that ``resume`` continues from there; a second SIGINT interrupts at once.
    """
    from torch.utils.tensorboard import SummaryWriter

    from drift.racing.vector import VecRacingEnv

    c = config
    check_backend(c, backend)  # before the run folder
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    say = log or (lambda line: None)
    _seed_all(c.seed)
    if c.device.startswith("cuda") and not torch.cuda.is_available():
        raise DriftError(f"device {c.device!r} asked for but CUDA is not available: use device='cpu'")
    device = torch.device(c.device)

    env_kw = _env_kwargs(c, env_kwargs)
    W = c.workers  # with workers, the learner's own env (one car) only gives shapes and evaluations
    envs = VecRacingEnv(num_envs=1 if W else c.num_envs, seed=c.seed, autoreset_mode="SameStep", **env_kw)
    shapes = _check_shapes(c, envs, None, "train")
    agent = Agent(c, shapes, envs.cfg.camera_geometry).to(device)
    learner = Learner(agent)
    dtypes = {k: np.uint8 if k == "image" else np.float32 for k in c.stored_keys}
    streams = c.num_envs * max(W, 1)  # one per car (per worker)
    buffer = ReplayBuffer(c.buffer_capacity, streams, shapes, dtypes, c.n_step, seed=c.seed)
    action_rng = np.random.default_rng(c.seed)
    obs, _ = envs.reset(seed=c.seed)
    B = c.num_envs
    ctr = {"step": 0, "updates": 0, "episodes": 0, "laps": 0, "best_eval_return": None, "best_lap_s": None}
    # updates are due at utd per car step after update_start (learning_starts; later after a resume
    # without a buffer, which refills it first), on top of the updates_before done until then
    ctr.update(update_start=c.learning_starts, updates_before=0)
    ep_return = np.zeros(B)
    ep_terms: dict[str, np.ndarray] = {}
    evaluations: list[dict] = []
    ck_path, best_path = run_dir / "checkpoint.pt", run_dir / "best.pt"

    def checkpoint(with_buffer: bool) -> dict:
        ck = {
            "format": CHECKPOINT_FORMAT,
            "config": c.to_dict(),
            "shapes": {k: list(v) for k, v in shapes.items()},
            "camera": agent.camera,
            "agent": agent.state_dict(),
            "actor_opt": learner.actor_opt.state_dict(),
            "critic_opt": learner.critic_opt.state_dict(),
            "alpha_opt": learner.alpha_opt.state_dict(),
            "counters": dict(ctr),
            "rng": {
                "python": random.getstate(),
                "numpy": _np_to_torch(np.random.get_state()),
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "actions": action_rng.bit_generator.state,
            },
            "evaluations": evaluations,
        }
        if not W:  # the workers' cars are not checkpointed: they restart on resume
            ck["loop"] = _np_to_torch({"obs": obs, "ep_return": ep_return, "ep_terms": ep_terms})
            ck["env"] = _np_to_torch(_env_state(envs))
        if with_buffer:
            ck["buffer"] = _np_to_torch(buffer.state_dict())
        return ck

    if resume:
        ck = _read_checkpoint(ck_path)
        _check_resume(ck, c, shapes, ck_path, envs.cfg)
        try:
            agent.load_state_dict(ck["agent"])
            learner.actor_opt.load_state_dict(ck["actor_opt"])
            learner.critic_opt.load_state_dict(ck["critic_opt"])
            learner.alpha_opt.load_state_dict(ck["alpha_opt"])
            ctr.update(ck["counters"])
            random.setstate(ck["rng"]["python"])
            np.random.set_state(_torch_to_np(ck["rng"]["numpy"]))
            torch.set_rng_state(ck["rng"]["torch"])
            if ck["rng"]["cuda"] and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(ck["rng"]["cuda"])
            action_rng.bit_generator.state = ck["rng"]["actions"]
            if not W:
                loop = _torch_to_np(ck["loop"])
                obs, ep_return, ep_terms = loop["obs"], loop["ep_return"], loop["ep_terms"]
                _load_env_state(envs, _torch_to_np(ck["env"]))
            evaluations = list(ck.get("evaluations", []))
            if "buffer" in ck:
                buffer.load_state_dict(_torch_to_np(ck["buffer"]))
                if W:
                    buffer.end_streams()  # the workers' cars restart in new episodes
            else:
                ctr.update(update_start=ctr["step"] + c.learning_starts, updates_before=ctr["updates"])
                say(
                    f"resume: the checkpoint holds no replay buffer; refilling it for {c.learning_starts} "
                    "steps with the policy before updating again (not an exact resume)"
                )
        except (KeyError, RuntimeError, ValueError, TypeError) as e:
            raise DriftError(f"{ck_path} is corrupt or incomplete ({type(e).__name__}: {e})") from None

    writer = SummaryWriter(str(run_dir / "tb"))
    cars = f"{W} workers x {B} cars" if W else f"{B} cars"
    say(
        f"qrsac run {run_dir.name}: seed {c.seed}, {cars}, actor {c.actor_obs}, critic {c.critic_obs}, "
        f"buffer {buffer.nbytes / 2**20:.0f} MiB, device {device}, from step {ctr['step']} to {steps}"
    )
    win: dict[str, list] = {"returns": [], "laps": [], "off": [], "terms": []}
    upd_stats: list[dict] = []
    clock = {"t0": time.perf_counter(), "step0": ctr["step"]}

    def run_eval() -> None:
        ev = _eval_sim(
            envs.cfg, envs.sim.track, envs.sim.p, envs.sim.tires, agent, c.eval_laps, c.eval_max_steps
        )
        ev["step"] = ctr["step"]
        evaluations.append(ev)
        for k in ("return", "progress_m", "off_course_s", "laps"):
            writer.add_scalar(f"eval/{k}", ev[k], ctr["step"])
        lap = ev["best_valid_lap_s"]
        best = is_best_evaluation(ev, ctr["best_lap_s"], ctr["best_eval_return"])
        if lap is not None:
            writer.add_scalar("eval/best_valid_lap_s", lap, ctr["step"])
            ctr["best_lap_s"] = lap if ctr["best_lap_s"] is None else min(ctr["best_lap_s"], lap)
        if ctr["best_eval_return"] is None or ev["return"] > ctr["best_eval_return"]:
            ctr["best_eval_return"] = ev["return"]
        if best:
            _save(checkpoint(with_buffer=False), best_path)
        (run_dir / "evaluations.json").write_text(json.dumps(evaluations, indent=1))
        say(
            f"eval at step {ctr['step']}: return {ev['return']:.1f}, progress {ev['progress_m']:.0f} m, "
            f"laps {ev['laps']}, best valid lap "
            + ("-" if lap is None else f"{lap:.2f} s")
            + (" (best.pt)" if best else "")
        )
        if on_evaluation is not None:
            on_evaluation(ev)

    def crossed(prev: int, now: int, every: int) -> bool:
        return every > 0 and now // every > prev // every

    def record(reward, term, trunc, vals: dict, ep_ret: np.ndarray, ep_trm: dict) -> None:
        """Episode statistics of one vector step of ``len(reward)`` cars (unscaled reward; finished cars
        report through final_info); ``ep_ret`` and ``ep_trm`` are those cars' running sums, updated."""
        n = len(reward)
        ep_ret += reward
        for k, v in vals.items():
            if k.startswith("reward_terms/"):
                ep_trm[k] = ep_trm.get(k, np.zeros(n)) + v
        lap_done = vals.get("lap_completed", np.zeros(n, bool)).astype(bool)
        ctr["laps"] += int(lap_done.sum())
        for i in np.flatnonzero(lap_done & vals.get("lap_valid", np.zeros(n, bool)).astype(bool)):
            lap = float(vals["lap_time_s"][i])
            win["laps"].append(lap)
            ctr["best_lap_s"] = lap if ctr["best_lap_s"] is None else min(ctr["best_lap_s"], lap)
        win["off"].append(float(np.mean(vals.get("off_course", np.zeros(n)))))
        for i in np.flatnonzero(term | trunc):
            win["returns"].append(float(ep_ret[i]))
            win["terms"].append({k: float(v[i]) for k, v in ep_trm.items()})
            ep_ret[i] = 0.0
            for v in ep_trm.values():
                v[i] = 0.0
            ctr["episodes"] += 1

    def update() -> None:
        """The updates due: utd per car step after learning_starts (update_start)."""
        due = ctr["updates_before"] + int(math.floor(c.utd * max(0, ctr["step"] - ctr["update_start"])))
        while ctr["updates"] < due:
            upd_stats.append(learner.update(buffer.sample(c.batch_size), ctr["step"]))
            ctr["updates"] += 1

    def after_steps(prev: int) -> None:
        """Scalars and progress, evaluation and checkpoint due since step ``prev``."""
        if crossed(prev, ctr["step"], c.log_every) or ctr["step"] >= steps:
            now = time.perf_counter()
            sps = (ctr["step"] - clock["step0"]) / max(now - clock["t0"], 1e-9)
            clock.update(t0=now, step0=ctr["step"])
            s = ctr["step"]
            writer.add_scalar("charts/steps_per_s", sps, s)
            writer.add_scalar("charts/off_course_rate", float(np.mean(win["off"])) if win["off"] else 0.0, s)
            mean_ret = float(np.mean(win["returns"])) if win["returns"] else None
            if mean_ret is not None:
                writer.add_scalar("charts/episode_return", mean_ret, s)
                for k in win["terms"][0]:
                    writer.add_scalar(k, float(np.mean([t[k] for t in win["terms"]])), s)
            for lap in win["laps"]:
                writer.add_scalar("charts/lap_time_s", lap, s)
            if upd_stats:
                for k in upd_stats[0]:
                    writer.add_scalar(f"losses/{k}", float(np.mean([u[k] for u in upd_stats])), s)
            if progress is not None:
                progress(
                    {
                        "step": s,
                        "steps_per_s": sps,
                        "episode_return": mean_ret,
                        "laps": ctr["laps"],
                        "best_valid_lap_s": ctr["best_lap_s"],
                        "updates": ctr["updates"],
                    }
                )
            for v in win.values():
                v.clear()
            upd_stats.clear()
        if crossed(prev, ctr["step"], c.eval_every):
            run_eval()
        if crossed(prev, ctr["step"], c.checkpoint_every) and ctr["step"] < steps:
            _save(checkpoint(c.save_buffer), ck_path)
            say(f"checkpoint at step {ctr['step']}")

    broadcasts = 0
    fleet = None
    if W:  # before the clock starts: Ray and the workers take a while to start
        say(f"starting {W} rollout workers on Ray ({address or 'a local instance'})")
        actor_state = {k: v.detach().cpu() for k, v in agent.actor.state_dict().items()}
        from controllers.qrsac.workers import RayFleet

        fleet = RayFleet(c, shapes, env_kw, c.seed + ctr["step"], actor_state, address)
    wall0 = clock["t0"] = time.perf_counter()
    first_step = ctr["step"]
    # Ctrl-C (SIGINT) ends the run at the next step boundary with a checkpoint; a second one stops at once
    stop = {"asked": False}

    def on_sigint(signum, frame) -> None:
        stop["asked"] = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    in_main = threading.current_thread() is threading.main_thread()
    old_handler = signal.signal(signal.SIGINT, on_sigint) if in_main else None
    try:
        if not W:  # local: the learner steps the cars
            while ctr["step"] < steps and not stop["asked"]:
                if ctr["step"] < c.learning_starts:
                    action = action_rng.uniform(-1.0, 1.0, (B, 2))
                else:
                    action = agent.act(obs, deterministic=False)
                next_obs, reward, term, trunc, info = envs.step(action)
                buffer.add(obs, action, reward * c.reward_scale, term, trunc, info.get("final_obs"))
                record(reward, term, trunc, _step_values(info), ep_return, ep_terms)
                obs = next_obs
                prev = ctr["step"]
                ctr["step"] += B
                update()
                after_steps(prev)
        else:  # Ray: rounds of rollout_steps vector steps on every worker, the next one running meanwhile
            ep_rets = [np.zeros(B) for _ in range(W)]
            ep_trms: list[dict] = [{} for _ in range(W)]

            def start_round(at: int) -> int:
                """Start the round from car step ``at``; the car step it ends at."""
                if at >= steps:
                    return at
                k = min(c.rollout_steps, math.ceil((steps - at) / (W * B)))
                fleet.start(k, explore=at < c.learning_starts)
                return at + W * B * k

            submitted = start_round(ctr["step"])
            while ctr["step"] < steps and not stop["asked"]:
                rollouts = fleet.collect()
                submitted = start_round(submitted)
                prev, prev_updates = ctr["step"], ctr["updates"]
                for w, ro in enumerate(rollouts):
                    for t in range(len(ro["reward"])):
                        r, te, tr = ro["reward"][t], ro["terminated"][t], ro["truncated"][t]
                        o = {k: v[t] for k, v in ro["obs"].items()}
                        buffer.add(o, ro["action"][t], r * c.reward_scale, te, tr, ro["final_obs"][t], w * B)
                        record(r, te, tr, ro["values"][t], ep_rets[w], ep_trms[w])
                    ctr["step"] += B * len(ro["reward"])
                update()
                if crossed(prev_updates, ctr["updates"], c.broadcast_every):
                    fleet.broadcast(agent.actor.state_dict())
                    broadcasts += 1
                after_steps(prev)
    finally:
        if in_main:
            signal.signal(signal.SIGINT, old_handler)
        if fleet is not None:
            fleet.close()
            say("rollout workers stopped")
    if stop["asked"]:
        _save(checkpoint(c.save_buffer), ck_path)
        writer.close()
        say(f"interrupted at step {ctr['step']}: checkpoint saved, resume continues from it")
        raise KeyboardInterrupt

    if c.eval_every > 0 and (not evaluations or evaluations[-1]["step"] != ctr["step"]):
        run_eval()
    _save(checkpoint(c.save_buffer), ck_path)
    writer.close()
    wall = time.perf_counter() - wall0
    say(f"done at step {ctr['step']}: {ctr['updates']} updates, {wall:.1f} s")
    metrics = {
        "steps": ctr["step"],
        "updates": ctr["updates"],
        "episodes": ctr["episodes"],
        "wall_s": wall,
        "steps_per_s": (ctr["step"] - first_step) / wall if wall > 0 else None,
        "best_eval_return": ctr["best_eval_return"],
        "best_valid_lap_s": ctr["best_lap_s"],
        "evaluations": evaluations,
        "buffer_bytes": buffer.nbytes,
    }
    if W:
        metrics.update(workers=W, broadcasts=broadcasts)
    return metrics
