"""Architecture inference on configs the golden files do not have: other sizes, channel tables, mapping depths,
z/w widths, conv_clamp, minibatch-stddev settings. Each random network is written in rosinality's and NVIDIA's
layouts and loaded back; every tensor and every output must be identical."""

from __future__ import annotations

import pytest
import torch

from latentedit.io.checkpoints import convert_checkpoint, load_discriminator, load_generator
from latentedit.io.nvidia_pkl import flatten_state, read_nvidia_pickle
from latentedit.stylegan2 import Discriminator, DiscriminatorConfig
from tests.conftest import tiny_generator
from latentedit.testing.foreign_formats import export_nvidia_pkl, export_rosinality, rosinality_generator_state
from tests.conftest import GOLDEN, needs_golden

G_CONFIGS = [
    dict(resolution=8, z_dim=8, w_dim=8, mapping_layers=1, channels=(4, 6)),
    dict(resolution=64, z_dim=16, w_dim=24, mapping_layers=3, channels=(40, 36, 24, 20, 12)),
    dict(resolution=128, z_dim=12, w_dim=12, mapping_layers=5, channels=(16, 16, 12, 8, 8, 4)),
]
D_CONFIGS = [
    dict(resolution=8, channels=(6, 4), mbstd_group=4, mbstd_channels=1),
    dict(resolution=16, channels=(6, 6, 4), mbstd_group=None, mbstd_channels=1),
    dict(resolution=64, channels=(24, 20, 16, 12, 8), mbstd_group=2, mbstd_channels=2),
]


def random_discriminator(seed=0, **kw) -> Discriminator:
    torch.manual_seed(seed)
    D = Discriminator(DiscriminatorConfig(**kw))
    with torch.no_grad():
        for p in D.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return D.eval()


def assert_same_generator(G, G2):
    assert G2.config == G.config
    a, b = G.state_dict(), G2.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    z = torch.randn(3, G.z_dim)
    with torch.no_grad():
        for mode in ("const", "none"):
            assert torch.equal(G(z, truncation_psi=0.6, noise_mode=mode), G2(z, truncation_psi=0.6, noise_mode=mode))
        noise = G.synthesis.make_noise(3, torch.Generator().manual_seed(1))
        ws = G.mapping(z)
        assert torch.equal(G.synthesis(ws, noise=noise), G2.synthesis(ws, noise=noise))


def assert_same_discriminator(D, D2):
    assert D2.config == D.config
    a, b = D.state_dict(), D2.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    img = torch.randn(4, 3, D.config.resolution, D.config.resolution)
    with torch.no_grad():
        assert torch.equal(D(img), D2(img))


def _make_G(kw, seed=0):
    G = tiny_generator(resolution=kw["resolution"], z_dim=kw["z_dim"], w_dim=kw["w_dim"],
                       mapping_layers=kw["mapping_layers"], channels=kw["channels"], seed=seed)
    assert G.config.channels == kw["channels"]
    return G


@pytest.mark.parametrize("kw", G_CONFIGS, ids=lambda kw: f"g{kw['resolution']}")
@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_rosinality_converted_layout(tmp_path, kw, legacy):
    G = _make_G(kw)
    G2, info = load_generator(export_rosinality(tmp_path / "g.pt", G, legacy=legacy))
    assert info.format == "rosinality" and info.w_avg_source.startswith("read")
    assert_same_generator(G, G2)


@pytest.mark.parametrize("kw,dkw", list(zip(G_CONFIGS[:2], D_CONFIGS[::2])), ids=["8", "64"])
def test_rosinality_training_snapshot_layout(tmp_path, kw, dkw):
    G, D = _make_G(kw, seed=1), random_discriminator(**{**dkw, "mbstd_group": 4, "mbstd_channels": 1})
    path = export_rosinality(tmp_path / "snap.pt", G, D, training_snapshot=True)
    G2, info = load_generator(path)
    assert "computed" in info.w_avg_source and "10,000" in info.w_avg_source
    with torch.no_grad():  # everything but w_avg comes from the file; w_avg is the mean over 10,000 z
        G2.mapping.w_avg.copy_(G.mapping.w_avg)
    assert_same_generator(G, G2)
    assert_same_discriminator(D, load_discriminator(path)[0])


