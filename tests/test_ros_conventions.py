"""drift_ros message conventions, parameter validation and `drift ros up` argument checks (no DDS)."""

import math
import os
from pathlib import Path

import numpy as np
import pytest

PKG = Path(__file__).resolve().parents[1] / "ros2_ws" / "src" / "drift_ros"
pytest.importorskip("rclpy")
pytestmark = pytest.mark.ros

from builtin_interfaces.msg import Time  # noqa: E402
from drift_ros import conventions as conv  # noqa: E402
from drift_ros.params import Param, positive  # noqa: E402
from std_msgs.msg import Float64MultiArray, MultiArrayDimension  # noqa: E402

from drift.errors import ConfigError, DriftError  # noqa: E402


@pytest.mark.parametrize("psi", [0.0, 0.3, -2.9, math.pi - 1e-9, 3 * math.pi / 2])
def test_odometry_round_trip(psi):
    x = np.array([1.5, -2.0, psi, 7.8, -2.9, 1.04])
    back = conv.odometry_to_state(conv.state_to_odometry(x, Time(sec=3, nanosec=5)))
    assert np.allclose(back[[0, 1, 3, 4, 5]], x[[0, 1, 3, 4, 5]])
    assert math.isclose(math.remainder(back[2] - psi, 2 * math.pi), 0.0, abs_tol=1e-12)


def test_command_fallback_layout_and_parsing():
    msg = conv.make_command(Float64MultiArray, -0.1, 2500.0, 1450.0, 8.0, Time())
    assert msg.layout.dim[0].label == "delta_rad,Fx_N" and list(msg.data) == [-0.1, 2500.0]
    assert conv.parse_command(msg, 1450.0, 12000.0, 14000.0) == (-0.1, 2500.0)
    thr = Float64MultiArray(
        layout=msg.layout.__class__(dim=[MultiArrayDimension(label="delta_rad,throttle")])
    )
    thr.data = [0.05, -0.5]  # half brake
    assert conv.parse_command(thr, 1450.0, 12000.0, 14000.0) == (0.05, -7000.0)
    thr.data = [0.05, 0.25]
    assert conv.parse_command(thr, 1450.0, 12000.0, 14000.0) == (0.05, 3000.0)
    bad = Float64MultiArray(
        layout=msg.layout.__class__(dim=[MultiArrayDimension(label="speed_mps")]), data=[1.0, 2.0]
    )
    with pytest.raises(ValueError, match="layout label 'speed_mps' unknown"):
        conv.parse_command(bad, 1.0, 1.0, 1.0)
    msg.data = [float("nan"), 0.0]
    with pytest.raises(ValueError, match="NaN"):
        conv.parse_command(msg, 1.0, 1.0, 1.0)


def test_param_validation_messages():
    p = Param("rate_hz", 50.0, "Hz", "control rate", positive)
    assert p.validate(50) is None and p.coerce(50) == 50.0  # an integer is fine for a float parameter
    assert p.validate(-1.0) == "must be > 0"
    assert p.validate(float("nan")) == "must be finite"
    assert "wrong type str" in p.validate("fast")
    c = Param("command_type", "auto", "-", "message", choices=conv.COMMAND_TYPES)
    assert "must be one of" in c.validate("morse")


def test_drift_ros_up_rejects_bad_arguments(tmp_path):
    from drift.cli import run

    with pytest.raises(ConfigError, match="unknown stack 'moon_drift'"):
        run(["ros", "up", "moon_drift", "--out", str(tmp_path / "a")])
    with pytest.raises(ConfigError, match="NODE.PARAM:=VALUE"):
        run(["ros", "up", "sim_drift", "--set", "bridge.rate_hz=5", "--out", str(tmp_path / "b")])
    # a parameter file the nodes could not parse is rejected before any node starts
    bad = tmp_path / "bad.yaml"
    cases = (("x: [\n", "cannot read it as YAML"), ("sim_bridge:\n  rate_hz: 3\n", "ros__parameters"))
    for text, msg in cases:
        bad.write_text(text)
        with pytest.raises(ConfigError, match=msg):
            run(["ros", "up", "sim_drift", "--params-file", str(bad), "--out", str(tmp_path / "c")])
        assert not (tmp_path / "c").exists()


def test_drift_ros_up_without_rclpy_says_how_to_install(tmp_path, monkeypatch):
    import importlib.util

    from drift.cli import run

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "rclpy" else real(n, *a))
    with pytest.raises(DriftError, match=r"pip install 'drift\[ros\]'"):
        run(["ros", "up", "sim_drift", "--out", str(tmp_path / "a")])
    assert not (tmp_path / "a").exists()


def test_launch_files_and_ros_up_start_the_same_stacks():
    from drift_ros.stacks import STACKS, config_dir

    for name, st in STACKS.items():
        launch = (PKG / "launch" / f"{name}.launch.py").read_text()
        assert f'STACKS["{name}"]' in launch
        assert (config_dir() / st.params_file).exists()
        import yaml

        cfg = yaml.safe_load((config_dir() / st.params_file).read_text())
        assert {n.name for n in st.nodes} == set(cfg), name  # one parameter section per node
    setup = (PKG / "setup.py").read_text()
    for exe in ("drift_mpc_node", "sim_bridge_node", "log_recorder_node"):
        assert f"{exe} = drift_ros.{exe}:main" in setup


def test_ros_up_domain_defaults_to_ros_domain_id(monkeypatch):
    from drift.commands.ros import default_domain_id, ros_env

    monkeypatch.delenv("ROS_DOMAIN_ID", raising=False)
    assert default_domain_id() == 0
    monkeypatch.setenv("ROS_DOMAIN_ID", "42")
    assert default_domain_id() == 42
    env = ros_env(42)
    assert env["ROS_DOMAIN_ID"] == "42" and env["DRIFT_PARENT_PID"] == str(os.getpid())
    monkeypatch.setenv("ROS_DOMAIN_ID", "lab")
    with pytest.raises(ConfigError, match="ROS_DOMAIN_ID='lab'"):
        default_domain_id()


def test_test_domains_never_repeat_while_a_fixture_may_live(monkeypatch):
    """Within one worker's band the domains do not repeat for a band's width of draws (a module fixture's
    nodes stay alive while later tests draw), and the two workers' bands never meet."""
    from drift_ros.testing import random_domain_id

    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    for worker, band in (("gw0", range(1, 51)), ("gw1", range(51, 101))):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        drawn = [random_domain_id() for _ in range(50)]
        assert sorted(drawn) == list(band)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "1")
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert len({random_domain_id() for _ in range(100)}) == 100
