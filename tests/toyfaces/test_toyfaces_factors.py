"""The toy-faces factor vector: sampling, prior, edits of a person."""

import pytest
import torch

from latentedit_toyfaces import factors as F


def test_names_and_groups_are_consistent():
    assert F.NUM_FACTORS == len(F.FACTOR_NAMES) == len(set(F.FACTOR_NAMES))
    assert set(F.FACTOR_NAMES) == set(F.IDENTITY_FACTORS) | set(F.ATTRIBUTE_NAMES) | set(F.NUISANCE_FACTORS)
    for name in ("smile", "eyeglasses", "age", "hair_color", "beard"):
        assert name in F.ATTRIBUTE_NAMES


def test_sample_is_deterministic_in_range_and_seed_dependent():
    a, b, c = F.sample_factors(64, 5), F.sample_factors(64, 5), F.sample_factors(64, 6)
    assert a.shape == (64, F.NUM_FACTORS) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1


def test_factors_from_gaussian_is_smooth():
    u = torch.randn(8, F.NUM_FACTORS, generator=torch.Generator().manual_seed(0), requires_grad=True)
    F.factors_from_gaussian(u).sum().backward()
    assert torch.isfinite(u.grad).all() and (u.grad > 0).any()
    du = torch.zeros_like(u)
    du[:, 0] = 1e-3
    step = (F.factors_from_gaussian(u.detach() + du) - F.factors_from_gaussian(u.detach())).abs().max()
    assert step < 1e-2


def test_attribute_intensities_are_bimodal_and_labels_threshold_them():
    f = F.sample_factors(20000, 1)
    inten = F.attribute_intensities(f)
    middle = ((inten > 0.3) & (inten < 0.7)).float().mean()
    assert middle < 0.15, f"{middle:.3f} of attribute intensities are ambiguous"
    assert torch.equal(F.attribute_labels(f), inten > 0.5)
    rates = F.attribute_labels(f).float().mean(0)
    assert ((rates > 0.15) & (rates < 0.85)).all(), rates


def test_prior_couples_beard_with_short_hair_and_can_be_switched_off():
    u = torch.randn(40000, F.NUM_FACTORS, generator=torch.Generator().manual_seed(2))
    hair = F.INDEX["hair_style"]
    beard = F.ATTRIBUTE_NAMES.index("beard")
    for prior, expect_gap in ((True, True), (False, False)):
        f = F.factors_from_gaussian(u, prior=prior)
        lab = F.attribute_labels(f)[:, beard].float()
        short, long_ = lab[f[:, hair] < 0.3].mean(), lab[f[:, hair] > 0.7].mean()
        assert (short - long_ > 0.2) == expect_gap, (prior, short, long_)
    f = F.factors_from_gaussian(u, prior=False)
    assert (F.attribute_labels(f).float().mean(0) - 0.5).abs().max() < 0.02


def test_with_attributes_keeps_identity_and_nuisance():
    f = F.sample_factors(4, 0)
    g = F.with_attributes(f, smile=1.0, beard=torch.tensor([0.0, 1.0, 0.0, 1.0]))
    changed = (g != f).any(0)
    allowed = {F.INDEX["smile"], F.INDEX["beard"]}
    assert all(i in allowed for i in changed.nonzero().flatten().tolist())
    assert (g[:, F.INDEX["smile"]] == 1).all()


def test_resample_nuisance_and_attributes_keep_the_person():
    f = F.sample_factors(16, 3)
    n = F.resample_nuisance(f, 9)
    a = F.resample_attributes(f, 9)
    ident = list(F.IDENTITY_INDEX)
    assert torch.equal(n[:, ident], f[:, ident]) and torch.equal(a[:, ident], f[:, ident])
    assert not torch.equal(n[:, list(F.NUISANCE_INDEX)], f[:, list(F.NUISANCE_INDEX)])
    assert not torch.equal(a[:, list(F.ATTRIBUTE_INDEX)], f[:, list(F.ATTRIBUTE_INDEX)])
    assert torch.equal(F.with_nuisance(f, tilt=0.5)[:, F.INDEX["tilt"]], torch.full((16,), 0.5))


@pytest.mark.parametrize("bad, match", [
    (torch.zeros(3, 5), "expected shape"),
    (torch.zeros(3, F.NUM_FACTORS, dtype=torch.long), "floating"),
    ([0.5] * 21, "torch.Tensor"),
])
def test_bad_factor_tensors_say_what_was_expected(bad, match):
    with pytest.raises(F.FactorError, match=match):
        F.attribute_labels(bad)


def test_bad_edits_are_rejected():
    f = F.sample_factors(2, 0)
    with pytest.raises(F.FactorError, match="unknown attribute 'smiles'"):
        F.with_attributes(f, smiles=1.0)
    with pytest.raises(F.FactorError, match=r"\[0, 1\]"):
        F.with_attributes(f, smile=1.5)
    with pytest.raises(F.FactorError, match="unknown nuisance"):
        F.with_nuisance(f, smile=1.0)
