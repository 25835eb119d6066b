"""Reading ``torch.save`` files (zip or legacy) safely: always ``weights_only=True``, one clear error line.

rosinality training snapshots carry ``args``, an ``argparse.Namespace``; it is the single extra class allowed
(a Namespace only stores attributes, it runs nothing). Any other global is refused and named.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import torch

from latentedit.io.errors import CheckpointError
from latentedit.io.paths import require_regular_file
from latentedit.io.torch_guard import GuardRefused, check_torch_path

_UNSUPPORTED_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
_WEIGHTS_UNPICKLER = re.compile(r"WeightsUnpickler error: ([^\n]*)")


def read_torch_file(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True, map_location='cpu')`` allowing ``argparse.Namespace`` only; zip files
    (every ``torch.save`` since 1.6) are memory-mapped.

    Raises CheckpointError for a truncated/damaged archive, a refused global (named) or anything unreadable.
    """
    require_regular_file(path, what="checkpoint file", error=CheckpointError)
    try:
        check_torch_path(path)
    except GuardRefused as exc:
        raise CheckpointError(path, str(exc)) from None
    except OSError as exc:
        raise CheckpointError(path, f"cannot be read ({exc.strerror or exc})") from None
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            if _is_zip(path):  # memory-mapped: tensors are read from the page cache on first use, not copied
                try:
                    return torch.load(str(path), weights_only=True, map_location="cpu", mmap=True)
                except Exception:  # noqa: BLE001 - a layout mmap cannot map: the plain load below explains
                    pass
            return torch.load(str(path), weights_only=True, map_location="cpu")
    except FileNotFoundError:
        raise CheckpointError(path, "no such file") from None
    except IsADirectoryError:
        raise CheckpointError(path, "is a directory, not a checkpoint file") from None
    except Exception as exc:  # torch raises RuntimeError / UnpicklingError / EOFError / ValueError variously
        raise CheckpointError(path, describe_torch_load_error(exc)) from None


def _is_zip(path: str | Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


def describe_torch_load_error(exc: BaseException) -> str:
    """One line for a failed weights-only ``torch.load``."""
    text = str(exc)
    m = _UNSUPPORTED_GLOBAL.search(text)
    if m:
        return (f"refused global '{m.group(1)}': this torch file holds objects other than tensors and plain "
                "containers, and latentedit never unpickles arbitrary classes")
    m = _WEIGHTS_UNPICKLER.search(text)
    if m:  # never pass on torch's advice to re-run with weights_only=False
        return f"refused by the weights-only reader: {m.group(1).strip()[:200]}"
    low = text.lower()
    if isinstance(exc, EOFError) or any(s in low for s in ("central directory", "truncated", "unexpected eof",
                                                           "ran out of input", "file read failed",
                                                           "invalid header or archive is corrupted")):
        return "truncated or damaged torch file (the archive ends early or is corrupted); re-download or re-save it"
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    if "weights_only" in first or "Weights only load failed" in first:
        first = "the weights-only reader refused the file"
    return f"not a readable torch checkpoint ({type(exc).__name__}: {first[:200]})"
