"""Hostile pickles and torch files that run no code but poison, hang or exhaust memory: each is refused with one
line naming the file and the reason, within the time and address-space limits, and leaves torch.load unchanged."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
import torch

from latentedit.io.checkpoints import CheckpointError, load_generator
from latentedit.io.restricted_unpickler import restricted_load
from latentedit.testing import hostile_files as hf
from tests.conftest import tiny_generator
from latentedit.testing.foreign_formats import export_nvidia_pkl


@pytest.fixture(scope="module")
def snapshot_bytes(tmp_path_factory):
    path = export_nvidia_pkl(tmp_path_factory.mktemp("snap") / "snap.pkl", tiny_generator())
    return path.read_bytes()


def _known_round_trip() -> bool:
    known = torch.arange(6, dtype=torch.float32)
    buf = io.BytesIO()
    torch.save(known, buf)
    return torch.equal(torch.load(io.BytesIO(buf.getvalue()), weights_only=True), known)


def test_build_on_an_allowed_torch_function_is_refused(tmp_path, snapshot_bytes):
    import torch._utils as tu

    before = tu._rebuild_tensor_v2.__defaults__
    path = tmp_path / "poison.pkl"
    path.write_bytes(hf.append_before_stop(snapshot_bytes, hf.poison_defaults()))
    try:
        with pytest.raises(CheckpointError) as err:
            load_generator(path)
        assert tu._rebuild_tensor_v2.__defaults__ == before
    finally:
        tu._rebuild_tensor_v2.__defaults__ = before
    msg = str(err.value)
    assert msg.startswith(str(path)) and "BUILD" in msg and "\n" not in msg
    assert _known_round_trip()


def test_build_on_numpy_shared_dtype_is_refused_or_harmless():
    data = pickle.dumps(None, protocol=2)
    poisoned = hf.append_before_stop(data, hf.poison_dtype())
    try:
        restricted_load(io.BytesIO(poisoned))
    except pickle.UnpicklingError:
        pass
    assert np.dtype("f8").byteorder in ("=", "<") and np.dtype("f8").isnative


def test_the_poisoned_snapshot_is_refused_in_a_fresh_process_and_torch_load_is_unchanged(tmp_path, snapshot_bytes):
    path = tmp_path / "poison.pkl"
    path.write_bytes(hf.append_before_stop(snapshot_bytes, hf.poison_defaults()))
    out = hf.run_limited(path)
    assert out["status"] == "refused" and "BUILD" in out["error"] and out["poisoned"] is False, out


@pytest.mark.parametrize("op", ["SETITEM", "APPEND"])
def test_setitem_and_append_on_a_global_are_refused(op):
    target = hf.op_global("collections", "OrderedDict")
    body = hf.binunicode("k") + pickle.NONE + pickle.SETITEM if op == "SETITEM" else pickle.NONE + pickle.APPEND
    data = pickle.PROTO + bytes([4]) + target + body + pickle.STOP
    with pytest.raises(pickle.UnpicklingError, match=op):
        restricted_load(io.BytesIO(data))


def test_hash_bomb_key_is_refused_quickly(tmp_path):
    path = tmp_path / "bomb.pkl"
    path.write_bytes(hf.hash_bomb(60))
    assert path.stat().st_size < 400
    out = hf.run_limited(path)
    assert out["status"] == "refused" and "tuple" in out["error"] and str(path) in out["error"], out


@pytest.mark.parametrize("make,reason", [(hf.memo_bomb, "memo"), (hf.bytes_bomb, "declares")])
def test_tiny_size_bombs_are_refused_before_allocating(tmp_path, make, reason):
    path = tmp_path / "tiny.pkl"
    path.write_bytes(make())
    assert path.stat().st_size <= 11
    out = hf.run_limited(path)
    assert out["status"] == "refused" and reason in out["error"] and out["poisoned"] is False, out


def test_zip_bomb_torch_file_is_refused_before_inflating(tmp_path):
    path = hf.zip_bomb(tmp_path / "bomb.pt", inflated=64 << 20)
    assert path.stat().st_size < 1 << 20
    with pytest.raises(CheckpointError, match="inflates"):
        load_generator(path)


def test_torch_file_with_hash_bomb_pickle_is_refused(tmp_path):
    import zipfile

    path = tmp_path / "bomb.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", hf.hash_bomb(60))
        zf.writestr("archive/version", "3\n")
    out = hf.run_limited(path)
    assert out["status"] == "refused" and "tuple" in out["error"], out


def test_legit_nested_containers_still_load():
    obj = {"a": [1, 2, (3, 4)], ("k", 1): {"x": frozenset({1, 2})}, "s": {1, 2}}
    for protocol in (2, 4):
        assert restricted_load(io.BytesIO(pickle.dumps(obj, protocol=protocol))) == obj


def test_deep_nesting_is_refused():
    data = pickle.PROTO + bytes([4]) + pickle.MARK * 200 + pickle.EMPTY_LIST + pickle.LIST * 200 + pickle.STOP
    with pytest.raises(pickle.UnpicklingError, match="nested deeper"):
        restricted_load(io.BytesIO(data))


@pytest.mark.parametrize("kind", ["fifo-pkl", "fifo-pt"])
def test_fifo_checkpoint_is_refused_without_blocking(tmp_path, kind):
    import os

    path = tmp_path / ("ckpt.pkl" if kind == "fifo-pkl" else "ckpt.pt")
    os.mkfifo(path)
    out = hf.run_limited(path, timeout=15)
    assert out["status"] == "refused" and "named pipe" in out["error"], out


def test_shared_module_records_cannot_make_a_huge_tree(tmp_path):
    """A record shared under two names at each of 40 levels: a tiny pickle, a 2**40-node tree."""
    from latentedit.io.nvidia_pkl import flatten_state
    from latentedit.io.restricted_unpickler import PersistentMeta

    node = PersistentMeta({"state": {"_modules": {}}})
    for _ in range(40):
        node = PersistentMeta({"state": {"_modules": {"a": node, "b": node}}})
    with pytest.raises(CheckpointError, match="module tree"):
        flatten_state(node, tmp_path / "x.pkl")


class NotATensor:
    """A class torch's weights-only reader does not know."""


