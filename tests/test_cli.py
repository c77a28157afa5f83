"""The command line: options from typed dataclasses, --config files with the same keys, clear errors."""

import pytest

from drift.cli import parse
from drift.commands import options_to_dict
from drift.errors import DriftError


def test_config_file_gives_defaults_and_flags_override(tmp_path):
    cfg = tmp_path / "fit.yaml"
    cfg.write_text("model: exptanh\nminutes: 2\nmu_box: [0.7, 1.4]\nbaselines: []\n")
    _, o = parse(["fit", "--config", str(cfg), "--minutes", "2.5"])
    assert (o.fit.model, o.fit.minutes, o.fit.mu_box, o.fit.baselines) == ("exptanh", 2.5, (0.7, 1.4), ())
    # what a run folder's options.yaml holds reads back to the same options
    back = tmp_path / "options.yaml"
    import yaml

    back.write_text(yaml.safe_dump(options_to_dict(o)))
    _, o2 = parse(["fit", "--config", str(back)])
    assert o2.fit == o.fit


@pytest.mark.parametrize(
    "text, msg",
    [
        ("minutes: abc\n", "minutes must be float, got 'abc'"),
        ("bogus: 1\n", "unknown option 'bogus'"),
        ("[1, 2]\n", "expected a mapping"),
    ],
)
def test_bad_config_files_are_named(tmp_path, text, msg):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    with pytest.raises(DriftError, match=msg):
        parse(["fit", "--config", str(cfg)])


def test_unknown_command_and_bad_flag_exit_with_usage():
    with pytest.raises(SystemExit) as e:
        parse(["fly"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        parse(["laptime", "--grid-m", "fine"])
    assert e.value.code == 2


def test_shipped_preset_by_name_and_flags_override(tmp_path):
    _, o = parse(["fit", "--config", "drift", "--minutes", "2"])
    assert (o.fit.model, o.fit.loss_norm, o.fit.mu_box, o.fit.minutes) == ("exptanh", "channel", None, 2.0)
    with pytest.raises(DriftError, match=r"no such file, nor a preset of drift fit \(presets: \['drift'"):
        parse(["fit", "--config", "nonexistent"])


def test_the_mpc_bench_fit_section_is_a_drift_fit_config(tmp_path):
    """configs/mpc/default.yaml's ``fit:`` settings use drift fit's own option names and values."""
    import yaml

    from drift.config import config_dir

    section = yaml.safe_load((config_dir() / "mpc" / "default.yaml").read_text())["fit"]
    cfg = tmp_path / "fit.yaml"
    cfg.write_text(yaml.safe_dump(section))
    _, o = parse(["fit", "--config", str(cfg)])
    for key, value in section.items():
        got = getattr(o.fit, key)
        assert (list(got) if isinstance(got, tuple) else got) == value, key
