"""Output paths are checked before any work: unknown file types, missing or unwritable folders are one-line
errors (exit 1, no traceback), and no folder the user did not name is created."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from latentedit.cli.main import cli

needs_non_root = pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                                    reason="root writes into read-only folders")


def _run(args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_unknown_extension_is_one_line(tmp_path):
    res = _run(["sample", "--seeds", "0", "--out", tmp_path / "x.xyz"])
    assert res.exit_code == 1 and "unknown file type '.xyz'" in res.output and "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_missing_folder_is_not_created(tmp_path):
    target = tmp_path / "nonexistent" / "dir" / "x.png"
    res = _run(["sample", "--seeds", "0", "--out", target])
    assert res.exit_code == 1 and "does not exist" in res.output
    assert not (tmp_path / "nonexistent").exists()


@needs_non_root
def test_unwritable_folder_is_one_line(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        res = _run(["sample", "--seeds", "0", "--out", ro / "x.png"])
    finally:
        ro.chmod(0o700)
    assert res.exit_code == 1 and "not writable" in res.output, res.output


def test_edit_output_folder_under_a_file_is_one_line(tmp_path):
    lat = tmp_path / "a.wplus.safetensors"
    lat.write_bytes(b"x")
    res = _run(["edit", lat, "--attr", "smile=1", "--out", lat / "e"])
    assert res.exit_code == 1 and "is not a folder" in res.output, res.output
    assert "Traceback" not in res.output


def test_library_input_errors_become_one_line_in_the_cli(tmp_path):
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"\x80\x04\x8e" + (1 << 40).to_bytes(8, "little"))
    res = _run(["info", bad])
    assert res.exit_code == 1 and str(bad) in res.output and len(res.output.strip().splitlines()) == 1
