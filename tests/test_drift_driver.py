"""The drift driver of the wheel plant, and the NMPC against the wheel plant."""

import math

import numpy as np
import pytest

from controllers.mpc.drift_driver import DriftDriverConfig, simulate_drift_log
from drift.vehicle import load_vehicle
from drift.vehicle.wheel_plant import WheelPlantParams, steady_state_on_circle, wheel_plant_f

P = load_vehicle("sports")
W = WheelPlantParams()


@pytest.fixture(scope="module")
def log():
    return simulate_drift_log(P, minutes=0.75, seed=3)


def test_the_log_holds_drifts_grip_and_wheel_spin(log):
    beta = np.degrees(np.arctan2(log["vy"], log["vx"]))
    assert len(log.t) == int(0.75 * 60 / 0.02)
    assert 0.25 < np.mean(np.abs(beta) >= 15.0) < 0.8  # drifting much of the time, gripping the rest
    assert np.mean(np.abs(beta) < 5.0) > 0.15
    assert np.percentile(np.abs(beta), 99) > 25.0
    # wheel speeds are logged; the driven rear wheel spins in the drifts, within the driver's limit
    assert np.percentile(log["kappa_r"], 95) > 0.1 and np.percentile(log["kappa_r"], 50) < 0.3
    np.testing.assert_allclose(log["w_rl"], log["w_rr"])
    # the logged force is the command, not the ground force: they differ while the wheel spins up
    assert np.mean(np.abs(log["Fx"] - log["Fxr_ground"])) > 100.0
    # the truth columns are the plant's own: the front never exceeds its friction
    assert np.max(np.abs(log["Fyf"] / log["Fzf"])) <= 1.05 * (1 + abs(W.load_sensitivity)) + 1e-9


def test_same_seed_same_log_and_segments_are_gapped(log):
    again = simulate_drift_log(P, minutes=0.75, seed=3)
    np.testing.assert_array_equal(again["vx"], log["vx"])
    seg = log.segment
    jumps = np.diff(log.t)[np.diff(seg) != 0]
    assert np.all(jumps > 1.0)  # a new segment starts 1 s later in time


def test_driver_settings_are_used(log):
    short = DriftDriverConfig(hold_s=(0.5, 0.5), grip_s=(4.0, 5.0))
    calm = simulate_drift_log(P, minutes=0.75, seed=3, driver=short)

    def drifting(lg):
        return np.mean(np.abs(np.degrees(np.arctan2(lg["vy"], lg["vx"]))) >= 15.0)

    assert drifting(calm) < 0.6 * drifting(log)


def test_wheel_plant_steady_state_balances_every_derivative():
    ss = steady_state_on_circle(P, W, 15.0, math.radians(-25.0))
    x = np.array([0, 0, 0, ss["vx"], ss["vy"], ss["r"], ss["omega_f"], ss["omega_r"], ss["delta"], ss["dFz"]])
    d = wheel_plant_f(x, np.array([ss["delta"], ss["Fx"]]), P, W)
    np.testing.assert_allclose(d[3:], 0.0, atol=1e-8)
    assert math.atan2(ss["vy"], ss["vx"]) == pytest.approx(math.radians(-25.0))
    assert math.hypot(ss["vx"], ss["vy"]) / ss["r"] == pytest.approx(15.0)
    assert ss["delta"] < -0.1 and ss["Fx"] > 1000.0  # countersteer and drive: a drift
    assert ss["omega_r"] * W.wheel_radius_m > 1.1 * ss["vx"]  # the rear wheel spins


def test_nmpc_holds_the_donut_on_the_wheel_plant():
    """A plant of another structure: the shipped ExpTanh (fitted on the single-track plant) still holds."""
    from controllers.mpc.scenarios import run_scenario, scenario_config
    from drift.config import config_dir
    from tire_models.io import load_tires

    ctrl = load_tires(config_dir() / "tires" / "mpc" / "sports-exptanh")
    m = run_scenario(scenario_config("donut"), P, W, ctrl)["metrics"]
    assert not m["spun_out"] and m["beta_rmse_deg"] < 2.0 and m["path_rmse_m"] < 0.5


