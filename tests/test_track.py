"""Track geometry, projection and bad-file errors (drift.racing.track)."""

import numpy as np
import pytest

from drift.errors import DriftError
from drift.racing.track import (
    TrackFileError,
    TrackFormatError,
    TrackSelfIntersectionError,
    TrackTooShortError,
    TrackWidthError,
    load_track,
    make_track,
    track_names,
)


def circle(R=100.0, n=126, w=5.0):
    th = np.linspace(0, 2 * np.pi, n, endpoint=False)
    xy = np.stack([R * np.cos(th), R * np.sin(th)], axis=1)  # counter-clockwise = left turn
    return xy, np.full(n, w), np.full(n, w)


def write(tmp_path, rows, header="# x_m,y_m,w_tr_right_m,w_tr_left_m", name="t.csv"):
    p = tmp_path / name
    lines = ([header] if header else []) + [",".join(f"{v:.6f}" for v in r) for r in rows]
    p.write_text("\n".join(lines) + "\n")
    return p


@pytest.fixture(scope="module")
def monza():
    return load_track("Monza")


def test_monza_length_matches_segment_sum(monza):
    raw = np.loadtxt(monza.source, delimiter=",")
    seg = np.linalg.norm(np.diff(np.vstack([raw[:, :2], raw[:1, :2]]), axis=0), axis=1).sum()
    assert abs(monza.length_m - seg) / seg < 0.01
    assert monza.s[0] == 0 and np.all(np.diff(monza.s) > 0) and monza.s[-1] < monza.length_m
    assert monza.raceline is not None and 0.97 < monza.raceline.length_m / monza.length_m < 1.01


def test_tracks_with_tight_inner_boundaries_load():
    # Austin and Sochi have sub-metre boundary folds in hairpins (curvature noise): tolerated
    names = track_names()
    assert "Monza" in names  # packaged; the shared data folder adds 16 more
    for n in {"Austin", "Sochi"} & set(names):
        tr = load_track(n)
        assert tr.length_m > 1000 and np.all(tr.w_left > 0) and np.all(tr.w_right > 0)


@pytest.mark.slow
def test_all_shipped_tracks_load():
    for n in track_names():
        tr = load_track(n)
        assert tr.length_m > 1000 and np.all(tr.w_left > 0) and np.all(tr.w_right > 0)
        assert tr.raceline is not None


def test_circle_curvature_and_heading():
    R = 100.0
    tr = make_track(*circle(R), name="circle")
    assert np.allclose(tr.kappa, 1.0 / R, rtol=0.01)
    assert abs(tr.length_m - 2 * np.pi * R) / (2 * np.pi * R) < 0.01
    # heading is perpendicular to the radius, pointing counter-clockwise
    rad = tr.xy / np.linalg.norm(tr.xy, axis=1, keepdims=True)
    tang = np.stack([np.cos(tr.heading), np.sin(tr.heading)], axis=1)
    assert np.allclose(tang, np.stack([-rad[:, 1], rad[:, 0]], axis=1), atol=1e-3)
    # clockwise circle: negative curvature; left boundary is the outer one
    xy, wr, wl = circle(R)
    tr2 = make_track(xy[::-1], wr, wl)
    assert np.allclose(tr2.kappa, -1.0 / R, rtol=0.01)
    assert np.allclose(np.linalg.norm(tr2.left, axis=1), R + 5.0, atol=0.1)
    assert np.allclose(np.linalg.norm(tr2.right, axis=1), R - 5.0, atol=0.1)


def test_projection_round_trip(monza):
    rng = np.random.default_rng(0)
    s = rng.uniform(0, monza.length_m, 2000)
    wl, wr = monza.widths(s)
    n = rng.uniform(-0.9, 0.9, s.shape) * np.where(rng.random(s.shape) < 0.5, wl, wr)
    xy = monza.position(s, n)
    s2, n2 = monza.project(xy)
    # world -> Frenet -> world is exact (closest point on the polyline)
    assert np.max(np.abs(monza.position(s2, n2) - xy)) < 1e-6
    # Frenet -> world -> Frenet: exact except on the inner side of a polyline vertex, where a
    # neighbouring segment can be closer (differences of order |n| times the heading change per metre)
    ds = (s2 - s + monza.length_m / 2) % monza.length_m - monza.length_m / 2
    assert np.median(np.abs(ds)) < 1e-6 and np.max(np.abs(ds)) < 0.5
    assert np.median(np.abs(n2 - n)) < 1e-6 and np.max(np.abs(n2 - n)) < 0.05
    # batched shapes are preserved
    s3, n3 = monza.project(xy.reshape(40, 50, 2))
    assert s3.shape == (40, 50) and np.allclose(s3.ravel(), s2)


