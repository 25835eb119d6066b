"""Keep glibc malloc from mapping and unmapping every large tensor on each forward pass.

With glibc's defaults every allocation above the (dynamic) mmap threshold gets its own ``mmap`` and is returned to
the OS on ``free``; a StyleGAN2 forward then pays hundreds of thousands of page faults (394k per 256-px forward on
the reference machine: 2-2.5x slower). ``tune_malloc()`` sets, through ``mallopt``:

* ``M_MMAP_THRESHOLD``  = 2 GiB - 1 (large blocks come from the heap, which is reused; ``mallopt`` takes an int,
  so this is as close as it gets to the 4 GiB of the environment-variable recipe; where an older glibc refuses
  it, ``M_MMAP_MAX`` = 0 turns per-block mmap off instead),
* ``M_TRIM_THRESHOLD``  = 2 GiB - 1 (freed heap memory is kept rather than returned at once),
* ``M_TOP_PAD``         = 1 GiB  (the heap grows in large steps).

This is the in-process version of the "tuned" row of the measurements in ``docs/ops.md``. Idempotent, opt out with
``LATENTEDIT_NO_MALLOC_TUNING=1``, a no-op where the C library is not glibc (musl, macOS, Windows). The process keeps
its peak heap mapped (memory is not handed back to the OS between passes); call ``release_memory()`` to trim.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
M_MMAP_MAX = -4

MMAP_THRESHOLD = 2**31 - 1
TRIM_THRESHOLD = 2**31 - 1
TOP_PAD = 1024**3

_state = {"tuned": False, "reason": "not requested"}


def _libc():
    if platform.system() != "Linux":
        return None
    libc_name, _ = platform.libc_ver()
    if libc_name != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") else None


def tune_malloc(*, force: bool = False) -> bool:
    """Apply the tuned glibc malloc parameters to this process (once). Returns True if they are in effect.

    Skipped when ``LATENTEDIT_NO_MALLOC_TUNING=1`` (unless ``force``), off glibc, or when the user set any of
    ``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_``/``MALLOC_TOP_PAD_`` (their choice wins).
    """
    if _state["tuned"]:
        return True
    if not force and os.environ.get("LATENTEDIT_NO_MALLOC_TUNING", "").strip() not in ("", "0"):
        _state["reason"] = "disabled by LATENTEDIT_NO_MALLOC_TUNING"
        return False
    if not force and any(os.environ.get(v) for v in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                                                       "MALLOC_TOP_PAD_")):
        _state["reason"] = "left to the MALLOC_*_ environment variables set by the user"
        return False
    libc = _libc()
    if libc is None:
        _state["reason"] = "not glibc: nothing to tune"
        return False
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.mallopt.restype = ctypes.c_int
    int_max = 2**31 - 1  # mallopt takes an int
    how = "mmap threshold 2 GiB"
    if libc.mallopt(M_MMAP_THRESHOLD, min(MMAP_THRESHOLD, int_max)) != 1:
        # Older glibc caps the threshold at 32 MiB: turn per-allocation mmap off instead.
        if libc.mallopt(M_MMAP_MAX, 0) != 1:
            _state["reason"] = "mallopt refused the mmap settings"
            return False
        how = "per-block mmap off"
    ok = libc.mallopt(M_TRIM_THRESHOLD, min(TRIM_THRESHOLD, int_max)) == 1
    ok = libc.mallopt(M_TOP_PAD, min(TOP_PAD, int_max)) == 1 and ok
    _state["tuned"] = True
    _state["reason"] = f"tuned by latentedit ({how}, trim threshold 2 GiB, top pad 1 GiB)" + (
        "" if ok else "; mallopt refused the trim/top-pad values")
    return True


def describe() -> str:
    """One line for ``latentedit ops status``."""
    return _state["reason"]


def release_memory() -> bool:
    """Return free heap memory to the OS now (``malloc_trim(0)``); True if anything was released."""
    libc = _libc()
    if libc is None or not hasattr(libc, "malloc_trim"):
        return False
    return bool(libc.malloc_trim(0))
