"""An exclusive build lock that cannot go stale: the OS releases it when its holder exits or is killed."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path


@contextlib.contextmanager
def file_lock(path: Path, timeout: float | None = None, on_wait=None):
    """Exclusive advisory lock on ``path`` (``fcntl.flock``; ``msvcrt.locking`` on Windows).

    The lock belongs to the open file, so the OS drops it when the holder exits or is killed: it cannot go stale.
    The file itself is left in place (deleting lock files races). ``on_wait()`` is called once if we must wait.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(path), os.O_RDWR | os.O_CREAT, 0o666)
    start = time.monotonic()
    waited = False
    try:
        while True:
            try:
                if os.name == "nt":  # pragma: no cover - Windows
                    import msvcrt

                    msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
                else:
                    import fcntl

                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if not waited and on_wait is not None:
                    on_wait()
                waited = True
                if timeout is not None and time.monotonic() - start > timeout:
                    raise TimeoutError(f"could not lock {path} within {timeout:.0f} s (another build is running)")
                time.sleep(0.1)
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            pass
        yield
    finally:
        try:
            if os.name == "nt":  # pragma: no cover
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError:
            pass
        os.close(fd)
