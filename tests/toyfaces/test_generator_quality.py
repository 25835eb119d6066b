"""The generator-quality bars: the W probe is scored by balanced accuracy."""

from __future__ import annotations

import torch


def test_w_probe_is_balanced_so_a_rare_undrawn_attribute_fails_it():
    from latentedit_toyfaces.evaluation.generator_quality import linear_probe

    g = torch.Generator().manual_seed(0)
    w = torch.randn(2000, 16, generator=g)
    rare_noise = torch.rand(2000, generator=g) < 0.1           # 10% positives, unrelated to w
    assert linear_probe(w, rare_noise) < 0.6                    # plain accuracy would read ~0.9
    encoded = (w[:, 3] + 0.1 * torch.randn(2000, generator=g)) > 1.2   # ~12% positives, linear in w
    assert linear_probe(w, encoded) > 0.9
    assert linear_probe(w, torch.zeros(2000, dtype=torch.bool)) != linear_probe(w, torch.zeros(2000, dtype=torch.bool))


class _RendererAsGenerator(torch.nn.Module):
    """A 'generator' that draws render(factors(z)) exactly (``swap``: the factors of another face instead)."""

    def __init__(self, swap: bool = False, prior: bool = True):
        super().__init__()
        self.prior = prior
        from latentedit.stylegan2.layers import normalize_2nd_moment

        self.resolution, self.z_dim, self.num_ws, self.swap = 64, 21, 2, swap
        self.mapping = type("Mapping", (), {})()
        self.mapping.z_to_w = normalize_2nd_moment
        self.mapping.w_avg = torch.zeros(21)

    def synthesis(self, ws, noise_mode="const"):
        from latentedit_toyfaces.factors import factors_from_gaussian
        from latentedit_toyfaces.renderer import render

        u = ws[:, 0].roll(1, dims=0) if self.swap else ws[:, 0]
        return render(factors_from_gaussian(u, prior=self.prior), self.resolution)


def test_faithfulness_is_near_one_for_the_renderer_itself_and_near_chance_for_swapped_faces():
    from latentedit_toyfaces.evaluation.generator_quality import evaluate_generator

    exact = evaluate_generator(_RendererAsGenerator(), n=200, truth=True)
    assert min(exact.label_agreement_with_truth.values()) > 0.95
    assert exact.realism_ratio < 1.3
    swapped = evaluate_generator(_RendererAsGenerator(swap=True), n=200, truth=True)
    # coverage is as good as the renderer's (the same faces, in another order), but the labels belong to other z
    assert max(abs(swapped.attr_freq_samples[a] - exact.attr_freq_samples[a]) for a in swapped.attr_freq_samples) == 0
    assert max(swapped.label_agreement_with_truth.values()) < 0.8
    assert evaluate_generator(_RendererAsGenerator(), n=100).label_agreement_with_truth == {}


def test_faithfulness_uses_the_recipes_prior():
    """A generator distilled without the correlation prior is scored against the labels of its own recipe
    (``distilled_prior`` reads it from the file's recipe_config); the prior's labels would be wrong for it."""
    from latentedit_toyfaces.evaluation.generator_ceiling import distilled_prior
    from latentedit_toyfaces.evaluation.generator_quality import evaluate_generator

    G = _RendererAsGenerator(prior=False)
    own = evaluate_generator(G, n=200, truth=True, prior=False).label_agreement_with_truth
    wrong = evaluate_generator(G, n=200, truth=True, prior=True).label_agreement_with_truth
    assert min(own.values()) > 0.95
    assert min(wrong.values()) < 0.85                       # eyeglasses: 0.78 of labels agree between the two
    assert distilled_prior({"recipe_config": {"prior": False}}) is False
    assert distilled_prior({"recipe_config": {"lr": 1.0}}) is True and distilled_prior(None) is True
