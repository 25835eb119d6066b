"""Reading ``.npy`` / ``.npz`` arrays and ``torch.save`` tensors from files people bring (directions, PCA files),
with the same guards as checkpoints: regular files only, declared shapes checked against the file's size before
anything is allocated, no pickles, compressed members bounded, values finite."""

from __future__ import annotations

import io
import math
import os
import zipfile
from typing import Any

import numpy as np

from latentedit.io.errors import InputFileError
from latentedit.io.paths import require_regular_file
from latentedit.io.torch_guard import MAX_INFLATION, GuardRefused, check_torch_path

MAX_ARRAY_BYTES = 2 << 30


def _checked_npy(f, available: int, where: str) -> np.ndarray:
    version = np.lib.format.read_magic(f)
    read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0,
                   (3, 0): getattr(np.lib.format, "read_array_header_2_0")}.get(version)
    if read_header is None:
        raise ValueError(f"{where}: unknown .npy version {version}")
    shape, fortran, dtype = read_header(f)
    if dtype.hasobject:
        raise ValueError(f"{where}: object arrays (pickles) are refused")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > min(available, MAX_ARRAY_BYTES):
        raise ValueError(f"{where}: declares {shape} {dtype} ({nbytes:,} bytes) but holds {available:,}")
    data = f.read(nbytes)
    if len(data) != nbytes:
        raise ValueError(f"{where}: truncated ({len(data):,} of {nbytes:,} bytes)")
    arr = np.frombuffer(data, dtype=dtype)
    return (arr.reshape(shape[::-1]).T if fortran else arr.reshape(shape)).copy()


def read_array_file(path: str | os.PathLike, *, error: type = InputFileError) -> Any:
    """A ``.npy`` array, a dict of ``.npz`` arrays, or a weights-only ``torch.load`` of anything else (torch files
    are scanned first, see ``torch_guard``). Raises ``error(path, reason)``."""
    import torch

    p = require_regular_file(path, error=error)
    try:
        if p.suffix == ".npy":
            with open(p, "rb") as f:
                return _checked_npy(f, p.stat().st_size, p.name)
        if p.suffix == ".npz":
            out = {}
            with zipfile.ZipFile(p) as zf:
                for info in zf.infolist():
                    if info.compress_type != zipfile.ZIP_STORED and \
                            info.file_size > MAX_INFLATION * max(info.compress_size, 1):
                        raise ValueError(f"member {info.filename} inflates more than {MAX_INFLATION}x")
                    if info.file_size > MAX_ARRAY_BYTES or len(out) > 1000:
                        raise ValueError(f"member {info.filename} declares {info.file_size:,} bytes")
                    data = zf.read(info)
                    out[info.filename.removesuffix(".npy")] = _checked_npy(io.BytesIO(data), len(data), info.filename)
            return out
        check_torch_path(p)
        return torch.load(p, map_location="cpu", weights_only=True)
    except InputFileError:
        raise
    except (GuardRefused, ValueError, OSError, EOFError, zipfile.BadZipFile, RuntimeError, TypeError,
            KeyError, AttributeError) as exc:
        text = " ".join(str(exc).split())
        if "Weights only load failed" in text:
            text = "the weights-only reader refused it (it holds objects other than tensors)"
        raise error(p, f"not a readable array file ({type(exc).__name__}: {text[:200]})") from None
    except Exception as exc:  # noqa: BLE001 - torch's unpickler raises its own types; one line, no traceback
        raise error(p, f"not a readable array file ({type(exc).__name__})") from None
