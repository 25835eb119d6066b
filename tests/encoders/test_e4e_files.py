"""e4e files: the official layout on a small synthetic checkpoint (same key structure), our .safetensors format."""

from __future__ import annotations

import pytest
import torch

from latentedit.io.errors import CheckpointError
from latentedit_e4e.config import E4EConfig
from latentedit_e4e.encoder import E4EEncoder
from latentedit_e4e.official import write_official
from tests.conftest import tiny_generator
from latentedit.testing.foreign_formats import rosinality_generator_state



CFG = E4EConfig.small(16, 8, input_resolution=32, stage_units=(1, 2, 2, 1), stage_widths=(16, 24, 32, 48))


def _official(tmp_path, *, latent_avg_shape=(6, 8), opts=None, decoder=True, extra_keys=None):
    torch.manual_seed(1)
    G = tiny_generator(resolution=16)
    enc = E4EEncoder(CFG)
    with torch.no_grad():
        for p in enc.parameters():
            p.add_(0.05 * torch.randn_like(p))
    if opts is None:
        opts = {"encoder_type": "Encoder4Editing", "start_from_latent_avg": True, "stylegan_size": 16,
                "lpips_lambda": 0.8, "exp_dir": "x"}
    path = write_official(tmp_path / "e4e.pt", enc, G if decoder else None, latent_avg_shape=latent_avg_shape,
                          opts=opts, extra_keys=extra_keys)
    return path, enc, G


@pytest.mark.parametrize("la_shape", [(6, 8), (1, 8), (8,)])
def test_official_layout_loads_encoder_decoder_and_latent_avg(tmp_path, la_shape):
    path, ref, G = _official(tmp_path, latent_avg_shape=la_shape)
    enc = E4EEncoder.load(path)
    assert enc.config == CFG
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        expected = ref.eval().codes_without_avg(x) + G.mapping.w_avg
        assert torch.allclose(enc(x), expected, atol=1e-6)
    assert enc.generator is not None and enc.generator.fingerprint() == G.fingerprint()
    w = torch.randn(1, 6, 8)
    with torch.no_grad():
        assert torch.allclose(enc.generator.synthesis(w), G.synthesis(w), atol=1e-5)
    assert E4EEncoder.can_load(path)
    torch.save({"g_ema": rosinality_generator_state(G), "latent_avg": G.mapping.w_avg}, tmp_path / "ros.pt")
    assert not E4EEncoder.can_load(tmp_path / "ros.pt")  # a generator checkpoint is not an encoder


def test_load_after_can_load_reads_the_file_once_and_a_rewritten_file_afresh(tmp_path, monkeypatch):
    path, ref, G = _official(tmp_path)
    reads, real_load = [], torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: reads.append(a[0]) or real_load(*a, **k))
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert E4EEncoder.can_load(path) and len(reads) == 1
    with torch.no_grad():
        assert torch.allclose(E4EEncoder.load(path)(x), ref.eval()(x) + G.mapping.w_avg, atol=1e-6)
    assert len(reads) == 1                                    # load() took what can_load() had read
    assert E4EEncoder.can_load(path)
    other = E4EEncoder(CFG)                                   # the file is replaced after the sniff
    write_official(path, other, G)
    with torch.no_grad():
        assert torch.allclose(E4EEncoder.load(path)(x), other.eval()(x) + G.mapping.w_avg, atol=1e-6)
    assert len(reads) == 3


def test_official_without_decoder_or_latent_avg(tmp_path):
    path, _, _ = _official(tmp_path, decoder=False, opts={"start_from_latent_avg": False})
    enc = E4EEncoder.load(path)
    assert enc.generator is None and not enc.config.start_from_latent_avg


def test_official_errors_are_one_line_and_name_the_file(tmp_path):
    path, _, _ = _official(tmp_path, opts={"encoder_type": "GradualStyleEncoder"})
    with pytest.raises(CheckpointError, match="GradualStyleEncoder.*not supported") as exc:
        E4EEncoder.load(path)
    assert str(exc.value).startswith(str(path)) and "\n" not in str(exc.value)
    path, _, _ = _official(tmp_path, latent_avg_shape=(5, 8))
    with pytest.raises(CheckpointError, match="latent_avg' has shape \\(5, 8\\)"):
        E4EEncoder.load(path)
    path, _, _ = _official(tmp_path, extra_keys={"head.weight": torch.zeros(2)})
    with pytest.raises(CheckpointError, match="outside encoder"):
        E4EEncoder.load(path)
    truncated = tmp_path / "cut.pt"
    truncated.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(CheckpointError, match="truncated or damaged"):
        E4EEncoder.load(truncated)


