"""Loading builds networks without drawing random weights (``without_random_init``) and keeps the loaded tensors
(``assign``): the loaded network must equal the saved one tensor for tensor, its non-persistent buffers (computed in
``__init__``, never stored) must equal a normally built network's, and the global random stream is not touched."""

from __future__ import annotations

import pytest
import torch

from latentedit.io.checkpoints import load_discriminator, load_generator
from latentedit.io.modelfile import ModelFileError, load_state_dict_strict
from latentedit.io.ours import save_discriminator, save_generator
from latentedit.io.skip_init import without_random_init
from latentedit.stylegan2 import Discriminator, DiscriminatorConfig, Generator
from tests.conftest import tiny_generator


def _non_persistent(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    stored = set(net.state_dict())
    return {k: v for k, v in net.named_buffers() if k not in stored}


def test_build_draws_nothing_and_keeps_deterministic_buffers():
    G = tiny_generator(resolution=16)
    torch.manual_seed(5)
    with without_random_init():
        H = Generator(G.config)
    after = torch.randn(4)
    torch.manual_seed(5)
    assert torch.equal(after, torch.randn(4))  # the global stream did not move
    assert torch.count_nonzero(H.mapping.w_avg) == 0
    ref = Generator(G.config)
    assert _non_persistent(H).keys() == _non_persistent(ref).keys() and _non_persistent(ref)
    for k, v in _non_persistent(ref).items():
        assert torch.equal(_non_persistent(H)[k], v), k


def test_samplers_are_skipped_and_deterministic_fills_kept():
    torch.manual_seed(0)
    with without_random_init():
        lin = torch.nn.Linear(3, 4)
        bn = torch.nn.BatchNorm2d(3)
        t = torch.full((5,), 7.0)
        torch.nn.init.normal_(t)
        t.uniform_()
    assert torch.equal(t, torch.full((5,), 7.0))
    assert torch.equal(bn.weight, torch.ones(3)) and torch.equal(bn.running_var, torch.ones(3))
    assert lin.weight.shape == (4, 3)
    with without_random_init():
        pass
    x = torch.randn(3)
    assert x.std() > 0  # the mode is gone after the block


@pytest.mark.parametrize("kind", ["generator", "discriminator"])
def test_loaded_network_equals_saved_one(tmp_path, kind):
    if kind == "generator":
        net = tiny_generator(resolution=16)
        path = save_generator(net, tmp_path / "g.safetensors")
        back, _ = load_generator(path)
        fresh = Generator(net.config)
    else:
        torch.manual_seed(1)
        net = Discriminator(DiscriminatorConfig(resolution=16, channels=(8, 8, 4))).eval()
        path = save_discriminator(net, tmp_path / "d.safetensors")
        back, _ = load_discriminator(path)
        fresh = Discriminator(net.config)
    a, b = net.state_dict(), back.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    for k, v in _non_persistent(fresh).items():
        assert torch.equal(dict(back.named_buffers())[k], v), k
    assert all(p.is_contiguous() and p.dtype == torch.float32 for p in back.parameters())
    if kind == "generator":
        z = torch.randn(2, net.z_dim, generator=torch.Generator().manual_seed(3))
        with torch.no_grad():
            assert torch.equal(net(z, noise_mode="const"), back(z, noise_mode="const"))


def test_assign_casts_to_the_module_dtype_and_still_names_bad_shapes():
    lin = torch.nn.Linear(3, 2)
    sd = {"weight": torch.arange(6, dtype=torch.float64).reshape(3, 2).t(), "bias": torch.ones(2, dtype=torch.float64)}
    load_state_dict_strict(lin, sd, source="x", assign=True)
    assert lin.weight.dtype == torch.float32 and lin.weight.is_contiguous() and lin.weight.requires_grad
    assert torch.equal(lin.weight, sd["weight"].float())
    with pytest.raises(ModelFileError, match=r"weight: expected \(2, 3\), found \(3, 2\)"):
        load_state_dict_strict(lin, {"weight": torch.zeros(3, 2), "bias": torch.zeros(2)}, source="x", assign=True)
