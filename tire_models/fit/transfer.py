"""Transfer between two recordings of one simulated car: does a fit carry to another track?

The car (the ``sports`` preset and its default tyres) is recorded on two tracks by
:func:`drift.simulate.simulate_log` with :data:`drift.simulate.RECORDINGS`: ``flat`` (track A) and
``banked`` (track B, banked and graded, another sensor mounting and steering calibration). A fit on A,
calibrated on the first minute of a held-out recording of B (``drift eval --calibrate all``), is
scored against a fit on B itself, on the same windows (issue 18).
"""

from __future__ import annotations

from pathlib import Path


def transfer_check(run_dir: str | Path, model: str = "pacejka", echo=print) -> dict:
    """Fit on A and on B, evaluate both on a third recording of B; write the run folders under ``run_dir``.

    Args:
        run_dir: folder for the two fit runs (``fit-A``, ``fit-B``) and three evaluations (``eval-*``).
        model: tyre model of both fits (a :data:`tire_models.REGISTRY` name).
    Returns:
        ``{"same_track": ..., "transfer": ..., "offsets_only": ...}``: the ``metrics.json`` of
        ``drift eval`` for the fit on B (``--calibrate all``), the fit on A (``--calibrate all``) and
        the fit on A with the sideslip offsets alone re-estimated (``--calibrate offsets``); errors in
        m/s (``vx``, ``vy``) and rad/s (``r``).
    Raises:
        DriftError: an unknown ``model`` (from :class:`~tire_models.fit.pipeline.FitConfig`).
    Takes about 2.5 min on one core (``benchmarks/fit_transfer.py``).
    """
    import torch

    from drift.simulate import RECORDINGS, simulate_log
    from tire_models.fit.pipeline import FitConfig
    from tire_models.fit.run import run_eval, run_fit

    torch.set_num_threads(1)
    run_dir = Path(run_dir)
    cfg = FitConfig(
        model=model, baselines=(), vehicle="sports", minutes=3, max_steer_delay_s=0.2, horizon_s=0.5
    )

    def log(track, minutes, seed):
        return simulate_log(
            "sports", minutes=minutes, seed=seed, scenario="racing", recording=RECORDINGS[track]
        )

    for name, track, seed in (("fit-A", "flat", 1), ("fit-B", "banked", 2)):
        echo(f"fitting {model} on 3 min of track {name[-1]} ({track}) -> {run_dir / name}")
        run_fit(log(track, 4.0, seed), cfg, run_dir / name, show_progress=False, echo=lambda *a: None)
    held = log("banked", 3.0, 3)
    out = {}
    for key, fit, how in (
        ("same_track", "fit-B", "all"),
        ("transfer", "fit-A", "all"),
        ("offsets_only", "fit-A", "offsets"),
    ):
        echo(f"drift eval --tires {fit} --calibrate {how} on a held-out recording of track B")
        out[key] = run_eval(held, run_dir / fit, run_dir / f"eval-{key}", calibrate=how, echo=lambda *a: None)
    return out
