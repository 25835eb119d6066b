"""Test helpers: hand-made hostile files (poisoning pickles, hash bombs, size bombs, zip bombs) and a runner that
loads a file in a fresh Python process under a time limit and an address-space limit.

The runner prints one JSON line: ``{"status": "loaded" | "refused" | "crash", "error": ..., "poisoned": bool}``;
``poisoned`` says whether a known tensor still round-trips through ``torch.load`` after the load, in that process.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

P = pickle  # opcode constants

TIME_LIMIT_S = 20
ADDRESS_SPACE = 6 << 30


def op_global(module: str, name: str) -> bytes:
    return P.GLOBAL + f"{module}\n{name}\n".encode()


def binunicode(text: str) -> bytes:
    data = text.encode()
    return P.BINUNICODE + struct.pack("<I", len(data)) + data


def strip_stop(data: bytes) -> bytes:
    assert data.endswith(P.STOP)
    return data[:-1]


def append_before_stop(valid: bytes, extra: bytes) -> bytes:
    """``valid`` pickle with ``extra`` opcodes run after its object is built (the object stays the result).

    A protocol-4 pickle ends its last frame before STOP, so the extra opcodes sit outside any frame."""
    return strip_stop(valid) + extra + P.STOP


def poison_defaults(module: str = "torch._utils", name: str = "_rebuild_tensor_v2") -> bytes:
    """Opcodes that set ``__defaults__`` of an allowed function through BUILD's slot state, then drop it."""
    state = P.NONE + P.EMPTY_DICT + binunicode("__defaults__") + P.MARK + P.NEWTRUE + P.TUPLE + P.SETITEM + P.TUPLE2
    return op_global(module, name) + state + P.BUILD + P.POP


def poison_dtype() -> bytes:
    """``numpy.dtype('f8', False, False)`` (numpy's shared float64 singleton) then BUILD flipping its byte order."""
    make = op_global("numpy", "dtype") + binunicode("f8") + P.NEWFALSE + P.NEWFALSE + P.TUPLE3 + P.REDUCE
    state = (P.MARK + P.BININT1 + bytes([3]) + binunicode(">") + P.NONE + P.NONE + P.NONE + P.BININT + struct.pack("<i", -1)
             + P.BININT + struct.pack("<i", -1) + P.BININT1 + bytes([0]) + P.TUPLE)
    return make + state + P.BUILD + P.POP


def hash_bomb(depth: int = 60) -> bytes:
    """A dict keyed by t_depth, where t_0 = () and t_{i+1} = (t_i, t_i): tiny, but 2**depth steps to hash."""
    out = P.PROTO + bytes([4]) + P.EMPTY_TUPLE + P.MEMOIZE
    for i in range(depth):
        out += P.BINGET + bytes([i]) + P.BINGET + bytes([i]) + P.TUPLE2 + P.MEMOIZE
    return out + P.EMPTY_DICT + P.BINGET + bytes([depth]) + P.NONE + P.SETITEM + P.STOP


def memo_bomb() -> bytes:
    """Nine bytes: a memo store at index 2**31 - 1 (the C unpickler grows its memo array to match)."""
    return P.PROTO + bytes([2]) + P.NONE + P.LONG_BINPUT + struct.pack("<I", 2 ** 31 - 1) + P.STOP


def bytes_bomb() -> bytes:
    """A byte string declaring 2**40 bytes in an 11-byte file."""
    return P.PROTO + bytes([4]) + P.BINBYTES8 + struct.pack("<Q", 1 << 40)


def zip_bomb(path: Path, inflated: int = 64 << 20) -> Path:
    """A torch-looking zip whose one storage member deflates ``inflated`` zero bytes."""
    data_pkl = pickle.dumps({"x": 1}, protocol=2)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr(zipfile.ZipInfo("archive/data.pkl"), data_pkl)
        info = zipfile.ZipInfo("archive/data/0")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as member:
            chunk = bytes(1 << 20)
            for _ in range(inflated >> 20):
                member.write(chunk)
        zf.writestr("archive/version", "3\n")
    return path


_RUNNER = textwrap.dedent("""
    import io, json, os, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    import torch
    torch.set_num_threads(1)
    known = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    buf = io.BytesIO(); torch.save(known, buf); blob = buf.getvalue()
    try:
        from latentedit.io.errors import LatenteditInputError
    except ImportError:  # a checkout from before the common error type: its errors were ValueErrors
        LatenteditInputError = ValueError
    status, error = "loaded", ""
    try:
        {call}
    except LatenteditInputError as exc:
        status, error = "refused", str(exc)
    except BaseException as exc:
        status, error = "crash", f"{{type(exc).__name__}}: {{exc}}"[:400]
    back = torch.load(io.BytesIO(blob), weights_only=True)
    poisoned = not (isinstance(back, torch.Tensor) and torch.equal(back, known))
    print(json.dumps({{"status": status, "error": error, "poisoned": poisoned}}))
""")

LOADERS = {
    "checkpoint": "from latentedit.io.checkpoints import load_generator; load_generator(sys.argv[1])",
    "detect": "from latentedit.io.checkpoints import detect_format; detect_format(sys.argv[1])",
    "photo": "from latentedit.faces.loading import load_photo; load_photo(sys.argv[1])",
    "latents": "from latentedit.latents import load_latents; load_latents(sys.argv[1])",
    "model": "from latentedit.io.modelfile import read_model_file; read_model_file(sys.argv[1])",
}


def run_limited(path, loader: str = "checkpoint", *, timeout: float = TIME_LIMIT_S, extra: str = "") -> dict:
    """Load ``path`` with ``LOADERS[loader]`` (or ``extra`` code) in a child process under the limits."""
    code = _RUNNER.format(limit=ADDRESS_SPACE, call=extra or LOADERS[loader])
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    try:
        proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                              timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"status": "hang", "error": f"no answer within {timeout} s", "poisoned": None}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"status": "crash", "error": f"exit {proc.returncode}: {proc.stderr[-400:]}", "poisoned": None}
    return json.loads(lines[-1])


def run_cli(args: list[str], *, timeout: float = TIME_LIMIT_S, cwd=None) -> subprocess.CompletedProcess:
    """``latentedit <args>`` in a child process under the same address-space limit."""
    code = (f"import resource, sys; resource.setrlimit(resource.RLIMIT_AS, ({ADDRESS_SPACE}, {ADDRESS_SPACE}));"
            "from latentedit.cli.main import main; sys.exit(main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=dict(os.environ, OMP_NUM_THREADS="1"))
