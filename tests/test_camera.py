"""Onboard camera: the image shows the track where the geometry says it is (synthetic straight track)."""

import numpy as np
import pytest

from drift.racing.camera import ASPHALT, GRASS, WALL, CameraConfig, TrackCamera
from drift.racing.track import make_track

W_HALF = 6.0  # half track width (m)


@pytest.fixture(scope="module", params=["bilinear", "nearest"])
def camera(request):
    # a stadium with 800 m straights 300 m apart
    n_s, R = 160, 150.0
    a = np.stack([np.linspace(-400, 400, n_s, endpoint=False), np.zeros(n_s)], 1)
    th = np.linspace(-np.pi / 2, np.pi / 2, 100, endpoint=False)
    b = np.stack([400 + R * np.cos(th), R + R * np.sin(th)], 1)
    c = np.stack([np.linspace(400, -400, n_s, endpoint=False), np.full(n_s, 2 * R)], 1)
    d = np.stack([-400 + R * np.cos(th + np.pi), R + R * np.sin(th + np.pi)], 1)
    xy = np.roll(np.vstack([a, b, c, d]), -n_s // 2, axis=0)
    tr = make_track(xy, np.full(len(xy), W_HALF), np.full(len(xy), W_HALF))
    return TrackCamera(
        tr,
        CameraConfig(width_px=64, height_px=64, texture_px_m=0.25, sampling=request.param),
        wall_offset_m=3.0,
    )


def colour_close(px, ref, tol=30):
    return np.all(np.abs(px.astype(float) - np.array(ref, float)) < tol)


def test_track_grass_and_sky_where_geometry_says(camera):
    # car on the centre line of the straight at x = 0, heading +x (left = +y)
    img = camera.render(np.array([0.0]), np.array([0.0]), np.array([0.0]))[0]
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    r, c = camera.pixel_of(12.0, 0.0)  # on the asphalt ahead
    assert colour_close(img[r, c], ASPHALT)
    for side in (+1, -1):
        r, c = camera.pixel_of(12.0, side * (W_HALF + 1.5))  # between boundary and wall: grass
        assert colour_close(img[r, c], GRASS), (side, img[r, c])
        r2, c2 = camera.pixel_of(20.0, side * (W_HALF + 3.75))  # middle of the 1.5 m wall band
        assert np.hypot(*(camera.ground_xy[r2, c2] - [20.0, side * (W_HALF + 3.75)])) < 1.0
        assert colour_close(img[r2, c2], WALL), (side, img[r2, c2])
        # left of the car is on the left of the image
        assert (c < 32) == (side > 0)
    # the top row is sky (blue dominates)
    top = img[0].astype(float)
    assert np.all(top[:, 2] > top[:, 0] + 30)


def test_offset_car_sees_track_shifted(camera):
    # car 4 m left of centre: 3 m to its right is still asphalt, 3 m to its left is grass
    img = camera.render(np.array([0.0]), np.array([4.0]), np.array([0.0]))[0]
    r, c = camera.pixel_of(10.0, -3.0)
    assert colour_close(img[r, c], ASPHALT)
    r, c = camera.pixel_of(10.0, 3.5)
    assert colour_close(img[r, c], GRASS)
    # turned around (heading -x): left and right swap
    img2 = camera.render(np.array([0.0]), np.array([4.0]), np.array([np.pi]))[0]
    r, c = camera.pixel_of(10.0, 3.0)
    assert colour_close(img2[r, c], ASPHALT)


def test_batched_render_equals_single(camera):
    x = np.array([0.0, 100.0, -200.0])
    y = np.array([0.0, 2.0, -1.0])
    psi = np.array([0.0, 0.1, np.pi])
    batch = camera.render(x, y, psi)
    for i in range(3):
        one = camera.render(x[i : i + 1], y[i : i + 1], psi[i : i + 1])[0]
        assert np.array_equal(batch[i], one)
