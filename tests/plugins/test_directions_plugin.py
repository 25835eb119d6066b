"""The built-in `directions` plugin: contract, InterFaceGAN/GANSpace/SeFa against planted ground truth,
conditional editing, community file formats."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentedit.plugins import GeneratorInfo
from latentedit.testing.mapper_contract import check_mapper_contract
from latentedit_directions import DirectionsConfig, DirectionsMapper
from latentedit_directions.formats import (DirectionFileError, read_direction, read_ganspace, write_e4e,
                                           write_ganspace, write_interfacegan)
from latentedit_directions.ganspace_sefa import ganspace_components, ganspace_edit, sefa_directions
from latentedit_directions.interfacegan import project_boundary, train_boundary
from tests.conftest import tiny_generator

GI = GeneratorInfo(num_ws=6, w_dim=8, attribute_names=("smile", "glasses"), resolution=16)


def planted(n=600, seed=0):
    """W codes whose attribute scores are linear in two known, non-orthogonal directions."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n, GI.w_dim, generator=g)
    n_smile = torch.zeros(GI.w_dim); n_smile[0] = 1.0
    n_glass = torch.zeros(GI.w_dim); n_glass[0], n_glass[1] = 0.6, 0.8
    scores = torch.stack([w @ n_smile + 0.3, w @ n_glass - 0.2], 1) + 0.05 * torch.randn(n, 2, generator=g)
    return w.unsqueeze(1).repeat(1, GI.num_ws, 1), scores, n_smile, n_glass


def fitted(**cfg):
    w_plus, scores, *_ = planted()
    return DirectionsMapper(DirectionsConfig(ratio=0.2, **cfg), GI).fit(w_plus=w_plus, labels=scores)


def test_contract():
    w_plus, scores, *_ = planted(200)
    check_mapper_contract(DirectionsMapper, DirectionsConfig(ratio=0.2), GI,
                          prepare=lambda m: m.fit(w_plus=w_plus, labels=scores))


def test_interfacegan_recovers_planted_normals_and_reaches_target_distance():
    m = fitted()
    _, _, n_smile, n_glass = planted()
    assert float(m.direction("smile") @ n_smile) > 0.98
    assert float(m.direction("glasses") @ n_glass) > 0.98
    w = planted(8, seed=5)[0]
    out = m(w, target=torch.tensor([[1.0, float("nan")]] * 8))
    d = m.signed_distance(out)
    torch.testing.assert_close(d[:, 0], torch.full((8,), 3.0), atol=1e-4, rtol=0)
    # NaN leaves glasses alone: the whole move is along the smile normal, on every layer alike (space w).
    moved = (out - w)[:, 0]
    residual = moved - (moved @ m.direction("smile")).unsqueeze(1) * m.direction("smile")
    assert residual.abs().max() < 1e-5
    assert torch.allclose(out - w, (out - w)[:, :1].expand_as(w))


def test_std_unit_scales_the_edit_by_each_attributes_spread_and_survives_a_file(tmp_path):
    """W spaces differ in scale: with distance_unit='std' a full edit is edit_distance standard deviations of the
    fitted samples' signed distance, whatever the W units (planted: W shrunk 5x, so the spread is ~0.2)."""
    w_plus, scores, n_smile, _ = planted(2000)
    m = DirectionsMapper(DirectionsConfig(ratio=0.2, distance_unit="std", edit_distance=2.0), GI)
    m.fit(w_plus=w_plus * 0.2, labels=scores)
    spread = float((w_plus[:, 0] * 0.2 @ m.direction("smile")).std())
    assert m.config.spreads[0] == pytest.approx(spread, rel=1e-4) and 0.18 < spread < 0.22
    w = planted(8, seed=5)[0] * 0.2
    out = m(w, target=torch.tensor([[0.0, float("nan")]] * 8))
    torch.testing.assert_close(m.signed_distance(out)[:, 0], torch.full((8,), -2.0 * spread), atol=1e-4, rtol=0)
    step = m.edit_steps(w, {"glasses": 1.0}) - w
    assert float(step[0, 0].norm()) == pytest.approx(2.0 * m.config.spreads[1], rel=1e-4)
    again = type(m).load(m.save(tmp_path / "d.safetensors"))
    assert again.config.spreads == m.config.spreads and again.config.distance_unit == "std"
    with pytest.raises(RuntimeError, match="needs the spreads"):
        DirectionsMapper(DirectionsConfig(distance_unit="std"), GI).full_edit_distance(0)
    with pytest.raises(ValueError, match="distance_unit must be one of"):
        DirectionsConfig(distance_unit="sigma")
    with pytest.raises(ValueError, match="spreads must be finite numbers > 0"):
        DirectionsConfig(spreads=(True, 0.5))


def test_conditional_editing_keeps_the_condition():
    m = fitted(conditions=("glasses",))
    w = planted(8, seed=6)[0]
    out = m(w, target=torch.tensor([[1.0, float("nan")]] * 8))
    torch.testing.assert_close(m.signed_distance(out)[:, 1], m.signed_distance(w)[:, 1], atol=1e-4, rtol=0)
    uncond = fitted()
    out2 = uncond(w, target=torch.tensor([[1.0, float("nan")]] * 8))
    assert (uncond.signed_distance(out2)[:, 1] - uncond.signed_distance(w)[:, 1]).abs().mean() > 0.3


