"""Finding the CUDA toolkit and its headers (no GPU needed): the root behind a wrapper-script ``nvcc``, the
include folders of pip's ``nvidia-*`` wheels, nvcc's version and the architectures to compile for."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import sys
from pathlib import Path

DEFAULT_CUDA_ARCHS_WITHOUT_GPU = "7.5+PTX"  # oldest arch CUDA 13 supports; PTX JIT-compiles for newer GPUs


def _is_toolkit_root(p: Path) -> bool:
    return (p / "include" / "cuda_runtime_api.h").is_file() and ((p / "lib64").is_dir() or (p / "lib").is_dir()) and (
        (p / "bin" / "nvcc").exists() or (p / "bin" / "nvcc.exe").exists())


def _resolve_nvcc(nvcc: str) -> Path | None:
    """Follow symlinks and wrapper scripts (``exec /opt/cuda-13.0/bin/nvcc "$@"``) to the real nvcc."""
    seen = set()
    cur = Path(nvcc)
    for _ in range(8):
        cur = cur.resolve()
        if cur in seen:
            break
        seen.add(cur)
        if _is_toolkit_root(cur.parent.parent):
            return cur
        try:
            head = cur.read_bytes()[:4096]
        except OSError:
            return None
        if not head.startswith(b"#!"):
            return None
        m = re.search(rb"""(/[^\s'"]*/bin/nvcc)\b""", head)
        if not m:
            return None
        cur = Path(m.group(1).decode())
    return None


def find_cuda_home() -> Path | None:
    """The CUDA toolkit root (holding ``bin/nvcc``, ``include/`` and ``lib64/``), found robustly:
    ``$CUDA_HOME``/``$CUDA_PATH`` if valid, else ``nvcc`` on PATH resolved through symlinks and wrapper scripts,
    else the standard locations (newest version first)."""
    for var in ("CUDA_HOME", "CUDA_PATH"):
        v = os.environ.get(var)
        if v and _is_toolkit_root(Path(v)):
            return Path(v)
    nvcc = shutil.which("nvcc")
    if nvcc:
        real = _resolve_nvcc(nvcc)
        if real is not None:
            return real.parent.parent
    candidates = [Path("/usr/local/cuda")]

    def _ver(p: str) -> tuple:
        return tuple(int(t) for t in re.findall(r"\d+", os.path.basename(p))) or (0,)

    candidates += [Path(p) for p in sorted(glob.glob("/usr/local/cuda-*"), key=_ver, reverse=True)]
    candidates += [Path("/opt/cuda"), Path("/usr/lib/cuda")]
    for c in candidates:
        if _is_toolkit_root(c):
            return c.resolve()
    return None


def pip_cuda_include_dirs() -> list[str]:
    """Include folders of pip's ``nvidia-*`` wheels (``cusparse.h`` and friends may only live there)."""
    out = []
    for base in dict.fromkeys(p for p in sys.path if p and os.path.isdir(os.path.join(p, "nvidia"))):
        for inc in sorted(glob.glob(os.path.join(base, "nvidia", "*", "include"))):
            if inc not in out:
                out.append(inc)
    return out


def nvcc_version(cuda_home: Path | None) -> str | None:
    if cuda_home is None:
        return None
    vf = cuda_home / "version.json"
    try:
        return json.loads(vf.read_text())["cuda"]["version"]
    except Exception:
        pass
    import subprocess

    try:
        out = subprocess.run([str(cuda_home / "bin" / "nvcc"), "--version"], capture_output=True, text=True,
                             timeout=30).stdout
        m = re.search(r"release (\d+\.\d+)", out)
        return m.group(1) if m else None
    except Exception:
        return None


def cuda_arch_list() -> str:
    """``$TORCH_CUDA_ARCH_LIST``, else the visible GPUs' compute capabilities, else a portable default."""
    env = os.environ.get("TORCH_CUDA_ARCH_LIST")
    if env:
        return env
    try:
        import torch

        if torch.cuda.is_available():
            caps = sorted({"%d.%d" % torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())})
            return ";".join(caps)
    except Exception:
        pass
    return DEFAULT_CUDA_ARCHS_WITHOUT_GPU
