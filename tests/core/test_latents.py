"""Latent helpers and latent files: seeds, W -> W+, files tied to their generator."""

from __future__ import annotations

import pytest
import torch

from latentedit.latents import (LatentError, check_w_plus, load_latents, parse_seeds, sample_w_plus, save_latents,
                                w_to_wplus, z_from_seeds)
from tests.conftest import tiny_generator


def test_parse_seeds():
    assert parse_seeds("0-3,7, 9-10") == [0, 1, 2, 3, 7, 9, 10]
    for bad in ("a", "3-1", "1--2", ""):
        with pytest.raises(ValueError):
            parse_seeds(bad)


def test_z_per_seed_independent_of_batch():
    a = z_from_seeds([5, 6, 7], 8)
    b = z_from_seeds([7], 8)
    assert torch.equal(a[2:], b)


def test_w_to_wplus_is_explicit():
    w = torch.randn(2, 8)
    wp = w_to_wplus(w, 6)
    assert wp.shape == (2, 6, 8) and torch.equal(wp[:, 3], w)
    with pytest.raises(LatentError, match=r"\(B, 6, 8\); got \(2, 8\) \(a W code"):
        check_w_plus(w, 6, 8)


def test_latent_file_round_trip_and_wrong_generator(tmp_path):
    G = tiny_generator()
    ws = sample_w_plus(G, [1, 2], truncation_psi=0.7)
    path = save_latents(tmp_path / "a.wplus.safetensors", ws, space="w_plus", generator=G, extra={"seed": 1})
    lf = load_latents(path, G)
    assert torch.equal(lf.tensor, ws) and lf.space == "w_plus" and lf.extra == {"seed": 1}
    other = tiny_generator(seed=3)
    with pytest.raises(LatentError, match="belong to another generator"):
        load_latents(path, other)
    with pytest.raises(LatentError, match="expected 'z'"):
        load_latents(path, expect_space="z")
    (tmp_path / "junk.safetensors").write_bytes(b"not a file")
    with pytest.raises(LatentError, match="not a readable latent file"):
        load_latents(tmp_path / "junk.safetensors")


def test_save_refuses_wrong_shape_and_leaves_no_file(tmp_path):
    G = tiny_generator()
    with pytest.raises(LatentError):
        save_latents(tmp_path / "bad.safetensors", torch.zeros(2, 8), space="w_plus", generator=G)
    assert list(tmp_path.iterdir()) == []


def test_score_latents_renders_in_chunks_and_never_labels_with_random_noise():
    from latentedit.latents import score_latents
    from latentedit.training.toys import calibrated_judge, tiny_generator

    G = tiny_generator()
    judge = calibrated_judge(G, 2)
    w = G.mapping(torch.randn(10, G.z_dim, generator=torch.Generator().manual_seed(3)))
    with torch.no_grad():
        whole = judge(G.synthesis(w, noise_mode="const"))
    torch.testing.assert_close(score_latents(G, w, judge, batch=3), whole)
    torch.testing.assert_close(score_latents(G, w, judge, batch=4, noise_mode="random"), whole)
    assert not torch.equal(judge(G.synthesis(w, noise_mode="random")), whole)   # random noise would change labels
