"""Steering delay: a fitted sensor term chosen by the multi-step rollout error on TRAINING data.

Real steering logs often record the *command*, which leads the road-wheel angle the tyres see by
an actuator / sensing delay (on the IAC log of issue 3, ~0.2 s). The pipeline models it as a pure
delay of the logged ``delta`` by ``k`` samples inside each contiguous segment (the first ``k``
samples repeat the first value), like the throttle delay of :mod:`tire_models.fit.forces`.

Choice of ``k`` (:func:`choose_steer_delay`), training data only: for every ``k`` in
``0..round(max_delay_s / dt)`` a *probe* model (Fiala tyres plus the fitted sensor terms; the
same stages as every model, :func:`tire_models.fit.pipeline.fit_one`, with one rollout epoch) is
fitted on the delayed steering, then scored by the open-loop RMSE of ``vy`` and ``r`` over the
evaluation horizon (normalised by persistence's RMSE over the same windows). The lowest sum wins.
The criterion is the one the models are judged on (multi-step rollouts), not the equation error
of the smoothed ``dr/dt``, which on the IAC log prefers a too-short delay (1 sample instead of 5). The chosen
delay is then applied identically to the training and held-out data of every model, baseline
and persistence, and reported as ``steer_delay_s`` in ``model.yaml`` and ``metrics.json``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from drift.vehicle.params import VehicleParams
from tire_models.fit.forces import _shift
from tire_models.fit.pipeline import FitConfig, FitModule, LogArrays, fit_one, targets


def delay_steering(a: LogArrays, k: int) -> LogArrays:
    """``a`` with ``delta`` delayed by ``k >= 0`` samples inside each segment (first value held).

    Args:
        a: prepared log arrays.
        k: delay in samples (0: unchanged copy of the references).
    Returns:
        A new :class:`LogArrays`; the other signals are shared, not copied.
    """
    if k == 0:
        return a
    d = _shift(a.delta.numpy(), int(k), np.asarray(a.segment))
    return dataclasses.replace(a, delta=torch.as_tensor(d, dtype=torch.float64))


@torch.no_grad()
def rollout_score(mod: FitModule, a: LogArrays, H: int, stride: int = 2) -> float:
    """Sum over ``vy, r`` of the ``H``-step open-loop RMSE divided by persistence's (dimensionless)."""
    starts = a.window_starts(H, stride)
    tg = targets(a, starts, H)
    pred = mod.predict(a, starts, H)
    pers = (tg - a.meas()[torch.as_tensor(starts)][:, None, :]).pow(2).mean(dim=(0, 1)).sqrt()
    rm = (pred - tg).pow(2).mean(dim=(0, 1)).sqrt()
    s = float((rm[1:] / pers[1:].clamp_min(1e-9)).sum())
    return s if np.isfinite(s) else float("inf")


def choose_steer_delay(
    a: LogArrays,
    p: VehicleParams,
    sensor_terms,
    max_delay_s: float = 0.4,
    horizon_s: float = 1.0,
    stage1_iters: int = 30,
    echo=None,
    probe: str = "fiala",
    probe_epochs: int = 1,
    progress=None,
) -> tuple[float, dict[str, float]]:
    """Steering delay (s) that minimises the multi-step rollout error of a probe model on ``a``.

    Args:
        a: prepared TRAINING arrays (never the held-out part).
        p: nominal vehicle parameters.
        sensor_terms: names of the sensor terms fitted with the probe (as ``FitConfig.sensor_terms``).
        max_delay_s: upper bound of the search (s); candidates are ``0, dt, ..., max_delay_s``.
        horizon_s: rollout horizon of the criterion (s).
        stage1_iters: LBFGS iterations of the probe's stage-1 fit per candidate.
        echo: ``callable(str)`` for one line per candidate, or None.
        progress: ``callable()`` after each candidate (a progress bar), or None.
        probe_epochs: stage-2 (rollout) epochs of the probe; with 0 the probe's equation-error fit
            leans toward one sample too much delay on a simulated log.
        probe: tyre model of the probe (a saturating curve: a linear probe on a saturating
            plant prefers a spurious extra sample of delay).
    Returns:
        ``(delay_s, {"<k>": score})``: the chosen delay (a multiple of ``a.dt``) and every
        candidate's score (see :func:`rollout_score`).
    """
    H = max(1, int(round(horizon_s / a.dt)))
    scores: dict[str, float] = {}
    best_k, best = 0, float("inf")
    for k in range(int(round(max_delay_s / a.dt)) + 1):
        ak = delay_steering(a, k)
        cfg = FitConfig(
            model=probe,
            baselines=(),
            epochs=probe_epochs,
            stage1_iters=stage1_iters,
            sensor_terms=tuple(sensor_terms),
            horizon_s=min(0.6, horizon_s),
            steer_delay_s=0.0,
        )
        res = fit_one(probe, ak, p, cfg)
        s = rollout_score(res.module(p), ak, H)
        scores[str(k)] = s
        if echo is not None:
            echo(f"steering delay {k * a.dt:.2f} s: rollout score (vy + r, / persistence) {s:.4f}")
        if progress is not None:
            progress()
        if s < best:
            best, best_k = s, k
    return best_k * a.dt, scores