def test_a_users_own_car_end_to_end(tmp_path):
    """A vehicle file of the user's, a CSV log of their car with a column map (km/h, deg), drift fit
    with the drift preset, then drift mpc with those tyres against the wheel plant."""
    import json

    import yaml

    from drift.cli import run

    car = {k: v for k, v in yaml.safe_load((Path_cfg() / "vehicles" / "sports.yaml").read_text()).items()}
    car.update(name="my_car", m_kg=1350.0, Iz_kgm2=2250.0)
    (tmp_path / "my_car.yaml").write_text(yaml.safe_dump(car))
    my_car = load_vehicle(tmp_path / "my_car.yaml")
    log = simulate_drift_log(my_car, minutes=2.5, seed=11)
    cols = {
        "time_s": (log.t, "t", "s"),
        "east_m": (log["x"], "x", "m"),
        "north_m": (log["y"], "y", "m"),
        "yaw_deg": (np.degrees(log["psi"]), "psi", "deg"),
        "speed_kmh": (3.6 * log["vx"], "vx", "km/h"),
        "lat_speed_kmh": (3.6 * log["vy"], "vy", "km/h"),
        "yaw_rate_dps": (np.degrees(log["r"]), "r", "deg/s"),
        "steer_deg": (np.degrees(log["delta"]), "delta", "deg"),
        "drive_force_kN": (log["Fx"] / 1e3, "Fx", "kN"),
        "wheel_rl_kmh": (3.6 * log["w_rl"], "w_rl", "km/h"),
        "wheel_rr_kmh": (3.6 * log["w_rr"], "w_rr", "km/h"),
    }
    header = ",".join(cols)
    np.savetxt(
        tmp_path / "drive.csv",
        np.column_stack([v[0] for v in cols.values()]),
        delimiter=",",
        header=header,
        comments="",
        fmt="%.6f",
    )
    cmap = {"delimiter": ",", "columns": {k: {"name": v[1], "unit": v[2]} for k, v in cols.items()}}
    (tmp_path / "map.yaml").write_text(yaml.safe_dump(cmap))
    fit_dir = tmp_path / "fit"
    run(
        [
            "fit",
            "--log",
            str(tmp_path / "drive.csv"),
            "--column-map",
            str(tmp_path / "map.yaml"),
            "--vehicle",
            str(tmp_path / "my_car.yaml"),
            "--config",
            "drift",
            "--minutes",
            "2",
            "--epochs",
            "2",
            "--baselines",
            "--sensor-terms",
            "--steer-delay-s",
            "0",
            "--out",
            str(fit_dir),
        ]
    )
    m = json.loads((fit_dir / "metrics.json").read_text())
    assert m["vehicle"] == "my_car" and m["model"] == "exptanh"
    mpc_dir = tmp_path / "mpc"
    run(
        [
            "mpc",
            "--vehicle",
            str(tmp_path / "my_car.yaml"),
            "--tires",
            str(fit_dir),
            "--plant",
            "wheel",
            "--scenario",
            "donut",
            "--no-gif",
            "--out",
            str(mpc_dir),
        ]
    )
    mm = json.loads((mpc_dir / "metrics.json").read_text())
    assert mm["vehicle"] == "my_car" and mm["plant"].startswith("wheel") and not mm["spun_out"]
    assert mm["beta_rmse_deg"] < 3.0


def Path_cfg():
    from drift.config import config_dir

    return config_dir()


@pytest.mark.slow
def test_fitted_exptanh_holds_donuts_on_the_wheel_plant():
    """Issue 12's loop on a car of another structure: ExpTanh fitted on 3 min of the wheel plant's own
    drifting (bench fit settings, seed 0; the fit was shaped on seed 1), peaks and the -25 deg
    equilibrium against the plant's, then the benchmark's 10 donuts of 15 s from random straight
    entries with mass and friction +-10 % (benchmarks/mpc_solve.py --part wheel): all 10 within beta
    RMSE < 2 deg and path RMSE < 0.5 m after 6 s, no spin-out (measured worst 1.45 deg, 0.10 m)."""
    from controllers.mpc import MPCConfig, equilibrium_on_circle
    from controllers.mpc.scenarios import bench_settings, donut_sweep, fitted_tires, run_scenario

    tires, _ = fitted_tires("sports", bench_settings("default"), plant="wheel", show_progress=False)
    assert tires.front.peak_mu == pytest.approx(W.front_lat.D, rel=0.1)
    assert tires.rear.peak_mu == pytest.approx(W.rear_lat.D, rel=0.1)
    eq = equilibrium_on_circle(P, tires, 15.0, math.radians(-25.0))
    ss = steady_state_on_circle(P, W, 15.0, math.radians(-25.0))
    assert abs(eq.delta - ss["delta"]) < 0.03 and eq.Fxr == pytest.approx(ss["Fx"], rel=0.1)
    held = 0
    for i, sc in enumerate(donut_sweep(10, seed=1)):
        m = run_scenario(sc.replace(duration_s=15.0, seed=1 + i), P, W, tires, MPCConfig(time_budget_ms=1e3))
        assert not m["metrics"]["spun_out"], (i, sc)
        held += m["metrics"]["beta_rmse_deg"] < 2.0 and m["metrics"]["path_rmse_m"] < 0.5
    assert held == 10, held
