"""Where latentedit keeps what it builds or downloads: ``$LATENTEDIT_CACHE``, else ``$XDG_CACHE_HOME/latentedit``,
else ``~/.cache/latentedit``; one sub-folder per use (``ops`` for native kernels, ``domains`` for fetched files)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(sub: str) -> Path:
    """The cache folder ``sub`` (not created here)."""
    base = os.environ.get("LATENTEDIT_CACHE")
    if base:
        return Path(base).expanduser() / sub
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "latentedit" / sub
