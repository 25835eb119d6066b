"""RunLoop on a tiny linear model: NaN rollback, exact resume, refusal to overwrite, the JSONL log, hooks."""

from __future__ import annotations

import pytest
import torch

from latentedit.training.checkpoint import CheckpointStateError
from latentedit.training.loop import GeneratorState, NonFiniteStep, RunLoop, TrainingDivergedError
from latentedit.training.runlog import read_log


class Run:
    """A linear model trained on a seeded data stream; ``bad`` steps produce a NaN loss after the update."""

    def __init__(self, run_dir, steps, *, resume=False, bad=(), checkpoint_every=2, max_nonfinite=1, lr=0.1):
        torch.manual_seed(0)
        self.model = torch.nn.Linear(3, 1)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.data = torch.Generator().manual_seed(5)
        self.seen = {"batches": 0}
        self.bad = set(bad)
        self.loop = RunLoop(run_dir, config={"lr": lr}, total_steps=steps, checkpoint_every=checkpoint_every,
                            resume=resume, progress=False, max_nonfinite=max_nonfinite)
        self.loop.track(modules={"model": self.model}, optimizers={"model": self.opt},
                        data=GeneratorState(self.data), seen=self.seen)
        self.loop.restore()

    def step(self, step):
        x = torch.randn(8, 3, generator=self.data)
        loss = (self.model(x) - x.sum(1, keepdim=True)).pow(2).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.seen["batches"] += 1
        if step in self.bad:
            raise NonFiniteStep("loss", {"loss": float("nan")})
        return {"losses": {"mse": float(loss.detach())}}


def weights(run):
    return torch.cat([p.detach().flatten() for p in run.model.parameters()])


def test_resume_is_exact_and_restores_tracked_dicts(tmp_path):
    straight = Run(tmp_path / "a", 6)
    straight.loop.run(straight.step)
    first = Run(tmp_path / "b", 3)
    first.loop.run(first.step)
    second = Run(tmp_path / "b", 6, resume=True)
    assert second.loop.step == 3 and second.seen == {"batches": 3} and second.loop.resumed_from == 3
    second.loop.run(second.step)
    assert torch.equal(weights(straight), weights(second)) and second.seen == {"batches": 6}
    log = read_log(tmp_path / "b" / "log.jsonl")
    assert [e["event"] for e in log if "event" in e] == ["start", "checkpoint", "checkpoint", "done", "resume",
                                                          "checkpoint", "checkpoint", "done"]
    assert [e["step"] for e in log if "losses" in e] == [1, 2, 3, 4, 5, 6]


def test_existing_checkpoint_needs_resume_and_the_same_config(tmp_path):
    run = Run(tmp_path, 2)
    run.loop.run(run.step)
    with pytest.raises(FileExistsError, match="pass --resume"):
        Run(tmp_path, 4)
    with pytest.raises(CheckpointStateError, match=r"lr \(checkpoint 0\.1, now 0\.5\)"):
        Run(tmp_path, 4, resume=True, lr=0.5)


def test_a_nonfinite_step_is_rolled_back_skipped_and_logged(tmp_path):
    run = Run(tmp_path, 4, bad={1})
    out = run.loop.run(run.step)
    assert out["step"] == 4 and out["skipped_steps"] == 1 and out["consecutive_nonfinite"] == 0
    events = [e for e in read_log(tmp_path / "log.jsonl") if e.get("event") == "nonfinite"]
    assert len(events) == 1 and events[0]["step"] == 1 and "loss=nan" in events[0]["message"]
    check = Run(None, 2, bad={1})  # step 1 updates the weights and Adam's moments, then is undone
    check.loop.advance(check.step)
    w, moments = weights(check).clone(), {k: v.clone() for k, v in check.opt.state[check.model.weight].items()}
    assert check.loop.advance(check.step) is None and check.loop.step == 2
    assert torch.equal(weights(check), w)
    assert all(torch.equal(v, moments[k]) for k, v in check.opt.state[check.model.weight].items())


def test_a_nonfinite_returned_loss_or_weight_is_rolled_back_too(tmp_path):
    run = Run(None, 3, max_nonfinite=2)
    w0 = weights(run).clone()
    assert run.loop.advance(lambda step: {"loss": float("inf")}) is None
    assert torch.equal(weights(run), w0)

    def poison(step):
        with torch.no_grad():
            run.model.weight.fill_(float("nan"))
        return {"loss": 1.0}

    assert run.loop.advance(poison) is None and torch.equal(weights(run), w0)
    assert run.loop.counters == {"skipped_steps": 2, "consecutive_nonfinite": 2} and run.loop.step == 2


def test_too_many_nonfinite_steps_stop_with_an_intact_checkpoint(tmp_path):
    run = Run(tmp_path, 10, bad=set(range(3, 10)), max_nonfinite=1)
    with pytest.raises(TrainingDivergedError, match="2 consecutive non-finite steps"):
        run.loop.run(run.step)
    # step 3 was skipped, the checkpoint after it (step 4) holds the good state of step 2, then step 4 gave up
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert saved["step"] == 4 and torch.equal(saved["modules"]["model"]["weight"], run.model.weight.detach())
    assert not (tmp_path / "log.jsonl").read_text().count('"done"')


def test_hooks_run_on_their_interval_and_at_the_end_and_stop_when_ends_early(tmp_path):
    run = Run(tmp_path, 5, checkpoint_every=0)
    calls = []
    run.loop.every(2, calls.append)
    out = run.loop.run(run.step, stop_when=lambda step: step == 3)
    assert calls == [2, 3] and out["step"] == 3
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == 3


def test_rank_other_than_zero_writes_nothing(tmp_path):
    from latentedit.training.distributed import DistContext

    run = Run(tmp_path / "r1", 2)
    run.loop.ctx = DistContext(rank=1, world=1)
    run.loop.run(run.step)
    assert not (tmp_path / "r1").exists()
