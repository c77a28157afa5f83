"""Closed-loop drift scenarios: the NMPC against a plant that is not its own model.

Plant: :func:`drift.vehicle.f` with the Pacejka tyres of :func:`drift.vehicle.tires.default_tires`
(combined slip through the friction circle of :meth:`tire_models.base.TireModel.combined_force`),
integrated with RK4 (``plant_substeps`` per 20 ms control period), optionally with the mass and
friction perturbed. The controller sees the state through white sensor noise
(:class:`drift.simulate.SensorNoise`, scaled by ``noise``).

Scenarios (all on circles of radius ``radius_m`` through the origin, car starting there heading +x):

* ``donut``: enter from straight driving at ``v0_mps`` and converge to the drift equilibrium of
  sideslip ``beta_deg`` on the circle (reference blended in over ``entry_s``);
* ``circle``: the same on a larger circle at a different sideslip (path tracking while drifting);
* ``figure8``: a figure-eight of two circles; the drift direction flips at the crossing;
* ``transition``: normal cornering on the circle (grip equilibrium, small sideslip), into the
  drift and back out again.

Metrics are computed after ``settle_s`` on the TRUE (noise-free) plant state.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass

import numpy as np

from controllers.mpc.config import MPCConfig
from controllers.mpc.drift_mpc import DriftMPC
from controllers.mpc.equilibrium import Equilibrium, equilibrium_on_circle
from controllers.mpc.paths import Path, circle_path, figure_eight_path
from drift.errors import DriftError
from drift.frames import wrap_angle
from drift.vehicle import applied_force, axle_loads, f, rk4_step
from drift.vehicle.params import VehicleParams
from tire_models.base import AxleTires

SCENARIOS = ("donut", "circle", "figure8", "transition")


@dataclass(frozen=True)
class ScenarioConfig:
    """One closed-loop run (SI units; angles in degrees where the key says so).

    Attributes:
        name: one of :data:`SCENARIOS`. duration_s: simulated time (s). settle_s: metrics start (s).
        radius_m: circle radius (m). beta_deg: drift sideslip (deg; negative = left-hand drift).
        grip_beta_deg: sideslip of the normal-cornering equilibrium (``transition``), deg.
        v0_mps: initial straight-line speed (m/s; None: ``v0_factor`` times the drift equilibrium's
            speed; entering slower than the drift is gentler and measured more robust).
        entry_s: time over which the reference blends from straight driving into the drift (s).
        noise: scale of the default sensor noise (0 = perfect measurements).
        mass_factor, mu_factor: plant perturbations (mass and inertia; tyre peak friction).
        offset: initial offsets ``[X (m), Y (m), psi (rad), vx (m/s)]`` from the nominal start.
        plant_substeps: RK4 steps of the single-track plant per control period; wheel_substeps: of the
            wheel plant (its wheel spin is stiff). seed: noise seed.
        spin_beta_deg: ``|beta|`` above which the car counts as spun out (deg).
        flip_m: path length over which the figure-eight's reference changes drift direction (m).
    """

    name: str = "donut"
    duration_s: float = 12.0
    settle_s: float = 6.0
    radius_m: float = 15.0
    beta_deg: float = -30.0
    grip_beta_deg: float = 2.0
    v0_mps: float | None = None
    entry_s: float = 1.5
    noise: float = 1.0
    mass_factor: float = 1.0
    mu_factor: float = 1.0
    offset: tuple = (0.0, 0.0, 0.0, 0.0)
    plant_substeps: int = 4
    wheel_substeps: int = 20
    seed: int = 0
    spin_beta_deg: float = 75.0
    flip_m: float = 12.0
    v0_factor: float = 0.8

    def replace(self, **kw) -> ScenarioConfig:
        return dataclasses.replace(self, **kw)


def scenario_config(name: str, **overrides) -> ScenarioConfig:
    """Defaults of a named scenario, with ``overrides``. Raises DriftError for an unknown name."""
    base = {
        "donut": dict(duration_s=12.0, settle_s=6.0, radius_m=15.0, beta_deg=-30.0, entry_s=3.0),
        "circle": dict(duration_s=14.0, settle_s=7.0, radius_m=20.0, beta_deg=-25.0),
        "figure8": dict(duration_s=24.0, settle_s=6.0, radius_m=15.0, beta_deg=-30.0),
        "transition": dict(duration_s=16.0, settle_s=2.0, radius_m=15.0, beta_deg=-25.0),
    }
    if name not in base:
        raise DriftError(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)}")
    return ScenarioConfig(name=name, **{**base[name], **overrides})


def donut_sweep(runs: int = 20, seed: int = 0) -> list[ScenarioConfig]:
    """The randomised donut runs of issue 4's robustness target: plant mass and ``mu`` factors in
    ``[0.9, 1.1]`` and a random entry offset (``(X m, Y m, psi rad, vx m/s)``), drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(runs):
        out.append(
            scenario_config(
                "donut",
                seed=i,
                mass_factor=float(rng.uniform(0.9, 1.1)),
                mu_factor=float(rng.uniform(0.9, 1.1)),
                offset=(
                    float(rng.uniform(-1, 1)),
                    float(rng.uniform(-1, 1)),
                    float(rng.uniform(-0.1, 0.1)),
                    float(rng.uniform(-1.5, 1.5)),
                ),
            )
        )
    return out


