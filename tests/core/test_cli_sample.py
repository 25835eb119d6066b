"""`latentedit sample` and `latentedit demo` through click's runner (and the console script once)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from latentedit.cli.main import cli
from latentedit.latents import load_latents
from tests.conftest import tiny_generator


@pytest.fixture
def gen_file(tmp_path):
    from latentedit.io.ours import save_generator

    G = tiny_generator(resolution=16)
    return save_generator(G, tmp_path / "g.safetensors"), G


def test_sample_writes_grid_and_per_seed_files_deterministically(tmp_path, gen_file):
    path, G = gen_file
    runner = CliRunner()
    out = tmp_path / "grid.png"
    res = runner.invoke(cli, ["sample", "--generator", str(path), "--seeds", "3-5", "--truncation", "0.7",
                              "--out", str(out), "--save-latents", str(tmp_path / "lat"), "--batch-size", "2",
                              "--noise-mode", "random"])
    assert res.exit_code == 0, res.output
    assert out.is_file()
    lf = load_latents(tmp_path / "lat" / "seed0004.wplus.safetensors", G)
    assert lf.tensor.shape == (1, G.num_ws, G.w_dim) and lf.extra["seed"] == 4
    one = Image.open(tmp_path / "lat" / "seed0004.png")
    # The same seed alone (batch 1) gives the same pixels: per-seed determinism, random noise included.
    res = runner.invoke(cli, ["sample", "--generator", str(path), "--seeds", "4", "--truncation", "0.7",
                              "--out", str(tmp_path / "alone.png"), "--noise-mode", "random"])
    assert res.exit_code == 0, res.output
    assert np.array_equal(np.asarray(one), np.asarray(Image.open(tmp_path / "alone.png")))
    # With stored-constant noise the PNG is exactly the generator's output for the saved W+.
    res = runner.invoke(cli, ["sample", "--generator", str(path), "--seeds", "4", "--truncation", "0.7",
                              "--out", str(tmp_path / "c.png"), "--save-latents", str(tmp_path / "c")])
    assert res.exit_code == 0, res.output
    from latentedit.images import to_uint8

    saved = load_latents(tmp_path / "c" / "seed0004.wplus.safetensors", G).tensor
    torch.testing.assert_close(saved, lf.tensor)  # W+ does not depend on the noise mode
    with torch.no_grad():
        expected = to_uint8(G.synthesis(saved, noise_mode="const"))[0]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "c" / "seed0004.png")), expected)


def test_sample_errors_are_one_line(tmp_path, gen_file):
    path, _ = gen_file
    runner = CliRunner()
    res = runner.invoke(cli, ["sample", "--generator", str(path), "--seeds", "7-2"])
    assert res.exit_code != 0 and "runs backwards" in res.output
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00garbage")
    res = runner.invoke(cli, ["sample", "--generator", str(junk), "--seeds", "1", "--out", str(tmp_path / "x.png")])
    assert res.exit_code != 0 and "junk.pt" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "x.png").exists()


def test_unknown_command_suggests_close_match():
    res = CliRunner().invoke(cli, ["sampel"])
    assert res.exit_code != 0 and "Did you mean: sample" in res.output


def test_demo_writes_an_image(tmp_path):
    res = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path), "--seeds", "0-3"])
    assert res.exit_code == 0, res.output
    written = [Path(line.split("wrote ", 1)[1]) for line in res.output.splitlines() if line.startswith("wrote ")]
    assert written and all(p.is_file() for p in written)
    assert Image.open(written[0]).size[0] >= 64


def test_console_script_sample(tmp_path, gen_file):
    path, _ = gen_file
    exe = Path(sys.executable).with_name("latentedit")
    if not exe.exists():
        pytest.skip("console script not installed in this environment")
    proc = subprocess.run([str(exe), "sample", "--generator", str(path), "--seeds", "0-1", "--out",
                           str(tmp_path / "g.png")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "g.png").is_file()


@pytest.mark.parametrize("native", [False, True])
def test_bf16_on_a_cpu_without_native_bf16_warns_and_still_writes(tmp_path, gen_file, monkeypatch, native):
    from latentedit.stylegan2 import precision

    monkeypatch.setattr(precision, "native_cpu_bf16", lambda: native)
    path, _ = gen_file
    out = tmp_path / "g.png"
    res = CliRunner().invoke(cli, ["sample", "--generator", str(path), "--seeds", "1", "--precision", "bf16",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.is_file()
    warned = "warning: bf16 on this CPU" in res.stderr and "use fp32 here" in res.stderr
    assert warned != native
    assert precision.slow_bf16_warning("cuda") is None  # GPUs are never warned about
