import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from drift.frames import quaternion_to_yaw, yaw_to_quaternion


@pytest.mark.parametrize("psi", np.linspace(-math.pi + 1e-9, math.pi, 13))
def test_yaw_round_trip_and_unit_norm(psi):
    q = yaw_to_quaternion(psi)
    assert math.isclose(sum(c * c for c in q), 1.0, abs_tol=1e-12)
    assert math.isclose(quaternion_to_yaw(*q), psi, abs_tol=1e-12)


def test_yaw_of_tilted_body_matches_scipy_zyx():
    # a car on a banked, sloped road: yaw must ignore the roll and pitch (ZYX Euler angles)
    rng = np.random.default_rng(0)
    for yaw, pitch, roll in rng.uniform([-3, -0.3, -0.3], [3, 0.3, 0.3], (20, 3)):
        x, y, z, w = Rotation.from_euler("ZYX", [yaw, pitch, roll]).as_quat()
        assert math.isclose(quaternion_to_yaw(x, y, z, w), yaw, abs_tol=1e-12)
