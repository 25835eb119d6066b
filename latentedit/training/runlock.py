"""One trainer per run folder: an exclusive lock on ``run_dir/.lock`` held for the trainer's life.

The lock is ``fcntl.flock`` on an open file (see ``latentedit.ops._filelock``): the OS drops it when its holder
exits or is killed, so it never goes stale. A second trainer on the same folder stops at once with one line
instead of interleaving ``log.jsonl`` and racing on ``checkpoint.pt``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from latentedit.ops._filelock import file_lock
from latentedit.training.checkpoint import CheckpointStateError

LOCK_NAME = ".lock"


def lock_run_folder(run_dir: str | Path) -> contextlib.ExitStack:
    """Hold the run folder's lock until the returned stack is closed; CheckpointStateError if another holds it."""
    path = Path(run_dir) / LOCK_NAME
    stack = contextlib.ExitStack()
    try:
        stack.enter_context(file_lock(path, timeout=0))
    except TimeoutError:
        holder = ""
        with contextlib.suppress(OSError, ValueError):
            holder = f" (pid {int(path.read_text().strip())})"
        raise CheckpointStateError(f"{run_dir}: another trainer is using this run folder{holder}; wait for it to "
                                   "finish, or train into another --run-dir") from None
    return stack
