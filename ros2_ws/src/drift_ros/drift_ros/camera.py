"""Onboard camera of the simulator bridge: :class:`drift.racing.camera.TrackCamera` as sensor_msgs/Image."""

from __future__ import annotations

import numpy as np

from drift_ros import ensure_ros_env

ensure_ros_env()

from sensor_msgs.msg import Image  # noqa: E402

from drift.errors import ConfigError  # noqa: E402


def make_camera(track_name: str, scale: float = 1.0):
    """Return ``render(x (6,), stamp) -> sensor_msgs/Image`` (rgb8, frame ``camera``) on ``track_name``.

    ``scale`` multiplies the camera geometry (1 = full-size car; 0.1 for a 1:10 car).
    Raises ConfigError when the track cannot be loaded.
    """
    from drift.racing.camera import CameraConfig, TrackCamera
    from drift.racing.track import load_track

    try:
        track = load_track(track_name)
    except Exception as e:  # noqa: BLE001 - DriftError or a file error, re-raised with the parameter
        raise ConfigError(f"parameter track = {track_name!r}: {e}") from None
    cam = TrackCamera(track, CameraConfig(scale=scale))

    def render(x, stamp) -> Image:
        img = cam.render(np.array([x[0]]), np.array([x[1]]), np.array([x[2]]))[0]
        msg = Image()
        msg.header.stamp = stamp
        msg.header.frame_id = "camera"
        msg.height, msg.width = int(img.shape[0]), int(img.shape[1])
        msg.encoding = "rgb8"
        msg.is_bigendian = 0
        msg.step = 3 * msg.width
        msg.data = np.ascontiguousarray(img, dtype=np.uint8).tobytes()
        return msg

    render.track = track
    return render