def test_project_boundary_many_conditions():
    g = torch.Generator().manual_seed(0)
    p, c1, c2, c3 = torch.randn(4, 10, generator=g)
    out = project_boundary(p, c1, c2, c3)
    assert abs(float(out.norm()) - 1) < 1e-6
    for c in (c1, c2, c3):
        assert abs(float(out @ c)) < 1e-5


def test_layers_restrict_the_edit():
    m = fitted(layers=(2, 3))
    w = planted(4, seed=7)[0]
    out = m.edit_steps(w, {"smile": 1.0})
    assert torch.equal(out[:, [0, 1, 4, 5]], w[:, [0, 1, 4, 5]])
    assert not torch.equal(out[:, 2], w[:, 2])
    with pytest.raises(KeyError, match="valid"):
        m.edit_steps(w, {"beard": 1.0})


def test_unfitted_direction_is_a_clear_error():
    m = DirectionsMapper(DirectionsConfig(), GI)
    with pytest.raises(RuntimeError, match="no direction fitted for 'smile'"):
        m(planted(2)[0], target=torch.tensor([[1.0, float("nan")]] * 2))


def test_train_boundary_stats_and_shape_errors():
    w_plus, scores, n_smile, _ = planted()
    n, b, stats = train_boundary(w_plus[:, 0], scores[:, 0], ratio=0.1)
    assert stats["val_accuracy"] > 0.95 and abs(float(n.norm()) - 1) < 1e-6
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        train_boundary(w_plus, scores[:, 0])


def test_ganspace_names_the_planted_axis_and_edit_sets_the_coordinate():
    g = torch.Generator().manual_seed(1)
    w = torch.randn(500, 8, generator=g) * torch.tensor([5.0, 1, 1, 1, 1, 1, 1, 0.5])
    pca = ganspace_components(w, 4)
    assert pca["comp"].shape == (4, 1, 8) and abs(float(pca["comp"][0, 0, 0].abs()) - 1) < 0.02
    assert abs(float(pca["std"][0]) - 5) < 0.5
    wp = w[:3].unsqueeze(1).repeat(1, 6, 1)
    out = ganspace_edit(wp, pca, 0, 1, 3, 2.0)
    coord = (out[:, 1:3] - pca["mean"]) @ pca["comp"][0, 0]
    torch.testing.assert_close(coord, torch.full_like(coord, 2.0 * float(pca["std"][0])))
    assert torch.equal(out[:, 0], wp[:, 0]) and torch.equal(out[:, 3:], wp[:, 3:])


def test_sefa_matches_eigendecomposition_definition():
    G = tiny_generator(resolution=16)
    dirs, vals = sefa_directions(G)
    rows = [l.affine.weight for b in G.synthesis.blocks for l in (getattr(b, "conv0", None), b.conv1, b.torgb) if l]
    a = torch.cat(rows).detach().double()
    a = a / a.norm(dim=1, keepdim=True)
    ref_vals = torch.linalg.eigvalsh(a.T @ a).flip(0)
    torch.testing.assert_close(vals.double(), ref_vals, rtol=1e-5, atol=1e-6)
    top = dirs[0].double()
    assert abs(float(top @ (a.T @ a) @ top) - float(ref_vals[0])) < 1e-4


def test_fitted_mapper_sefa_and_ganspace_methods():
    w_plus, scores, n_smile, _ = planted()
    m = DirectionsMapper(DirectionsConfig(method="ganspace", n_components=8), GI).fit(w_plus=w_plus, labels=scores)
    assert float(m.direction("smile") @ n_smile) > 0.5
    with pytest.raises(ValueError, match="needs the generator"):
        DirectionsMapper(DirectionsConfig(method="sefa"), GI).fit(w_plus=w_plus, labels=scores)


def test_community_formats_round_trip(tmp_path):
    d = torch.randn(512)
    write_interfacegan(tmp_path / "smile.npy", d)
    assert np.load(tmp_path / "smile.npy").shape == (1, 512)
    torch.testing.assert_close(read_direction(tmp_path / "smile.npy"), d)
    write_e4e(tmp_path / "age.pt", d)
    assert torch.load(tmp_path / "age.pt", weights_only=True).shape == (1, 512)
    torch.testing.assert_close(read_direction(tmp_path / "age.pt"), d)
    pca = {"mean": torch.randn(1, 512), "comp": torch.randn(80, 1, 512), "std": torch.rand(80)}
    write_ganspace(tmp_path / "ffhq_pca.pt", pca)
    back = read_ganspace(tmp_path / "ffhq_pca.pt")
    assert all(torch.equal(back[k], pca[k]) for k in pca)
    np.save(tmp_path / "bad.npy", np.zeros((3, 512), np.float32))
    with pytest.raises(DirectionFileError, match=r"\(1, D\) or \(D,\); got \(3, 512\)"):
        read_direction(tmp_path / "bad.npy")
    with pytest.raises(DirectionFileError, match="GANSpace"):
        read_direction(tmp_path / "ffhq_pca.pt")
