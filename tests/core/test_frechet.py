"""The Fréchet distance against its closed form and against scipy's matrix square root."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentedit.evaluation.frechet import frechet_distance


def test_matches_the_matrix_square_root_formula_and_is_zero_on_itself():
    from scipy import linalg

    g = torch.Generator().manual_seed(0)
    a = torch.randn(500, 32, generator=g) @ torch.randn(32, 32, generator=g)  # correlated features
    b = torch.randn(400, 32, generator=g) * 1.3 + 0.2
    x, y = a.double().numpy(), b.double().numpy()
    s_x, s_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    reference = ((x.mean(0) - y.mean(0)) ** 2).sum() + np.trace(s_x + s_y - 2 * linalg.sqrtm(s_x @ s_y).real)
    assert frechet_distance(a, b) == pytest.approx(reference, rel=1e-8)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_diagonal_gaussians_give_the_closed_form():
    # N(m, diag(s^2)) vs N(0, I): |m|^2 + sum (s - 1)^2, up to sampling error
    g = torch.Generator().manual_seed(1)
    s = torch.tensor([0.5, 1.0, 2.0, 3.0])
    m = torch.tensor([1.0, 0.0, -1.0, 0.5])
    a = torch.randn(200_000, 4, generator=g) * s + m
    b = torch.randn(200_000, 4, generator=g)
    assert frechet_distance(a, b) == pytest.approx(float((m ** 2).sum() + ((s - 1) ** 2).sum()), rel=0.01)


def test_feature_shapes_are_checked():
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        frechet_distance(torch.zeros(4, 3), torch.zeros(4, 2))
