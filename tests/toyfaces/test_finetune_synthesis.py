"""``toyfaces finetune-generator``: the synthesis learns, the mapping (W, the fingerprint) does not move, the run
resumes exactly, and the export says what was done."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from latentedit.io.modelfile import read_model_metadata
from latentedit.io.ours import load_generator_file, save_generator
from latentedit_toyfaces.recipes.distill_config import DistillConfig
from latentedit_toyfaces.recipes.finetune_synthesis import SynthesisFinetuneConfig, finetune, rerender_loss
from latentedit.training.toys import tiny_generator


def _judge(tmp_path, name, out):
    from latentedit_toyfaces.judges import JudgeConfig, JudgeNet, save_judge

    torch.manual_seed(7)
    return str(save_judge(JudgeNet(JudgeConfig(name=name, channels=(4, 4, 4, 4), feature_dim=8, out_dim=out)),
                          tmp_path / f"{name}.safetensors"))


@pytest.fixture
def world(tmp_path):
    G = tiny_generator(16, z_dim=21, w_dim=8)
    recipe = DistillConfig(resolution=16, w_dim=8, mapping_layers=2, channels=G.config.channels, batch_size=4)
    src = save_generator(G, tmp_path / "g.safetensors", extra={
        "recipe": "toyfaces-distill", "recipe_config": dataclasses.asdict(recipe), "steps": 10,
        "quality": {"realism_ratio": 9.9}})
    factors, attrs = _judge(tmp_path, "factors", 21), _judge(tmp_path, "attributes", 5)
    cfg = SynthesisFinetuneConfig(teacher_files=(factors, attrs), rerender_judge=factors, lr=1e-2, ema_beta=0.5)
    return G, src, cfg, tmp_path


def test_the_synthesis_moves_the_mapping_does_not_and_the_export_says_so(world):
    G, src, cfg, tmp = world
    run = finetune(cfg, src, tmp / "run", steps=3, progress=False, eval_every=3)
    out = run.export(tmp / "out.safetensors")
    G2, _ = load_generator_file(out)
    assert G2.fingerprint() == G.fingerprint()  # W and every file made on it stay valid
    moved = [(a - b).abs().max().item() for a, b in zip(G.synthesis.parameters(), G2.synthesis.parameters())]
    assert max(moved) > 1e-4
    extra = read_model_metadata(out)[2]
    ft = extra["synthesis_finetune"]
    assert ft["steps"] == 3 and ft["rerender_weight"] == cfg.rerender_weight
    assert ft["source_fingerprint"] == G.fingerprint() and len(ft["source_sha256"]) == 64
    assert extra["recipe"] == "toyfaces-distill" and "quality" not in extra  # the source's figures were not ours
    log = [line for line in (tmp / "run" / "log.jsonl").read_text().splitlines() if '"event"' not in line]
    assert len(log) == 3 and '"rerender"' in log[0] and '"heldout_l1_ema"' in log[-1]


def test_resume_continues_exactly(world):
    G, src, cfg, tmp = world
    straight = finetune(cfg, src, tmp / "a", steps=3, progress=False)
    finetune(cfg, src, tmp / "b", steps=2, progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        finetune(cfg, src, tmp / "b", steps=3, progress=False)
    resumed = finetune(cfg, src, tmp / "b", steps=3, resume=True, progress=False)
    for a, b in zip(straight.G_ema.synthesis.parameters(), resumed.G_ema.synthesis.parameters()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="rerender_weight"):
        finetune(dataclasses.replace(cfg, rerender_weight=1.0), src, tmp / "b", steps=4, resume=True, progress=False)


def test_rerender_loss_is_the_l1_to_the_render_of_what_the_judge_reads(world):
    from latentedit_toyfaces.judges import load_judge_file
    from latentedit_toyfaces.renderer import render

    _, _, cfg, _ = world
    judge = load_judge_file(cfg.rerender_judge)
    x = (torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1).requires_grad_(True)
    loss = rerender_loss(x, judge)
    want = (x - render(judge(x).clamp(0, 1), 16)).abs().mean()
    assert loss.item() == pytest.approx(want.item(), rel=1e-6)
    loss.backward()  # the render is a constant target: the gradient is sign(x - target) / numel
    target = render(judge(x.detach()).clamp(0, 1), 16)
    assert torch.allclose(x.grad, torch.sign(x.detach() - target) / x.numel())


def test_a_generator_without_a_distillation_recipe_is_refused(world, tmp_path):
    _, _, cfg, _ = world
    plain = save_generator(tiny_generator(16, z_dim=21, w_dim=8), tmp_path / "plain.safetensors")
    with pytest.raises(ValueError, match="not a distilled toy-faces generator"):
        finetune(cfg, plain, tmp_path / "r", steps=1, progress=False)


def test_the_command_exports_with_the_figures_and_refuses_figures_without_an_export(world):
    import json

    from click.testing import CliRunner

    from latentedit_toyfaces.cli.generator_cmds import finetune_generator

    G, src, cfg, tmp = world
    sets = [a for k in ("teacher_files", "rerender_judge") for a in
            ("--set", f"{k}={json.dumps(list(getattr(cfg, k)) if k == 'teacher_files' else getattr(cfg, k))}")]
    q = tmp / "q.json"
    q.write_text(json.dumps({"realism_ratio": 1.25}))
    res = CliRunner().invoke(finetune_generator, ["--generator", str(src), "--run-dir", str(tmp / "c"), "--steps", "1",
                                                  "--quality-json", str(q)] + sets)
    assert res.exit_code != 0 and "give --out as well" in res.output
    res = CliRunner().invoke(finetune_generator, ["--generator", str(src), "--run-dir", str(tmp / "c"), "--steps", "1",
                                                  "--out", str(tmp / "c.safetensors"), "--quality-json", str(q)] + sets)
    assert res.exit_code == 0, res.output
    assert read_model_metadata(tmp / "c.safetensors")[2]["quality"] == {"realism_ratio": 1.25}
