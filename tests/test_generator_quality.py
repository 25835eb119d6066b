"""The generator-quality bars: the W probe is scored by balanced accuracy."""

from __future__ import annotations

import torch


def test_w_probe_is_balanced_so_a_rare_undrawn_attribute_fails_it():
    from latentedit.evaluation.generator_quality import linear_probe

    g = torch.Generator().manual_seed(0)
    w = torch.randn(2000, 16, generator=g)
    rare_noise = torch.rand(2000, generator=g) < 0.1           # 10% positives, unrelated to w
    assert linear_probe(w, rare_noise) < 0.6                    # plain accuracy would read ~0.9
    encoded = (w[:, 3] + 0.1 * torch.randn(2000, generator=g)) > 1.2   # ~12% positives, linear in w
    assert linear_probe(w, encoded) > 0.9
    assert linear_probe(w, torch.zeros(2000, dtype=torch.bool)) != linear_probe(w, torch.zeros(2000, dtype=torch.bool))
