"""Trainer configs: sections, --set overrides, errors that list the valid keys; the `train mapper` command."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from click.testing import CliRunner

from latentedit.cli.train_cmd import train
from latentedit.losses import LossWeightError
from latentedit.plugins import ConfigError, Mapper, MapperConfig, register_mapper
from latentedit.testing.fake_plugins import isolate_plugins
from latentedit.training.config import TrainerConfig, build_run_config, read_config_file
from latentedit.training.toys import ToyNoiseMapper, ToyShiftMapper, tiny_generator


def test_sections_and_overrides():
    run = build_run_config("toy", ToyShiftMapper, {"mapper": {"hidden": 4}, "trainer": {"steps": 7}},
                           ["trainer.lr=0.5", "hidden=8", "batch=2", "trainer.loss_weights.lpips=0",
                            "trainer.losses.lpips_net=vgg", "betas=[0.5, 0.9]"])
    assert run.mapper.hidden == 8 and run.trainer.steps == 7 and run.trainer.lr == 0.5 and run.trainer.batch == 2
    assert run.trainer.loss_weights == {"lpips": 0.0} and run.trainer.losses.lpips_net == "vgg"
    assert run.trainer.betas == (0.5, 0.9)
    assert run.trainer.resolved_loss_weights(ToyShiftMapper.default_loss_weights())["attribute"] == 1.0
    assert run.to_dict()["trainer"]["steps"] == 7 and "steps" not in run.trajectory_dict()["trainer"]


@pytest.mark.parametrize("data, overrides, match", [
    ({"mapper": {"hiden": 3}}, [], r"unknown ToyShiftConfig field\(s\) 'hiden' \(did you mean 'hidden'\?\); "
                                   r"valid fields: hidden, z_dim, style_dim"),
    ({"trainer": {"stpes": 3}}, [], r"'stpes' \(did you mean 'steps'\?\); valid fields: steps, batch"),
    ({"optimizer": {}}, [], r"unknown top-level key\(s\) 'optimizer'; a config has the sections mapper, trainer"),
    ({}, ["nosuch=1"], r"'nosuch' is not a field; valid keys: mapper.hidden, .*trainer.steps"),
    ({}, ["mapper.nosuch=1"], r"unknown ToyShiftConfig field\(s\) 'nosuch'"),
    ({}, ["steps"], r"expected key=value"),
    ({"trainer": {"discriminator": "gan"}}, [], r"discriminator: expected one of \('frozen', 'joint'\); got 'gan'"),
    ({"trainer": {"steps": "ten"}}, [], r"steps: expected an int; got str 'ten'"),
    ({"trainer": {"losses": {"lpips_nett": "vgg"}}}, [], r"'lpips_nett' \(did you mean 'lpips_net'\?\)"),
])
def test_config_errors_list_the_valid_keys(data, overrides, match):
    with pytest.raises(ConfigError, match=match):
        build_run_config("toy", ToyShiftMapper, data, overrides)


def test_unknown_loss_names_list_the_known_ones():
    with pytest.raises(LossWeightError, match=r"unknown loss 'lpip' \(did you mean 'lpips'\?\); known losses: "):
        TrainerConfig(loss_weights={"lpip": 1.0})


def test_ambiguous_bare_key():
    @dataclass(frozen=True)
    class SeedConfig(MapperConfig):
        seed: int = 1

    class SeedMapper(ToyShiftMapper):
        config_class = SeedConfig

    with pytest.raises(ConfigError, match="field of both sections; write mapper.KEY or trainer.KEY"):
        build_run_config("s", SeedMapper, {}, ["seed=3"])
    assert build_run_config("s", SeedMapper, {}, ["mapper.seed=3"]).mapper.seed == 3


def test_fit_style_mappers_are_refused():
    class Fit(Mapper):
        kind = "fit"

        def fit(self, **kw):
            return self

    with pytest.raises(ConfigError, match="fit-style, not trainable"):
        build_run_config("fit", Fit)


def test_config_files(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"trainer": {"steps": 3}}))
    assert read_config_file(tmp_path / "c.json") == {"trainer": {"steps": 3}}
    (tmp_path / "c.toml").write_text("")
    with pytest.raises(ConfigError, match="expected a .yaml, .yml or .json"):
        read_config_file(tmp_path / "c.toml")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        read_config_file(tmp_path / "bad.json")
    (tmp_path / "c.yaml").write_text("trainer:\n  steps: 3\n")
    try:
        import yaml  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="needs PyYAML"):
            read_config_file(tmp_path / "c.yaml")
    else:
        assert read_config_file(tmp_path / "c.yaml") == {"trainer": {"steps": 3}}


@pytest.fixture
def cli_world(tmp_path, monkeypatch):
    from latentedit.io.ours import save_generator
    from latentedit_toyfaces.judges import JudgeNet, default_config, save_judge

    isolate_plugins(monkeypatch)
    from latentedit.domains import registry as domain_registry
    from latentedit_toyfaces.domain import toyfaces_domain

    monkeypatch.setattr(domain_registry, "_registered", {"toyfaces": toyfaces_domain()})  # reads the toy judge
    register_mapper("toy-noise", ToyNoiseMapper)
    save_generator(tiny_generator(), tmp_path / "g.safetensors")
    save_judge(JudgeNet(default_config("attributes")).eval(), tmp_path / "judge.safetensors")
    cfg = {"mapper": {"z_dim": 2}, "trainer": {"batch": 2, "steps": 2, "progress": False, "sample_count": 2}}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    return ["mapper", "--method", "toy-noise", "--config", str(tmp_path / "cfg.json"), "--generator",
            str(tmp_path / "g.safetensors"), "--classifier", str(tmp_path / "judge.safetensors"), "--device", "cpu"]


def test_train_mapper_command(tmp_path, cli_world):
    out = tmp_path / "run"
    r = CliRunner().invoke(train, cli_world + ["--run-dir", str(out)])
    assert r.exit_code == 0, r.output
    assert "trained toy-noise to step 2" in r.output and (out / "mapper_ema.safetensors").is_file()
    r = CliRunner().invoke(train, cli_world + ["--run-dir", str(out)])
    assert r.exit_code != 0 and "--resume" in r.output
    r = CliRunner().invoke(train, cli_world[:3] + cli_world[5:] + ["--run-dir", str(out), "--resume",
                                                                    "--set", "steps=3"])
    assert r.exit_code == 0, r.output
    assert "to step 3" in r.output


def test_train_mapper_command_errors(tmp_path, cli_world):
    r = CliRunner().invoke(train, cli_world + ["--run-dir", str(tmp_path / "r"), "--set", "mapper.width=3"])
    assert r.exit_code == 2 and "valid fields: hidden, z_dim, style_dim" in r.output
    r = CliRunner().invoke(train, ["mapper", "--method", "toy-nois", "--run-dir", str(tmp_path / "r")])
    assert r.exit_code == 1 and "Did you mean: toy-noise" in r.output


def test_train_mapper_starts_from_the_plugins_own_recipe(tmp_path):
    """`train mapper isf` without --config uses ISF's recipe (joint discriminator, ...); a --config file's fields
    go over it key by key (nested sections merged), and --resume without --config takes the checkpoint's."""
    from latentedit.cli.train_cmd import _config_data
    from latentedit_isf.mapper import ISF_TRAINER_RECIPE, ISFMapper

    data, source = _config_data(None, tmp_path, False, ISFMapper)
    assert data["trainer"]["discriminator"] == "joint" == ISF_TRAINER_RECIPE["discriminator"]
    assert "recipe" in source
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"trainer": {"steps": 7, "losses": {"lpips_net": "vgg"}}}))
    data, _ = _config_data(str(cfg), tmp_path, False, ISFMapper)
    assert data["trainer"]["steps"] == 7 and data["trainer"]["discriminator"] == "joint"
    assert data["trainer"]["losses"] == {**ISF_TRAINER_RECIPE["losses"], "lpips_net": "vgg"}

    class NoRecipe:
        pass

    assert _config_data(None, tmp_path, False, NoRecipe) == ({}, "defaults")


