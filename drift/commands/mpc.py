"""``drift mpc``: run a closed-loop drift scenario with the NMPC against the Pacejka plant."""

from __future__ import annotations

from pathlib import Path

import typer


def command(
    scenario: str = typer.Option("donut", "--scenario", help="donut, circle, figure8 or transition"),
    vehicle: str = typer.Option("sports", "--vehicle", help="vehicle preset name or YAML path"),
    tires: str = typer.Option(
        "fit",
        "--tires",
        help="controller tyre model: 'fit' (exptanh fitted on 3 min of simulated drifting; shipped in "
        "configs/tires/mpc for the default settings, else fitted once and cached), a fit run folder, "
        "or a model name at nominal parameters (fiala, pacejka = the plant itself, ...)",
    ),
    config: str = typer.Option("default", "--config", help="configs/mpc/<name>.yaml or a YAML path"),
    solver: str = typer.Option(None, "--solver", help="override the config: rti, sqp, ipopt or fatrop"),
    qp_solver: str = typer.Option(
        None, "--qp-solver", help="override the config: hpipm, qrqp, osqp, qpoases"
    ),
    time_budget_ms: float = typer.Option(
        None,
        "--time-budget-ms",
        help="override the config's solve budget (ms); on a loaded machine a slow "
        "solve falls back, raise it to study tracking apart from timing",
    ),
    noise: float = typer.Option(1.0, "--noise", help="sensor noise scale (0 = perfect measurements)"),
    duration_s: float = typer.Option(None, "--duration-s", help="simulated time (s); default per scenario"),
    mass_factor: float = typer.Option(1.0, "--mass-factor", help="plant mass (and inertia) factor"),
    mu_factor: float = typer.Option(1.0, "--mu-factor", help="plant tyre friction factor"),
    seed: int = typer.Option(0, "--seed", help="sensor-noise seed"),
    gif: bool = typer.Option(True, "--gif/--no-gif", help="write animation.gif"),
    out: Path = typer.Option(None, "--out", help="run folder (default runs/mpc-<timestamp>)"),  # noqa: B008
):
    """Closed-loop drift scenario: NMPC (learned tyres) vs a Pacejka plant; metrics, plots, GIF."""
    import numpy as np
    import yaml
    from rich.progress import Progress

    from controllers.mpc.config import MPCConfig
    from controllers.mpc.plots import animate, plot_timeseries, plot_trajectory
    from controllers.mpc.scenarios import bench_settings, controller_tires, run_scenario, scenario_config
    from drift.runs import make_run_dir, write_metrics
    from drift.vehicle import load_vehicle
    from drift.vehicle.tires import default_tires

    settings = bench_settings(config)
    ctrl_cfg = dict(settings.get("controller", {}))
    if solver:
        ctrl_cfg["solver"] = solver
    if qp_solver:
        ctrl_cfg["qp_solver"] = qp_solver
    if time_budget_ms is not None:
        ctrl_cfg["time_budget_ms"] = time_budget_ms
    cfg = MPCConfig.from_dict(ctrl_cfg, source=str(config))
    over = {"noise": noise, "mass_factor": mass_factor, "mu_factor": mu_factor, "seed": seed}
    if duration_s is not None:
        over["duration_s"] = duration_s
    sc = scenario_config(scenario, **over)
    p = load_vehicle(vehicle)
    run = make_run_dir("mpc", out)
    ctrl, tires_src = controller_tires(tires, p, settings, echo=typer.echo)
    plant = default_tires(p)
    with Progress(transient=True) as prog:
        task = prog.add_task(f"{scenario} closed loop", total=int(round(sc.duration_s / cfg.dt_s)))
        res = run_scenario(sc, p, plant, ctrl, cfg, progress=lambda k, K: prog.update(task, completed=k + 1))
    m = dict(res["metrics"])
    m.update(
        scenario=scenario,
        vehicle=p.name,
        controller_tires=ctrl.name,
        controller_tires_source=tires_src,
        plant_tires="pacejka",
        solver=cfg.solver,
        time_budget_ms=cfg.time_budget_ms,
        qp_solver=cfg.qp_solver,
        horizon_N=cfg.N,
        dt_s=cfg.dt_s,
        equilibrium={k: float(v) for k, v in res["eq"].to_dict().items()},
    )
    write_metrics(run, m)
    (run / "config.yaml").write_text(
        yaml.safe_dump(
            {
                "controller": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.__dict__.items()},
                "scenario": {k: (list(v) if isinstance(v, tuple) else v) for k, v in sc.__dict__.items()},
                "controller_tires": ctrl.to_dict(),
            },
            sort_keys=False,
        )
    )
    np.savez_compressed(
        run / "log.npz",
        t=res["t"],
        x=res["x"],
        u=res["u"],
        ref=res["ref"],
        e=res["e"],
        solve_ms=res["solve_ms"],
        source=res["source"].astype(str),
    )
    plot_trajectory(res, run / "trajectory.png")
    plot_timeseries(res, run / "timeseries.png")
    if gif:
        animate(res, run / "animation.gif")
    typer.echo(
        f"{scenario}: beta RMSE {m['beta_rmse_deg']:.2f} deg, r RMSE {m['r_rmse_radps']:.3f} rad/s, "
        f"path RMSE {m['path_rmse_m']:.2f} m (after {sc.settle_s:g} s); solve median "
        f"{m['solve_ms_median']:.2f} ms, p99 {m['solve_ms_p99']:.2f} ms; fallbacks {m['fallbacks']}; "
        f"spun out: {m['spun_out']}"
    )
    typer.echo(f"results in {run}")
