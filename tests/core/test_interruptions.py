"""Interruptions: SIGTERM during an atomic write leaves no temp file behind."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_sigterm_during_an_atomic_write_removes_the_temp_file(tmp_path):
    code = textwrap.dedent(f"""
        import os, signal, time
        from pathlib import Path
        from latentedit.cli.main import exit_on_sigterm
        from latentedit.io.modelfile import atomic_write
        exit_on_sigterm()
        def write(tmp):
            Path(tmp).write_bytes(b"x" * 1000)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)
        atomic_write({str(tmp_path / 'model.safetensors')!r}, write)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 143, proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_stale_temp_files_of_killed_writes_are_removed_fresh_ones_kept(tmp_path):
    import os
    import time

    from latentedit.io.modelfile import STALE_TEMP_S, atomic_write

    stale = tmp_path / ".model.safetensors.abc123.tmp"  # as a SIGKILLed convert leaves it
    stale.write_bytes(b"x" * 100)
    old = time.time() - STALE_TEMP_S - 60
    os.utime(stale, (old, old))
    fresh = tmp_path / ".model.safetensors.def456.tmp"  # another writer, still at work
    fresh.write_bytes(b"y")
    atomic_write(tmp_path / "model.safetensors", lambda tmp: open(tmp, "wb").write(b"data"))
    assert not stale.exists() and fresh.exists()
    assert (tmp_path / "model.safetensors").read_bytes() == b"data"
