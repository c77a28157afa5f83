"""The identification drive (controllers.sysid): excites grip and drift without spinning, on plants with
other tyres than the default and with 0.08 s of latency (a ROS loop run faster than real time), and ends
when its programme is over."""

import math

import numpy as np
import pytest

from controllers.sysid import IdentificationConfig, IdentificationDrive
from drift.vehicle import applied_force, compiled_step, load_vehicle
from tire_models import AxleTires, Fiala, Pacejka


def _drive(tires, seconds=90.0, dt=0.02, seed=0, latency_steps=4):
    """The programme closed loop, each command applied ``latency_steps`` periods after its measurement."""
    p = load_vehicle("sports")
    step, _ = compiled_step(p, tires, dt, 2)
    d = IdentificationDrive(p, IdentificationConfig(duration_s=seconds - 1.0, seed=seed))
    x, u = np.array([0.0, 0.0, 0.0, 10.0, 0.0, 0.0]), np.zeros(2)
    betas, vxs, phases, done = [], [], set(), False
    queue = [np.zeros(2)] * latency_steps
    for k in range(int(seconds / dt)):
        cmd, diag = d.step(x, k * dt)
        queue.append(cmd)
        cmd = queue.pop(0)
        u = np.array([u[0] + np.clip(cmd[0] - u[0], -p.delta_rate_max * dt, p.delta_rate_max * dt), cmd[1]])
        x = step(x, np.array([u[0], applied_force(u[1], x[3], p)]))
        betas.append(math.degrees(math.atan2(x[4], x[3])))
        vxs.append(x[3])
        phases.add(diag["status"])
        done = diag["done"]
    return np.abs(betas), np.array(vxs), phases, done


@pytest.mark.parametrize(
    "tires",
    [
        AxleTires(Pacejka(B=10.0, C=1.5, D=1.0, E=0.0), Pacejka(B=10.0, C=1.5, D=1.0, E=0.0)),
        AxleTires(Fiala(C=14.0, mu=0.9), Fiala(C=16.0, mu=0.9)),
    ],
    ids=["pacejka", "fiala_mu0.9"],
)
def test_identification_drive_slides_without_spinning(tires):
    beta, vx, phases, done = _drive(tires)
    assert phases == {"sweep", "entry", "exit"} and done
    assert beta.max() > 10.0  # power-over entries take the rear beyond its peak
    assert beta.max() < 45.0 and vx.min() > 5.0  # ... and the exits bring it back: no spin, no stall
    assert (beta > 5.0).mean() > 0.03


def test_identification_config_rejects_bad_values():
    from drift.errors import ConfigError

    with pytest.raises(ConfigError, match="duration_s must be a positive number"):
        IdentificationConfig(duration_s=-1.0)
    with pytest.raises(ConfigError, match="v_range_mps"):
        IdentificationConfig(v_range_mps=(16.0, 8.0))
