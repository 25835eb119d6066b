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


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")


def _writable_folder(folder: Path, path: Path, flag: str) -> None:
    if not folder.exists():
        raise InputFileError(path, f"{flag}: the folder {folder} does not exist; create it first (latentedit "
                                   "creates only the folders you name)")
    if not folder.is_dir():
        raise InputFileError(path, f"{flag}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputFileError(path, f"{flag}: the folder {folder} is not writable")


def check_output_file(path: str | os.PathLike, *, suffixes: tuple[str, ...] = IMAGE_SUFFIXES,
                      flag: str = "--out") -> Path:
    """An output file path that can be written: a known suffix, an existing writable folder, not a folder itself.
    Checked before any work, so a typo never costs a run; the folder is never created here."""
    p = Path(path)
    if p.suffix.lower() not in suffixes:
        raise InputFileError(p, f"{flag}: unknown file type {p.suffix or '(no suffix)'!r}; use one of "
                                f"{', '.join(suffixes)}")
    if p.is_dir():
        raise InputFileError(p, f"{flag}: is a folder; give a file name such as {p / ('out' + suffixes[0])}")
    _writable_folder(p.parent if str(p.parent) else Path("."), p, flag)
    if p.exists() and not os.access(p, os.W_OK):
        raise InputFileError(p, f"{flag}: the file exists and is not writable")
    return p


def check_output_folder(path: str | os.PathLike, *, flag: str = "--out") -> Path:
    """An output folder that exists and is writable, or whose nearest existing ancestor is a writable folder (the
    folders named in ``path`` are the user's to create)."""
    p = Path(path)
    if p.exists():
        _writable_folder(p, p, flag)
        return p
    ancestor = p.parent if str(p.parent) else Path(".")
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    _writable_folder(ancestor, p, flag)
    return p
