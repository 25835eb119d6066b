"""The lst mapper: the shared contract, the transfer's algebra (both forms), groups, targets and references, the
CLI reference path, and that the plugin imports only public names from latentedit."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest
import torch

try:
    import latentedit_lst  # noqa: F401
except ImportError:  # the editable install predates the plugin folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))

from latentedit.plugins import ConfigError, GeneratorInfo
from latentedit.testing.mapper_contract import TINY_GENERATOR, check_mapper_contract
from latentedit_lst import LSTConfig, LSTMapper
from latentedit_lst.transform import GroupTransfer, linear_transfer, second_moment

SMALL = LSTConfig(rank=4, hidden=8, encoder_channels=(4, 8), encoder_input=16)
PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "latentedit_lst"


@pytest.mark.parametrize("cfg", [SMALL, SMALL.replace(keep_complement=False, uncompress_init=1.0),
                                 SMALL.replace(groups=(("a", (0, 2)), ("b", (3,))),
                                               group_attributes=(("a", ("smile",)),))])
def test_contract(cfg, tmp_path):
    check_mapper_contract(LSTMapper, cfg, tmp_path=tmp_path)


def _mapper(cfg=SMALL, gi=TINY_GENERATOR):
    torch.manual_seed(0)
    return LSTMapper(cfg, gi).eval()


def test_default_groups_are_coarse_middle_fine():
    assert LSTConfig().group_table(18) == (("coarse", (0, 1, 2, 3)), ("middle", (4, 5, 6, 7)),
                                          ("fine", tuple(range(8, 18))))
    assert LSTConfig().group_table(6) == (("coarse", (0, 1, 2, 3)), ("middle", (4, 5)))
    with pytest.raises(ConfigError, match="in two groups"):
        LSTConfig(groups=(("a", (0, 1)), ("b", (1,)))).group_table(6)


def test_paper_form_with_a_lossless_bottleneck_is_exact():
    """r = D, U = C^-1, T = I: X' = X - mu_s + mu_r (the paper's form), and keep_complement gives the same."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(2, 3, 5, generator=g), torch.randn(2, 3, 5, generator=g)
    c = torch.randn(5, 5, generator=g)
    eye = torch.eye(5).expand(2, 5, 5)
    want = x - x.mean(1, keepdim=True) + y.mean(1, keepdim=True)
    for keep in (False, True):
        out = linear_transfer(x, y, eye, c, torch.linalg.inv(c), keep_complement=keep)
        assert torch.allclose(out, want, atol=1e-4)


def test_keep_complement_keeps_what_the_bottleneck_cannot_carry():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(2, 3, 6, generator=g), torch.randn(2, 3, 6, generator=g)
    c = torch.randn(2, 6, generator=g)
    u = torch.linalg.pinv(c)
    t = torch.randn(2, 2, 2, generator=g)
    out = linear_transfer(x, y, t, c, u, keep_complement=True)
    complement = torch.eye(6) - u @ c                       # projector onto what C drops
    assert torch.allclose((out - x) @ complement.T, torch.zeros_like(x), atol=1e-5)
    # within the bottleneck: C X' = T C (X - mu_s) + C mu_r
    want = (x - x.mean(1, keepdim=True)) @ c.T @ t.transpose(1, 2) + y.mean(1, keepdim=True) @ c.T
    assert torch.allclose(out @ c.T, want, atol=1e-4)


def test_broadcast_codes_take_the_mean_term_only_and_matrix_starts_at_identity():
    torch.manual_seed(0)
    tr = GroupTransfer(6, 3, 8, uncompress_init=1.0, keep_complement=False)
    x = torch.randn(2, 1, 6).repeat(1, 4, 1)               # a W code broadcast over 4 layers
    y = torch.randn(2, 4, 6)
    assert torch.allclose(tr.matrix(x, y), torch.eye(3).expand(2, 3, 3), atol=1e-6)
    out = tr(x, y)
    assert torch.allclose(out, y.mean(1, keepdim=True).expand_as(out), atol=1e-5)
    f = torch.randn(2, 5, 3)
    assert torch.allclose(second_moment(f)[0], f[0].T @ f[0] / 5, atol=1e-6)