@pytest.mark.parametrize("kw", G_CONFIGS, ids=lambda kw: f"g{kw['resolution']}")
@pytest.mark.parametrize("conv_clamp", [None, 256.0])
def test_nvidia_pickle_layout(tmp_path, kw, conv_clamp):
    G = _make_G(kw, seed=2)
    if conv_clamp is not None:
        from latentedit.stylegan2 import Generator

        G_clamped = Generator(type(G.config)(**{**G.config.to_dict(), "conv_clamp": conv_clamp})).eval()
        G_clamped.load_state_dict(G.state_dict())
        G = G_clamped
    G2, info = load_generator(export_nvidia_pkl(tmp_path / "g.pkl", G, conv_clamp=conv_clamp))
    assert info.format == "nvidia-pkl" and info.source_key == "G_ema" and G2.config.conv_clamp == conv_clamp
    assert_same_generator(G, G2)


@pytest.mark.parametrize("dkw", D_CONFIGS, ids=lambda kw: f"d{kw['resolution']}")
def test_nvidia_pickle_discriminator(tmp_path, dkw):
    from latentedit.io.nvidia_pkl import WHOLE_BATCH

    group = WHOLE_BATCH if dkw["mbstd_group"] is None else dkw["mbstd_group"]  # None: NVIDIA's "whole batch"
    D = random_discriminator(seed=3, **{**dkw, "mbstd_group": group})
    G = _make_G(G_CONFIGS[0])
    path = export_nvidia_pkl(tmp_path / "gd.pkl", G, D, mbstd_group=dkw["mbstd_group"])
    D2, info = load_discriminator(path)
    assert info.source_key == "D" and D2.config.mbstd_group == group
    assert D2.config.mbstd_channels == dkw["mbstd_channels"]  # from the b4.conv input width
    assert_same_discriminator(D, D2)


@pytest.mark.parametrize("kw", G_CONFIGS[1:2], ids=["g64"])
def test_nvidia_to_ours_to_nvidia_outputs_unchanged(tmp_path, kw):
    G = _make_G(kw, seed=4)
    src = export_nvidia_pkl(tmp_path / "g.pkl", G)
    convert_checkpoint(src, tmp_path / "g.safetensors")
    assert_same_generator(G, load_generator(tmp_path / "g.safetensors")[0])


# ----------------------------------------------------- the exporters reproduce the reference files exactly

@needs_golden
def test_rosinality_exporter_reproduces_the_golden_file():
    ref = torch.load(GOLDEN / "rosinality_g32_converted.pt", weights_only=True)
    G, _ = load_generator(GOLDEN / "rosinality_g32_converted.pt")
    ours = rosinality_generator_state(G)
    assert ours.keys() == ref["g_ema"].keys()
    for k, v in ref["g_ema"].items():
        assert ours[k].shape == v.shape and torch.allclose(ours[k], v, atol=1e-7), k


@needs_golden
def test_nvidia_exporter_reproduces_the_golden_state_dict(tmp_path):
    ref = torch.load(GOLDEN / "nvidia_ada_g32_state_dict.pt", weights_only=True)
    G, _ = load_generator(GOLDEN / "nvidia_ada_g32.pkl")
    snap = read_nvidia_pickle(export_nvidia_pkl(tmp_path / "g.pkl", G))
    flat = flatten_state(snap["G_ema"], "x")
    assert flat.keys() == ref.keys()
    for k, v in ref.items():
        assert flat[k].shape == v.shape and torch.equal(flat[k], v), k
    golden = read_nvidia_pickle(GOLDEN / "nvidia_ada_g32.pkl")
    assert flatten_state(golden["D"], "x").keys() == flatten_state(
        read_nvidia_pickle(export_nvidia_pkl(tmp_path / "gd.pkl", G, load_discriminator(
            GOLDEN / "nvidia_ada_g32.pkl")[0]))["D"], "x").keys()


@pytest.mark.slow
def test_config_f_1024_round_trips_through_both_layouts(tmp_path):
    """The files users bring: config-f, 1024 px, 512-d, 8-layer mapping (30,370,060 generator parameters)."""
    from latentedit.stylegan2 import Generator, GeneratorConfig

    G = Generator(GeneratorConfig(resolution=1024)).eval()
    for path in (export_nvidia_pkl(tmp_path / "f.pkl", G, conv_clamp=256),
                 export_rosinality(tmp_path / "f.pt", G)):
        G2, info = load_generator(path)
        assert info.num_parameters == 30_370_060 and G2.config.num_ws == 18
        assert G2.config.channels == (512, 512, 512, 512, 512, 256, 128, 64, 32)
        a, b = G.state_dict(), G2.state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
        path.unlink()
