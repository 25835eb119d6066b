"""Non-finite steps are rolled back and skipped, reported in the log, and never reach the checkpoint."""

from __future__ import annotations

import pytest
import torch

from latentedit.training.checkpoint import load_training_state
from latentedit.training.config import build_run_config
from latentedit.training.objective import MapperObjective
from latentedit.training.runlog import read_log
from latentedit.training.toys import ToyShiftMapper, calibrated_judge, tiny_generator
from latentedit.training.trainer import MapperTrainer, TrainingDivergedError

BASE = {"batch": 4, "lr": 0.02, "progress": False, "sample_count": 0, "checkpoint_interval": 2}


@pytest.fixture(scope="module")
def world():
    G = tiny_generator()
    return G, calibrated_judge(G, 2)


def make(path, world, **trainer):
    G, judge = world
    run = build_run_config("toy", ToyShiftMapper, {"trainer": {**BASE, **trainer}})
    return MapperTrainer(run, G, path, mapper_class=ToyShiftMapper, classifier=judge)


def poison(monkeypatch, bad_steps):
    real = MapperObjective.forward

    def forward(self, b):
        terms = real(self, b)
        if self.step in bad_steps:
            terms["attribute"] = terms["attribute"] * float("nan")
        return terms

    monkeypatch.setattr(MapperObjective, "forward", forward)


def params(t):
    return {k: v.clone() for k, v in t.mapper.state_dict().items()}


def test_nan_loss_is_rolled_back_and_skipped(tmp_path, world, monkeypatch):
    poison(monkeypatch, {2})
    t = make(tmp_path, world, steps=4)
    before = None
    runner_run = t.runner.run

    def spy(step):
        nonlocal before
        if step == 2:
            before = (params(t), {k: v.clone() for k, v in t.ema.state_dict().items()})
        out = runner_run(step)
        if step == 2:
            assert out is None
            assert all(torch.equal(before[0][k], v) for k, v in t.mapper.state_dict().items())
            assert all(torch.equal(before[1][k], v) for k, v in t.ema.state_dict().items())
        return out

    t.runner.run = spy
    summary = t.train()
    assert summary["step"] == 4 and summary["skipped_steps"] == 1 and summary["consecutive_nonfinite"] == 0
    events = [e for e in read_log(tmp_path / "log.jsonl") if e.get("event") == "nonfinite"]
    assert len(events) == 1 and events[0]["step"] == 2 and "attribute=nan" in events[0]["message"]


def test_nonfinite_weights_after_the_update_are_rolled_back(tmp_path, world):
    t = make(tmp_path, world, steps=2)
    real_step = t.opt.step

    def bad_step(*a, **k):
        real_step(*a, **k)
        with torch.no_grad():
            t.mapper.dirs.fill_(float("inf"))

    t.opt.step = bad_step
    t.train()
    assert torch.isfinite(t.mapper.dirs).all() and t.counters["skipped_steps"] == 2


def test_persistent_nan_stops_with_a_report_and_an_intact_checkpoint(tmp_path, world, monkeypatch):
    poison(monkeypatch, set(range(2, 100)))
    t = make(tmp_path, world, steps=20, max_nonfinite=2)
    with pytest.raises(TrainingDivergedError, match="3 consecutive non-finite steps"):
        t.train()
    fresh = make(tmp_path / "other", world, steps=20, max_nonfinite=2)
    step, _ = load_training_state(tmp_path / "checkpoint.pt", config=fresh._checkpoint_config(),
                                  modules=fresh.modules, optimizers=fresh.optimizers)
    # steps 2 and 3 were skipped (state rolled back to after step 1), then step 4 gave up: the checkpoint written
    # at step 4 holds that good state
    assert step == 4 and all(torch.isfinite(v).all() for v in fresh.mapper.state_dict().values())
    assert all(torch.equal(fresh.mapper.state_dict()[k], v) for k, v in t.mapper.state_dict().items())


def test_snapshot_restores_modules_and_optimiser_state_exactly():
    from latentedit.training.snapshot import Snapshot

    m = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(m.parameters(), lr=0.1)
    snap = Snapshot({"m": m}, {"opt": opt})
    for _ in range(3):  # the first take clones, later ones reuse the buffers
        snap.take()
        m(torch.randn(4, 3)).sum().backward()
        opt.step()
        opt.zero_grad()
    snap.take()
    weights = {k: v.clone() for k, v in m.state_dict().items()}
    moments = {i: {n: torch.as_tensor(t).clone() for n, t in s.items()} for i, s in opt.state_dict()["state"].items()}
    m(torch.randn(4, 3)).sum().backward()
    opt.step()
    snap.restore()
    assert all(torch.equal(weights[k], v) for k, v in m.state_dict().items())
    for i, s in opt.state_dict()["state"].items():
        assert all(torch.equal(moments[i][n], torch.as_tensor(t)) for n, t in s.items())