def test_reference_matters_and_target_picks_groups():
    cfg = SMALL.replace(groups=(("a", (0, 1, 2)), ("b", (3, 4, 5))), group_attributes=(("a", ("smile",)),
                                                                                       ("b", ("glasses", "age"))),
                        uncompress_init=1.0)
    m = _mapper(cfg)
    g = torch.Generator().manual_seed(2)
    w = torch.randn(2, 6, 16, generator=g)
    s1, s2 = torch.randn(2, 96, generator=g), torch.randn(2, 96, generator=g)
    with torch.no_grad():
        assert (m(w, style=s1) - m(w, style=s2)).abs().max() > 1e-3
        smile_only = torch.tensor([[1.0, float("nan"), float("nan")]] * 2)
        out = m(w, target=smile_only, style=s1)
        assert torch.equal(out[:, 3:], w[:, 3:]) and not torch.equal(out[:, :3], w[:, :3])
        assert torch.equal(m(w, target=torch.full((2, 3), float("nan")), style=s1), w)
    with pytest.raises(ConfigError, match="reference"):
        m(w)
    drawn = m.sample_style(4, generator=torch.Generator().manual_seed(0)).view(4, 6, 16)
    assert torch.equal(drawn[:, 0], drawn[:, 2]) and not torch.equal(drawn[:, 0], drawn[:, 3])  # per group
    assert drawn.std() > 0.5                                   # untrained prior: N(0, I)
    assert m.group_slices() == {"a": slice(0, 48), "b": slice(48, 96)}
    assert m.style_columns(["smile"]) == list(range(48))
    with pytest.raises(ConfigError, match="attributes"):
        LSTMapper(SMALL.replace(group_attributes=(("coarse", ("nose",)),)), TINY_GENERATOR)


def test_encode_style_predicts_wplus_and_queues_the_regression():
    m = _mapper()
    images = torch.rand(3, 3, 24, 24, generator=torch.Generator().manual_seed(3)) * 2 - 1
    s = m.encode_style(images)
    assert s.shape == (3, 96) and m.pop_style_terms() == {}           # eval: nothing queued
    assert torch.allclose(m.encode_style(images[:1]), s[:1], atol=1e-5)
    m.train()
    w = torch.randn(3, 6, 16)
    m.encode_style(images, w_plus=w)
    terms = m.pop_style_terms()
    assert set(terms) == {"reference_encoder"} and terms["reference_encoder"] > 0
    assert m.pop_style_terms() == {}
    assert torch.allclose(m.style_mean, 0.01 * w.flatten(1).mean(0))     # the prior's running mean moved
    terms["reference_encoder"].backward()
    assert m.encoder.head.weight.grad is not None


def test_reference_path_of_the_core_works_with_lst():
    from latentedit.editing import style_encoder
    from latentedit.editing import sampling as sm

    m = _mapper()
    encode = style_encoder(m)
    w = torch.randn(1, 6, 16)
    ref = encode(torch.zeros(1, 3, 16, 16))
    with torch.no_grad():
        out = sm.edit_with_conditions(m, w, ref, None)
        mixed = sm.mix_by_columns(ref, encode(torch.ones(1, 3, 16, 16)), list(range(64, 96)))
    assert out.shape == (1, 6, 16) and mixed.shape == ref.shape


def _private_imports(tree: ast.AST) -> list[str]:
    """Names the module takes from latentedit that are private or not exported by their module."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "latentedit":
            mod = importlib.import_module(node.module)
            exported = getattr(mod, "__all__", None)
            for alias in node.names:
                if (any(p.startswith("_") for p in node.module.split(".")) or alias.name.startswith("_")
                        or (exported is not None and alias.name not in exported
                            and not hasattr(importlib.import_module(node.module), "__path__"))):
                    found.append(f"from {node.module} import {alias.name}")
        elif isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.startswith("latentedit.")
                      and any(p.startswith("_") for p in a.name.split("."))]
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            base = node.value
            if isinstance(base, ast.Name) and base.id == "latentedit":
                found.append(f"latentedit.{node.attr}")
    return found


def test_plugin_imports_only_public_names():
    files = sorted(PLUGIN.glob("*.py"))
    assert len(files) >= 4
    for path in files:
        assert _private_imports(ast.parse(path.read_text())) == [], path.name
    bad = ast.parse("from latentedit.plugins.contract import _shape\nfrom latentedit.ops import _build\n")
    assert len(_private_imports(bad)) == 2                 # the check itself catches both forms


def test_registered_as_lst():
    from importlib.metadata import entry_points

    eps = {ep.name: ep.value for ep in entry_points(group="latentedit.mappers")}
    assert eps.get("lst") == "latentedit_lst:LSTMapper"


def test_generator_info_roundtrip_through_save(tmp_path):
    gi = GeneratorInfo(num_ws=10, w_dim=8, attribute_names=("smile", "age"), resolution=64)
    m = _mapper(SMALL, gi)
    m.save(tmp_path / "m.safetensors")
    loaded = LSTMapper.load(tmp_path / "m.safetensors")
    assert loaded.groups == (("coarse", (0, 1, 2, 3)), ("middle", (4, 5, 6, 7)), ("fine", (8, 9)))
