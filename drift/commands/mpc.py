"""``drift mpc``: run a closed-loop drift scenario with the NMPC against the Pacejka plant."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from drift.commands import write_options


@dataclass(frozen=True)
class Options:
    """Closed-loop drift scenario: the NMPC (with learned tyres by default) against a simulated car:
    the single-track model with the default Pacejka tyres, or the wheel plant; metrics.json, plots and
    an animation."""

    scenario: Literal["donut", "circle", "figure8", "transition"] = "donut"
    """the manoeuvre"""
    plant: Literal["single_track", "wheel"] = "single_track"
    """the simulated car: the single-track model with the default Pacejka tyres, or the wheel plant
    (wheel speeds, combined-slip tyres, steering servo, load transfer; drift.vehicle.wheel_plant)"""
    vehicle: str = "sports"
    """vehicle preset name or YAML path"""
    tires: str = "fit"
    """controller tyre model: 'fit' (exptanh fitted on 3 min of simulated drifting of the plant;
    shipped in configs/tires/mpc for the single-track plant and the default settings, else fitted once
    and cached), a fit run folder, or a model name at nominal parameters (fiala, pacejka, ...)"""
    allow_other_vehicle: bool = False
    """use tyres fitted for another vehicle"""
    settings: str = "default"
    """controller and fit settings: configs/mpc/<name>.yaml or a YAML path"""
    solver: Literal["rti", "sqp", "ipopt", "fatrop"] | None = None
    """override the settings' solver"""
    qp_solver: Literal["hpipm", "qrqp", "osqp", "qpoases"] | None = None
    """override the settings' QP solver"""
    time_budget_ms: float | None = None
    """override the settings' solve budget (ms); on a loaded machine a slow solve falls back, so raise
    it to study tracking apart from timing"""
    noise: float = 1.0
    """sensor noise scale (0: perfect measurements)"""
    duration_s: float | None = None
    """simulated time (s); None: the scenario's"""
    mass_factor: float = 1.0
    """plant mass (and inertia) factor"""
    mu_factor: float = 1.0
    """plant tyre friction factor"""
    seed: int = 0
    """sensor-noise seed"""
    gif: bool = True
    """write animation.gif"""
    out: Path | None = None
    """run folder (None: runs/mpc-<timestamp>)"""
    config: Path | None = None
    """YAML file with these options' keys; flags given as well override it"""


def run(o: Options) -> None:
    """Run ``drift mpc`` with options ``o``. Raises DriftError on bad input."""
    import numpy as np
    import yaml
    from rich.progress import Progress

    from controllers.mpc.config import MPCConfig
    from controllers.mpc.plots import animate, plot_timeseries, plot_trajectory
    from controllers.mpc.scenarios import bench_settings, controller_tires, run_scenario, scenario_config
    from drift.runs import make_run_dir, write_metrics
    from drift.vehicle import load_vehicle
    from drift.vehicle.tires import default_tires
    from drift.vehicle.wheel_plant import WheelPlantParams

    settings = bench_settings(o.settings)
    ctrl_cfg = dict(settings.get("controller", {}))
    if o.solver:
        ctrl_cfg["solver"] = o.solver
    if o.qp_solver:
        ctrl_cfg["qp_solver"] = o.qp_solver
    if o.time_budget_ms is not None:
        ctrl_cfg["time_budget_ms"] = o.time_budget_ms
    cfg = MPCConfig.from_dict(ctrl_cfg, source=str(o.settings))
    over = {"noise": o.noise, "mass_factor": o.mass_factor, "mu_factor": o.mu_factor, "seed": o.seed}
    if o.duration_s is not None:
        over["duration_s"] = o.duration_s
    sc = scenario_config(o.scenario, **over)
    p = load_vehicle(o.vehicle)
    ctrl, tires_src = controller_tires(
        o.tires, p, settings, allow_other_vehicle=o.allow_other_vehicle, plant=o.plant
    )
    run = make_run_dir("mpc", o.out)
    write_options(run, o)
    plant = WheelPlantParams() if o.plant == "wheel" else default_tires(p)
    with Progress(transient=True) as prog:
        task = prog.add_task(f"{o.scenario} closed loop", total=int(round(sc.duration_s / cfg.dt_s)))
        res = run_scenario(sc, p, plant, ctrl, cfg, progress=lambda k, K: prog.update(task, completed=k + 1))
    m = dict(res["metrics"])
    m.update(
        scenario=o.scenario,
        vehicle=p.name,
        controller_tires=ctrl.name,
        controller_tires_source=tires_src,
        plant="wheel (drift.vehicle.wheel_plant defaults)" if o.plant == "wheel" else "single_track",
        plant_tires="pacejka" if o.plant == "single_track" else "combined-slip magic formula",
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
    if o.gif:
        animate(res, run / "animation.gif")
    tracking = (
        f"beta RMSE {m['beta_rmse_deg']:.2f} deg, r RMSE {m['r_rmse_radps']:.3f} rad/s, "
        f"path RMSE {m['path_rmse_m']:.2f} m (after {sc.settle_s:g} s)"
        if sc.duration_s > sc.settle_s
        else f"no tracking errors (they start after {sc.settle_s:g} s; the run lasted {sc.duration_s:g} s)"
    )
    print(
        f"{o.scenario}: {tracking}; solve median {m['solve_ms_median']:.2f} ms, "
        f"p99 {m['solve_ms_p99']:.2f} ms; fallbacks {m['fallbacks']}; spun out: {m['spun_out']}"
    )
    print(f"results in {run}")
