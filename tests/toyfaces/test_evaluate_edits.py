"""The edit-quality benchmark on a tiny random generator with the judges' architectures (random weights): the
table's shape and ranges, multimodal vs deterministic diversity, reproducibility, and the `evaluate` command."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

try:
    import latentedit_isf  # noqa: F401
except ImportError:  # the editable install predates the plugin folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))

from latentedit_toyfaces.cli.evaluate_cmd import evaluate
from latentedit_toyfaces.evaluation.edit_quality import (EditBenchmarkConfig, evaluate_edits, pairwise_distance,
                                                reference_noise)
from latentedit.plugins import GeneratorInfo, load_mapper, registered_mapper
from latentedit_toyfaces.factors import IDENTITY_INDEX, INDEX
from latentedit_toyfaces.judges import JudgeNet, default_config, load_judge, save_judge
from latentedit_isf import ISFConfig, ISFMapper
from tests.conftest import tiny_generator

ATTRS = ("smile", "eyeglasses")
CFG = EditBenchmarkConfig(n=6, samples=2, batch_size=6, noise_renders=8, diversity="l1")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("evaluate")
    torch.manual_seed(0)
    judges = {}
    for name in ("factors", "identity"):
        cfg = default_config(name)
        cfg = type(cfg)(name=cfg.name, channels=(8, 8, 8, 8), feature_dim=16, out_dim=cfg.out_dim)
        judges[name] = save_judge(JudgeNet(cfg).eval(), d / f"judge_{name}.safetensors")
    G = tiny_generator(resolution=16)
    gi = GeneratorInfo.from_generator(G, ATTRS)
    with torch.no_grad():
        w = G.mapping(torch.randn(200, G.z_dim))
    dirs_cls = load_mapper("directions")
    dirs = dirs_cls(dirs_cls.config_class(edit_distance=2.0), gi).fit(
        w_plus=w, labels=torch.stack([w[:, 0, 0], w[:, 0, 1]], 1))
    isf = ISFMapper(ISFConfig(z_dim=4, hidden_dim=8, residual_init_scale=1.0), gi)
    return d, G, judges, {"isf": isf.eval(), "directions": dirs}


def test_benchmark_table_shape_ranges_and_diversity(world):
    d, G, judges, methods = world
    est, emb = load_judge("factors", judges["factors"]), load_judge("identity", judges["identity"])
    result = evaluate_edits(G, methods, estimator=est, embedder=emb, config=CFG)
    assert [(r.method, r.attribute) for r in result.rows] == [
        ("isf", "smile"), ("isf", "eyeglasses"), ("directions", "smile"), ("directions", "eyeglasses")]
    for r in result.rows:
        assert r.n == 6
        for v in (r.success, r.others_unchanged, r.identity_within_noise, r.success_x_preservation):
            assert 0.0 <= v <= 1.0
        assert -1.0 <= r.frs <= 1.0 + 1e-6 and r.identity_change >= 0 and r.fd_edited >= 0
    by = {(r.method, r.attribute): r for r in result.rows}
    assert by["isf", "smile"].diversity > 0 and by["directions", "smile"].diversity == 0.0
    assert set(result.noise_tolerance) == set(ATTRS) and result.diversity_kind == "pixel_l1"
    md = result.to_markdown()
    assert "success (Acc)" in md and "FRS" in md and "pixel-L1" in md and "**mean**" in md
    data = json.loads(result.to_json())
    assert data["means"]["isf"]["success_x_preservation"] >= 0 and data["provenance"]["generator_fingerprint"]
    again = evaluate_edits(G, methods, estimator=est, embedder=emb, config=CFG)
    assert again.to_json() == result.to_json()  # reproducible
    full = evaluate_edits(G, {"isf": methods["isf"]}, estimator=est, embedder=emb,
                          config=dataclasses.replace(CFG, targets="full"))
    assert full.config.targets == "full" and "other attributes in the target: full" in full.to_markdown()
    few = evaluate_edits(G, {"isf": methods["isf"]}, estimator=est, embedder=emb,
                         config=dataclasses.replace(CFG, diversity_sources=2))  # 2 sources x 2 draws, 4 x 1 draw
    assert all(r.diversity > 0 and r.n == 6 for r in few.rows)


def test_style_mappers_are_sampled_from_their_prior(world):
    """A style mapper's target edits are drawn with several prior styles (it was scored with the mean style only,
    so its diversity read 0), and the draws come from its own ``sample_style``."""
    from latentedit_sensorium import SensoriumConfig, SensoriumMapper

    d, G, judges, _ = world
    est, emb = load_judge("factors", judges["factors"]), load_judge("identity", judges["identity"])
    torch.manual_seed(1)
    sens = SensoriumMapper(SensoriumConfig(style_dim=4, hidden_dim=8, encoder_channels=(4,), residual_init_scale=1.0),
                           GeneratorInfo.from_generator(G, ATTRS)).eval()
    calls = []
    real = sens.sample_style
    sens.sample_style = lambda b, generator=None: calls.append(b) or real(b, generator=generator)
    result = evaluate_edits(G, {"sensorium": sens}, estimator=est, embedder=emb, config=CFG)
    assert all(r.diversity > 0 for r in result.rows)
    assert calls == [6, 6] * len(ATTRS)  # samples=2 draws of the 6 sources, per attribute


def test_pairwise_distance_and_reference_noise(world):
    _, _, judges, _ = world
    x = torch.zeros(3, 2, 3, 4, 4)
    x[1] += 1.0
    assert torch.allclose(pairwise_distance(x), torch.full((2,), (0.5 + 0.0 + 0.5) / 3))
    assert torch.equal(pairwise_distance(x[:1]), torch.zeros(2))
    est = load_judge("factors", judges["factors"])
    tol = reference_noise(est, {"smile": INDEX["smile"]}, list(IDENTITY_INDEX), n=8, seed=0, resolution=16,
                          quantile=0.9)
    assert set(tol) == {"smile"} and tol["smile"] >= 0


def test_evaluate_command_writes_markdown_and_json(world, tmp_path):
    from latentedit.io.ours import save_generator

    d, G, judges, methods = world
    gpath = save_generator(G, tmp_path / "g.safetensors")
    methods["directions"].save(tmp_path / "dirs.safetensors")
    with registered_mapper("isf", ISFMapper):
        methods["isf"].save(tmp_path / "isf.safetensors")
        args = ["--generator", gpath, "--method", f"isf={tmp_path / 'isf.safetensors'}", "--method",
                f"ifg={tmp_path / 'dirs.safetensors'}", "--factors", judges["factors"], "--identity",
                judges["identity"], "--coverage-sources", "2", "--reference-pairs", "4", "--n", "4", "--samples", "2", "--batch-size", "4", "--diversity", "l1",
                "--out", tmp_path / "eval"]
        res = CliRunner().invoke(evaluate, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "eval" / "edit_quality.json").read_text())
    assert set(data["means"]) == {"isf", "ifg"} and data["config"]["n"] == 4
    assert data["provenance"]["methods"]["ifg"]["plugin"] == "directions"
    assert "| isf | smile |" in (tmp_path / "eval" / "edit_quality.md").read_text()
    assert {c["method"] for c in data["mode_coverage"]} == {"isf"} and data["reference_transfer"] == []
    bad = CliRunner().invoke(evaluate, ["--generator", str(gpath), "--method", "nosuch", "--n", "4"])
    assert bad.exit_code != 0 and "no mapper plugin named 'nosuch'" in bad.output
    bad = CliRunner().invoke(evaluate, ["--generator", str(gpath), "--method", f"x={tmp_path / 'dirs.safetensors'}",
                                        "--factors", str(tmp_path / "nope.safetensors"), "--identity",
                                        str(judges["identity"]), "--n", "4"])
    assert bad.exit_code != 0 and "no such judge file" in bad.output


def test_inverted_renders_join_the_held_out_latents(world):
    _, G, judges, methods = world

    class Stub:
        def invert(self, images, *, batch_size=16):
            assert images.shape[1:] == (3, 16, 16)
            return G.mapping.w_avg.reshape(1, 1, -1).repeat(len(images), G.num_ws, 1) + images.mean((1, 2, 3))[
                :, None, None]

    est, emb = load_judge("factors", judges["factors"]), load_judge("identity", judges["identity"])
    cfg = EditBenchmarkConfig(n=4, inverted=3, samples=1, batch_size=8, noise_renders=8, diversity="l1")
    result = evaluate_edits(G, {"directions": methods["directions"]}, estimator=est, embedder=emb, config=cfg,
                            encoder=Stub())
    assert {r.n for r in result.rows} == {7}
    with pytest.raises(ValueError, match="needs an encoder"):
        evaluate_edits(G, {"directions": methods["directions"]}, estimator=est, embedder=emb, config=cfg)


def test_evaluate_command_scores_methods_against_the_generator_ceiling(world, tmp_path, monkeypatch):
    """The CLI path of the "Against the ceiling" table: a stubbed ceiling (its own evaluation is tested in
    test_generator_ceiling) and the real method rows; JSON and markdown carry score = success x kept / identity
    multiple for every method and attribute."""
    from latentedit.io.ours import save_generator
    from latentedit_toyfaces.evaluation import generator_ceiling as gf

    d, G, judges, methods = world
    gpath = save_generator(G, tmp_path / "g.safetensors")
    methods["directions"].save(tmp_path / "dirs.safetensors")
    ceiling = [gf.CeilingScore(a, 4, 1.0, 1.0, 1.0, 0.02 * (i + 1), 1.0) for i, a in enumerate(ATTRS)]
    monkeypatch.setattr(gf, "is_distilled_toy_generator", lambda G, extra: True)
    monkeypatch.setattr(gf, "evaluate_generator_ceiling", lambda G, **kw: ceiling)
    args = ["--generator", gpath, "--method", f"ifg={tmp_path / 'dirs.safetensors'}", "--factors", judges["factors"],
            "--identity", judges["identity"], "--coverage-sources", "0", "--n", "4", "--samples", "1",
            "--batch-size", "4", "--out", tmp_path / "eval"]
    res = CliRunner().invoke(evaluate, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "eval" / "edit_quality.json").read_text())
    rows = {(r["method"], r["attribute"]): r for r in data["rows"]}
    assert {(s["method"], s["attribute"]) for s in data["against_ceiling"]} == {("ifg", a) for a in ATTRS}
    for s in data["against_ceiling"]:
        r, c = rows[(s["method"], s["attribute"])], ceiling[ATTRS.index(s["attribute"])]
        assert s["identity_x_ceiling"] == pytest.approx(r["identity_change"] / c.identity_change)
        assert s["score"] == pytest.approx(r["success"] * r["others_unchanged"] / s["identity_x_ceiling"])
    text = (tmp_path / "eval" / "edit_quality.md").read_text()
    assert "### Against the ceiling" in text and "| ifg |" in text.split("### Against the ceiling")[1]
