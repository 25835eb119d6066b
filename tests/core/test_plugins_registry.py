"""Plugin discovery and loading with fake entry points (no installs)."""

import pickle

import pytest
import torch

from latentedit.plugins import (
    GeneratorInfo,
    Mapper,
    MapperConfig,
    PluginLoadError,
    UnknownPluginError,
    build_mapper,
    discover,
    hidden_plugins,
    load_encoder,
    load_mapper,
    load_mapper_file,
    register_mapper,
    registered_mapper,
)
from latentedit.testing.fake_plugins import (
    fake_entry_point,
    isolate_plugins,
    unique_module_name,
    use_fake_entry_points,
    write_plugin_module,
)

GOOD = """
import torch
from dataclasses import dataclass, field
from latentedit.plugins import Mapper, MapperConfig

@dataclass(frozen=True)
class ShiftConfig(MapperConfig):
    scale: float = field(default=0.5, metadata={"doc": "step size"})

class ShiftMapper(Mapper):
    '''Adds scale * target to the first W+ channels.'''
    config_class = ShiftConfig

    def __init__(self, config, generator_info):
        super().__init__(config, generator_info)
        self.dirs = torch.nn.Parameter(torch.ones(generator_info.n_attr, generator_info.w_dim))

    @classmethod
    def default_loss_weights(cls):
        return {"attribute": 1.0}

    def forward(self, w_plus, *, target):
        return w_plus + self.config.scale * (target @ self.dirs)[:, None, :]

def not_a_mapper():
    return 1
"""

MARKER = """
from pathlib import Path
Path({marker!r}).write_text("imported")
raise RuntimeError("this plugin module must not be imported by discovery")
"""

INFO = GeneratorInfo(num_ws=6, w_dim=8, attribute_names=("smile", "glasses"), resolution=16)


@pytest.fixture(autouse=True)
def clean_registry(monkeypatch):
    isolate_plugins(monkeypatch)


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_discovery_lists_without_importing(plugin_dir, monkeypatch):
    marker = plugin_dir / "imported.txt"
    mod = write_plugin_module(plugin_dir, unique_module_name(), MARKER.format(marker=str(marker)))
    use_fake_entry_points(monkeypatch, [fake_entry_point("trap", f"{mod}:Anything", dist="trap-dist", version="1.2")])
    specs = discover("mappers")
    found = [(s.name, s.distribution, s.version, s.value) for s in specs]
    assert found == [("trap", "trap-dist", "1.2", f"{mod}:Anything")]
    assert not marker.exists()
    with pytest.raises(PluginLoadError) as info:  # loading does import it, and the failure is wrapped
        load_mapper("trap")
    assert marker.exists()
    err = info.value
    assert (err.group, err.name, err.distribution) == ("latentedit.mappers", "trap", "trap-dist")
    assert isinstance(err.cause, RuntimeError) and err.__cause__ is err.cause
    assert "trap-dist" in str(err) and "trap" in str(err) and "must not be imported" in str(err)


def test_load_good_plugin_is_cached_and_named(plugin_dir, monkeypatch):
    mod = write_plugin_module(plugin_dir, unique_module_name(), GOOD)
    use_fake_entry_points(monkeypatch, [fake_entry_point("shift", f"{mod}:ShiftMapper")])
    cls = load_mapper("shift")
    assert issubclass(cls, Mapper) and cls.plugin_name == "shift"
    assert load_mapper("shift") is cls
    mapper = build_mapper("shift", INFO, {"scale": 2})
    assert mapper.config.scale == 2.0
    w, t = torch.zeros(2, 6, 8), torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    assert torch.equal(mapper(w, target=t)[:, 0, 0], torch.tensor([2.0, 4.0]))


def test_entry_point_naming_a_non_mapper_is_a_load_error(plugin_dir, monkeypatch):
    mod = write_plugin_module(plugin_dir, unique_module_name(), GOOD)
    use_fake_entry_points(monkeypatch, [fake_entry_point("fn", f"{mod}:not_a_mapper", dist="d")])
    with pytest.raises(PluginLoadError, match="subclass of latentedit.plugins.Mapper") as info:
        load_mapper("fn")
    assert isinstance(info.value.cause, TypeError)


