"""`latentedit plugins list/show` and `latentedit new-plugin` through click's CliRunner (fake entry points)."""

import json

import pytest
from click.testing import CliRunner

from latentedit.cli.main import cli
from latentedit.plugins import registry
from latentedit.testing.fake_plugins import (
    fake_entry_point,
    unique_module_name,
    use_fake_entry_points,
    write_plugin_module,
)

GOOD = """
from dataclasses import dataclass, field
from latentedit.plugins import Mapper, MapperConfig

@dataclass(frozen=True)
class TinyConfig(MapperConfig):
    '''Settings.'''
    hidden: int = field(default=64, metadata={"doc": "width of the hidden layer"})
    layers: tuple[int, ...] = field(default=(0, 1), metadata={"doc": "edited W+ layers"})

class TinyMapper(Mapper):
    '''A tiny mapper for the CLI tests.'''
    config_class = TinyConfig
    takes_noise = True

    @classmethod
    def default_loss_weights(cls):
        return {"attribute": 2.0, "lpips": 1.0}

    def forward(self, w_plus, *, target=None, z=None):
        return w_plus
"""


@pytest.fixture
def fake_plugins(tmp_path, monkeypatch):
    monkeypatch.delenv(registry.ENV_ALLOW, raising=False)
    monkeypatch.delenv(registry.ENV_DISABLE, raising=False)
    monkeypatch.setattr(registry, "_registered", {g: {} for g in registry.GROUPS.values()})
    monkeypatch.syspath_prepend(str(tmp_path))
    good = write_plugin_module(tmp_path, unique_module_name(), GOOD)
    marker = tmp_path / "broken-imported.txt"
    broken = write_plugin_module(tmp_path, unique_module_name(),
                                 f"open({str(marker)!r}, 'w').write('x')\nimport definitely_missing_dep_q\n")
    use_fake_entry_points(monkeypatch, [
        fake_entry_point("tiny", f"{good}:TinyMapper", dist="latentedit-tiny", version="0.3.1"),
        fake_entry_point("broken", f"{broken}:Mapper", dist="latentedit-broken", version="9.9"),
        fake_entry_point("enc", f"{good}:TinyConfig", group="latentedit.encoders", dist="enc-dist"),
    ])
    return marker


def test_list_reports_broken_plugins_without_failing(fake_plugins):
    result = CliRunner().invoke(cli, ["plugins", "list"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert lines["tiny"].split()[:6] == ["tiny", "mappers", "latentedit-tiny", "0.3.1", "trainable", "ok"]
    assert "latentedit-broken" in lines["broken"] and "9.9" in lines["broken"]
    assert "ERROR: ModuleNotFoundError" in lines["broken"] and "definitely_missing_dep_q" in lines["broken"]
    assert lines["enc"].split()[:6] == ["enc", "encoders", "enc-dist", "0.0.1", "encoder", "ok"]
    assert "1 plugin(s) failed to load" in result.output


def test_list_no_load_imports_nothing(fake_plugins):
    result = CliRunner().invoke(cli, ["plugins", "list", "--no-load", "--json", "--group", "mappers"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [(r["name"], r["status"], r["kind"]) for r in rows] == [("broken", "not loaded", "?"),
                                                                    ("tiny", "not loaded", "?")]
    assert not fake_plugins.exists()  # the broken module was never imported


def test_list_respects_allow_list_and_disable(fake_plugins, monkeypatch):
    result = CliRunner().invoke(cli, ["plugins", "list", "--allow", "tiny", "--group", "mappers"])
    assert result.exit_code == 0
    assert "broken" in result.output.split("hidden")[1] and "tiny " in result.output
    monkeypatch.setenv("LATENTEDIT_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = CliRunner().invoke(cli, ["plugins", "list"])
    assert "no plugins found" in result.output and "3 installed plugin(s) hidden" in result.output


def test_show_prints_config_fields_and_weights(fake_plugins):
    result = CliRunner().invoke(cli, ["plugins", "show", "tiny"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "latentedit-tiny 0.3.1" in out and "A tiny mapper for the CLI tests." in out
    assert "kind        : trainable   takes_noise=True" in out
    assert any(line.split()[:3] == ["hidden", "int", "64"] and "width of the hidden layer" in line
               for line in out.splitlines())
    assert any(line.split()[:2] == ["layers", "tuple[int,"] for line in out.splitlines())
    assert "attribute      2" in out and "lpips          1" in out


def test_show_unknown_and_broken(fake_plugins):
    result = CliRunner().invoke(cli, ["plugins", "show", "tinny"])
    assert result.exit_code == 1
    assert "Did you mean: tiny?" in result.output and "Available mappers: broken, tiny" in result.output
    result = CliRunner().invoke(cli, ["plugins", "show", "broken"])
    assert result.exit_code == 1 and "latentedit-broken" in result.output
    assert "definitely_missing_dep_q" in result.output


def test_help_has_examples():
    for args in (["plugins", "--help"], ["plugins", "list", "--help"], ["plugins", "show", "--help"],
                 ["new-plugin", "--help"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0 and "Examples:" in result.output, args


def test_new_plugin_writes_the_package(tmp_path):
    dest = tmp_path / "proj"
    result = CliRunner().invoke(cli, ["new-plugin", "smile-shift", "--dir", str(dest)])
    assert result.exit_code == 0, result.output
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert files == ["README.md", "latentedit_smile_shift/__init__.py", "latentedit_smile_shift/mapper.py",
                     "pyproject.toml", "tests/test_smile_shift.py"]
    pyproject = (dest / "pyproject.toml").read_text()
    assert '[project.entry-points."latentedit.mappers"]' in pyproject
    assert 'smile_shift = "latentedit_smile_shift.mapper:SmileShiftMapper"' in pyproject
    assert "class SmileShiftMapper(Mapper):" in (dest / "latentedit_smile_shift/mapper.py").read_text()
    assert "check_mapper_contract" in (dest / "tests/test_smile_shift.py").read_text()
    again = CliRunner().invoke(cli, ["new-plugin", "smile-shift", "--dir", str(dest)])
    assert again.exit_code == 1 and "already exists" in again.output
    bad = CliRunner().invoke(cli, ["new-plugin", "Bad Name!", "--dir", str(tmp_path / "x")])
    assert bad.exit_code == 1 and "lowercase" in bad.output and not (tmp_path / "x").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["proj"]  # no temporary folder left behind
