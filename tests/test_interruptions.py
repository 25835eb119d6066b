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
