"""``drift equilibria``: tabulate and plot drift equilibria (beta vs delta, r, Fxr) for several speeds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from drift.commands import write_options


@dataclass(frozen=True)
class Options:
    """Drift equilibria of the single-track model: yaw rate r, countersteer delta and rear drive force
    Fxr against sideslip beta, at several speeds; a table (equilibria.csv) and a plot."""

    vehicle: str = "sports"
    """vehicle preset name or YAML path"""
    tires: Path | None = None
    """fit run folder (or model.yaml) of the tyre model; or give --model"""
    model: str | None = None
    """instead of --tires: a model at nominal parameters (pacejka: the default tyres; fiala, linear,
    exptanh)"""
    allow_other_vehicle: bool = False
    """use tyres fitted for another vehicle"""
    speeds_mps: tuple[float, ...] = (8.0, 10.0, 12.0, 14.0)
    """body speeds vx (m/s)"""
    beta_min_deg: float = -40.0
    """most negative sideslip (deg)"""
    beta_max_deg: float = -10.0
    """least negative sideslip (deg)"""
    beta_step_deg: float = 2.5
    """sideslip step (deg)"""
    out: Path | None = None
    """run folder (None: runs/equilibria-<timestamp>)"""
    config: Path | None = None
    """YAML file with these options' keys; flags given as well override it"""


def run(o: Options) -> None:
    """Run ``drift equilibria`` with options ``o``. Raises DriftError on bad input."""
    import csv
    import math

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from rich.progress import track

    from controllers.mpc.equilibrium import drift_equilibrium
    from controllers.mpc.scenarios import bench_settings, controller_tires
    from drift.errors import DriftError
    from drift.runs import make_run_dir, write_metrics
    from drift.vehicle import load_vehicle

    if (o.tires is None) == (o.model is None):
        raise DriftError(
            "give exactly one of --tires RUN_DIR (a fitted model) or --model NAME (nominal parameters)"
        )
    vxs = list(o.speeds_mps)
    if not vxs or min(vxs) <= 0 or o.beta_step_deg <= 0 or o.beta_min_deg >= o.beta_max_deg:
        raise DriftError(
            "need at least one speed, all > 0 m/s, --beta-step-deg > 0 and --beta-min-deg < --beta-max-deg"
        )
    p = load_vehicle(o.vehicle)
    spec = str(o.tires) if o.tires is not None else o.model
    if o.tires is not None and not o.tires.exists():
        raise DriftError(f"--tires {o.tires}: no such folder or file (a `drift fit` run folder)")
    axle, source = controller_tires(spec, p, bench_settings("default"),
                                    allow_other_vehicle=o.allow_other_vehicle)
    run = make_run_dir("equilibria", o.out)
    write_options(run, o)
    betas = np.arange(o.beta_max_deg, o.beta_min_deg - 1e-9, -o.beta_step_deg)  # continuation from small slip
    rows, failed = [], []
    for vx in track(vxs, description="speeds"):
        r_guess = None
        for b in betas:
            try:
                eq = drift_equilibrium(p, axle, vx, math.radians(b), r_guess=r_guess)
            except DriftError:
                failed.append((vx, float(b)))
                continue
            r_guess = eq.r
            rows.append(
                {
                    "vx_mps": vx,
                    "beta_deg": float(b),
                    "r_radps": eq.r,
                    "delta_rad": eq.delta,
                    "Fxr_N": eq.Fxr,
                    "V_mps": eq.V,
                    "radius_m": eq.radius_m,
                    "residual": eq.residual,
                }
            )
    if not rows:
        raise DriftError("no equilibrium found on the whole grid; try other --speeds-mps or a smaller |beta|")
    with open(run / "equilibria.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    fig, axs = plt.subplots(1, 3, figsize=(13, 4))
    for vx in vxs:
        sel = [r for r in rows if r["vx_mps"] == vx]
        if not sel:
            continue
        b = [r["beta_deg"] for r in sel]
        axs[0].plot(b, [r["delta_rad"] for r in sel], "o-", ms=3, label=f"vx {vx:g} m/s")
        axs[1].plot(b, [r["r_radps"] for r in sel], "o-", ms=3)
        axs[2].plot(b, [r["Fxr_N"] / 1e3 for r in sel], "o-", ms=3)
    for ax, lab in zip(
        axs, ["steering delta (rad)", "yaw rate r (rad/s)", "rear drive force Fxr (kN)"], strict=True
    ):
        ax.set_xlabel("sideslip beta (deg)")
        ax.set_ylabel(lab)
        ax.grid(alpha=0.3)
    axs[0].axhline(0, color="k", lw=0.6)
    axs[0].legend(fontsize=8)
    fig.suptitle(f"drift equilibria, {p.name}, {axle.name} tyres ({source})")
    fig.tight_layout()
    fig.savefig(run / "equilibria.png", dpi=120)
    plt.close(fig)
    write_metrics(
        run,
        {
            "vehicle": p.name,
            "tires": axle.name,
            "tires_source": source,
            "equilibria": len(rows),
            "not_found": len(failed),
            "not_found_points": [list(x) for x in failed],
            "residual_max": max(r["residual"] for r in rows),
            "countersteer_share": float(np.mean([r["delta_rad"] * r["r_radps"] < 0 for r in rows])),
        },
    )
    print(
        f"{len(rows)} equilibria ({len(failed)} grid points without one), max residual "
        f"{max(r['residual'] for r in rows):.1e}; table equilibria.csv, plot equilibria.png in {run}"
    )
