"""One default tyre set for every simulator, and fitted tyres that remember their vehicle."""

import pytest

from drift.errors import DriftError
from drift.vehicle import load_vehicle
from drift.vehicle.tires import default_tires, resolve_tires
from tire_models import AxleTires, Pacejka
from tire_models.io import save_tires

IAC, SPORTS = load_vehicle("iac"), load_vehicle("sports")


def _fitted(folder, vehicle):
    tires = AxleTires(Pacejka(B=9.0, C=1.4, D=1.3, E=0.1), Pacejka(B=11.0, C=1.5, D=1.25, E=-0.2))
    save_tires(tires, folder, {"vehicle": vehicle if isinstance(vehicle, str) else vehicle.to_dict()})
    return tires


def test_default_tires_peak_at_the_vehicles_friction():
    import numpy as np

    for p in (IAC, SPORTS):
        t = default_tires(p)
        a = np.linspace(0.0, 0.6, 2001)
        for axle in (t.front, t.rear):
            mu_peak = np.max(np.asarray(axle.lateral_force(a, np.full_like(a, 1000.0)))) / 1000.0
            assert mu_peak == pytest.approx(p.mu, rel=1e-3)


def test_resolve_tires_refuses_tyres_fitted_for_another_vehicle(tmp_path):
    fitted = _fitted(tmp_path / "fit", IAC)
    assert resolve_tires(tmp_path / "fit", IAC).to_dict() == fitted.to_dict()
    with pytest.raises(DriftError) as e:
        resolve_tires(tmp_path / "fit", SPORTS)
    msg = str(e.value)
    assert "fitted for vehicle 'iac'" in msg and "used on vehicle 'sports'" in msg and "m_kg, Iz_kgm2" in msg
    assert "--allow-other-vehicle" in msg
    assert resolve_tires(tmp_path / "fit", SPORTS, allow_other_vehicle=True).to_dict() == fitted.to_dict()
    # the same car under another name is the same car
    assert resolve_tires(tmp_path / "fit", IAC.replace(name="my-iac")).to_dict() == fitted.to_dict()


def test_a_model_naming_its_preset_is_checked_too(tmp_path):
    _fitted(tmp_path / "old", "sports")  # older files hold the preset's name only
    resolve_tires(tmp_path / "old", SPORTS)
    with pytest.raises(DriftError, match="fitted for vehicle 'sports'"):
        resolve_tires(tmp_path / "old", IAC)


def test_cli_refuses_other_vehicles_tyres_before_a_run_folder(tmp_path):
    from drift.cli import run

    _fitted(tmp_path / "fit", IAC)
    out = tmp_path / "eq"
    with pytest.raises(DriftError, match="fitted for vehicle 'iac'"):
        run(["equilibria", "--tires", str(tmp_path / "fit"), "--vehicle", "sports", "--out", str(out)])
    assert not out.exists()
