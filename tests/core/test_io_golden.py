"""Golden equivalence: every tensor of both ``*_expected.pt`` files, from the reference implementations.

rosinality/stylegan2-pytorch (converted file and training snapshot) and NVIDIA stylegan2-ada-pytorch (snapshot
pickle and bare state dict), loaded through ``latentedit.io.checkpoints``; images within 1e-4 (float32).
Also the cross-format checks: NVIDIA / rosinality -> ours -> outputs unchanged, and save -> load identical.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from latentedit.io.checkpoints import convert_checkpoint, detect_format, load_discriminator, load_generator

from tests.conftest import GOLDEN, needs_golden

ATOL = 1e-4
pytestmark = needs_golden


def close(found: torch.Tensor, expected: torch.Tensor, what: str, atol: float = ATOL) -> None:
    assert found.shape == expected.shape, f"{what}: shape {tuple(found.shape)} != {tuple(expected.shape)}"
    err = (found - expected).abs().max().item()
    assert err <= atol, f"{what}: max |diff| {err:.3g} > {atol}"


@pytest.fixture(scope="module")
def ros_expected():
    return torch.load(GOLDEN / "rosinality_g32_expected.pt", weights_only=True)


@pytest.fixture(scope="module")
def nv_expected():
    return torch.load(GOLDEN / "nvidia_ada_g32_expected.pt", weights_only=True)


@pytest.fixture(scope="module")
def ros_G():
    return load_generator(GOLDEN / "rosinality_g32_converted.pt")[0]


@pytest.fixture(scope="module")
def nv_G():
    return load_generator(GOLDEN / "nvidia_ada_g32.pkl")[0]


def test_formats_are_detected():
    assert detect_format(GOLDEN / "rosinality_g32_converted.pt") == "rosinality"
    assert detect_format(GOLDEN / "rosinality_g32_train.pt") == "rosinality"
    assert detect_format(GOLDEN / "nvidia_ada_g32.pkl") == "nvidia-pkl"
    assert detect_format(GOLDEN / "nvidia_ada_g32_state_dict.pt") == "nvidia-state-dict"


# ------------------------------------------------------------------------------------------------ rosinality

@torch.no_grad()
def test_rosinality_mapping_and_const_noise(ros_G, ros_expected):
    ws = ros_G.mapping(ros_expected["z"])
    close(ws, ros_expected["latents_z"], "latents_z", atol=1e-5)
    close(ros_G.synthesis(ws, noise_mode="const"), ros_expected["img_z"], "img_z")


@torch.no_grad()
def test_rosinality_truncation(ros_G, ros_expected):
    # the reference truncated toward the file's latent_avg, which we keep as w_avg
    close(ros_G.mapping.w_avg, ros_expected["truncation_latent"][0], "w_avg vs truncation_latent", atol=0)
    ws = ros_G.mapping(ros_expected["z"], truncation_psi=0.7)
    close(ros_G.synthesis(ws, noise_mode="const"), ros_expected["img_trunc07"], "img_trunc07")


@torch.no_grad()
def test_rosinality_wplus_input(ros_G, ros_expected):
    close(ros_G.synthesis(ros_expected["w_plus_input"], noise_mode="const"), ros_expected["img_wplus"], "img_wplus")


@torch.no_grad()
def test_rosinality_style_mixing_inject_index_3(ros_G, ros_expected):
    w1, w2 = ros_G.mapping(ros_expected["z"]), ros_G.mapping(ros_expected["z2"])
    mixed = torch.cat([w1[:, :3], w2[:, 3:]], dim=1)
    close(mixed, ros_expected["latents_mix"], "latents_mix", atol=1e-5)
    close(ros_G.synthesis(mixed, noise_mode="const"), ros_expected["img_mix_inject3"], "img_mix_inject3")


@torch.no_grad()
def test_rosinality_explicit_noise(ros_G, ros_expected):
    noise = ros_expected["noise"]
    assert len(noise) == len(ros_G.synthesis.noise_layers()) == 7
    close(ros_G.synthesis(ros_G.mapping(ros_expected["z"]), noise=noise), ros_expected["img_explicit_noise"],
          "img_explicit_noise")


@torch.no_grad()
def test_rosinality_training_snapshot_generator_and_discriminator(ros_G, ros_expected):
    G, info = load_generator(GOLDEN / "rosinality_g32_train.pt")
    assert info.source_key == "g_ema" and info.w_avg_source.startswith("computed")
    assert set(info.networks) == {"generator", "discriminator"}
    ours, ref = G.state_dict(), ros_G.state_dict()
    for k in ref:
        if k != "mapping.w_avg":
            assert torch.equal(ours[k], ref[k]), k
    # a 10,000-sample mean lands near the file's EMA latent_avg
    spread = ros_G.mapping(torch.randn(1000, G.z_dim))[:, 0].std(dim=0).mean()
    assert (G.mapping.w_avg - ros_G.mapping.w_avg).norm() / G.w_dim ** 0.5 < 0.2 * spread
    close(G.synthesis(G.mapping(ros_expected["z"]), noise_mode="const"), ros_expected["img_z"], "img_z (snapshot)")
    D, dinfo = load_discriminator(GOLDEN / "rosinality_g32_train.pt")
    assert dinfo.source_key == "d" and D.config.mbstd_group == 4 and D.config.mbstd_channels == 1
    close(D(ros_expected["img_z"]), ros_expected["d_logits_img_z"], "d_logits_img_z")


# ---------------------------------------------------------------------------------------------------- NVIDIA

def test_nvidia_config_from_shapes_and_init_kwargs(nv_G):
    cfg = nv_G.config
    assert (cfg.resolution, cfg.z_dim, cfg.w_dim, cfg.mapping_layers) == (32, 64, 64, 2)
    assert cfg.channels == (32, 32, 32, 16)  # channel_base 512, channel_max 32
    assert cfg.conv_clamp == 256 and cfg.num_ws == 8


@torch.no_grad()
def test_nvidia_mapping_and_truncation(nv_G, nv_expected):
    close(nv_G.mapping(nv_expected["z"]), nv_expected["ws"], "ws", atol=1e-5)
    close(nv_G.mapping(nv_expected["z"], truncation_psi=0.7), nv_expected["ws_trunc07"], "ws_trunc07", atol=1e-5)


@torch.no_grad()
def test_nvidia_synthesis_const_and_truncated(nv_G, nv_expected):
    close(nv_G.synthesis(nv_expected["ws"], noise_mode="const"), nv_expected["img_const"], "img_const")
    close(nv_G.synthesis(nv_expected["ws_trunc07"], noise_mode="const"), nv_expected["img_trunc07_const"],
          "img_trunc07_const")
    close(nv_G(nv_expected["z"], truncation_psi=0.7, noise_mode="const"), nv_expected["img_trunc07_const"],
          "G(z, psi=0.7)")


@torch.no_grad()
def test_nvidia_wplus_input_const_and_none(nv_G, nv_expected):
    w = nv_expected["w_plus_input"]
    close(nv_G.synthesis(w, noise_mode="const"), nv_expected["img_wplus_const"], "img_wplus_const")
    close(nv_G.synthesis(w, noise_mode="none"), nv_expected["img_wplus_none"], "img_wplus_none")


@torch.no_grad()
def test_nvidia_discriminator(nv_expected):
    D, info = load_discriminator(GOLDEN / "nvidia_ada_g32.pkl")
    assert info.source_key == "D" and D.config.conv_clamp == 256 and D.config.channels == (32, 32, 32, 16)
    close(D(nv_expected["img_const"]), nv_expected["d_logits_img_const"], "d_logits_img_const")


def test_nvidia_pickle_tensors_equal_their_state_dict(nv_G):
    ref = torch.load(GOLDEN / "nvidia_ada_g32_state_dict.pt", weights_only=True)
    ours = nv_G.state_dict()
    assert set(ours) == {k for k in ref if not k.endswith("resample_filter")}
    for k, v in ours.items():
        assert torch.equal(v, ref[k]), k
    G2, info = load_generator(GOLDEN / "nvidia_ada_g32_state_dict.pt")
    assert info.format == "nvidia-state-dict" and G2.config.channels == nv_G.config.channels


# ----------------------------------------------------------------------------------------------- cross-format

@torch.no_grad()
@pytest.mark.parametrize("name", ["nvidia_ada_g32.pkl", "rosinality_g32_converted.pt", "rosinality_g32_train.pt"])
def test_convert_to_ours_keeps_outputs(tmp_path, name, nv_expected, ros_expected):
    G, info = load_generator(GOLDEN / name)
    out = tmp_path / "g.safetensors"
    convert_checkpoint(GOLDEN / name, out)
    G2, info2 = load_generator(out)
    assert info2.format == "latentedit" and G2.config == G.config
    assert info2.w_avg_source == info.w_avg_source
    a, b = G.state_dict(), G2.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    exp = nv_expected if name.startswith("nvidia") else ros_expected
    z = exp["z"]
    img, img2 = (g(z, truncation_psi=0.7, noise_mode="const") for g in (G, G2))
    assert torch.equal(img, img2)
    ref = exp["img_trunc07_const"] if name.startswith("nvidia") else exp["img_trunc07"]
    if name != "rosinality_g32_train.pt":  # the snapshot's w_avg is computed, not the reference's latent_avg
        close(img2, ref, "converted G, psi 0.7")


@torch.no_grad()
@pytest.mark.parametrize("name", ["nvidia_ada_g32.pkl", "rosinality_g32_train.pt"])
def test_convert_discriminator_keeps_logits(tmp_path, name, nv_expected, ros_expected):
    out = tmp_path / "d.safetensors"
    convert_checkpoint(GOLDEN / name, out, discriminator=True)
    D, _ = load_discriminator(GOLDEN / name)
    D2, info = load_discriminator(out)
    assert info.format == "latentedit" and D2.config == D.config
    img = (nv_expected["img_const"] if name.startswith("nvidia") else ros_expected["img_z"])
    assert torch.equal(D(img), D2(img))


def test_every_expected_tensor_is_covered(ros_expected, nv_expected):
    """If a reference output is added to the golden files, this fails until a test compares it."""
    assert set(ros_expected) == {"z", "z2", "w_plus_input", "truncation_latent", "noise", "img_z", "latents_z",
                                 "img_trunc07", "img_wplus", "img_mix_inject3", "latents_mix", "img_explicit_noise",
                                 "d_logits_img_z"}
    assert set(nv_expected) == {"z", "ws", "ws_trunc07", "img_const", "img_trunc07_const", "w_plus_input",
                                "img_wplus_const", "img_wplus_none", "d_logits_img_const"}
