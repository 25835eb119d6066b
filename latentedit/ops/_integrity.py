"""Checks on a built extension before it is imported, and cleanup of a build that was interrupted.

Importing a truncated ``.so`` does not raise: the dynamic loader maps it and the process dies with SIGBUS. So a
cached library is verified first: its SHA-256 against the one recorded at build time (``build.json``), and, for
builds recorded before hashes were, its ELF section table must lie inside the file (a truncated file cuts it off).

An interrupted build (Ctrl-C, SIGTERM) must not leave ninja and compilers running: :func:`kill_descendants`
ends every process this one started (read from ``/proc``), children first.
"""

from __future__ import annotations

import contextlib
import os
import signal
import struct
import threading
from pathlib import Path


def elf_truncation(path: Path) -> str | None:
    """Why the ELF file at ``path`` is visibly damaged (truncated, not ELF), or None when it looks whole."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if len(head) < 52 or head[:4] != b"\x7fELF":
        return "not an ELF shared library"
    is64, little = head[4] == 2, head[5] == 1
    end = "<" if little else ">"
    if is64:
        if len(head) < 64:
            return "truncated ELF header"
        shoff, = struct.unpack(end + "Q", head[0x28:0x30])
        shentsize, shnum = struct.unpack(end + "HH", head[0x3A:0x3E])
    else:
        shoff, = struct.unpack(end + "I", head[0x20:0x24])
        shentsize, shnum = struct.unpack(end + "HH", head[0x2E:0x32])
    if shoff + shentsize * shnum > size:
        return f"truncated ({size:,} bytes; its section table ends at byte {shoff + shentsize * shnum:,})"
    return None


def library_sha256(lib: Path) -> str:
    """Hex SHA-256 of the built library (recorded in ``build.json``)."""
    from latentedit.io.modelfile import file_sha256  # imported on use: this module must load without torch

    return file_sha256(lib)


def library_problem(lib: Path, manifest: dict) -> str | None:
    """Why the cached library must not be imported, or None: recorded SHA-256 mismatch, or a damaged ELF file."""
    if not lib.is_file():
        return "the library file is missing"
    recorded = manifest.get("sha256")
    if recorded:
        return None if library_sha256(lib) == recorded else "its SHA-256 differs from the one recorded at build time"
    return elf_truncation(lib) if os.name == "posix" else None


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            out.append(int(entry.name))
    return out


def kill_descendants(pid: int | None = None) -> list[int]:
    """SIGKILL every descendant of ``pid`` (default: this process), deepest first; returns the pids signalled."""
    pid = os.getpid() if pid is None else pid
    order, stack = [], [pid]
    while stack:
        for child in _children(stack.pop()):
            order.append(child)
            stack.append(child)
    killed = []
    for child in reversed(order):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(child, signal.SIGKILL)
            killed.append(child)
    return killed


@contextlib.contextmanager
def sigterm_raises():
    """Inside the block, SIGTERM raises SystemExit(143) (when this is the main thread and nobody else handles it),
    so the build's cleanup runs instead of the process vanishing mid-build."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
