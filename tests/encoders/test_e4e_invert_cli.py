"""``latentedit invert`` end to end on a tiny generator + tiny e4e encoder (entry point faked, nothing installed)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from latentedit.cli.invert_cmd import invert
from latentedit.latents import load_latents
from latentedit.testing.fake_plugins import fake_entry_point, isolate_plugins
from latentedit_e4e.config import E4EConfig
from latentedit_e4e.encoder import E4EEncoder
from tests.conftest import tiny_generator



skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture
def setup(tmp_path, monkeypatch):
    isolate_plugins(monkeypatch, [fake_entry_point("e4e", "latentedit_e4e.encoder:E4EEncoder",
                                                   group="latentedit.encoders", dist="latentedit")])
    G = tiny_generator(resolution=16)
    enc = E4EEncoder.for_generator(G, E4EConfig.small(16, 8, input_resolution=32, stage_widths=(16,) * 4))
    enc_path = enc.save(tmp_path / "enc.safetensors", generator=G)
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(skimage_data.astronaut()).save(photos / "astro.png")
    Image.fromarray(np.full((80, 80, 3), 90, np.uint8)).save(photos / "wall.png")
    data = (photos / "astro.png").read_bytes()
    (photos / "broken.png").write_bytes(data[:500])
    return G, enc_path, photos


def test_invert_folder_reports_failures_and_keeps_going(setup, tmp_path):
    G, enc_path, photos = setup
    out = tmp_path / "out"
    res = CliRunner().invoke(invert, [str(photos), "--encoder", str(enc_path), "--out", str(out),
                                      "--device", "cpu"])
    assert res.exit_code == 1, res.output
    assert "inverted 1 face(s) from 1 of 3 photo(s)" in res.output
    assert "broken.png: truncated or damaged" in res.output and "wall.png: no face found" in res.output
    for suffix in ("_aligned.png", "_recon.png", "_side.png", ".wplus.safetensors", "_transform.json",
                   "_pasted.png"):
        assert (out / f"astro{suffix}").is_file()
    lf = load_latents(out / "astro.wplus.safetensors", G, expect_space="w_plus")
    assert lf.tensor.shape == (1, 6, 8) and lf.extra["aligned"] and lf.extra["photo"].endswith("astro.png")
    assert json.loads((out / "astro_transform.json").read_text())["size"] == 16
    assert Image.open(out / "astro_side.png").size[0] > 2 * 16
    assert Image.open(out / "astro_pasted.png").size == (512, 512)


def test_invert_no_align_with_refine(setup, tmp_path):
    G, enc_path, photos = setup
    out = tmp_path / "out2"
    res = CliRunner().invoke(invert, [str(photos / "wall.png"), "--encoder", str(enc_path), "--out", str(out),
                                      "--no-align", "--refine", "3", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    lf = load_latents(out / "wall.wplus.safetensors", G)
    assert lf.extra["refine_steps"] == 3 and not lf.extra["aligned"]


def test_invert_errors(setup, tmp_path):
    G, enc_path, photos = setup
    runner = CliRunner()
    res = runner.invoke(invert, [str(photos / "astro.png"), "--encoder", str(tmp_path / "nope.pt"),
                                 "--out", str(tmp_path / "o")])
    assert res.exit_code != 0 and "nope.pt: no such file" in res.output
    res = runner.invoke(invert, [str(photos / "astro.png"), "--encoder", str(enc_path), "--face", "zero",
                                 "--out", str(tmp_path / "o")])
    assert res.exit_code != 0 and "'all', 'largest' or a face number" in res.output
    other = tiny_generator(resolution=16, seed=5)
    from latentedit.io.ours import save_generator

    gpath = save_generator(other, tmp_path / "other.safetensors")
    res = runner.invoke(invert, [str(photos / "astro.png"), "--encoder", str(enc_path), "--generator", str(gpath),
                                 "--out", str(tmp_path / "o")])
    assert res.exit_code != 0 and "trained for generator" in res.output
    torch.manual_seed(0)


def test_invert_all_faces_of_a_group_photo(setup, tmp_path):
    G, enc_path, photos = setup
    astro = skimage_data.astronaut()
    group = tmp_path / "group.png"
    Image.fromarray(np.concatenate([astro, astro[:, ::-1]], axis=1)).save(group)
    out = tmp_path / "out3"
    res = CliRunner().invoke(invert, [str(group), "--encoder", str(enc_path), "--out", str(out), "--face", "all",
                                      "--device", "cpu"])
    assert res.exit_code == 0, res.output
    assert (out / "group_face1.wplus.safetensors").is_file() and (out / "group_face2.wplus.safetensors").is_file()
    boxes = [load_latents(out / f"group_face{k}.wplus.safetensors").extra["box"] for k in (1, 2)]
    assert boxes[0][0] < 512 < boxes[1][0]  # numbered left to right
    res = CliRunner().invoke(invert, [str(group), "--encoder", str(enc_path), "--out", str(out), "--face", "3"])
    assert res.exit_code == 1 and "only 2 found" in res.output