def test_weights_only_refusals_name_the_global_and_never_advise_weights_only_false(tmp_path):
    path = tmp_path / "custom.pt"
    torch.save({"g_ema": NotATensor()}, path)
    with pytest.raises(CheckpointError) as err:
        load_generator(path)
    msg = str(err.value)
    assert "NotATensor" in msg and "set to False" not in msg and "weights_only=False" not in msg
    assert msg.startswith(str(path)) and "\n" not in msg


def test_fifo_photo_named_in_a_latent_file_does_not_block(tmp_path):
    import os
    import threading

    from latentedit.editing import paste_from_metadata

    fifo = tmp_path / "photo.png"
    os.mkfifo(fifo)
    result = []
    worker = threading.Thread(target=lambda: result.append(paste_from_metadata(
        {"aligned": True, "transform": {}, "photo": str(fifo)})), daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert result == [None], "reading the photo named in the W+ file's metadata blocked on a FIFO"


def test_torch_refusal_text_never_passes_on_the_weights_only_false_advice(tmp_path):
    import zipfile

    from latentedit.io.torch_files import describe_torch_load_error

    path = tmp_path / "appends.pt"
    with zipfile.ZipFile(path, "w") as zf:  # APPENDS on a dict: torch's weights-only reader refuses it
        zf.writestr("archive/data.pkl", pickle.PROTO + b"\x02" + pickle.EMPTY_DICT + pickle.MARK + pickle.NONE
                    + pickle.APPENDS + pickle.STOP)
        zf.writestr("archive/version", "3\n")
    with pytest.raises(Exception) as err:
        torch.load(path, weights_only=True)
    text = describe_torch_load_error(err.value)
    assert "Re-running" not in text and "set to `False`" not in text and "\n" not in text
    with pytest.raises(CheckpointError) as refused:  # our own scan refuses it before torch reads it
        load_generator(path)
    assert "APPENDS" in str(refused.value)
