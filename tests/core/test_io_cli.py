"""``latentedit info`` and ``latentedit convert`` through click's test runner, and once as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from latentedit.cli.main import cli
from latentedit.io.checkpoints import load_discriminator, load_generator
from tests.conftest import GOLDEN, needs_golden

pytestmark = needs_golden


def run(*args):
    return CliRunner().invoke(cli, list(map(str, args)))


def test_info_nvidia_pickle():
    r = run("info", GOLDEN / "nvidia_ada_g32.pkl")
    assert r.exit_code == 0, r.output
    for line in ("format:        nvidia-pkl (entry 'G_ema')", "resolution:    32x32", "num_ws:        8",
                 "w_dim:         64", "mapping depth: 2", "channels:      4:32 8:32 16:32 32:16",
                 "conv_clamp:    256", "parameters:    83,171", "w_avg:         read from the file"):
        assert line in r.output, r.output


def test_info_rosinality_snapshot_says_w_avg_is_computed():
    r = run("info", GOLDEN / "rosinality_g32_train.pt")
    assert r.exit_code == 0, r.output
    assert "computed: mean of mapping(z) over 10,000 z" in r.output
    assert "file holds:    generator, discriminator" in r.output
    r = run("info", GOLDEN / "rosinality_g32_train.pt", "--discriminator")
    assert r.exit_code == 0 and "network:       discriminator" in r.output and "minibatch std" in r.output


def test_convert_then_info_and_identical_outputs(tmp_path):
    dst = tmp_path / "g.safetensors"
    r = run("convert", GOLDEN / "nvidia_ada_g32.pkl", dst)
    assert r.exit_code == 0, r.output
    assert "wrote" in r.output and dst.is_file()
    r = run("info", dst)
    assert r.exit_code == 0 and "format:        latentedit" in r.output
    assert "converted from nvidia-pkl file nvidia_ada_g32.pkl" in r.output
    G, _ = load_generator(GOLDEN / "nvidia_ada_g32.pkl")
    G2, _ = load_generator(dst)
    z = torch.randn(2, G.z_dim)
    with torch.no_grad():
        assert torch.equal(G(z), G2(z))


def test_convert_discriminator_and_info_detects_it(tmp_path):
    dst = tmp_path / "d.safetensors"
    r = run("convert", GOLDEN / "rosinality_g32_train.pt", dst, "--discriminator")
    assert r.exit_code == 0, r.output
    r = run("info", dst)
    assert r.exit_code == 0 and "network:       discriminator" in r.output
    assert load_discriminator(dst)[0].config.resolution == 32


def test_convert_snapshot_reports_computed_w_avg(tmp_path):
    r = run("convert", GOLDEN / "rosinality_g32_train.pt", tmp_path / "g.safetensors")
    assert r.exit_code == 0 and "w_avg computed" in r.output


@pytest.mark.parametrize("args,fragment", [
    (["info", "{tmp}/garbage.bin"], "not a checkpoint"),
    (["info", "{tmp}/missing.pkl"], "no such file"),
    (["convert", "{golden}/nvidia_ada_g32.pkl", "{tmp}/out.pt"], "must end in .safetensors"),
    (["convert", "{golden}/rosinality_g32_converted.pt", "{tmp}/d.safetensors", "--discriminator"],
     "holds no discriminator"),
    (["convert", "{tmp}/garbage.bin", "{tmp}/x.safetensors"], "not a checkpoint"),
])
def test_errors_are_one_line_and_non_zero(tmp_path, args, fragment):
    (tmp_path / "garbage.bin").write_bytes(b"definitely not a network" * 10)
    r = run(*[a.format(tmp=tmp_path, golden=GOLDEN) for a in args])
    assert r.exit_code != 0
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and fragment in lines[0], r.output
    assert "Traceback" not in r.output
    assert not (tmp_path / "x.safetensors").exists()


@pytest.mark.parametrize("cmd", ["info", "convert"])
def test_help_has_examples(cmd):
    r = run(cmd, "--help")
    assert r.exit_code == 0 and "Examples:" in r.output and f"latentedit {cmd} " in r.output


def test_real_console_script_subprocess():
    exe = Path(sys.executable).parent / ("latentedit.exe" if os.name == "nt" else "latentedit")
    if not exe.exists():
        pytest.skip(f"console script not installed at {exe} (pip install -e .)")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([str(exe), "info", str(GOLDEN / "rosinality_g32_converted.pt")], capture_output=True,
                         text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    assert "format:        rosinality (entry 'g_ema')" in out.stdout and "channels:      4:32 8:32 16:32 32:32" \
        in out.stdout
    bad = subprocess.run([str(exe), "info", str(Path(__file__))], capture_output=True, text=True, timeout=300,
                         env=env)
    assert bad.returncode != 0 and bad.stderr.strip().count("\n") == 0 and "not a checkpoint" in bad.stderr
