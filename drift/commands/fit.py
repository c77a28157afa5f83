"""``drift fit``: fit tyre models (and sensor terms) from a driving log; evaluate on held-out data."""

from __future__ import annotations

from pathlib import Path

import typer


def command(
    log: Path = typer.Option(  # noqa: B008
        None, "--log", help="driving log (.csv, .mcap, .db3, bag dir, .npz); default: shipped IAC excerpt"
    ),
    column_map: Path = typer.Option(None, "--column-map", help="YAML column map for a generic CSV"),  # noqa: B008
    vehicle: str = typer.Option("iac", "--vehicle", help="vehicle preset name or YAML path"),
    model: str = typer.Option(
        "pacejka", "--model", help="main tyre model: linear, fiala, pacejka, exptanh, neural_ode"
    ),
    baselines: str = typer.Option(
        "linear,fiala,pacejka",
        "--baselines",
        help="comma-separated models also fitted and compared ('' for none)",
    ),
    minutes: float = typer.Option(
        3.0, "--minutes", help="minutes of driving (vx >= --min-speed) used for training"
    ),
    min_speed: float = typer.Option(5.0, "--min-speed", help="drop samples slower than this (m/s)"),
    horizon_s: float = typer.Option(0.6, "--horizon-s", help="rollout horizon of the stage-2 loss (s)"),
    eval_horizon_s: float = typer.Option(
        1.0, "--eval-horizon-s", help="horizon of the held-out multi-step RMSE (s)"
    ),
    batch: int = typer.Option(256, "--batch", help="rollout windows per optimiser step"),
    lr: float = typer.Option(0.05, "--lr", help="stage-2 peak learning rate (Adam)"),
    lr_schedule: str = typer.Option("cosine", "--lr-schedule", help="cosine, step or constant"),
    epochs: int = typer.Option(6, "--epochs", help="stage-2 passes over the training windows"),
    stage1_iters: int = typer.Option(60, "--stage1-iters", help="LBFGS iterations of each stage-1 part"),
    sensor_terms: str = typer.Option(
        "all", "--sensor-terms", help="fitted sensor terms: 'all', 'none' or a comma list"
    ),
    mu_prior: float = typer.Option(
        0.1, "--mu-prior", help="weight of the prior pulling each axle's peak friction to the vehicle's mu"
    ),
    mu_box: str = typer.Option(
        "0.6,1.5",
        "--mu-box",
        help="box 'LO,HI' of each axle's peak friction relative to the vehicle's mu, or 'none'",
    ),
    loss_norm: str = typer.Option(
        "step",
        "--loss-norm",
        help="stage-2 error scale: 'channel' (per channel) or 'step' (per channel and step)",
    ),
    steer_delay: str = typer.Option(
        "auto",
        "--steer-delay",
        help="delay of the logged steering in s, or 'auto': fitted on the training data by the "
        "multi-step rollout error within 0..--max-steer-delay",
    ),
    max_steer_delay: float = typer.Option(
        0.4, "--max-steer-delay", help="upper bound of the fitted steering delay (s)"
    ),
    seed: int = typer.Option(0, "--seed", help="seed: the same seed gives the same fit"),
    resume: Path = typer.Option(None, "--resume", help="continue an interrupted fit in this run folder"),  # noqa: B008
    out: Path = typer.Option(None, "--out", help="run folder (default runs/fit-<timestamp>)"),  # noqa: B008
):
    """Fit tyre models and sensor terms from a driving log; compare with persistence on held-out data."""
    from drift.errors import DriftError
    from drift.runs import make_run_dir
    from drift.vehicle import load_vehicle
    from tire_models.fit.pipeline import FitConfig, load_config
    from tire_models.fit.run import load_fit_log, run_fit
    from tire_models.fit.sensor import SENSOR_NAMES

    if sensor_terms == "all":
        terms = SENSOR_NAMES
    elif sensor_terms in ("none", ""):
        terms = ()
    else:
        terms = tuple(s.strip() for s in sensor_terms.split(",") if s.strip())
    if resume is not None:
        if not Path(resume).is_dir():
            raise DriftError(
                f"--resume {resume}: not a folder; pass the run folder of an interrupted drift fit"
            )
        cfg, saved = load_config(resume)
        run_dir = make_run_dir("fit", resume)
        # the log recorded in fit_config.json unless --log overrides it
        log_obj = load_fit_log(log or saved.get("log"), column_map, mass_kg=load_vehicle(cfg.vehicle).m)
        run_fit(log_obj, cfg, run_dir, resume=True)
        return
    if steer_delay.strip().lower() == "auto":
        steer_delay_s = None
    else:
        try:
            steer_delay_s = float(steer_delay)
        except ValueError:
            raise DriftError(f"--steer-delay must be 'auto' or seconds, got {steer_delay!r}") from None
    cfg = FitConfig(
        model=model,
        baselines=tuple(b.strip() for b in baselines.split(",") if b.strip()),
        vehicle=vehicle,
        minutes=minutes,
        min_speed_mps=min_speed,
        horizon_s=horizon_s,
        eval_horizon_s=eval_horizon_s,
        batch=batch,
        lr=lr,
        lr_schedule=lr_schedule,
        epochs=epochs,
        stage1_iters=stage1_iters,
        seed=seed,
        mu_prior_weight=mu_prior,
        mu_box=_parse_mu_box(mu_box),
        loss_norm=loss_norm,
        sensor_terms=terms,
        steer_delay_s=steer_delay_s,
        max_steer_delay_s=max_steer_delay,
    )
    # the vehicle's mass turns an Ackermann bag's acceleration command into Fx (N); a bad --vehicle
    # fails here, before a run folder exists
    log_obj = load_fit_log(log, column_map, mass_kg=load_vehicle(cfg.vehicle).m)
    log_obj.split(cfg.minutes, cfg.min_speed_mps)  # so does a log too short for --minutes
    if log is None:
        print(
            "data: shipped excerpt (first 300 s) of the Indy Autonomous Challenge log Putnam_park2023_run4_2 "
            "from Deep Dynamics (Chrosniak et al., RA-L 2024), GPL-3.0; see drift/data/NOTICE.md"
        )
    run_dir = make_run_dir("fit", out)
    run_fit(log_obj, cfg, run_dir)


def _parse_mu_box(text: str) -> tuple[float, float] | None:
    """``'LO,HI'`` -> ``(LO, HI)``; ``'none'`` -> None. Raises DriftError on anything else."""
    from drift.errors import DriftError

    if text.strip().lower() == "none":
        return None
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise DriftError(f"--mu-box must be 'LO,HI' (e.g. 0.6,1.5) or 'none', got {text!r}") from None
    return lo, hi
