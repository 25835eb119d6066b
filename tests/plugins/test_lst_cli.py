"""`latentedit sample-edits --reference/--mix/--interpolate` with the lst mapper, and `edit` without a reference
failing in one line that says what to do (tiny generator, W+ files from `latentedit sample`)."""

from __future__ import annotations

import sys
from pathlib import Path

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


def test_reference_mix_and_interpolate_with_lst(tmp_path):
    from latentedit.io.ours import save_generator

    G = tiny_generator(resolution=16)
    gpath = save_generator(G, tmp_path / "g.safetensors")
    res = CliRunner().invoke(cli, ["sample", "--generator", str(gpath), "--seeds", "0-2", "--out",
                                   str(tmp_path / "s.png"), "--save-latents", str(tmp_path / "lat")])
    assert res.exit_code == 0, res.output
    lat = sorted((tmp_path / "lat").glob("*.wplus.safetensors"))
    torch.manual_seed(0)
    mapper = LSTMapper(LSTConfig(rank=4, hidden=8, encoder_channels=(4,), encoder_input=16, uncompress_init=1.0),
                       GeneratorInfo.from_generator(G, ("smile", "eyeglasses")))
    mpath = mapper.save(tmp_path / "lst.safetensors", extra={"generator_fingerprint": G.fingerprint()})
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
