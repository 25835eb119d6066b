"""Hostile files: pickles and torch files that try to run code are refused, naming the global; embedded
``module_src`` is carried inertly. In every case a marker file proves nothing ran."""

from __future__ import annotations

import io
import os
import pickle
import subprocess

import numpy as np
import pytest
import torch

from latentedit.io.checkpoints import CheckpointError, load_generator
from latentedit.io.restricted_unpickler import RefusedGlobalError, restricted_load
from tests.conftest import tiny_generator
from latentedit.testing.foreign_formats import (easydict, export_nvidia_pkl, export_rosinality, fake_nvidia_modules,
                                     module_record)


class Call:
    """Pickles as ``fn(*args)``: what a hostile pickle does."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _shell(marker) -> str:
    return f"touch {marker}"


@pytest.fixture
def marker(tmp_path):
    m = tmp_path / "MARKER_code_ran"
    yield m
    assert not m.exists(), "a hostile file ran code"


def _write(path, obj, protocol=4):
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


@pytest.mark.parametrize("make,refused", [
    (lambda m: Call(os.system, _shell(m)), f"{os.system.__module__}.system"),
    (lambda m: Call(subprocess.check_call, ["touch", str(m)]), "subprocess.check_call"),
    (lambda m: Call(subprocess.Popen, ["touch", str(m)]), "subprocess.Popen"),
    (lambda m: Call(eval, f"open({str(m)!r}, 'w')"), "builtins.eval"),
    (lambda m: Call(exec, f"open({str(m)!r}, 'w')"), "builtins.exec"),
    (lambda m: Call(getattr, str(m), "upper"), "builtins.getattr"),
    (lambda m: Call(torch.load, str(m)), "torch.serialization.load"),
])
@pytest.mark.parametrize("protocol", [2, 4])
def test_top_level_reduce_is_refused(tmp_path, marker, make, refused, protocol):
    path = _write(tmp_path / "evil.pkl", {"G_ema": make(marker)}, protocol)
    with pytest.raises(CheckpointError) as err:
        load_generator(path)
    msg = str(err.value)
    assert f"refused global '{refused}'" in msg and str(path) in msg and "\n" not in msg


def test_hostile_call_hidden_in_init_kwargs_is_refused(tmp_path, marker):
    G = tiny_generator(resolution=8)
    with fake_nvidia_modules():
        rec = module_record(G, module_src="", init_kwargs=easydict(z_dim=8, c_dim=Call(os.system, _shell(marker))))
        path = _write(tmp_path / "evil.pkl", {"G_ema": rec, "G": rec, "D": None})
    with pytest.raises(CheckpointError, match=r"refused global '(posix|nt)\.system'"):
        load_generator(path)


@pytest.mark.parametrize("src", [
    "open({m!r}, 'w').write('module_src ran')\n",
    "import os\nos.system('touch {m}')\n",
])
def test_module_src_is_never_executed(tmp_path, marker, src):
    G = tiny_generator(resolution=16, seed=3)
    path = export_nvidia_pkl(tmp_path / "g.pkl", G, module_src=src.format(m=str(marker)))
    assert str(marker).encode() in path.read_bytes()  # the payload really is in the file
    G2, info = load_generator(path)
    z = torch.randn(2, G.z_dim)
    with torch.no_grad():
        assert torch.equal(G(z, noise_mode="const"), G2(z, noise_mode="const"))


def test_hostile_storage_payload_is_read_weights_only(tmp_path, marker):
    """``torch.storage._load_from_bytes`` gets a torch.save payload that would call os.system."""
    buf = io.BytesIO()
    torch.save({"x": Call(os.system, _shell(marker))}, buf)
    load_from_bytes = torch.storage._load_from_bytes
    path = _write(tmp_path / "evil.pkl", {"G_ema": Call(load_from_bytes, buf.getvalue())})
    with pytest.raises(CheckpointError) as err:
        load_generator(path)
    assert "weights-only" in str(err.value) and "refused global" in str(err.value)
    assert "weights_only=False" not in str(err.value) and "\n" not in str(err.value)


def test_torch_file_with_os_system_is_refused(tmp_path, marker):
    path = tmp_path / "evil.pt"
    torch.save({"g_ema": {"style.1.weight": torch.zeros(1)}, "latent_avg": Call(os.system, _shell(marker))}, path)
    with pytest.raises(CheckpointError, match=r"refused global '(posix|nt)\.system'"):
        load_generator(path)


def test_plain_weights_only_refuses_namespace_but_we_read_it(tmp_path):
    G = tiny_generator(resolution=8)
    from latentedit.stylegan2 import Discriminator, DiscriminatorConfig

    D = Discriminator(DiscriminatorConfig(resolution=8, channels=(8, 8)))
    path = export_rosinality(tmp_path / "snap.pt", G, D, training_snapshot=True)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    G2, info = load_generator(path)
    assert info.format == "rosinality" and "computed" in info.w_avg_source


def test_rosinality_snapshot_with_hostile_args_is_refused(tmp_path, marker):
    path = tmp_path / "evil.pt"
    torch.save({"g_ema": {}, "args": Call(os.system, _shell(marker))}, path)
    with pytest.raises(CheckpointError, match="refused global"):
        load_generator(path)


# ----------------------------------------------------------------------------------- unpickler unit tests

def test_unpickler_allows_tensors_containers_numpy_and_easydict():
    with fake_nvidia_modules():
        data = pickle.dumps({"t": torch.arange(6.0).reshape(2, 3), "p": torch.nn.Parameter(torch.ones(2)),
                             "n": np.float32(1.5), "i": np.int64(3), "dt": np.dtype("float32"),
                             "e": easydict(a=1, b=[1, 2]), "s": {1, 2}, "b": b"\x00\xff"}, protocol=2)
    out = restricted_load(io.BytesIO(data))
    assert torch.equal(out["t"], torch.arange(6.0).reshape(2, 3)) and isinstance(out["p"], torch.nn.Parameter)
    assert out["n"] == np.float32(1.5) and out["i"] == 3 and out["dt"] == np.dtype("float32")
    assert out["e"] == {"a": 1, "b": [1, 2]} and out["s"] == {1, 2} and out["b"] == b"\x00\xff"


@pytest.mark.parametrize("module,name", [("torch", "load"), ("torch.nn.modules.linear", "Linear"),
                                         ("numpy", "load"), ("collections", "namedtuple"), ("_codecs", "decode"),
                                         ("torch_utils.persistence", "persistent_class")])
def test_unpickler_refuses_everything_else(module, name):
    data = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b")R."
    with pytest.raises(RefusedGlobalError) as err:
        restricted_load(io.BytesIO(data))
    assert err.value.qualified == f"{module}.{name}"


def test_unpickler_numpy_scalar_stand_in_refuses_object_dtypes():
    from latentedit.io.restricted_unpickler import allowed_globals

    scalar = allowed_globals()[("numpy._core.multiarray", "scalar")]
    assert scalar(np.dtype("float32"), np.float32(2.5).tobytes()) == np.float32(2.5)
    with pytest.raises(pickle.UnpicklingError, match="numpy scalar"):
        scalar(np.dtype(object), b"")


def test_unpickler_codecs_encode_is_latin1_only():
    ok = b"\x80\x02c_codecs\nencode\nX\x02\x00\x00\x00\xc3\xbfX\x06\x00\x00\x00latin1\x86R."
    assert restricted_load(io.BytesIO(ok)) == b"\xff"
    bad = ok.replace(b"X\x06\x00\x00\x00latin1", b"X\x05\x00\x00\x00rot13")
    with pytest.raises(pickle.UnpicklingError, match="latin-1"):
        restricted_load(io.BytesIO(bad))
