"""Opening only what can be read to its end: regular files, never FIFOs, devices or sockets (which block or
never end), and output paths checked before any work is done."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from latentedit.io.errors import InputFileError

_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))


def require_regular_file(path: str | os.PathLike, *, what: str = "file", error: type = InputFileError) -> Path:
    """``path`` when it is an existing regular file (symlinks followed); else ``error(path, reason)``. Never opens
    the path, so a FIFO cannot block."""
    p = Path(path)
    try:
        mode = os.stat(p).st_mode
    except FileNotFoundError:
        raise error(p, "no such file") from None
    except OSError as exc:
        raise error(p, f"cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise error(p, f"is {kind}, not a regular {what}; only regular files are read")
    return p
