"""`latentedit sample-edits --reference/--mix/--interpolate` and `edit --reference` with the lst mapper, and `edit`
without a reference failing in one line that says what to do (tiny generator, W+ files from `latentedit sample`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

try:
    import latentedit_lst  # noqa: F401
except ImportError:  # the editable install predates the plugin folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))

from latentedit.cli.main import cli
from latentedit.latents import load_latents
from latentedit.plugins import GeneratorInfo, registered_mapper
from latentedit_lst import LSTConfig, LSTMapper
from tests.conftest import tiny_generator


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A tiny generator, three W+ files from `latentedit sample`, and an untrained tiny lst mapper file."""
    from latentedit.io.ours import save_generator

    tmp = tmp_path_factory.mktemp("lst_cli")
    G = tiny_generator(resolution=16)
    gpath = save_generator(G, tmp / "g.safetensors")
    res = CliRunner().invoke(cli, ["sample", "--generator", str(gpath), "--seeds", "0-2", "--out",
                                   str(tmp / "s.png"), "--save-latents", str(tmp / "lat")])
    assert res.exit_code == 0, res.output
    lat = sorted((tmp / "lat").glob("*.wplus.safetensors"))
    torch.manual_seed(0)
    cfg = LSTConfig(rank=4, hidden=8, encoder_channels=(4,), encoder_input=16, uncompress_init=1.0,
                    group_attributes=(("coarse", ("smile",)), ("middle", ("eyeglasses",))))
    mapper = LSTMapper(cfg, GeneratorInfo.from_generator(G, ("smile", "eyeglasses")))   # 6 layers: coarse, middle
    mpath = mapper.save(tmp / "lst.safetensors", extra={"generator_fingerprint": G.fingerprint()})
    return G, gpath, lat, mpath


def test_reference_mix_and_interpolate_with_lst(world, tmp_path):
    G, gpath, lat, mpath = world
    with registered_mapper("lst", LSTMapper):
        res = CliRunner().invoke(cli, ["sample-edits", str(lat[0]), "--mapper", str(mpath), "--generator",
                                       str(gpath), "--reference", str(lat[1]), "--mix", str(lat[2]), "--mix-group",
                                       "middle", "--interpolate", str(lat[2]), "--steps", "3",
                                       "--out", str(tmp_path / "out")])
        assert res.exit_code == 0, res.output
        assert (tmp_path / "out" / "seed0000_reference.png").is_file()
        assert (tmp_path / "out" / "seed0000_mix.png").is_file()
        line = load_latents(tmp_path / "out" / "seed0000_interp.wplus.safetensors", G).tensor
        assert line.shape == (3, G.num_ws, G.w_dim) and not torch.equal(line[0], line[-1])
        res = CliRunner().invoke(cli, ["edit", str(lat[0]), "--attr", "smile=1", "--mapper", str(mpath),
                                       "--generator", str(gpath), "--out", str(tmp_path / "edit")])
    assert res.exit_code != 0 and "--reference" in res.output and "Traceback" not in res.output


def test_edit_with_a_reference_runs_lst_as_the_api_does(world, tmp_path):
    """`edit --method lst --reference REF` (no --attr: every group) writes the edit ``Editor.edit_latents(
    reference=REF)`` gives; it moves the source, and --attr eyeglasses=1 moves only the groups that carry it."""
    from latentedit.editing import Editor, load_mapper

    G, gpath, lat, mpath = world
    args = ["edit", str(lat[0]), "--method", "lst", "--mapper", str(mpath), "--generator", str(gpath),
            "--reference", str(lat[1])]
    with registered_mapper("lst", LSTMapper):
        res = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "all")])
        assert res.exit_code == 0, res.output
        part = CliRunner().invoke(cli, [*args, "--attr", "eyeglasses=1", "--out", str(tmp_path / "part")])
        assert part.exit_code == 0, part.output
        editor = Editor(G, load_mapper(mpath, method="lst").mapper)
    src = load_latents(lat[0], G).tensor
    edited = load_latents(tmp_path / "all" / "seed0000_edited.wplus.safetensors", G).tensor
    assert edited.shape == (1, G.num_ws, G.w_dim)
    assert (edited - src).abs().mean() > 1e-2                            # the transfer moved the source
    assert torch.allclose(edited, editor.edit_latents(src, reference=lat[1])[0], atol=1e-6)
    assert (tmp_path / "all" / "seed0000" / "reference_+1.00_0.png").is_file()
    assert (tmp_path / "all" / "seed0000" / "reference.png").is_file()
    # --attr eyeglasses=1 transfers only the middle group (layers 4, 5), which carries it
    partial = load_latents(tmp_path / "part" / "seed0000_edited.wplus.safetensors", G).tensor
    assert torch.allclose(partial, editor.edit_latents(src, {"eyeglasses": 1.0}, reference=lat[1])[0], atol=1e-6)
    assert torch.equal(partial[:, :4], src[:, :4]) and torch.allclose(partial[:, 4:], edited[:, 4:], atol=1e-6)
    assert (edited[:, :4] - src[:, :4]).abs().mean() > 1e-2
