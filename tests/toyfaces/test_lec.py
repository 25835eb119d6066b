"""Latent editing consistency (e4e's LEC): 0 for an identity mapper and a perfect encoder, exact numbers for an
encoder with a known bias, and a column of the edit benchmark for every mapper when an encoder is given."""

from __future__ import annotations

import math

import torch

from latentedit.plugins import GeneratorInfo, Mapper, MapperConfig
from latentedit_toyfaces.evaluation.consistency import latent_editing_consistency, layer_l2
from latentedit_toyfaces.evaluation.edit_quality import EditBenchmarkConfig, evaluate_edits
from latentedit_toyfaces.judges import JudgeNet, default_config
from tests.conftest import tiny_generator


class LookupEncoder:
    """A perfect encoder for a known set of latents: the latent whose render is nearest the image, plus ``bias``."""

    def __init__(self, G, w: torch.Tensor, bias: float = 0.0):
        with torch.no_grad():
            self.images = G.synthesis(w, noise_mode="const").flatten(1)
        self.w, self.bias = w, bias

    def invert(self, images, *, batch_size=16):
        return self.w[torch.cdist(images.flatten(1), self.images).argmin(1)] + self.bias


class KeepMapper(Mapper):
    """Returns its input: the identity edit."""

    config_class = MapperConfig
    kind = "fit"

    def forward(self, w_plus, *, target=None):
        return w_plus.clone()

    def fit(self, **_):
        return self


def test_identity_edit_with_a_perfect_encoder_is_zero():
    G = tiny_generator(resolution=16)
    with torch.no_grad():
        w = G.mapping(torch.randn(5, G.z_dim, generator=torch.Generator().manual_seed(0)))
    same = lambda x: x  # noqa: E731
    assert torch.equal(latent_editing_consistency(G, LookupEncoder(G, w), same, same, w), torch.zeros(5))


def test_shift_and_unshift_measure_only_the_encoder_error():
    G = tiny_generator(resolution=16)
    with torch.no_grad():
        w = G.mapping(torch.randn(4, G.z_dim, generator=torch.Generator().manual_seed(1)))
    shift = torch.zeros_like(w[:1])
    shift[..., 0] = 1.5
    there, back = (lambda x: x + shift), (lambda x: x - shift)
    perfect = LookupEncoder(G, w + shift)
    assert torch.allclose(latent_editing_consistency(G, perfect, there, back, w), torch.zeros(4), atol=1e-6)
    biased = LookupEncoder(G, w + shift, bias=0.25)        # every entry off by 0.25: per layer 0.25 * sqrt(D)
    lec = latent_editing_consistency(G, biased, there, back, w)
    assert torch.allclose(lec, torch.full((4,), 0.25 * math.sqrt(G.w_dim)), atol=1e-5)
    # an edit the undo does not reverse counts too (here: undo forgets half the shift)
    half = latent_editing_consistency(G, perfect, there, lambda x: x - shift / 2, w)
    assert torch.allclose(half, layer_l2(w + shift / 2, w), atol=1e-6)


def test_lec_is_a_column_of_the_benchmark():
    torch.manual_seed(0)
    judges = {}
    for name in ("factors", "identity"):
        cfg = default_config(name)
        judges[name] = JudgeNet(type(cfg)(name=cfg.name, channels=(8, 8, 8, 8), feature_dim=16,
                                          out_dim=cfg.out_dim)).eval()
    G = tiny_generator(resolution=16)
    cfg = EditBenchmarkConfig(n=6, samples=1, batch_size=6, noise_renders=8, diversity="l1", lec_sources=4)
    with torch.no_grad():
        w = G.mapping(torch.randn(cfg.n, G.z_dim, generator=torch.Generator().manual_seed(cfg.seed)).to(
            G.mapping.w_avg.device), truncation_psi=cfg.truncation_psi)
    keep = KeepMapper(None, GeneratorInfo.from_generator(G, ("smile",))).eval()
    result = evaluate_edits(G, {"keep": keep}, estimator=judges["factors"], embedder=judges["identity"], config=cfg,
                            encoder=LookupEncoder(G, w))
    assert [r.lec for r in result.rows] == [0.0]            # the held-out sources, kept and found again
    assert "LEC ↓" in result.to_markdown() and result.to_dict()["means"]["keep"]["lec"] == 0.0
    without = evaluate_edits(G, {"keep": keep}, estimator=judges["factors"], embedder=judges["identity"], config=cfg)
    assert math.isnan(without.rows[0].lec) and "| — |" in without.to_markdown()
