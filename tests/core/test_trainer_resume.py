"""Exact resume: N steps equal N/2 steps + resume + N/2 steps, bit for bit on CPU (mapper, EMA, optimisers, D)."""

from __future__ import annotations

import json

import pytest
import torch

from latentedit.training.checkpoint import CheckpointStateError
from latentedit.training.config import build_run_config
from latentedit.training.runlog import read_log, rewind_log
from latentedit.training.toys import ToyNoiseMapper, calibrated_judge, tiny_generator
from latentedit.training.trainer import MapperTrainer

BASE = {"batch": 4, "lr": 0.02, "ema_beta": 0.9, "progress": False, "sample_count": 0, "checkpoint_interval": 0,
        "mixing_prob": 0.5, "noise_mode": "random", "loss_weights": {"latent_cycle": 1.0}}


@pytest.fixture(scope="module")
def world():
    G = tiny_generator()
    return G, calibrated_judge(G, 2)


def trainer(path, world, resume=False, **trainer):
    G, judge = world
    run = build_run_config("toy-noise", ToyNoiseMapper, {"mapper": {"z_dim": 3}, "trainer": {**BASE, **trainer}})
    return MapperTrainer(run, G, path, mapper_class=ToyNoiseMapper, classifier=judge, resume=resume)


def state(t):
    out = {f"{k}.{n}": v for k, m in t.modules.items() for n, v in m.state_dict().items()}
    for k, o in t.optimizers.items():
        for i, s in o.state_dict()["state"].items():
            out.update({f"opt.{k}.{i}.{n}": v for n, v in s.items() if torch.is_tensor(v)})
    return out


@pytest.mark.parametrize("mode", ["frozen", "joint"])
def test_resume_is_bit_identical(tmp_path, world, mode):
    extra = {"discriminator": mode, "d_channels": [4, 8]} if mode == "joint" else {}
    straight = trainer(tmp_path / "a", world, steps=6, **extra)
    straight.train()
    first = trainer(tmp_path / "b", world, steps=3, **extra)
    first.train()
    second = trainer(tmp_path / "b", world, resume=True, steps=6, **extra)  # steps may grow on resume
    assert second.step == 3
    second.train()
    a, b = state(straight), state(second)
    assert a.keys() == b.keys() and len(a) > 6
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs after resume"


def test_resume_refuses_another_trajectory(tmp_path, world):
    trainer(tmp_path, world, steps=1).train()
    with pytest.raises(CheckpointStateError, match=r"run\.trainer\.lr \(checkpoint 0\.02, now 0\.5\)"):
        trainer(tmp_path, world, resume=True, steps=2, lr=0.5)


def _drop_from_checkpoint(path, dotted: str):
    """Rewrite a checkpoint as an older version wrote it: without the config field ``dotted`` (e.g. one added
    later)."""
    import json

    state = torch.load(path, weights_only=True)
    config = json.loads(state["config"])
    *parents, leaf = dotted.split(".")
    node = config
    for key in parents:
        node = node[key]
    del node[leaf]
    state["config"] = json.dumps(config)
    torch.save(state, path)


def test_a_checkpoint_from_before_a_new_field_resumes_at_its_default(tmp_path, world):
    """A field added since the checkpoint was written takes its default (which must mean the old behaviour), so a
    newer version resumes it; a field the checkpoint has with another value is still refused."""
    trainer(tmp_path, world, steps=1).train()
    _drop_from_checkpoint(tmp_path / "checkpoint.pt", "run.trainer.losses.attribute_margin_on")
    assert trainer(tmp_path, world, resume=True, steps=2).step == 1
    with pytest.raises(CheckpointStateError, match=r"run\.trainer\.losses\.attribute_margin_on \(checkpoint 'all', "
                                                   r"now 'changed'\)"):  # the old file read with today's default
        trainer(tmp_path, world, resume=True, steps=2, losses={"attribute_margin_on": "changed"})
    with pytest.raises(CheckpointStateError, match=r"run\.trainer\.lr \(checkpoint 0\.02, now 0\.5\)"):
        trainer(tmp_path, world, resume=True, steps=2, lr=0.5)


# ---- The run folder on --resume: no checkpoint is an error (nothing written), one trainer per folder, and the log is


def test_resume_without_a_checkpoint_is_an_error_and_writes_nothing(tmp_path, world):  # noqa: F811
    run = tmp_path / "run"
    with pytest.raises(CheckpointStateError, match="no checkpoint yet"):
        trainer(run, world, resume=True, steps=2)
    assert not (run / "config.json").exists() and not (run / "log.jsonl").exists()


def test_a_second_trainer_on_the_same_folder_is_refused(tmp_path, world):  # noqa: F811
    from latentedit.training.runlock import lock_run_folder

    first = trainer(tmp_path, world, steps=1)
    with lock_run_folder(tmp_path):  # another trainer (another process) is training in this folder
        with pytest.raises(CheckpointStateError, match="another trainer is using this run folder"):
            first.train()
    first.train()  # the lock is free again
    trainer(tmp_path, world, resume=True, steps=2).train()


def test_resume_rewinds_the_log_to_the_checkpoint(tmp_path, world):  # noqa: F811
    trainer(tmp_path, world, steps=2, log_interval=1).train()
    log = tmp_path / "log.jsonl"
    with open(log, "a", encoding="utf-8") as f:  # a run killed after step 2's checkpoint logged steps 3-4
        f.write(json.dumps({"step": 3, "losses": {}}) + "\n" + json.dumps({"step": 4, "losses": {}}) + "\n")
        f.write('{"step": 5, "los')  # and tore its last line
    trainer(tmp_path, world, resume=True, steps=4, log_interval=1).train()
    steps = [e["step"] for e in read_log(log) if "losses" in e]
    assert steps == [1, 2, 3, 4]


def test_rewind_log_keeps_lines_up_to_the_step(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps({"step": s}) + "\n" for s in (0, 1, 2, 3)) + "garbage")
    assert rewind_log(log, 2) == 2
    assert [e["step"] for e in read_log(log)] == [0, 1, 2]


@pytest.mark.parametrize("content", ["hash_bomb", "os_system", "garbage_state", "truncated"])
def test_hostile_checkpoint_on_resume_is_one_line(tmp_path, world, content):  # noqa: F811
    import io
    import os
    import zipfile

    import torch

    from latentedit.training.trainer import load_checkpoint_config
    from latentedit.testing import hostile_files as hf

    ckpt = tmp_path / "checkpoint.pt"
    if content == "hash_bomb":
        with zipfile.ZipFile(ckpt, "w") as zf:
            zf.writestr("archive/data.pkl", hf.hash_bomb(60))
            zf.writestr("archive/version", "3\n")
    elif content == "os_system":
        class Evil:
            def __reduce__(self):
                return os.system, ("true",)
        torch.save({"version": 1, "x": Evil()}, ckpt)
    elif content == "garbage_state":
        torch.save({"version": 1, "config": "{}", "modules": [], "step": "x", "extra": "[]"}, ckpt)
    else:
        buf = io.BytesIO()
        torch.save({"version": 1, "t": torch.zeros(100)}, buf)
        ckpt.write_bytes(buf.getvalue()[:200])
    with pytest.raises(CheckpointStateError) as err:
        load_checkpoint_config(tmp_path)
    assert str(ckpt) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(CheckpointStateError) as err:
        trainer(tmp_path, world, resume=True, steps=2)
    assert str(ckpt) in str(err.value) and "\n" not in str(err.value)
