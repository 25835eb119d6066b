"""`latentedit edit` on a batch with bad items: every good input is edited, every bad one named, exit 1."""

from __future__ import annotations

import os

from PIL import Image

from latentedit.batch import run_batch
from latentedit.io.errors import InputFileError
from tests.test_edit_cli import StubEncoder, _run, setup  # noqa: F401 - the fixture


def test_run_batch_continues_and_names_each_failure():
    def fn(x):
        if x == 2:
            raise InputFileError("two.png", "truncated")
        if x == 3:
            raise RuntimeError("boom\nsecond line")
        return x

    assert run_batch([1, 2, 3, 4], fn) == ["two.png: truncated", "3: RuntimeError: boom second line"]


def test_bad_latent_files_do_not_stop_the_good_ones(setup, tmp_path):  # noqa: F811
    d, G, gpath, dpath, _ = setup
    good = d / "lat" / "seed0001.wplus.safetensors"
    junk = tmp_path / "junk.wplus.safetensors"
    junk.write_bytes(b"not a safetensors file")
    fifo = tmp_path / "pipe.wplus.safetensors"
    os.mkfifo(fifo)
    res = _run([junk, fifo, good, "--attr", "smile=1", "--method", "directions", "--mapper", dpath,
                "--generator", gpath, "--out", tmp_path / "out"])
    assert res.exit_code == 1, res.output
    assert (tmp_path / "out" / "seed0001_grid.png").is_file()
    assert "2 input(s) failed" in res.output and str(junk) in res.output and str(fifo) in res.output
    assert "named pipe" in res.output and "Traceback" not in res.output


def test_bad_photos_do_not_stop_the_good_ones(setup, tmp_path):  # noqa: F811
    import skimage.data

    from latentedit.plugins import register_encoder, unregister

    d, G, gpath, dpath, _ = setup
    StubEncoder.G = G
    good = tmp_path / "crop.jpg"
    Image.fromarray(skimage.data.astronaut()[:200, 100:300]).save(good)
    broken = tmp_path / "broken.png"
    broken.write_bytes(good.read_bytes()[:300])
    enc = tmp_path / "enc.stubenc"
    enc.write_text("stub")
    register_encoder("stub", StubEncoder, replace=True)
    try:
        res = _run([broken, good, "--attr", "smile=1", "--mapper", dpath, "--generator", gpath, "--encoder", enc,
                    "--out", tmp_path / "out", "--no-align"])
    finally:
        unregister("encoders", "stub")
    assert res.exit_code == 1, res.output
    assert (tmp_path / "out" / "crop_grid.png").is_file()
    assert "1 input(s) failed" in res.output and str(broken) in res.output
