"""Tests of drift.logs: DrivingLog, IAC CSV, column-map CSV, rosbag2 (mcap + sqlite3), errors."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from data_factory import IAC_LOG, circle_log, write_csv, write_odom_bag

from drift.errors import DriftError
from drift.frames import wrap_angle as wrap
from drift.logs import (
    DrivingLog,
    LogError,
    default_log_path,
    load_column_map,
    load_log,
    parse_column_map,
    unit_factor,
)
from drift.logs.rosbag import write_rosbag

REPO = Path(__file__).resolve().parents[1]
needs_iac = pytest.mark.skipif(not IAC_LOG.exists(), reason="shared IAC log not present")


# ----------------------------------------------------------------------------- DrivingLog
def test_from_arrays_zeroes_time_and_is_read_only():
    log = DrivingLog.from_arrays([10.0, 10.1, 10.2], {"vx": [1.0, 2.0, 3.0]}, source="s.csv")
    np.testing.assert_allclose(log.t, [0.0, 0.1, 0.2])
    assert log.t0_s == 10.0
    assert log.dt == pytest.approx(0.1)
    assert log.has("vx") and not log.has("vy")
    with pytest.raises(ValueError):
        log["vx"][0] = 5.0
    with pytest.raises(LogError, match=r"s\.csv.*no signal 'vy'.*it has: vx"):
        log["vy"]
    assert issubclass(LogError, DriftError)


@pytest.mark.parametrize(
    "t, data, pattern",
    [
        ([0.0, 0.1, 0.1, 0.2], {"vx": [1, 1, 1, 1]}, r"duplicated at row 2"),
        ([0.0, 0.2, 0.1, 0.3], {"vx": [1, 1, 1, 1]}, r"non-monotonic.*row 2"),
        ([0.0, 0.1, 0.2], {"vx": [1.0, np.nan, 1.0]}, r"signal 'vx'.*non-finite.*row 1"),
        ([0.0, 0.1, 0.2], {"r": [1.0, 1.0, np.inf]}, r"signal 'r'.*non-finite.*row 2"),
        ([0.0, np.nan, 0.2], {"vx": [1, 1, 1]}, r"time has a non-finite value"),
        ([], {}, r"no samples"),
        ([0.0, 0.1], {"vx": [1.0, 2.0, 3.0]}, r"'vx' has shape \(3,\)"),
    ],
)
def test_from_arrays_rejects_bad_input(t, data, pattern):
    with pytest.raises(LogError, match=pattern) as e:
        DrivingLog.from_arrays(t, data, source="bad.csv")
    assert "bad.csv" in str(e.value)


def _speed_profile_log(rate_hz=25.0, minutes=8.0):
    """vx = 20 m/s except slow stretches (< 5 m/s) at 60..90 s and 300..310 s."""
    t = np.arange(0.0, minutes * 60.0, 1.0 / rate_hz)
    vx = np.full_like(t, 20.0)
    vx[(t >= 60) & (t < 90)] = 2.0
    vx[(t >= 300) & (t < 310)] = 4.0
    return DrivingLog.from_arrays(t, {"vx": vx, "r": 0.01 * t}, source="<profile>")


def test_select_speed_threshold_breaks_segments():
    log = _speed_profile_log()
    sel = log.select(min_speed_mps=5.0)
    assert (sel["vx"] >= 5.0).all()
    assert sel.n_segments == 3
    pieces = sel.segments()
    assert [round(p.t[0], 6) for p in pieces] == [0.0, 90.0, 310.0]
    assert sum(len(p) for p in pieces) == len(sel)
    for p in pieces:  # each piece contiguous with the original sample time
        np.testing.assert_allclose(np.diff(p.t), 0.04, atol=1e-9)
        assert (p.segment == 0).all()
    # time window inside a segment, and a window that spans a gap
    win = sel.select(t_start_s=80.0, t_end_s=100.0)
    assert win.n_segments == 1 and win.t[0] == pytest.approx(90.0) and win.t[-1] == pytest.approx(100.0)
    short = sel.select(min_segment_s=100.0)  # first segment is 60 s long: dropped
    assert short.t[0] == pytest.approx(90.0) and short.n_segments == 2


def test_select_errors():
    log = _speed_profile_log()
    with pytest.raises(LogError, match=r"no samples left.*vx >= 50"):
        log.select(min_speed_mps=50.0)
    no_vx = DrivingLog.from_arrays([0, 1, 2], {"r": [0, 0, 0]}, source="x.npz")
    with pytest.raises(LogError, match=r"x\.npz.*no signal 'vx'"):
        no_vx.select(min_speed_mps=5.0)


def test_split_counts_driving_minutes_after_speed_filter():
    log = _speed_profile_log()
    train, test = log.split(minutes=3.0, min_speed_mps=5.0)
    assert len(train) == 4500 and train.duration_s == pytest.approx(180.0)
    # 60 s of driving, a 30 s slow gap, then 120 s more: train ends at 90 + 120 = 210 s
    assert train.n_segments == 2 and train.t[-1] == pytest.approx(210.0 - 0.04)
    assert test.t[0] == pytest.approx(210.0) and (test["vx"] >= 5).all()
    assert len(train) + len(test) == int(np.sum(log["vx"] >= 5.0))
    assert test.n_segments == 2  # the 300..310 s slow stretch splits it
    with pytest.raises(LogError, match=r"only 7\.\d+ min with vx >= 5"):
        log.split(minutes=10.0)


def test_npz_round_trip(tmp_path):
    sel = _speed_profile_log().select(min_speed_mps=5.0)
    path = sel.to_npz(tmp_path / "log.npz")
    back = load_log(path)
    np.testing.assert_array_equal(back.t, sel.t)
    np.testing.assert_array_equal(back.segment, sel.segment)
    np.testing.assert_array_equal(back["r"], sel["r"])
    np.savez(tmp_path / "no_t.npz", vx=np.ones(3))
    with pytest.raises(LogError, match=r"no_t\.npz: the \.npz has no 't'"):
        load_log(tmp_path / "no_t.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(LogError, match=r"bad\.npz: not an \.npz archive"):
        load_log(tmp_path / "bad.npz")
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(LogError, match=r"empty\.npz: not an \.npz archive"):
        load_log(tmp_path / "empty.npz")


# ----------------------------------------------------------------------------- IAC CSV
@needs_iac
def test_real_iac_log_ranges_and_units():
    log = load_log(IAC_LOG)
    raw = np.loadtxt(IAC_LOG, delimiter=",", skiprows=1)
    assert len(log) == 11900 and log.dt == pytest.approx(0.04, abs=1e-6)
    assert log.t[0] == 0.0 and log.t0_s == pytest.approx(1692117187.4638, abs=1e-3)
    assert log["vx"].max() == pytest.approx(32.4, abs=0.05)
    assert log["r"].min() == pytest.approx(-0.445, abs=1e-3)
    assert log["r"].max() == pytest.approx(0.587, abs=1e-3)
    assert log["delta"].min() == pytest.approx(-0.160, abs=1e-3)
    assert log["delta"].max() == pytest.approx(0.249, abs=1e-3)
    np.testing.assert_allclose(log["throttle"], raw[:, 15] / 100.0)
    np.testing.assert_allclose(log["brake_Pa"], raw[:, 16] * 1000.0)
    np.testing.assert_allclose(log["w_rr"], raw[:, 13] / 3.6)
    np.testing.assert_allclose(log["r"], raw[:, 7])
    # yaw: raw phi wraps at +-pi, psi is continuous and equal modulo 2 pi
    # (the data has one upstream glitch of 0.56 rad at the wrap near row 6583, kept as recorded)
    assert np.abs(np.diff(raw[:, 5])).max() > 6.0 and np.abs(np.diff(log["psi"])).max() < 0.6
    np.testing.assert_allclose(wrap(log["psi"] - raw[:, 5]), 0.0, atol=1e-9)
    assert 0.0 <= log["throttle"].min() and log["throttle"].max() <= 1.0


@needs_iac
def test_real_iac_split_three_minutes():
    log = load_log(IAC_LOG)
    train, test = log.split(minutes=3.0, min_speed_mps=5.0)
    assert train.duration_s == pytest.approx(180.0, abs=0.05) and len(train) == 4500
    assert (train["vx"] >= 5.0).all() and (test["vx"] >= 5.0).all()
    assert test.t[0] > train.t[-1]
    assert train.duration_s + test.duration_s == pytest.approx(460.24, abs=0.05)


def test_shipped_excerpt_loads_with_notice():
    path = default_log_path()
    assert path.exists()
    notice = (path.parent / "NOTICE.md").read_text()
    for must in [
        "GPL-3.0",
        "linklab-uva/deep-dynamics",
        "88c856539c84fe7004b933d1cf03aad14ab69bd2",
        "Chrosniak",
        "arXiv 2312.04374",
    ]:
        assert must in notice
    assert "GNU GENERAL PUBLIC LICENSE" in (path.parent / "LICENSE-GPL-3.0.txt").read_text()
    log = load_log()  # no path: the shipped excerpt
    assert len(log) == 7500 and log.dt == pytest.approx(0.04, abs=1e-6)
    train, test = log.split(3.0, 5.0)
    assert train.duration_s == pytest.approx(180.0) and test.duration_s > 100.0
    assert (train["vx"] >= 5.0).all() and train["vx"].max() > 14.0


@needs_iac
def test_shipped_excerpt_is_the_first_300_s_unchanged():
    with gzip.open(default_log_path(), "rt") as f:
        excerpt = f.read().splitlines()
    full = IAC_LOG.read_text().splitlines()
    assert len(excerpt) == 7501 and excerpt == full[:7501]


@needs_iac
def test_iac_column_map_yaml_matches_builtin_reader():
    a = load_log(IAC_LOG)
    b = load_log(IAC_LOG, column_map=REPO / "configs" / "column_maps" / "iac.yaml")
    assert sorted(a.data) == sorted(b.data)
    for k in a.data:
        np.testing.assert_array_equal(a[k], b[k])


def test_iac_header_missing_column(tmp_path):
    p = write_csv(
        tmp_path / "iac.csv",
        ["time(s)", "x(m)", "y(m)", "vx(m/s)", "phi(rad)", "omega(rad/s)"],
        [[0, 0, 0, 1, 0, 0], [0.04, 0, 0, 1, 0, 0]],
        comment=True,
    )
    with pytest.raises(LogError, match=r"iac\.csv.*lacks required column\(s\) \['vy', 'delta'\]"):
        load_log(p)


def test_iac_header_unknown_unit(tmp_path):
    hdr = ["time(s)", "x(m)", "y(m)", "vx(furlong/s)", "vy(m/s)", "phi(rad)", "delta(rad)", "omega(rad/s)"]
    p = write_csv(tmp_path / "iac.csv", hdr, [[0] * 8, [0.04] + [0] * 7], comment=True)
    with pytest.raises(LogError, match=r"column 'vx\(furlong/s\)': unknown unit 'furlong/s'.*'km/h'"):
        load_log(p)


def test_csv_without_iac_header_asks_for_column_map(tmp_path):
    p = write_csv(tmp_path / "other.csv", ["t", "v"], [[0, 1], [1, 2]])
    with pytest.raises(LogError, match=r"other\.csv: not an IAC CSV.*column map"):
        load_log(p)


# ----------------------------------------------------------------------------- column-map CSV
@pytest.mark.parametrize(
    "unit, factor",
    [
        ("kmph", 1 / 3.6),
        ("km/h", 1 / 3.6),
        ("mph", 0.44704),
        ("deg", math.pi / 180),
        ("deg/s", math.pi / 180),
        ("kPa", 1e3),
        ("bar", 1e5),
        ("%", 0.01),
        ("ms", 1e-3),
        ("us", 1e-6),
        ("ns", 1e-9),
        ("s", 1.0),
        ("g", 9.80665),
        ("psi", 6894.757293168),
        ("rpm", 2 * math.pi / 60),
    ],
)
def test_unit_table(unit, factor):
    assert unit_factor(unit, "here") == pytest.approx(factor, rel=1e-12)


def test_unit_errors_name_the_place_and_list_units():
    with pytest.raises(LogError, match=r"col 'a': unknown unit 'parsec'.*Known units:.*'kmph'.*'deg/s'"):
        unit_factor("parsec", "col 'a'")
    with pytest.raises(LogError, match=r"unit 'deg' is a angle unit but signal 'vx' is a speed"):
        unit_factor("deg", "col 'a'", "vx")


def test_column_map_converts_to_si(tmp_path):
    header = [
        "timestamp_us",
        "speed_kmh",
        "yaw_rate_dps",
        "steer_wheel_deg",
        "pedal_pct",
        "brake_bar",
        "acc_lat_g",
        "heading_deg",
        "unused",
    ]
    rows = [
        [1_000_000 + 20_000 * k, 36.0 + k, 10.0, 150.0, 50.0, 2.0, 0.5, 170.0 + 10 * k, 7] for k in range(5)
    ]
    p = write_csv(tmp_path / "can.csv", header, rows)
    cmap = {
        "columns": {
            "timestamp_us": {"name": "t", "unit": "us"},
            "speed_kmh": {"name": "vx", "unit": "km/h"},
            "yaw_rate_dps": {"name": "r", "unit": "deg/s", "sign": -1},
            "steer_wheel_deg": {"name": "delta", "unit": "deg", "scale": 1 / 15.0},
            "pedal_pct": {"name": "throttle", "unit": "%"},
            "brake_bar": {"name": "brake_Pa", "unit": "bar"},
            "acc_lat_g": {"name": "ay", "unit": "g"},
            "heading_deg": {"name": "psi", "unit": "deg"},
        }
    }
    log = load_log(p, column_map=cmap)
    np.testing.assert_allclose(log.t, 0.02 * np.arange(5), atol=1e-12)
    assert log.t0_s == pytest.approx(1.0)
    np.testing.assert_allclose(log["vx"], (36.0 + np.arange(5)) / 3.6)
    np.testing.assert_allclose(log["r"], -math.radians(10.0))
    np.testing.assert_allclose(log["delta"], math.radians(10.0))
    np.testing.assert_allclose(log["throttle"], 0.5)
    np.testing.assert_allclose(log["brake_Pa"], 2e5)
    np.testing.assert_allclose(log["ay"], 0.5 * 9.80665)
    # heading 170, 180, 190, 200, 210 deg: continuous, not wrapped to -170
    np.testing.assert_allclose(log["psi"], np.radians(170.0 + 10 * np.arange(5)))
    assert not log.has("unused")


def test_example_column_maps_parse():
    for p in sorted((REPO / "configs" / "column_maps").glob("*.yaml")):
        cmap = load_column_map(p)
        assert any(c.name == "t" for c in cmap.columns), p


def test_column_map_absent_column(tmp_path):
    p = write_csv(tmp_path / "log.csv", ["time", "speed"], [[0, 1], [1, 2]])
    mp = tmp_path / "map.yaml"
    mp.write_text(
        yaml.safe_dump({"time": {"name": "t", "unit": "s"}, "velocity": {"name": "vx", "unit": "m/s"}})
    )
    with pytest.raises(
        LogError,
        match=r"log\.csv: column map .*map\.yaml names column\(s\) \['velocity'\].*"
        r"\['time', 'speed'\]",
    ):
        load_log(p, column_map=mp)


@pytest.mark.parametrize(
    "spec, pattern",
    [
        ({"a": {"name": "vx"}}, r"no column is mapped to the time 't'"),
        ({"a": {"name": "t"}, "b": {"name": "vx", "sign": 2}}, r"column 'b': sign must be \+1 or -1"),
        ({"a": {"name": "t"}, "b": {"name": "vx", "unit": "lightyear"}}, r"column 'b': unknown unit"),
        ({"a": {"name": "t"}, "b": {"name": "vx", "gain": 2}}, r"column 'b': unknown key\(s\) \['gain'\]"),
        ({"a": {"name": "t"}, "b": {"name": "t"}}, r"name 't' is already given to column 'a'"),
        ({"a": {"name": "t"}, "b": {"name": "vx", "scale": 0}}, r"scale must be finite and non-zero"),
    ],
)
def test_column_map_validation(spec, pattern):
    with pytest.raises(LogError, match=pattern):
        parse_column_map(spec, "m.yaml")


def test_missing_column_map_file(tmp_path):
    p = write_csv(tmp_path / "log.csv", ["t"], [[0], [1]])
    with pytest.raises(LogError, match=r"column map .*nope\.yaml does not exist"):
        load_log(p, column_map=tmp_path / "nope.yaml")


_TV = {"t": {"name": "t", "unit": "s"}, "v": {"name": "vx", "unit": "m/s"}}


@pytest.mark.parametrize(
    "content, pattern",
    [
        ("", r"the file is empty"),
        ("\n\n", r"the file is empty"),
        ("t,v\n", r"header but no data rows"),
        (
            "t,v\n0,1\n0.1,nan\n0.2,3\n",
            r"column 'v' has 1 NaN/inf value\(s\), first at data row 2 \(line 3\)",
        ),
        ("t,v\n0,1\n0.1,inf\n", r"column 'v' has 1 NaN/inf"),
        ("t,v\n0,1\n0.1,abc\n", r"line 3, column 'v': 'abc' is not a number"),
        ("t,v\n0,1\n0.1,2\n0.2\n", r"line 4 has 1 fields but the header has 2.*truncated"),
        ("t,v\n0,1\n0.1,2\n0.1,3\n", r"timestamps are duplicated at row 2"),
        ("t,v\n0,1\n0.2,2\n0.1,3\n", r"timestamps are non-monotonic.*row 2.*sort the rows"),
    ],
)
def test_bad_csv_files(tmp_path, content, pattern):
    p = tmp_path / "bad.csv"
    p.write_text(content)
    with pytest.raises(LogError, match=pattern) as e:
        load_log(p, column_map=_TV)
    assert str(p) in str(e.value)


def test_empty_file_without_map(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_text("")
    with pytest.raises(LogError, match=r"empty\.csv: the file is empty"):
        load_log(p)


def test_missing_required_signals(tmp_path):
    p = write_csv(tmp_path / "log.csv", ["t", "v"], [[0, 1], [1, 2]])
    with pytest.raises(
        LogError,
        match=r"log\.csv: missing required signal\(s\) r, delta "
        r"\(the log has: vx\)",
    ):
        load_log(p, column_map=_TV, require=("vx", "r", "delta"))


def test_unsupported_and_missing_paths(tmp_path):
    with pytest.raises(LogError, match=r"no such file"):
        load_log(tmp_path / "nope.csv")
    (tmp_path / "a.parquet").write_bytes(b"x")
    with pytest.raises(LogError, match=r"unsupported log format '\.parquet'"):
        load_log(tmp_path / "a.parquet")


# ----------------------------------------------------------------------------- rosbag2
@pytest.mark.parametrize("storage, suffix", [("mcap", ".mcap"), ("sqlite3", ".db3")])
@pytest.mark.parametrize("drive", ["ackermann", "multiarray"])
def test_rosbag_round_trip(tmp_path, storage, suffix, drive):
    log = circle_log()
    bag = write_rosbag(log, tmp_path / "bag", storage=storage, drive=drive, mass_kg=500.0)
    for path in (bag, bag / f"bag{suffix}"):  # the directory and the storage file itself
        back = load_log(path, mass_kg=500.0)
        assert len(back) == len(log)
        assert back.t0_s == pytest.approx(log.t0_s, abs=1e-6)
        np.testing.assert_allclose(back.t, log.t, atol=1e-8)
        for k in ["x", "y", "vx", "vy", "r", "ax", "ay"]:
            np.testing.assert_allclose(back[k], log[k], atol=1e-9, err_msg=k)
        np.testing.assert_allclose(back["r_imu"], log["r"], atol=1e-12)
        # yaw crosses +pi at t ~ 0.4 s: recovered continuous and equal to the original
        np.testing.assert_allclose(back["psi"], log["psi"], atol=1e-9)
        np.testing.assert_allclose(back["delta"], log["delta"], atol=1e-7)  # Ackermann is float32
        np.testing.assert_allclose(back["Fx"], log["Fx"], rtol=1e-6, atol=1e-3)
        if drive == "ackermann":
            np.testing.assert_allclose(back["ax_cmd"], log["Fx"] / 500.0, rtol=1e-6, atol=1e-5)


def test_rosbag_different_rates_interpolate_and_hold(tmp_path):
    log = circle_log(duration_s=4.0, rate_hz=100.0)
    bag = write_rosbag(log, tmp_path / "bag", stride={"odom": 4, "imu": 1, "drive": 10}, mass_kg=500.0)
    back = load_log(bag, mass_kg=500.0)
    # time base: the odometry stamps (25 Hz)
    assert back.dt == pytest.approx(0.04, abs=1e-6)  # t0 of 1.7e9 s: float64 stamps carry ~1e-7 s
    np.testing.assert_allclose(back.t, log.t[::4], atol=1e-8)
    # IMU ax is linear in t: interpolation reproduces it exactly at the odom stamps
    np.testing.assert_allclose(back["ax"], log["ax"][::4], atol=1e-9)
    # drive at 10 Hz, zero-order hold: the last command sent at or before each odom stamp
    sent_t = log.t[::10]
    idx = np.searchsorted(sent_t, back.t + 1e-9, side="right") - 1
    np.testing.assert_allclose(back["Fx"], log["Fx"][::10][idx], rtol=1e-6)
    assert len(np.unique(back["Fx"])) == len(sent_t)
    # resampling onto a uniform grid instead
    grid = load_log(bag, rate_hz=50.0)
    assert grid.dt == pytest.approx(0.02, abs=1e-6)
    np.testing.assert_allclose(grid["x"], np.interp(grid.t, back.t, back["x"]), atol=1e-9)


def test_rosbag_custom_topics_and_missing_odom(tmp_path):
    log = circle_log(duration_s=1.0)
    bag = write_rosbag(
        log, tmp_path / "bag", odom_topic="/car/odom", imu_topic=None, drive_topic="/car/cmd", mass_kg=500.0
    )
    with pytest.raises(LogError, match=r"no odometry topic '/odom'.*'/car/odom'.*odom_topic="):
        load_log(bag)
    back = load_log(bag, odom_topic="/car/odom", drive_topic="/car/cmd")
    assert back.has("delta") and not back.has("ax")
    with pytest.raises(
        LogError,
        match=r"topic '/car/cmd' has type ackermann_msgs/msg/AckermannDriveStamped, "
        r"expected sensor_msgs/msg/Imu",
    ):
        load_log(bag, odom_topic="/car/odom", imu_topic="/car/cmd")
    with pytest.raises(LogError, match=r"missing required signal\(s\) ax"):
        load_log(bag, odom_topic="/car/odom", require=("vx", "ax"))


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_truncated_bag(tmp_path, storage):
    bag = write_rosbag(circle_log(duration_s=5.0), tmp_path / "bag", storage=storage, drive="multiarray")
    f = next(p for p in bag.iterdir() if p.suffix in (".mcap", ".db3"))
    data = f.read_bytes()
    cut = tmp_path / f"cut{f.suffix}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        LogError,
        match=r"cut\.(mcap|db3): cannot read the rosbag2 recording"
        r".*truncated or corrupt",
    ):
        load_log(cut)


def test_empty_bag_file_and_directory_without_metadata(tmp_path):
    (tmp_path / "e.mcap").write_bytes(b"")
    with pytest.raises(LogError, match=r"e\.mcap: the file is empty"):
        load_log(tmp_path / "e.mcap")
    (tmp_path / "dir").mkdir()
    with pytest.raises(LogError, match=r"dir: a bag directory needs a metadata\.yaml"):
        load_log(tmp_path / "dir")


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
@pytest.mark.parametrize(
    "stamps, pattern",
    [
        ([0, 10_000_000, 10_000_000, 20_000_000], r"topic '/odom': time stamps are duplicated at message 2"),
        ([0, 20_000_000, 10_000_000, 30_000_000], r"topic '/odom': time stamps are non-monotonic"),
    ],
)
def test_bag_bad_stamps(tmp_path, storage, stamps, pattern):
    base = 1_700_000_000 * 10**9
    bag = write_odom_bag(tmp_path / "bag", [base + s for s in stamps], storage=storage)
    with pytest.raises(LogError, match=pattern):
        load_log(bag)
    # the receive times are fine: loading with them works
    assert len(load_log(bag, stamp="bag")) == 4


def test_bag_nan_value(tmp_path):
    base = 1_700_000_000 * 10**9
    bag = write_odom_bag(tmp_path / "bag", [base + k * 10**7 for k in range(4)], values=[1, 2, np.nan, 4])
    with pytest.raises(LogError, match=r"topic '/odom': message 2 contains NaN/inf"):
        load_log(bag)


def test_multiarray_label_with_unknown_unit(tmp_path):
    log = circle_log(duration_s=1.0)
    data = dict(log.data)
    fx = data.pop("Fx")
    log2 = DrivingLog.from_arrays(log.t, {**data, "throttle": 0 * fx + 0.5, "brake_Pa": 0 * fx + 2e5})
    bag = write_rosbag(log2, tmp_path / "bag", drive="multiarray")
    back = load_log(bag)
    np.testing.assert_allclose(back["throttle"], 0.5)
    np.testing.assert_allclose(back["brake_Pa"], 2e5)
    with pytest.raises(LogError, match=r"Ackermann drive command needs an acceleration"):
        write_rosbag(log2, tmp_path / "bag2", drive="ackermann")
    assert not (tmp_path / "bag2").exists()  # checked before anything is written
    from drift.logs.rosbag import parse_label

    assert parse_label("delta_deg,Fx_kN", "x") == [("delta", pytest.approx(math.pi / 180)), ("Fx", 1e3)]
    with pytest.raises(LogError, match=r"/drive.*entry 'Fx_furlongs'.*unknown unit"):
        parse_label("delta_rad,Fx_furlongs", "topic '/drive'")


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_real_excerpt_through_a_bag(tmp_path, storage):
    """20 s of the real IAC excerpt written as a bag (throttle and brake on /drive) and read back."""
    log = load_log().select(t_start_s=100.0, t_end_s=120.0)
    bag = write_rosbag(log, tmp_path / "bag", storage=storage, drive="multiarray")
    back = load_log(bag, require=("vx", "vy", "r", "delta", "throttle", "brake_Pa"))
    assert len(back) == len(log) and back.dt == pytest.approx(0.04, abs=1e-6)
    for k in ["x", "y", "vx", "vy", "r", "ax", "delta", "throttle", "brake_Pa"]:
        np.testing.assert_allclose(back[k], log[k], rtol=1e-12, atol=1e-9, err_msg=k)
    np.testing.assert_allclose(wrap(back["psi"] - log["psi"]), 0.0, atol=1e-9)
    train, test = back.split(minutes=0.2, min_speed_mps=5.0)
    assert len(train) == 300 and len(test) == len(back) - 300
