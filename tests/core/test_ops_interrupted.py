"""Interrupted or damaged native builds: a truncated cached library is never imported (it would end the process
with SIGBUS) but set aside and rebuilt; a build's stale temp folders go; children of an interrupted build die."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from latentedit.ops import _build
from latentedit.ops._integrity import elf_truncation, kill_descendants, library_problem


@pytest.fixture(scope="module")
def real_library():
    module, info = _build.load_extension("cpu")  # built (or loaded) once per machine
    man = _build.read_manifest(info["folder"])
    return info["folder"] / man["library"], man


def test_whole_library_passes_and_a_truncated_copy_is_caught(tmp_path, real_library):
    lib, man = real_library
    assert library_problem(lib, man) is None and elf_truncation(lib) is None
    cut = tmp_path / lib.name
    cut.write_bytes(lib.read_bytes()[: lib.stat().st_size // 2])
    assert "truncated" in elf_truncation(cut)
    assert "SHA-256" in library_problem(cut, {"sha256": "0" * 64})
    assert "truncated" in library_problem(cut, {})


def test_truncated_cached_library_is_set_aside_not_imported(tmp_path, monkeypatch, real_library):
    lib, man = real_library
    monkeypatch.setenv("LATENTEDIT_CACHE", str(tmp_path))
    monkeypatch.setenv("LATENTEDIT_OPS_EXTRA_CFLAGS", "-fno-such-option-latentedit")  # the rebuild fails fast
    monkeypatch.setenv("LATENTEDIT_OPS_QUIET", "1")
    folder = _build.build_config("cpu").folder
    folder.mkdir(parents=True)
    (folder / lib.name).write_bytes(lib.read_bytes()[: lib.stat().st_size // 2])
    (folder / "build.json").write_text(json.dumps({"module": man["module"], "library": lib.name}))
    stale = folder.parent / f".{folder.name}.tmp-killed"
    stale.mkdir()
    with pytest.raises(_build.BuildError):  # in this process: importing the cut library would have been SIGBUS
        _build.load_extension("cpu")
    assert not folder.exists() and not stale.exists()
    assert any(p.name.startswith(f".{folder.name}.broken-") for p in folder.parent.iterdir())


def test_kill_descendants_ends_grandchildren(tmp_path):
    marker = tmp_path / "survived"
    grandchild = tmp_path / "grandchild.py"
    grandchild.write_text(f"import time\ntime.sleep(3)\nopen({str(marker)!r}, 'w').close()\n")
    child_code = tmp_path / "child.py"
    child_code.write_text(f"import subprocess, sys, time\nsubprocess.Popen([sys.executable, {str(grandchild)!r}])\n"
                          "time.sleep(30)\n")
    child = subprocess.Popen([sys.executable, str(child_code)])
    try:
        time.sleep(1.0)
        killed = kill_descendants(child.pid)  # as a build does for its ninja and compilers
        assert len(killed) == 1
        time.sleep(3)
        assert not marker.exists()
    finally:
        child.kill()
        child.wait(timeout=10)
