"""Training batches: pure functions of (seed, step), identical however the global batch is sliced."""

from __future__ import annotations

import pytest
import torch

from latentedit.latents import LatentError, save_latents
from latentedit.training.data import FileLatents, GeneratorLatents, draw_randoms, flip_targets
from latentedit.training.toys import tiny_generator

KW = {"seed": 3, "step": 5, "batch": 6, "z_dim": 8, "num_ws": 6, "n_attr": 4, "max_flips": 2, "mapper_z_dim": 3,
      "style_dim": 2}


def test_slices_of_the_global_batch_are_independent_of_the_split():
    whole = draw_randoms(lo=0, hi=6, **KW)
    parts = [draw_randoms(lo=lo, hi=lo + 2, **KW) for lo in (0, 2, 4)]
    for name, value in vars(whole).items():
        assert torch.equal(value, torch.cat([getattr(p, name) for p in parts])), name
    assert not torch.equal(whole.z, draw_randoms(lo=0, hi=6, **{**KW, "step": 6}).z)


def test_flip_targets_flips_between_one_and_max_flips():
    r = draw_randoms(lo=0, hi=6, **KW)
    source = torch.randint(0, 2, (6, 4)).float()
    target = flip_targets(source, r.flip_keys, r.n_flips)
    changed = (target != source).sum(dim=1)
    assert torch.equal(changed, r.n_flips) and changed.min() >= 1 and changed.max() <= 2


def test_generator_latents_truncate_and_mix():
    G = tiny_generator()
    r = draw_randoms(lo=0, hi=6, **KW)
    plain = GeneratorLatents(G, truncation_psi=0.7, mixing_prob=0.0)(r, step=5, batch=6, lo=0, hi=6)
    mixed = GeneratorLatents(G, truncation_psi=0.7, mixing_prob=1.0)(r, step=5, batch=6, lo=0, hi=6)
    assert plain.shape == (6, G.num_ws, G.w_dim)
    assert torch.equal(plain[:, 0], mixed[:, 0]) and not torch.equal(plain[:, -1], mixed[:, -1])


def test_file_latents_visit_every_row_each_epoch(tmp_path):
    G = tiny_generator()
    w = G.mapping(torch.randn(5, G.z_dim))
    save_latents(tmp_path / "a.safetensors", w[:3], space="w_plus", generator=G)
    save_latents(tmp_path / "b.safetensors", w[3:], space="w_plus", generator=G)
    src = FileLatents(tmp_path, G, seed=0)
    rows = torch.cat([src.rows(step, 1, 0, 1) for step in range(5)])
    assert sorted(rows.tolist()) == [0, 1, 2, 3, 4]
    assert torch.equal(src.rows(1, 2, 0, 2), torch.cat([src.rows(1, 2, 0, 1), src.rows(1, 2, 1, 2)]))
    other = tiny_generator(seed=1)
    with pytest.raises(LatentError, match="belong to another generator"):
        FileLatents(tmp_path, other, seed=0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(LatentError, match="no .safetensors W\\+ files"):
        FileLatents(tmp_path / "empty", G, seed=0)
