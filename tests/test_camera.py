"""Onboard camera: the image shows the track where the geometry says it is (synthetic straight track)."""

import numpy as np
import pytest

from drift.racing.camera import ASPHALT, GRASS, WALL, CameraConfig, TrackCamera
from drift.racing.track import make_track

W_HALF = 6.0  # half track width (m)


def stadium():
    """A stadium with 800 m straights 300 m apart."""
    n_s, R = 160, 150.0
    a = np.stack([np.linspace(-400, 400, n_s, endpoint=False), np.zeros(n_s)], 1)
    th = np.linspace(-np.pi / 2, np.pi / 2, 100, endpoint=False)
    b = np.stack([400 + R * np.cos(th), R + R * np.sin(th)], 1)
    c = np.stack([np.linspace(400, -400, n_s, endpoint=False), np.full(n_s, 2 * R)], 1)
    d = np.stack([-400 + R * np.cos(th + np.pi), R + R * np.sin(th + np.pi)], 1)
    xy = np.roll(np.vstack([a, b, c, d]), -n_s // 2, axis=0)
    return make_track(xy, np.full(len(xy), W_HALF), np.full(len(xy), W_HALF))


@pytest.fixture(scope="module", params=["bilinear", "nearest"])
def camera(request):
    return TrackCamera(
        stadium(),
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


@pytest.mark.parametrize("height_m, pitch_rad, fov_rad", [(2.0, 0.06, 1.4), (8.0, 0.45, 0.9), (0.2, 0, 1.0)])
def test_each_ground_pixel_projects_back_onto_its_own_centre(height_m, pitch_rad, fov_rad):
    # Ray casting (the renderer) against the pinhole projection of its ground points (this test): a camera
    # pitched down by th has forward axis (cos th, 0, -sin th) and up axis (sin th, 0, cos th) in the car
    # frame (x forward, y left, z up).
    cfg = CameraConfig(width_px=64, height_px=64, height_m=height_m, pitch_rad=pitch_rad, fov_rad=fov_rad)
    cam = TrackCamera(stadium(), cfg)
    f = 32.0 / np.tan(fov_rad / 2)
    rows, cols = np.nonzero(cam.ground_mask)
    g = cam.ground_xy[rows, cols]
    p = np.column_stack([g[:, 0] - cfg.forward_m, g[:, 1], np.full(len(g), -height_m)])
    ahead = p @ np.array([np.cos(pitch_rad), 0.0, -np.sin(pitch_rad)])
    up = p @ np.array([np.sin(pitch_rad), 0.0, np.cos(pitch_rad)])
    np.testing.assert_allclose(32.0 - f * p[:, 1] / ahead, cols + 0.5, atol=1e-6)
    np.testing.assert_allclose(32.0 - f * up / ahead, rows + 0.5, atol=1e-6)
    # the horizon: rows above f tan(pitch) from the centre see no ground
    assert rows.min() >= 32.0 - f * np.tan(pitch_rad) - 0.5


def test_iac_camera_tells_70_from_140_m_ahead():
    # what the preset's raised camera is for: a corner 140 m ahead (where braking from 75 m/s for a hairpin
    # begins) is not on the same rows as one 70 m ahead; the 2 m camera puts both within a row
    from drift.racing import RacingEnv

    env = RacingEnv(track="Norisring")
    assert (env.sim.camera.config.height_m, env.sim.camera.config.fov_rad) == (8.0, 0.9)
    r140, _ = env.sim.camera.pixel_of(140.0, 0.0)
    r70, _ = env.sim.camera.pixel_of(70.0, 0.0)
    assert r70 - r140 >= 3
    low = RacingEnv(track="Norisring", camera_height_m=2.0, camera_pitch_rad=0.06, camera_fov_rad=1.4)
    assert low.sim.camera.pixel_of(70.0, 0.0)[0] - low.sim.camera.pixel_of(140.0, 0.0)[0] <= 1


@pytest.mark.parametrize(
    "bad", [dict(camera_height_m=0.0), dict(camera_fov_rad=3.2), dict(camera_pitch_rad=1.6)]
)
def test_a_camera_that_cannot_be_placed_is_refused(bad):
    from drift.errors import ConfigError
    from drift.racing import load_config

    with pytest.raises(ConfigError, match=f"got .*{list(bad.values())[0]}"):
        load_config("iac", **bad)
