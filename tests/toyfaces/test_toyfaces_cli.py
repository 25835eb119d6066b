"""`latentedit toyfaces ...` through click's CliRunner."""

import json

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from latentedit_toyfaces.cli.group import parse_seeds, toyfaces
from latentedit_toyfaces.datasets import read_labels, read_meta
from latentedit_toyfaces.factors import attribute_labels, sample_factors
from latentedit_toyfaces.renderer import render, to_uint8


def run(*args):
    return CliRunner().invoke(toyfaces, [str(a) for a in args], catch_exceptions=False)


def test_help_has_examples():
    for cmd in ([], ["render"], ["dataset"], ["train-judge"], ["eval-judges"]):
        r = run(*cmd, "--help")
        assert r.exit_code == 0 and "Examples:" in r.output, cmd


def test_parse_seeds():
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("5, 1,7-8") == [5, 1, 7, 8]
    for bad in ("a", "3-1", "", "-2"):
        with pytest.raises(Exception, match="--seeds"):
            parse_seeds(bad)


def test_render_sheet(tmp_path):
    out = tmp_path / "sheet.png"
    r = run("render", "--seeds", "0-5", "--out", out, "--resolution", 32, "--columns", 3)
    assert r.exit_code == 0, r.output
    img = Image.open(out)
    assert img.size == (3 * 34 + 2, 2 * 34 + 2)
    # the first tile is face seed 0
    tile = torch.from_numpy(__import__("numpy").array(img))[2:34, 2:34]
    assert torch.equal(tile, to_uint8(render(sample_factors(1, 0), 32))[0])


def test_render_bad_seeds_is_one_line_error(tmp_path):
    r = run("render", "--seeds", "9-2", "--out", tmp_path / "x.png")
    assert r.exit_code != 0 and "Error: --seeds" in r.output and len(r.output.strip().splitlines()) == 1


def test_dataset_round_trip(tmp_path):
    out = tmp_path / "ds"
    r = run("dataset", "--n", 12, "--out", out, "--seed", 4)
    assert r.exit_code == 0, r.output
    meta = read_meta(out)
    assert meta["n"] == 12 and meta["resolution"] == 64
    files, f = read_labels(out)
    expect = sample_factors(12, 4)
    assert torch.allclose(f, expect, atol=1e-6)
    png = torch.from_numpy(__import__("numpy").array(Image.open(out / files[7])))
    assert torch.equal(png, to_uint8(render(expect[7:8]))[0])
    header = (out / "labels.csv").read_text().splitlines()
    assert header[0].endswith("beard_label") and len(header) == 13
    assert header[1].split(",")[-5:] == [str(int(v)) for v in attribute_labels(expect[:1])[0]]
    again = run("dataset", "--n", 2, "--out", out)
    assert again.exit_code != 0 and "already exists" in again.output
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_train_judge_quick_and_eval_it(tmp_path):
    out = tmp_path / "j.safetensors"
    r = run("train-judge", "attributes", "--out", out, "--steps", 2, "--eval-n", 20)
    assert r.exit_code == 0, r.output
    assert json.loads(r.output.strip().splitlines()[-1])["n"] == 20
    r = run("eval-judges", "--judge", "attributes", "--path", f"attributes={out}", "--n", 20, "--json")
    assert r.exit_code == 0, r.output
    assert set(json.loads(r.output)["attributes"]["accuracy"]) == {"smile", "eyeglasses", "age", "hair_color", "beard"}


def test_eval_judges_errors_are_one_line(tmp_path):
    r = run("eval-judges", "--judge", "identity", "--path", f"identity={tmp_path / 'nope.safetensors'}")
    assert r.exit_code != 0 and "no such judge file" in r.output and len(r.output.strip().splitlines()) == 1
    r = run("eval-judges", "--path", "faces=x")
    assert r.exit_code != 0 and "NAME=FILE" in r.output


def test_eval_judges_shipped_text(tmp_path):
    r = run("eval-judges", "--n", 40)
    assert r.exit_code == 0, r.output
    assert r.output.count("meets") + r.output.count("MISSES") == 3


def test_generator_commands_are_reachable_under_toyfaces():
    r = run("--help")
    assert "train-generator" in r.output and "export-generator" in r.output
    assert run("train-generator", "--help").exit_code == 0


def test_render_refuses_huge_sheets_and_unwritable_paths(tmp_path):
    r = run("render", "--seeds", "0-4095", "--resolution", 1024, "--out", tmp_path / "x.png")
    assert r.exit_code != 0 and "too large" in r.output and len(r.output.strip().splitlines()) == 1
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = run("render", "--seeds", "0", "--out", blocker / "sub" / "x.png")
    assert r.exit_code != 0 and "cannot write" in r.output and len(r.output.strip().splitlines()) == 1


def test_latents_writes_samples_then_inverted_renders(tmp_path):
    """`toyfaces latents`: the first rows are the mapping of the seeded z, the rest the encoder's inversions of
    the renders of factor seed SEED+1; tied to the generator; refuses to overwrite and empty requests."""
    from latentedit_toyfaces import assets
    from latentedit.editing import load_encoder, load_generator
    from latentedit.latents import load_latents

    out = tmp_path / "lat.safetensors"
    r = run("latents", "--out", out, "--samples", 3, "--inverted", 2, "--seed", 5)
    assert r.exit_code == 0 and "3 samples + 2 inverted" in r.output
    G = load_generator(assets.asset_path(assets.DEFAULT_GENERATOR))
    w = load_latents(out, G, expect_space="w_plus").tensor
    assert w.shape == (5, G.num_ws, G.w_dim)
    with torch.no_grad():
        ws = G.mapping(torch.randn(3, G.z_dim, generator=torch.Generator().manual_seed(5)))
        ws = ws[:, None].repeat(1, G.num_ws, 1) if ws.ndim == 2 else ws
        enc = load_encoder(assets.asset_path("toyfaces_e4e.safetensors"), generator=G)
        wi = enc.invert(render(sample_factors(2, 6), G.resolution))
    assert torch.allclose(w[:3], ws, atol=1e-5) and torch.allclose(w[3:], wi, atol=1e-4)
    assert (w[3:].std(dim=1) > 0).all() and (w[:3].std(dim=1) == 0).all()   # inversions differ per layer
    again = CliRunner().invoke(toyfaces, ["latents", "--out", str(out), "--samples", "1", "--inverted", "0"])
    assert again.exit_code != 0 and "already exists" in again.output
    none = CliRunner().invoke(toyfaces, ["latents", "--out", str(tmp_path / "x.safetensors"), "--samples", "0",
                                         "--inverted", "0"])
    assert none.exit_code != 0 and "nothing to write" in none.output
