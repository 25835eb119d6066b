"""e4e architecture: the official key/shape set (built on the meta device), small configs, progressive stages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from latentedit_e4e.config import E4EConfig, E4EConfigError
from latentedit_e4e.encoder import E4EEncoder
from latentedit_e4e.network import E4ENetwork



SHAPES = Path(__file__).resolve().parents[3] / "shared" / "anchors" / "e4e_ffhq_1024_state_dict_shapes.json"


@pytest.fixture(scope="module")
def official_shapes() -> dict:
    if not SHAPES.is_file():
        pytest.skip(f"{SHAPES} not found (../shared/anchors beside the repository)")
    return json.loads(SHAPES.read_text())


def test_official_encoder_keys_and_shapes_match_the_checkpoint(official_shapes):
    with torch.device("meta"):
        net = E4ENetwork(E4EConfig.official(1024))
    ours = {k: list(v.shape) for k, v in net.state_dict().items()}
    theirs = {k[len("encoder."):]: v for k, v in official_shapes.items() if k.startswith("encoder.")}
    assert set(ours) == set(theirs), (sorted(set(ours) - set(theirs))[:5], sorted(set(theirs) - set(ours))[:5])
    assert {k: v for k, v in ours.items() if theirs[k] != v} == {}


def test_official_decoder_keys_map_onto_our_generator(official_shapes):
    from latentedit.io.arch_infer import infer_generator_config, standard_filter
    from latentedit.io.rosinality_pt import generator_to_ours
    from latentedit.stylegan2 import Generator

    dec = {}
    for k, shape in official_shapes.items():
        if k.startswith("decoder."):
            name = k[len("decoder."):]
            dec[name] = standard_filter(4.0) if name.endswith("kernel") else torch.empty(shape, device="meta")
    tensors, _ = generator_to_ours(dec, "e4e.pt")
    cfg = infer_generator_config(tensors, "e4e.pt")
    assert (cfg.resolution, cfg.num_ws, cfg.w_dim, cfg.mapping_layers) == (1024, 18, 512, 8)
    with torch.device("meta"):
        G = Generator(cfg)
    own = {k: tuple(v.shape) for k, v in G.state_dict().items() if k != "mapping.w_avg"}
    assert own == {k: tuple(v.shape) for k, v in tensors.items()}


def test_official_config_geometry():
    cfg = E4EConfig.official(1024)
    assert (cfg.num_ws, cfg.w_dim, cfg.input_resolution) == (18, 512, 256)
    assert cfg.tap_indices == (6, 20, 23)
    assert [cfg.head_spatial(i) for i in (0, 2, 3, 6, 7, 17)] == [16, 16, 32, 32, 64, 64]
    assert E4EConfig.official(512).num_ws == 16


def test_small_encoder_output_shape_and_latent_avg():
    cfg = E4EConfig.small(16, 8, input_resolution=32, stage_widths=(16, 16, 16, 16))
    enc = E4EEncoder(cfg).eval()
    enc.latent_avg.fill_(3.0)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        w = enc(x)
        assert w.shape == (2, 6, 8)
        assert torch.allclose(w - 3.0, enc.codes_without_avg(x), atol=1e-5)
    assert enc.invert(torch.randn(3, 3, 50, 50)).shape == (3, 6, 8)  # any square size is resized


def test_progressive_stage_semantics():
    cfg = E4EConfig.small(16, 8, input_resolution=32, stage_widths=(16, 16, 16, 16), start_from_latent_avg=False)
    enc = E4EEncoder(cfg).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        full = enc(x)
        enc.set_stage(0)
        base = enc(x)
        assert torch.equal(base, base[:, :1].expand_as(base))  # stage 0: the base code on every layer
        assert torch.allclose(base[:, 0], full[:, 0])
        enc.set_stage(2)
        two = enc(x)
        assert torch.allclose(two[:, :3], full[:, :3], atol=1e-6)  # offsets 1..2 active
        assert torch.equal(two[:, 3:], two[:, :1].expand(-1, 3, -1))  # the rest still the base code
        enc.set_stage(100)
        assert enc.stage == 6 and torch.allclose(enc(x), full)


def test_config_errors_say_what_was_expected():
    with pytest.raises(E4EConfigError, match="num_ws must be 2\\*log2"):
        E4EConfig(num_ws=17)
    with pytest.raises(E4EConfigError, match="power of two >= 32"):
        E4EConfig(input_resolution=100)
    with pytest.raises(E4EConfigError, match="unknown E4EConfig field.*did you mean 'w_dim'"):
        E4EConfig.from_dict({"w_dimm": 3})
    with pytest.raises(ValueError, match="expects images \\(B, 3, 256, 256\\)"):
        E4ENetwork(E4EConfig.small(16, 8, input_resolution=256, stage_widths=(16,) * 4))(torch.zeros(1, 3, 64, 64))


def test_official_forward_gives_18x512_at_1024_on_the_meta_device():
    with torch.device("meta"):
        enc = E4EEncoder(E4EConfig.official(1024))
        assert enc(torch.empty(2, 3, 256, 256)).shape == (2, 18, 512)
        enc.set_stage(3)
        assert enc(torch.empty(1, 3, 256, 256)).shape == (1, 18, 512)
    assert enc.generator_info.resolution == 1024 and enc.input_resolution == 256
