"""Steering delay as a fitted sensor term: recovered from a simulated log with a known delay."""

import numpy as np
import pytest
import yaml
from test_fit import simulate

from drift.logs import DrivingLog
from drift.vehicle import load_vehicle
from tire_models.fit import FitConfig, prepare, run_fit
from tire_models.fit.delay import choose_steer_delay, delay_steering
from tire_models.fit.forces import LongitudinalMap


def _leading_log(seconds: float, dt: float, k: int) -> DrivingLog:
    """A simulated log whose LOGGED steering leads the steering the plant saw by ``k`` samples."""
    log = simulate(seconds=seconds + k * dt, dt=dt)
    n = len(log.t) - k
    data = {name: np.asarray(log[name])[:n] for name in log.data}
    data["delta"] = np.asarray(log["delta"])[k : k + n]  # command recorded k samples early
    return DrivingLog.from_arrays(log.t[:n], data, source=f"<simulated, steering leads by {k}>")


def test_delay_steering_shifts_inside_each_segment():
    log = simulate(seconds=4.0, dt=0.04)
    a = prepare(log, LongitudinalMap("logged"))
    seg = a.segment.copy()
    seg[50:] = 1
    a.segment = seg
    d = delay_steering(a, 3).delta.numpy()
    x = a.delta.numpy()
    assert np.array_equal(d[3:50], x[:47]) and np.all(d[:3] == x[0])
    assert np.array_equal(d[53:], x[50:-3]) and np.all(d[50:53] == x[50])  # no leak across the gap
    assert delay_steering(a, 0) is a


@pytest.mark.parametrize("k", [0, 5])
def test_fitted_steering_delay_recovers_a_known_delay(k):
    # within one sample (0.04 s): with no delay at all the probe's score at 0 and 1 sample are
    # within 4 % of each other and 1 sample wins (model/plant discretisation), see the report
    dt = 0.04
    log = _leading_log(60.0, dt, k)
    a = prepare(log, LongitudinalMap("logged"))
    delay_s, scores = choose_steer_delay(a, load_vehicle("iac"), (), max_delay_s=0.32, stage1_iters=20)
    assert abs(delay_s - k * dt) <= dt + 1e-9, scores
    assert len(scores) == 9
    # far-off delays are clearly worse than the true one
    assert all(scores[str(j)] > 1.5 * scores[str(k)] for j in range(9) if abs(j - k) >= 3), scores


def test_run_fit_reports_and_applies_the_fitted_delay(tmp_path):
    dt, k = 0.04, 3
    log = _leading_log(50.0, dt, k)
    kw = dict(model="linear", baselines=(), epochs=1, batch=64, stage1_iters=10, horizon_s=0.2, minutes=0.5)
    m = run_fit(
        log, FitConfig(**kw, sensor_terms=()), tmp_path / "a", show_progress=False, echo=lambda *a: None
    )
    y = yaml.safe_load((tmp_path / "a" / "model.yaml").read_text())["recording"]
    assert abs(y["steer_delay_samples"] - k) <= 1 and y["steer_delay_fitted"] is True
    assert m["steer_delay_s"] == pytest.approx(y["steer_delay_samples"] * dt) and y[
        "steer_delay_bounds_s"
    ] == [0.0, 0.4]
    # a fixed delay of 0 (the pipeline without the term) evaluates worse on the held-out r
    m0 = run_fit(
        log,
        FitConfig(**kw, sensor_terms=(), steer_delay_s=0.0),
        tmp_path / "b",
        show_progress=False,
        echo=lambda *a: None,
    )
    assert m0["steer_delay_samples"] == 0 and m0["steer_delay_fitted"] is False
    assert m["heldout"]["multi_step_rmse"]["r"] < m0["heldout"]["multi_step_rmse"]["r"]