def test_one_config_base_round_trips_and_checks_overrides():
    """Every frozen config derives from latentedit.config.FrozenConfig: dict round trip, --set with nested keys,
    unknown keys named with the valid ones, non-finite numbers refused naming the flag."""
    from latentedit.config import ConfigError as BaseError
    from latentedit.config import FrozenConfig
    from latentedit.losses import LossSettings
    from latentedit_toyfaces.judges import JudgeConfig, JudgeError, TrainRecipe
    from latentedit_toyfaces.recipes.distill_config import DistillConfig
    from latentedit_toyfaces.recipes.finetune_synthesis import SynthesisFinetuneConfig
    from latentedit_e4e.config import E4EConfig, E4EConfigError
    from latentedit_e4e.train_config import E4ETrainConfig

    for cls in (TrainerConfig, LossSettings, DistillConfig, SynthesisFinetuneConfig, JudgeConfig, TrainRecipe,
                E4EConfig, E4ETrainConfig):
        assert issubclass(cls, FrozenConfig), cls
        assert cls.from_dict(cls().to_dict()) == cls()
    cfg = JudgeConfig().with_overrides(["recipe.steps=7", "channels=[8,8,8,8]"])
    assert cfg.recipe.steps == 7 and cfg.channels == (8, 8, 8, 8)
    with pytest.raises(JudgeError, match=r"unknown TrainRecipe field\(s\) 'step' \(did you mean 'steps'\?\)"):
        JudgeConfig().with_overrides(["recipe.step=7"])
    with pytest.raises(E4EConfigError, match="valid fields: num_ws, w_dim"):
        E4EConfig.from_dict({"w_dimm": 8})
    with pytest.raises(BaseError, match=r"--set lr: expected a finite number; got nan"):
        SynthesisFinetuneConfig().with_overrides(["lr=NaN"])
    with pytest.raises(BaseError, match=r"--set: DistillConfig\.lr: expected a float; got str 'fast'"):
        DistillConfig().with_overrides(["lr=fast"])
