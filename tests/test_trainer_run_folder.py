"""The run folder on --resume: no checkpoint is an error (nothing written), one trainer per folder, and the log is
rewound to the checkpoint so replayed steps appear once."""

from __future__ import annotations

import json

import pytest

from latentedit.training.checkpoint import CheckpointStateError
from latentedit.training.runlog import read_log, rewind_log
from tests.test_trainer_resume import trainer, world  # noqa: F401 - the fixture


def test_resume_without_a_checkpoint_is_an_error_and_writes_nothing(tmp_path, world):  # noqa: F811
    run = tmp_path / "run"
    with pytest.raises(CheckpointStateError, match="no checkpoint yet"):
        trainer(run, world, resume=True, steps=2)
    assert not (run / "config.json").exists() and not (run / "log.jsonl").exists()


def test_a_second_trainer_on_the_same_folder_is_refused(tmp_path, world):  # noqa: F811
    first = trainer(tmp_path, world, steps=1)
    with pytest.raises(CheckpointStateError, match="another trainer is using this run folder"):
        trainer(tmp_path, world, steps=1)
    first.train()  # releases the lock
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
    from tests import hostile_files as hf

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
