"""A toy factor estimator read in the identity role gives its identity-factor columns (a teacher identity loss)."""

from __future__ import annotations

import torch

from latentedit.domains import load_domain_model
from latentedit_toyfaces.factors import IDENTITY_FACTORS, IDENTITY_INDEX
from latentedit_toyfaces.identity_factors import IdentityFactors
from latentedit_toyfaces.judges import default_path, load_judge, load_judge_file


def test_a_factors_file_in_the_identity_role_gives_the_identity_factors():
    teacher = default_path("factors").with_name("judge_factors_seed101.safetensors")
    emb = load_domain_model(teacher, "identity")
    assert isinstance(emb, IdentityFactors) and not any(p.requires_grad for p in emb.parameters())
    x = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        want = load_judge_file(teacher, names=("factors",))(x)[:, list(IDENTITY_INDEX)]
        got = emb(x)
    assert got.shape == (3, len(IDENTITY_FACTORS)) and torch.equal(got, want)
    # the identity embedder file itself is still read as the identity judge
    assert type(load_domain_model(default_path("identity"), "identity")) is type(load_judge("identity"))