def test_boundary_distances(monza):
    s = np.linspace(0, monza.length_m, 300, endpoint=False)
    wl, wr = monza.widths(s)
    dl, dr, _, n = monza.boundary_distances(monza.position(s, 0.0))
    assert np.allclose(dl, wl, atol=1e-6) and np.allclose(dr, wr, atol=1e-6)
    dl, dr, _, _ = monza.boundary_distances(monza.position(s, wl + 1.0))  # 1 m beyond the left edge
    assert np.allclose(dl, -1.0, atol=0.05)
    assert np.allclose(dr, wl + wr + 1.0, atol=0.05)


def test_interp_periodic(monza):
    L = monza.length_m
    v = np.sin(2 * np.pi * monza.s / L)
    assert np.allclose(monza.interp(v, np.array([0.25 * L, 1.25 * L, -0.75 * L])), 1.0, atol=1e-4)


def test_load_by_path_and_case_insensitive_name(tmp_path):
    xy, wr, wl = circle()
    p = write(tmp_path, np.column_stack([xy, wr, wl]))
    tr = load_track(p)
    assert tr.raceline is None and tr.name == "t"
    assert load_track("monza").name == "Monza"
    # explicit repeat of the first point is accepted (closed loop given explicitly)
    p2 = write(
        tmp_path,
        np.column_stack([np.vstack([xy, xy[:1]]), np.append(wr, 5), np.append(wl, 5)]),
        name="closed.csv",
    )
    assert abs(load_track(p2).length_m - tr.length_m) < 1e-6


def test_bad_files(tmp_path):
    xy, wr, wl = circle()
    good = np.column_stack([xy, wr, wl])
    with pytest.raises(TrackFormatError, match="expected 4"):
        load_track(write(tmp_path, good[:, :3], header=None, name="cols.csv"))
    with pytest.raises(TrackFormatError, match="header"):
        load_track(write(tmp_path, good, header="# x_m,y_m,w_left,w_right", name="hdr.csv"))
    with pytest.raises(TrackFormatError, match="not numeric"):
        p = tmp_path / "txt.csv"
        p.write_text("# x_m,y_m,w_tr_right_m,w_tr_left_m\n1,2,a,4\n")
        load_track(p)
    with pytest.raises(TrackTooShortError, match="at least"):
        load_track(write(tmp_path, good[::30], name="short.csv"))
    bad_w = good.copy()
    bad_w[7, 3] = 0.0
    with pytest.raises(TrackWidthError, match="w_tr_left_m"):
        load_track(write(tmp_path, bad_w, name="w.csv"))
    # a boundary that crosses itself: width larger than the corner radius
    xy_s, wr_s, wl_s = circle(R=10.0, n=40, w=12.0)
    with pytest.raises(TrackSelfIntersectionError, match="crosses"):
        load_track(write(tmp_path, np.column_stack([xy_s, wr_s, wl_s]), name="self.csv"))
    # a figure-eight centre line
    th = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    eight = np.stack([200 * np.sin(th), 100 * np.sin(2 * th)], axis=1)
    with pytest.raises(TrackSelfIntersectionError):
        make_track(eight, np.full(200, 4.0), np.full(200, 4.0))
    with pytest.raises(TrackFileError, match="unknown track"):
        load_track("NoSuchTrack")
    with pytest.raises(TrackFileError):
        load_track(tmp_path / "missing.csv")
    # all are DriftErrors (the CLI prints the message without a traceback)
    assert issubclass(TrackWidthError, DriftError)


def test_project_near_keeps_the_hinted_part_of_the_track():
    # a narrow hairpin: the two straights (y = 0 and y = 24) pass 24 m apart
    n_s, R = 100, 12.0
    a = np.stack([np.linspace(0, 500, n_s, endpoint=False), np.zeros(n_s)], 1)
    th = np.linspace(-np.pi / 2, np.pi / 2, 12, endpoint=False)
    b = np.stack([500 + R * np.cos(th), R + R * np.sin(th)], 1)
    c = np.stack([np.linspace(500, 0, n_s, endpoint=False), np.full(n_s, 2 * R)], 1)
    d = np.stack([R * np.cos(th + np.pi), R + R * np.sin(th + np.pi)], 1)
    tr = make_track(np.vstack([a, b, c, d]), np.full(2 * n_s + 24, 4.0), np.full(2 * n_s + 24, 4.0))
    p = np.array([[250.0, 14.0]])  # 14 m left of the lower straight, 10 m right of the upper one
    s_glob, n_glob = tr.project(p)
    # the nearest part is the upper straight (driven towards -x: the point is on its left)
    assert s_glob[0] > 500.0 and n_glob[0] == pytest.approx(10.0, abs=0.05)
    s_near, n_near = tr.project_near(p, s_hint=np.array([245.0]))
    assert s_near[0] == pytest.approx(250.0, abs=0.5) and n_near[0] == pytest.approx(14.0, abs=0.05)