def test_official_file_with_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {"encoder.x": torch.zeros(1)}, "opts": Evil()}, path)
    with pytest.raises(CheckpointError, match="refused global"):
        E4EEncoder.load(path)


def test_our_format_round_trip_with_bundled_generator(tmp_path):
    G = tiny_generator(resolution=16)
    enc = E4EEncoder.for_generator(G, CFG)
    enc.set_stage(3)
    out = enc.save(tmp_path / "enc.safetensors", generator=G, extra={"note": "x"})
    back = E4EEncoder.load(out)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        enc.set_stage(6)
        assert torch.equal(back(x), enc.eval()(x))
    assert back.generator_fingerprint == G.fingerprint() == back.generator.fingerprint()
    assert E4EEncoder.can_load(out) and not E4EEncoder.can_load(tmp_path / "missing.safetensors")
    # without a generator: still records which generator it belongs to
    back2 = E4EEncoder.load(enc.save(tmp_path / "bare.safetensors"))
    assert back2.generator is None and back2.generator_fingerprint == G.fingerprint()


def test_our_format_mismatch_names_keys(tmp_path):
    from latentedit.io.modelfile import read_model_file, save_model_file

    G = tiny_generator(resolution=16)
    path = E4EEncoder.for_generator(G, CFG).save(tmp_path / "enc.safetensors")
    tensors, kind, config, extra = read_model_file(path)
    tensors["net.styles.0.linear.weight"] = torch.zeros(3, 3)
    save_model_file(path, tensors, kind=kind, config=config, extra=extra)
    with pytest.raises(CheckpointError, match="styles.0.linear.weight: expected \\(8, 8\\), found \\(3, 3\\)"):
        E4EEncoder.load(path)


def test_bundled_generator_is_not_a_submodule(tmp_path):
    G = tiny_generator(resolution=16)
    enc = E4EEncoder.load(E4EEncoder.for_generator(G, CFG).save(tmp_path / "e.safetensors", generator=G))
    assert enc.generator is not None
    n_own = sum(p.numel() for p in E4EEncoder(CFG).parameters())
    assert sum(p.numel() for p in enc.parameters()) == n_own
    assert not any(k.startswith("generator.") for k in enc.state_dict())


def test_rebundle_swaps_the_decoder_of_the_same_w_and_refuses_another_w(tmp_path):
    from latentedit.io.modelfile import read_model_metadata
    from latentedit.io.ours import save_generator
    from latentedit_e4e.rebundle import rebundle

    G = tiny_generator(resolution=16)
    enc = E4EEncoder(CFG)
    path = enc.save(tmp_path / "enc.safetensors", generator=G, extra={"training_steps": 7, "note": "dropped"})
    tuned = tiny_generator(resolution=16)  # the same W, another synthesis (a frozen-mapping fine-tune)
    with torch.no_grad():
        for p in tuned.synthesis.parameters():
            p.add_(0.1)
    assert tuned.fingerprint() == G.fingerprint()
    rebundle(path, save_generator(tuned, tmp_path / "tuned.safetensors"))
    back = E4EEncoder.load(path)
    for a, b in zip(back.generator.state_dict().values(), tuned.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(back.net.state_dict().values(), enc.net.state_dict().values()):
        assert torch.equal(a, b)
    meta = read_model_metadata(path)[2]
    assert meta["training_steps"] == 7 and "note" not in meta
    assert meta["decoder_rebundled"]["replaced_synthesis_changed"] is True
    other = save_generator(tiny_generator(resolution=16, seed=5), tmp_path / "other.safetensors")
    before = path.read_bytes()
    with pytest.raises(ValueError, match="another W: retrain the encoder"):
        rebundle(path, other)
    assert path.read_bytes() == before  # refused before anything was written