def test_missing_module_is_wrapped_with_origin(monkeypatch):
    use_fake_entry_points(monkeypatch, [fake_entry_point("gone", "no_such_module_xyz:Thing", dist="gone-dist")])
    with pytest.raises(PluginLoadError) as info:
        load_mapper("gone")
    assert isinstance(info.value.cause, ModuleNotFoundError)
    assert "gone-dist" in str(info.value) and "no_such_module_xyz" in str(info.value)
    again = pickle.loads(pickle.dumps(info.value))
    assert (again.name, again.distribution) == ("gone", "gone-dist")


def test_unknown_name_suggests_close_matches_and_lists_valid(monkeypatch):
    use_fake_entry_points(monkeypatch, [fake_entry_point("isf", "m:A"), fake_entry_point("directions", "m:B"),
                                        fake_entry_point("sensorium", "m:C")])
    with pytest.raises(UnknownPluginError) as info:
        load_mapper("isff")
    err = info.value
    assert err.suggestions == ["isf"] and err.valid == ["directions", "isf", "sensorium"]
    assert "Did you mean: isf?" in str(err) and "directions, isf, sensorium" in str(err)
    assert isinstance(err, LookupError)


def test_allow_list_env_and_argument(monkeypatch):
    eps = [fake_entry_point("isf", "m:A", dist="latentedit"), fake_entry_point("directions", "m:B", dist="latentedit"),
           fake_entry_point("other", "m:C", dist="third-party")]
    use_fake_entry_points(monkeypatch, eps)
    assert [s.name for s in discover("mappers")] == ["directions", "isf", "other"]
    monkeypatch.setenv("LATENTEDIT_PLUGINS", "isf, directions")
    assert [s.name for s in discover("mappers")] == ["directions", "isf"]
    assert [s.name for s in hidden_plugins("mappers")] == ["other"]
    assert [s.name for s in discover("mappers", allow=["other"])] == ["other"]  # the argument wins
    assert [s.name for s in discover("mappers", allow="third-party")] == ["other"]  # distribution names work too
    with pytest.raises(UnknownPluginError, match="hidden by the allow-list: other"):
        load_mapper("other")


