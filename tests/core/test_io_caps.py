"""Declared sizes are checked before allocating: a safetensors config asking for 20,000 mapping layers or ten
million channels, a NaN setting, integer-typed or NaN weights, and a photo declaring more pixels than the setting."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from latentedit.io.checkpoints import CheckpointError, load_generator
from latentedit.io.ours import save_generator
from tests.conftest import tiny_generator


@pytest.fixture(scope="module")
def ours(tmp_path_factory):
    path = tmp_path_factory.mktemp("g") / "g.safetensors"
    save_generator(tiny_generator(), path)
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    return load_file(str(path)), meta


def _write(path, tensors, meta, **config):
    meta = dict(meta)
    cfg = json.loads(meta["latentedit.config"])
    cfg.update(config)
    meta["latentedit.config"] = json.dumps(cfg)
    save_file(tensors, str(path), metadata=meta)
    return path


@pytest.mark.parametrize("field,value,words", [
    ("mapping_layers", 20_000, "20,000 mapping layers"),
    ("channels", [10_000_000] * 3, "channels 10,000,000"),
    ("w_dim", 100_000, "w_dim 100,000"),
    ("conv_clamp", float("nan"), "conv_clamp is nan"),
])
def test_oversized_or_nan_configs_are_refused_before_building(tmp_path, ours, field, value, words):
    path = _write(tmp_path / "big.safetensors", *ours, **{field: value})
    with pytest.raises(CheckpointError) as err:
        load_generator(path)
    assert words in str(err.value) and str(err.value).startswith(str(path))


@pytest.mark.parametrize("damage,words", [
    (lambda t: t.view(torch.int32).clone(), "holds int32 values"),
    (lambda t: t.clone().fill_(float("nan")), "non-finite"),
    (lambda t: t.clone().fill_(float("inf")), "non-finite"),
    (lambda t: t.clone().index_fill_(1, torch.tensor([3]), float("nan")), "non-finite"),
    (lambda t: torch.cat([torch.full_like(t[:1], float("inf")), torch.full_like(t[:1], -float("inf")), t[2:]]),
     "non-finite"),
])
def test_integer_or_non_finite_weights_are_refused(tmp_path, ours, damage, words):
    tensors, meta = ours
    tensors = dict(tensors)
    tensors["mapping.fc0.weight"] = damage(tensors["mapping.fc0.weight"])
    path = tmp_path / "bad.safetensors"
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(CheckpointError, match=words):
        load_generator(path)


def test_sane_file_still_loads(tmp_path, ours):
    G, info = load_generator(_write(tmp_path / "ok.safetensors", *ours))
    assert info.config.mapping_layers == 2


def test_huge_finite_weights_whose_sum_overflows_are_not_called_non_finite(tmp_path, ours):
    tensors, meta = ours
    tensors = dict(tensors)
    tensors["mapping.fc0.weight"] = torch.full_like(tensors["mapping.fc0.weight"], 3e38)
    path = tmp_path / "huge.safetensors"
    save_file(tensors, str(path), metadata=meta)
    G, _ = load_generator(path)
    assert torch.equal(G.mapping.fc0.weight, tensors["mapping.fc0.weight"])