def smoothstep(x):
    """``3x^2 - 2x^3`` on ``[0, 1]``, clipped outside."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _vals(eq: Equilibrium) -> np.ndarray:
    return np.array([eq.beta, eq.r, eq.vx, eq.delta, eq.Fxr])


@dataclass(frozen=True)
class BlendReference:
    """Reference blending two steady states along time, mirrored where the path turns right.

    ``a = blend(t)`` in ``[0, 1]`` weighs ``b`` against ``a`` (left-turn values ``[beta, r, vx,
    delta, Fx]``); ``w_path(t)`` scales the path-error weights; where the curvature changes sign
    (figure-eight) the mirrored values are blended linearly over ``flip_m`` metres of path. See
    :class:`controllers.mpc.drift_mpc.Reference` for the output columns.
    """

    path: Path
    a: np.ndarray
    b: np.ndarray
    blend: object
    w_path: object = None
    flip_m: float = 0.0

    def __call__(self, t, s):
        t = np.asarray(t, float)
        s = np.asarray(s, float)
        kappa = self.path.kappa_at(s)
        al = np.asarray(self.blend(t), float)[:, None]
        v = (1 - al) * self.a[None] + al * self.b[None]
        if self.flip_m > 0:  # the drift direction changes linearly over flip_m around a curvature flip
            off = np.linspace(-self.flip_m / 2, self.flip_m / 2, 9)
            sign = np.mean(np.where(self.path.kappa_at(s[:, None] + off[None, :]) < 0, -1.0, 1.0), axis=1)
        else:
            sign = np.where(kappa < 0, -1.0, 1.0)
        v[:, [0, 1, 3]] *= sign[:, None]
        wp = np.ones_like(t) if self.w_path is None else np.asarray(self.w_path(t), float)
        return np.column_stack([kappa, v, wp])


def straight_values(vehicle: VehicleParams, vx: float) -> np.ndarray:
    """``[beta, r, vx, delta, Fx]`` of straight driving at ``vx`` (Fx balances drag and rolling)."""
    return np.array([0.0, 0.0, vx, 0.0, vehicle.c_drag * vx * vx + vehicle.c_roll * vehicle.m * vehicle.g])


def build_scenario(sc: ScenarioConfig, vehicle: VehicleParams, ctrl_tires: AxleTires):
    """Path, reference, equilibrium and initial plant state ``[X, Y, psi, vx, vy, r]`` of a scenario."""
    beta = math.radians(sc.beta_deg)
    eq = equilibrium_on_circle(vehicle, ctrl_tires, sc.radius_m, beta, left=True)
    path = figure_eight_path(sc.radius_m) if sc.name == "figure8" else circle_path(sc.radius_m, left=True)
    if sc.name == "transition":
        grip = equilibrium_on_circle(
            vehicle, ctrl_tires, sc.radius_m, math.radians(sc.grip_beta_deg), left=True, branch="grip"
        )
        T = sc.duration_s
        t1, t2 = 0.25 * T, 0.65 * T  # drift from t1 (after the ramp) until t2

        def blend(t):
            return smoothstep((t - t1) / sc.entry_s) * (1 - smoothstep((t - t2) / sc.entry_s))

        ref = BlendReference(path, _vals(grip), _vals(eq), blend)
        x0 = np.array([0.0, 0.0, -grip.beta, grip.vx, grip.vy, grip.r])
        x0[2] = -grip.beta  # velocity along the path tangent
        return path, ref, eq, x0, {"grip": grip}
    v0 = sc.v0_mps if sc.v0_mps is not None else sc.v0_factor * eq.V
    ref = BlendReference(
        path,
        straight_values(vehicle, v0),
        _vals(eq),
        lambda t: smoothstep(t / sc.entry_s),
        lambda t: 0.1 + 0.9 * smoothstep(t / sc.entry_s),
        flip_m=sc.flip_m if sc.name == "figure8" else 0.0,
    )
    x0 = np.array([0.0, 0.0, 0.0, v0, 0.0, 0.0])
    return path, ref, eq, x0, {}


def perturbed_plant(vehicle: VehicleParams, tires, sc: ScenarioConfig):
    """Plant vehicle and tyres with ``mass_factor`` (mass and yaw inertia) and ``mu_factor`` (tyre peak).
    ``tires``: the single-track plant's :class:`AxleTires` or a :class:`WheelPlantParams` (every curve's
    peak scaled)."""
    from drift.vehicle.wheel_plant import WheelPlantParams

    pv = vehicle.replace(m=vehicle.m * sc.mass_factor, Iz=vehicle.Iz * sc.mass_factor)
    if sc.mu_factor == 1.0:
        return pv, tires
    if isinstance(tires, WheelPlantParams):
        return pv, dataclasses.replace(
            tires,
            **{
                k: getattr(tires, k).replace(D=getattr(tires, k).D * sc.mu_factor)
                for k in ("front_lat", "rear_lat", "front_lon", "rear_lon")
            },
        )

    def scale(t):
        for name in ("D", "mu"):
            if hasattr(t, name):
                return t.replace(**{name: getattr(t, name) * sc.mu_factor})
        raise DriftError(f"cannot perturb the friction of tyre model {t.name!r}")

    return pv, AxleTires(scale(tires.front), scale(tires.rear))


def run_scenario(
    sc: ScenarioConfig,
    vehicle: VehicleParams,
    plant_tires: AxleTires,
    ctrl_tires: AxleTires,
    config: MPCConfig | None = None,
    progress=None,
    mpc_hook=None,
) -> dict:
    """Simulate one scenario in closed loop.

    Args:
        sc: scenario. vehicle: nominal vehicle (the controller's). plant_tires: the plant: the tyres
            (:class:`AxleTires`) of the single-track plant, or a :class:`drift.vehicle.wheel_plant.
            WheelPlantParams` for the wheel plant (wheel speeds, combined slip, steering servo, load
            transfer; ``wheel_substeps`` RK4 steps per period), whose body states are measured.
        ctrl_tires: the controller's tyre model. config: NMPC settings.
        progress: optional callable ``progress(k, K)`` per control step.
        mpc_hook: optional callable ``mpc_hook(mpc)`` after ``setup()`` (tests inject failures with it).

    Returns:
        dict of arrays (``t (K,)``, ``x (K, 6)`` true plant state, ``u (K, 2)``, ``ref (K, 7)``,
        ``e (K,)`` true lateral error, ``beta (K,)``, ``solve_ms (K,)``, ``iterations (K,)``, ``source (K,)``,
        ``pred (K, N+1, 6)`` predictions) plus ``metrics``, ``path``, ``eq`` and ``config``.
    """
    cfg = config or MPCConfig()
    path, ref, eq, x0, extra = build_scenario(sc, vehicle, ctrl_tires)
    off = np.asarray(sc.offset, float)
    x = x0.copy()
    x[0:3] += off[0:3]
    x[3] += off[3]
    pv, pt = perturbed_plant(vehicle, plant_tires, sc)
    u0 = ref(np.zeros(1), np.zeros(1))[0, 4:6]
    mpc = DriftMPC(vehicle, ctrl_tires, cfg, path=path, reference=ref, u_init=u0).setup()
    if mpc_hook is not None:
        mpc_hook(mpc)
    from drift.simulate import SensorNoise

    nz = SensorNoise().scaled(sc.noise)
    std = np.array([nz.pos_m, nz.pos_m, nz.psi_rad, nz.vx_mps, nz.vy_mps, nz.r_radps])
    rng = np.random.default_rng(sc.seed)

    from drift.vehicle.wheel_plant import WheelPlantParams, rolling_state, wheel_plant_step

    if isinstance(pt, WheelPlantParams):
        advance = wheel_plant_step(pv, pt, cfg.dt_s, sc.wheel_substeps)
        x = rolling_state(*x, w=pt)
    else:

        def advance(xx, uu):
            return rk4_step(lambda a, b: f(a, b, pv, pt), xx, uu, cfg.dt_s, sc.plant_substeps)

    K = int(round(sc.duration_s / cfg.dt_s))
    log = {k: [] for k in ("t", "x", "u", "ref", "e", "solve_ms", "iterations", "source", "pred", "s")}
    s_true = 0.0
    spun = False
    for k in range(K):
        t = k * cfg.dt_s
        meas = x[:6] + std * rng.standard_normal(6)
        u, d = mpc.step(meas, t)
        s_true, e_true, _ = path.project(x[0], x[1], x[2], s_true)
        log["t"].append(t)
        log["x"].append(x[:6].copy())
        log["u"].append(u.copy())
        log["ref"].append(ref(np.array([t]), np.array([s_true]))[0])
        log["e"].append(e_true)
        log["s"].append(s_true)
        log["solve_ms"].append(d.solve_ms)
        log["iterations"].append(d.iterations)
        log["source"].append(d.source)
        log["pred"].append(d.predicted)
        x = advance(x, np.array([u[0], applied_force(u[1], x[3], pv)]))
        beta = math.atan2(x[4], x[3])
        if not np.all(np.isfinite(x)) or abs(beta) > math.radians(sc.spin_beta_deg) or x[3] < 1.0:
            spun = True
            break
        if progress is not None:
            progress(k, K)
    out = {k: np.array(v) for k, v in log.items()}
    out["beta"] = np.arctan2(out["x"][:, 4], out["x"][:, 3])
    out["metrics"] = scenario_metrics(out, sc, spun)
    out.update(path=path, eq=eq, config=cfg, scenario=sc, extra=extra)
    return out


def scenario_metrics(log: dict, sc: ScenarioConfig, spun: bool) -> dict:
    """Tracking and timing figures of a closed-loop log (keys carry units)."""
    t = log["t"]
    m = t >= sc.settle_s
    ok = bool(m.any()) and not spun

    def rmse(a):
        return float(np.sqrt(np.mean(a[m] ** 2))) if ok else float("nan")

    beta_err = wrap_angle(log["beta"] - log["ref"][:, 1]) if len(t) else np.zeros(0)
    r_err = log["x"][:, 5] - log["ref"][:, 2] if len(t) else np.zeros(0)
    src = log["source"]
    return {
        "beta_rmse_deg": math.degrees(rmse(beta_err)) if ok else float("nan"),
        "r_rmse_radps": rmse(r_err),
        "path_rmse_m": rmse(log["e"]),
        "path_max_m": float(np.max(np.abs(log["e"][m]))) if ok else float("nan"),
        "beta_mean_deg": float(np.degrees(np.mean(log["beta"][m]))) if ok else float("nan"),
        "solve_ms_median": float(np.median(log["solve_ms"])) if len(t) else float("nan"),
        "solve_ms_p99": float(np.percentile(log["solve_ms"], 99)) if len(t) else float("nan"),
        "solve_ms_max": float(np.max(log["solve_ms"])) if len(t) else float("nan"),
        "fallbacks": int(np.sum(src != "mpc")),
        "stabilizer_steps": int(np.sum(src == "stabilizer")),
        "spun_out": bool(spun),
        "simulated_s": float(t[-1] + (t[1] - t[0]) if len(t) > 1 else 0.0),
        "settle_s": sc.settle_s,
    }


# ------------------------------------------------------------------------------------------------
# controller tyre models for the bench
def bench_settings(name_or_path="default") -> dict:
    """The whole bench YAML (``configs/mpc/<name>.yaml``): ``controller``, ``nominal_fiala``, ``fit``."""
    from pathlib import Path as _P

    import yaml

    from drift.config import config_dir

    p = _P(name_or_path)
    if not p.suffix:
        p = config_dir() / "mpc" / f"{name_or_path}.yaml"
    if not p.exists():
        raise DriftError(f"mpc config {str(name_or_path)!r} not found (looked for {p})")
    return yaml.safe_load(p.read_text()) or {}


def nominal_tires(name: str, vehicle: VehicleParams, settings: dict | None = None) -> AxleTires:
    """A controller model at nominal parameters: ``fiala`` from ``nominal_fiala`` in the bench YAML,
    ``pacejka`` = the plant itself (a perfect model), any other CasADi model ``initial_guess``."""
    import tire_models
    from drift.vehicle.tires import default_tires

    settings = settings or {}
    if name == "pacejka":
        return default_tires(vehicle)
    if name == "fiala":
        d = settings.get(
            "nominal_fiala", {"front": {"C_per_rad": 12.0, "mu": 1.0}, "rear": {"C_per_rad": 12.0, "mu": 1.0}}
        )
        return AxleTires.from_dict({"model": "fiala", **d})
    cls = tire_models.REGISTRY.get(name)
    if cls is None or not cls.casadi:
        raise DriftError(
            f"--tires {name!r}: not a CasADi tyre model; use a fit run folder, 'fit' or one of "
            f"{sorted(n for n, c in tire_models.REGISTRY.items() if c.casadi)}"
        )
    Fzf, Fzr = axle_loads(0.0, 0.0, vehicle)  # static loads
    return AxleTires(
        cls.initial_guess(Fzf, mu=vehicle.mu, C_per_rad=12.0),
        cls.initial_guess(Fzr, mu=vehicle.mu, C_per_rad=12.0),
    )


FIT_DEFAULTS = {
    "model": "exptanh",
    "minutes": 3.0,
    "seed": 0,
    "sensor_terms": [],
    "epochs": 6,
    "steer_delay_s": 0.0,
    "loss_norm": "channel",
    "mu_prior_weight": 0.05,
    "mu_box": None,
}
"""Defaults of the bench YAML's ``fit`` section (:func:`fitted_tires`)."""


def fit_settings(vehicle_name: str, settings: dict | None = None) -> dict:
    """The complete fit settings of the controller's learned model: :data:`FIT_DEFAULTS` with the bench
    YAML's ``fit`` section on top, plus the vehicle. Every key changes the cache folder and must match
    for the shipped copy to be used."""
    fit = {**FIT_DEFAULTS, **(settings or {}).get("fit", {})}
    fit["minutes"] = float(fit["minutes"])
    fit["seed"] = int(fit["seed"])
    fit["epochs"] = int(fit["epochs"])
    fit["steer_delay_s"] = float(fit["steer_delay_s"])
    fit["sensor_terms"] = sorted(fit.get("sensor_terms") or [])
    return {"vehicle": vehicle_name, **dict(sorted(fit.items()))}


def _settings_key(fit: dict) -> str:
    import json

    return hashlib.sha1(json.dumps(fit, sort_keys=True).encode()).hexdigest()[:10]


def shipped_tires_dir():
    """``configs/tires/mpc`` of the repository: shipped fits (``<vehicle>-<model>/model.yaml`` and
    ``fit_settings.yaml``)."""
    from drift.config import config_dir

    return config_dir() / "tires" / "mpc"


def fitted_tires(
    vehicle_name: str,
    settings: dict | None = None,
    cache_dir=None,
    echo=print,
    use_shipped: bool = True,
    show_progress: bool = True,
    plant: str = "single_track",
) -> tuple[AxleTires, str]:
    """The learned controller model: ``fit.model`` fitted by ``tire_models.fit`` on ``fit.minutes`` of
    simulated drifting of the plant (seed ``fit.seed``): ``plant="single_track"``:
    :func:`drift.simulate.simulate_log` of the single-track plant; ``"wheel"``:
    :func:`controllers.mpc.drift_driver.simulate_drift_log` of the wheel plant (a car whose structure
    the fitted model does not share).

    The simulated log has no sensor errors, so by default no sensor terms are fitted
    (``fit.sensor_terms: []``): with them the fit explained tyre behaviour by a steering scale and a
    yaw inertia that the controller does not use (equilibrium countersteer -0.27 rad vs the plant's
    -0.34 rad). When :func:`fit_settings` equal those stored in ``configs/tires/mpc/<vehicle>-<model>/
    fit_settings.yaml`` (and ``use_shipped``), the shipped model is used; otherwise the fit runs once
    and is cached in ``cache_dir`` (default ``~/.cache/drift/mpc_tires`` or
    ``$DRIFT_CACHE_DIR/mpc_tires``) in a folder keyed by a hash of all the fit settings.
    Returns ``(tires, folder of the model)``.

    Raises:
        DriftError: unknown tyre model or sensor-term names (from ``FitConfig``).
    """
    import os
    from pathlib import Path as _P

    import yaml

    from tire_models.io import load_tires

    fit = fit_settings(vehicle_name, settings)
    if plant not in ("single_track", "wheel"):
        raise DriftError(f"fitted_tires: plant must be 'single_track' or 'wheel', got {plant!r}")
    if plant == "wheel":  # another log, another cache folder; never shipped
        import inspect

        from controllers.mpc import drift_driver
        from drift.vehicle import wheel_plant

        # keyed by the plant's parameters and by the code of the plant and its driver, which make the log
        text = (
            repr(wheel_plant.WheelPlantParams())
            + inspect.getsource(wheel_plant)
            + inspect.getsource(drift_driver)
        )
        fit["plant"] = "wheel-" + hashlib.sha1(text.encode()).hexdigest()[:8]
    shipped = shipped_tires_dir() / f"{vehicle_name}-{fit['model']}"
    if use_shipped and (shipped / "fit_settings.yaml").exists():
        if yaml.safe_load((shipped / "fit_settings.yaml").read_text()) == fit:
            return load_tires(shipped), str(shipped)
    root = (
        _P(cache_dir) if cache_dir else _P(os.environ.get("DRIFT_CACHE_DIR", _P.home() / ".cache" / "drift"))
    )
    folder = (
        root
        / "mpc_tires"
        / (f"{vehicle_name}-{fit['model']}-{fit['minutes']:g}min-seed{fit['seed']}-{_settings_key(fit)}")
    )
    if (folder / "model.yaml").exists():
        return load_tires(folder), str(folder)
    from drift.simulate import simulate_log
    from tire_models.fit.pipeline import FitConfig
    from tire_models.fit.run import run_fit

    cfg = FitConfig(
        model=fit["model"],
        baselines=(),
        vehicle=vehicle_name,
        minutes=fit["minutes"],
        seed=fit["seed"],
        sensor_terms=tuple(fit["sensor_terms"]),
        epochs=fit["epochs"],
        steer_delay_s=fit["steer_delay_s"],
        loss_norm=fit["loss_norm"],
        mu_prior_weight=float(fit["mu_prior_weight"]),
        mu_box=None if fit["mu_box"] is None else tuple(fit["mu_box"]),
    )
    echo(
        f"fitting the controller's {fit['model']} tyres on {fit['minutes']:g} min of simulated drifting "
        f"of the {plant} plant (once; cached in {folder})"
    )
    if plant == "wheel":
        from controllers.mpc.drift_driver import simulate_drift_log

        log = simulate_drift_log(vehicle_name, minutes=fit["minutes"] + 1.0, seed=fit["seed"])
    else:
        log = simulate_log(vehicle_name, minutes=fit["minutes"] + 1.0, seed=fit["seed"], scenario="drift")
    run_fit(log, cfg, folder, echo=echo, show_progress=show_progress)
    (folder / "fit_settings.yaml").write_text(yaml.safe_dump(fit, sort_keys=True))
    return load_tires(folder), str(folder)


def controller_tires(
    spec: str,
    vehicle: VehicleParams,
    settings: dict | None = None,
    echo=print,
    allow_other_vehicle=False,
    plant: str = "single_track",
) -> tuple[AxleTires, str]:
    """``--tires`` of the CLI and its description: ``fit`` (learned from the ``plant``'s drifting,
    cached), a fit run folder / model.yaml (:func:`drift.vehicle.tires.resolve_tires`), or a model name
    at nominal parameters.

    Raises:
        DriftError: an unreadable tyre file, tyres fitted for another vehicle, or an unknown name.
    """
    from pathlib import Path as _P

    from drift.vehicle.tires import resolve_tires

    if spec == "fit":
        return fitted_tires(vehicle.name, settings, echo=echo, plant=plant)
    if _P(spec).exists():
        return resolve_tires(spec, vehicle, allow_other_vehicle), str(spec)
    return nominal_tires(spec, vehicle, settings), f"nominal {spec}"