def test_disable_autoload_shows_only_allowed_and_registered(monkeypatch):
    use_fake_entry_points(monkeypatch, [fake_entry_point("isf", "m:A"), fake_entry_point("other", "m:C")])
    monkeypatch.setenv("LATENTEDIT_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert discover("mappers") == []
    with pytest.raises(UnknownPluginError, match="LATENTEDIT_DISABLE_PLUGIN_AUTOLOAD=1: isf, other"):
        load_mapper("isf")
    monkeypatch.setenv("LATENTEDIT_PLUGINS", "isf")
    assert [s.name for s in discover("mappers")] == ["isf"]

    class Local(Mapper):
        def forward(self, w_plus, *, target=None):
            return w_plus

    register_mapper("local", Local)
    assert [(s.name, s.source) for s in discover("mappers")] == [("isf", "entry-point"), ("local", "registered")]
    assert load_mapper("local") is Local


def test_register_mapper_rules():
    class A(Mapper):
        def forward(self, w_plus):
            return w_plus

    class B(A):
        pass

    register_mapper("a", A)
    with pytest.raises(ValueError, match="already registered"):
        register_mapper("a", B)
    register_mapper("a", B, replace=True)
    assert load_mapper("a") is B
    with pytest.raises(TypeError, match="subclass of latentedit.plugins.Mapper"):
        register_mapper("bad", object)

    @register_mapper("decorated")
    class C(A):
        pass

    assert load_mapper("decorated") is C and C.plugin_name == "decorated"
    with registered_mapper("temp", A):
        assert load_mapper("temp") is A
    with pytest.raises(UnknownPluginError):
        load_mapper("temp")


def test_registered_shadows_entry_point_and_duplicates_are_errors(plugin_dir, monkeypatch):
    mod = write_plugin_module(plugin_dir, unique_module_name(), GOOD)
    use_fake_entry_points(monkeypatch, [fake_entry_point("dup", f"{mod}:ShiftMapper", dist="one"),
                                        fake_entry_point("dup", f"{mod}:ShiftMapper", dist="two")])
    with pytest.raises(PluginLoadError, match="several distributions: 'one'.*'two'"):
        load_mapper("dup")

    class Mine(Mapper):
        def forward(self, w_plus):
            return w_plus

    register_mapper("dup", Mine)
    assert load_mapper("dup") is Mine


def test_encoders_group_and_bad_group(plugin_dir, monkeypatch):
    mod = write_plugin_module(plugin_dir, unique_module_name(), "class Enc:\n    pass\nVALUE = 3\n")
    use_fake_entry_points(monkeypatch, [fake_entry_point("e4e", f"{mod}:Enc", group="latentedit.encoders"),
                                        fake_entry_point("num", f"{mod}:VALUE", group="latentedit.encoders")])
    assert [s.name for s in discover("encoders")] == ["e4e", "num"]
    assert discover("mappers") == []
    assert load_encoder("e4e").__name__ == "Enc"
    with pytest.raises(PluginLoadError, match="class or factory"):
        load_encoder("num")
    with pytest.raises(ValueError, match="valid groups: mappers, encoders"):
        discover("decoders")


def test_load_mapper_file_finds_the_plugin(plugin_dir, monkeypatch, tmp_path):
    mod = write_plugin_module(plugin_dir, unique_module_name(), GOOD)
    use_fake_entry_points(monkeypatch, [fake_entry_point("shift", f"{mod}:ShiftMapper")])
    mapper = build_mapper("shift", INFO)
    with torch.no_grad():
        mapper.dirs.mul_(3)
    path = mapper.save(tmp_path / "shift.safetensors")
    loaded = load_mapper_file(path)
    assert type(loaded) is type(mapper) and torch.equal(loaded.dirs, mapper.dirs)
    assert loaded.generator_info == INFO
    use_fake_entry_points(monkeypatch, [])
    with pytest.raises(ValueError, match="no visible mapper plugin provides it"):
        load_mapper_file(path)


def test_build_mapper_rejects_unknown_config_keys(plugin_dir, monkeypatch):
    mod = write_plugin_module(plugin_dir, unique_module_name(), GOOD)
    use_fake_entry_points(monkeypatch, [fake_entry_point("shift", f"{mod}:ShiftMapper")])
    with pytest.raises(ValueError, match=r"unknown ShiftConfig field\(s\) 'scael' \(did you mean 'scale'\?\); "
                                         r"valid fields: scale"):
        build_mapper("shift", INFO, {"scael": 1.0})


def test_plugins_module_imports_no_plugin():
    import ast
    import inspect

    import latentedit.plugins.registry as reg

    tree = ast.parse(inspect.getsource(reg))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any("isf" in m or "directions" in m or "sensorium" in m or "e4e" in m for m in imported if m)
    assert MapperConfig  # the package imports cleanly


def test_plugin_calling_sys_exit_on_import_is_wrapped(plugin_dir, monkeypatch):
    mod = write_plugin_module(plugin_dir, unique_module_name(), "import sys\nsys.exit(3)\n")
    use_fake_entry_points(monkeypatch, [fake_entry_point("quitter", f"{mod}:X", dist="quit-dist")])
    with pytest.raises(PluginLoadError, match="quit-dist.*SystemExit"):
        load_mapper("quitter")


def test_fake_entry_points_leave_other_groups_alone(monkeypatch):
    import importlib.metadata as metadata

    use_fake_entry_points(monkeypatch, [fake_entry_point("x", "m:X")])
    scripts = metadata.entry_points(group="console_scripts")
    assert "latentedit" in scripts.names  # our own console script, from the real installed metadata
    assert [ep.name for ep in metadata.entry_points(group="latentedit.mappers")] == ["x"]
