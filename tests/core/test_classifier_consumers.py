"""A `train classifier` file is accepted where a classifier is: `train mapper --classifier` (its own attribute
names, any count, its own input size) and `edit --targets full`."""

from __future__ import annotations

import json

import click
import pytest
import torch
from click.testing import CliRunner

from latentedit.classifiers import AttributeClassifier, build_backbone, save_classifier
from latentedit.cli.train_cmd import _load_classifier, train
from latentedit.plugins import register_mapper
from latentedit.testing.fake_plugins import isolate_plugins
from latentedit.training.toys import ToyNoiseMapper, tiny_generator


@pytest.fixture
def three_attribute_file(tmp_path):
    torch.manual_seed(0)
    clf = AttributeClassifier(build_backbone("resnet18", 3), ("smile", "bangs", "glasses"), input_size=24,
                              backbone="resnet18")
    return save_classifier(clf.eval(), tmp_path / "clf.safetensors")


def test_the_classifier_option_dispatches_on_the_file(three_attribute_file):
    clf = _load_classifier(str(three_attribute_file))
    assert clf.output_names == ("smile", "bangs", "glasses") and clf.meta.input_size == 24
    seen = []
    clf.net.register_forward_pre_hook(lambda m, args: seen.append(tuple(args[0].shape)))
    assert clf(torch.zeros(2, 3, 16, 16)).shape == (2, 3)
    assert seen == [(2, 3, 24, 24)]                      # resized to the file's input size, not 64
    from latentedit_toyfaces.judges import default_path

    toy = _load_classifier(str(default_path("attributes")))  # a domain's own format, read by its domain's reader
    assert toy.output_names == ("smile", "eyeglasses", "age", "hair_color", "beard")


def test_train_mapper_with_a_three_attribute_classifier_file(tmp_path, monkeypatch, three_attribute_file):
    from latentedit.io.ours import save_generator
    from latentedit.plugins import load_mapper_file

    isolate_plugins(monkeypatch)
    register_mapper("toy-noise", ToyNoiseMapper)
    save_generator(tiny_generator(), tmp_path / "g.safetensors")
    cfg = {"mapper": {"z_dim": 2}, "trainer": {"batch": 2, "steps": 1, "progress": False, "sample_count": 2}}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    r = CliRunner().invoke(train, ["mapper", "--method", "toy-noise", "--config", str(tmp_path / "cfg.json"), "--generator",
                                   str(tmp_path / "g.safetensors"), "--classifier", str(three_attribute_file),
                                   "--device", "cpu", "--run-dir", str(tmp_path / "run")])
    assert r.exit_code == 0, r.output
    mapper = load_mapper_file(tmp_path / "run" / "mapper_ema.safetensors")
    assert mapper.generator_info.attribute_names == ("smile", "bangs", "glasses")
    cfg["trainer"]["attributes"] = ["glasses", "smile"]
    (tmp_path / "cfg2.json").write_text(json.dumps(cfg))
    r = CliRunner().invoke(train, ["mapper", "--method", "toy-noise", "--config", str(tmp_path / "cfg2.json"), "--generator",
                                   str(tmp_path / "g.safetensors"), "--classifier", str(three_attribute_file),
                                   "--device", "cpu",
                                   "--run-dir", str(tmp_path / "run2")])
    assert r.exit_code == 0, r.output                   # named columns of the wider classifier, in the asked order
    mapper = load_mapper_file(tmp_path / "run2" / "mapper_ema.safetensors")
    assert mapper.generator_info.attribute_names == ("glasses", "smile")


def test_a_damaged_classifier_file_is_a_one_line_error(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(click.ClickException) as exc:
        _load_classifier(str(bad))
    msg = str(exc.value.message)
    assert msg.startswith("--classifier") and str(bad) in msg and "\n" not in msg
