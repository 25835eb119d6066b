"""A training process killed with SIGKILL after a checkpoint, run again with ``resume``, ends exactly where an
uninterrupted run ends (mapper trainer, e4e encoder trainer, the ``train classifier`` attribute-classifier trainer,
toy-faces judges).

Each run is a fresh Python process (the driver below). In the killed run, the driver stalls one step after the
first checkpoint — past it, so the killed process holds state the checkpoint does not — and the test kills it there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

DRIVER = r'''
import sys, time
from pathlib import Path
import torch
torch.set_num_threads(1)
kind, run_dir, steps, resume, stall_after = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1", int(sys.argv[5])

def stall(loop):
    """After the step that follows checkpoint ``stall_after``: say so, then wait to be killed."""
    real = loop.advance
    def advance(fn, step=None):
        out = real(fn, step=step)
        if loop.step == stall_after + 1:
            (run_dir / "STALLED").write_text(str(loop.step))
            time.sleep(600)
        return out
    loop.advance = advance

if kind == "mapper":
    from latentedit.training.config import build_run_config
    from latentedit.training.toys import ToyNoiseMapper, calibrated_judge, tiny_generator
    from latentedit.training.trainer import MapperTrainer
    G = tiny_generator()
    judge = calibrated_judge(G, 2)
    run = build_run_config("toy-noise", ToyNoiseMapper, {"mapper": {"z_dim": 3}, "trainer": {
        "steps": steps, "batch": 4, "lr": 0.02, "ema_beta": 0.9, "progress": False, "sample_count": 0,
        "checkpoint_interval": 2, "mixing_prob": 0.5, "noise_mode": "random", "loss_weights": {"latent_cycle": 1.0}}})
    t = MapperTrainer(run, G, run_dir, mapper_class=ToyNoiseMapper, classifier=judge, resume=resume)
    if stall_after:
        stall(t.loop)
    t.train()
elif kind == "encoder":
    from latentedit.training.toys import tiny_generator
    from latentedit_e4e.train_config import E4ETrainConfig
    from latentedit_e4e.trainer import E4ETrainer, train
    from latentedit_e4e.encoder import E4EEncoder
    cfg = E4ETrainConfig(data="generator", lpips_lambda=0.0, id_lambda=0.0, learning_rate=2e-3, batch_size=4,
                         progressive_start=2, progressive_step_every=2, w_pool_size=3, d_reg_every=2,
                         encoder_input_resolution=32, encoder_stage_units=(1, 1, 1, 1),
                         encoder_stage_widths=(16, 16, 16, 16))
    G = tiny_generator()
    if stall_after:
        real_init = E4ETrainer.__init__
        def init(self, *a, **k):
            real_init(self, *a, **k)
            stall(self.loop)
        E4ETrainer.__init__ = init
    train(cfg, G, run_dir, encoder_cls=E4EEncoder, steps=steps, resume=resume, checkpoint_minutes=None,
          checkpoint_every=2,
          sample_every=1000, eval_every=1000, progress=False)
elif kind == "classifier":
    import latentedit.training.loop as loop_module
    from latentedit.classifiers.training import ClassifierTrainConfig, train_classifier
    if stall_after:
        real_restore = loop_module.RunLoop.restore
        def restore(self):
            out = real_restore(self)
            stall(self)
            return out
        loop_module.RunLoop.restore = restore
    g = torch.Generator().manual_seed(3)
    images = torch.randint(0, 256, (24, 3, 16, 16), generator=g, dtype=torch.uint8)
    labels = (torch.rand(24, 2, generator=g) < 0.5).float()
    cfg = ClassifierTrainConfig(attributes=("smile", "beard"), input_size=16, steps=steps, batch_size=4,
                                warmup_steps=1, checkpoint_every=2, seed=1)
    train_classifier(images, labels, cfg, run_dir, None, resume=resume and (run_dir / "checkpoint.pt").exists(),
                     progress=False)
elif kind == "toy-judge":
    import latentedit.training.loop as loop_module
    from latentedit_toyfaces.judges import TrainRecipe
    from latentedit_toyfaces.judge_training import train_judge
    if stall_after:
        real_restore = loop_module.RunLoop.restore
        def restore(self):
            out = real_restore(self)
            stall(self)
            return out
        loop_module.RunLoop.restore = restore
    # the CPU-time cap pulls the schedule forward by the CPU time used, a clock reading: far away, it cannot
    recipe = TrainRecipe(seed=1, steps=steps, batch_size=4, lr=3e-3, warmup_steps=2, max_minutes=1e9)
    train_judge("attributes", run_dir / "judge.safetensors", recipe, eval_n=8, checkpoint_every=2,
                log=lambda s: None, run_dir=run_dir, resume=resume)
'''

KIND_STEPS = {"mapper": 6, "encoder": 6, "classifier": 6, "toy-judge": 6}


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("WORLD_SIZE", None)
    return env


def _run(kind: str, run_dir: Path, steps: int, *, resume: bool = False) -> None:
    res = subprocess.run([sys.executable, "-c", DRIVER, kind, str(run_dir), str(steps), "1" if resume else "0", "0"],
                         env=_env(), capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]


def _killed_after_checkpoint(kind: str, run_dir: Path, steps: int, first: int) -> None:
    run_dir.mkdir(parents=True)
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, kind, str(run_dir), str(steps), "0", str(first)],
                            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not (run_dir / "STALLED").exists():
            if proc.poll() is not None:
                pytest.fail(f"the {kind} run ended before it could be killed: {proc.stderr.read()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"the {kind} run never reached step {first + 1}")
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


def _checkpoint(run_dir: Path) -> dict:
    state = torch.load(run_dir / "checkpoint.pt", map_location="cpu", weights_only=True)
    out = {"step": state["step"]}
    out.update({f"{m}.{k}": v for m, sd in state["modules"].items() for k, v in sd.items()})
    for name, sd in state["optimizers"].items():
        for i, s in sd["state"].items():
            out.update({f"opt.{name}.{i}.{k}": v for k, v in s.items() if torch.is_tensor(v)})
    return out


#: The mapper case runs by default (the shared RunLoop every trainer uses); the other trainers' in-process resume
#: equivalence is tested in their own files, their SIGKILL cases (three fresh processes each, ~20 s) are ``slow``.
@pytest.mark.parametrize("kind", ["mapper"] + [pytest.param(k, marks=pytest.mark.slow)
                                               for k in ("encoder", "classifier", "toy-judge")])
def test_sigkill_after_a_checkpoint_then_resume_matches_an_uninterrupted_run(tmp_path, kind):
    steps = KIND_STEPS[kind]
    _run(kind, tmp_path / "straight", steps)
    _killed_after_checkpoint(kind, tmp_path / "killed", steps, first=2)
    at_kill = torch.load(tmp_path / "killed" / "checkpoint.pt", map_location="cpu", weights_only=True)["step"]
    assert at_kill == 2  # the process died one step past its first checkpoint
    _run(kind, tmp_path / "killed", steps, resume=True)
    a, b = _checkpoint(tmp_path / "straight"), _checkpoint(tmp_path / "killed")
    assert a["step"] == b["step"] == steps
    assert a.keys() == b.keys() and len(a) > 4
    assert [k for k in a if not torch.equal(torch.as_tensor(a[k]), torch.as_tensor(b[k]))] == []
    events = [line for line in (tmp_path / "killed" / "log.jsonl").read_text().splitlines() if '"resume"' in line]
    assert len(events) == 1 and '"step": 2' in events[0]
