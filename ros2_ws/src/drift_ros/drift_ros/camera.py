"""Camera images as ``sensor_msgs/Image`` (rgb8): the bridge's frames out, the agent's frames in."""

from __future__ import annotations

import numpy as np

from drift_ros import ensure_ros_env

ensure_ros_env()

from sensor_msgs.msg import Image  # noqa: E402


def image_msg(img: np.ndarray, stamp, frame_id: str = "camera") -> Image:
    """``img`` (H, W, 3) uint8 RGB -> ``sensor_msgs/Image`` (rgb8, row-major, no padding)."""
    msg = Image()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(img.shape[0]), int(img.shape[1])
    msg.encoding = "rgb8"
    msg.is_bigendian = 0
    msg.step = 3 * msg.width
    msg.data = np.ascontiguousarray(img, dtype=np.uint8).tobytes()
    return msg


def image_array(msg: Image) -> np.ndarray:
    """``sensor_msgs/Image`` (rgb8 or bgr8, rows possibly padded) -> (H, W, 3) uint8 RGB.

    Raises:
        ValueError: another encoding, or a data size that does not match height x step.
    """
    if msg.encoding not in ("rgb8", "bgr8"):
        raise ValueError(f"image encoding {msg.encoding!r}; expected rgb8 or bgr8")
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if step < 3 * w or len(msg.data) != h * step:
        raise ValueError(f"image data of {len(msg.data)} bytes does not match {h} rows x {step} bytes")
    img = np.frombuffer(bytes(msg.data), np.uint8).reshape(h, step)[:, : 3 * w].reshape(h, w, 3)
    return (img[..., ::-1] if msg.encoding == "bgr8" else img).copy()  # writable, contiguous
