"""Yardsticks of a racing agent: the minimum-time lap and pure pursuit's, solved once and cached."""

import math

import numpy as np
import pytest

from controllers import yardstick as ys
from drift.racing.track import make_track
from drift.vehicle import load_vehicle
from drift.vehicle.tires import default_tires

IAC = load_vehicle("iac")


def _circle(radius_m=80.0, half_width_m=6.0, step_m=5.0):
    n = int(round(2 * math.pi * radius_m / step_m))
    a = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    w = np.full(n, half_width_m)
    return make_track(radius_m * np.column_stack([np.cos(a), np.sin(a)]), w_right=w, w_left=w, name="circle")


def test_yardstick_is_solved_once_then_read_back(tmp_path, monkeypatch):
    monkeypatch.setenv("DRIFT_CACHE_DIR", str(tmp_path))
    tr, tires = _circle(), default_tires(IAC)
    y = ys.yardstick(tr, IAC, tires, echo=lambda *a: None)
    # the optimum is at least as fast as pure pursuit, and no faster than the steady-state limit:
    # at most the circle's length over the speed of a car at mu g lateral acceleration on the outer edge
    assert np.isfinite(y.ocp_lap_s) and y.pure_pursuit_valid
    assert y.ocp_lap_s <= y.pure_pursuit_lap_s
    v_limit = math.sqrt(IAC.mu * IAC.g * 86.0) * 1.2  # downforce raises it; 20 % covers that here
    assert y.ocp_lap_s > 2 * math.pi * 80.0 / v_limit * 0.9

    import controllers.laptime as lt

    def boom(*a, **k):
        raise AssertionError("solved again instead of reading the cache")

    monkeypatch.setattr(lt, "min_lap_time", boom)
    again = ys.yardstick(tr, IAC, tires, echo=lambda *a: None)
    assert again.ocp_lap_s == y.ocp_lap_s and np.array_equal(again.ocp_speed_mps, y.ocp_speed_mps)
    # another car is another key
    with pytest.raises(AssertionError, match="solved again"):
        ys.yardstick(tr, IAC.replace(m=IAC.m * 1.1), tires, echo=lambda *a: None)
