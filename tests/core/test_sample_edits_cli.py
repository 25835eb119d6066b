"""`latentedit sample-edits` end to end on W+ files from `latentedit sample --save-latents` (tiny generator)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

try:
    import latentedit_sensorium  # noqa: F401
    import latentedit_isf  # noqa: F401
except ImportError:  # the editable install predates the plugin folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))

from latentedit.cli.main import cli
from latentedit.cli.sample_edits_cmd import sample_edits
from latentedit.latents import load_latents
from latentedit.plugins import GeneratorInfo, registered_mapper
from latentedit_isf import ISFConfig, ISFMapper
from latentedit_sensorium import SensoriumConfig, SensoriumMapper
from tests.conftest import tiny_generator

ATTRS = ("smile", "eyeglasses")
CELL = 16 + 2  # 16 px images, 2 px padding


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from latentedit.io.ours import save_generator

    d = tmp_path_factory.mktemp("sample_edits")
    G = tiny_generator(resolution=16)
    gpath = save_generator(G, d / "g.safetensors")
    res = CliRunner().invoke(cli, ["sample", "--generator", str(gpath), "--seeds", "0-2", "--out", str(d / "s.png"),
                                   "--save-latents", str(d / "lat")])
    assert res.exit_code == 0, res.output
    gi = GeneratorInfo.from_generator(G, ATTRS)
    torch.manual_seed(0)
    spath = SensoriumMapper(SensoriumConfig(style_dim=4, encoder_channels=(4,), encoder_input=16, hidden_dim=8,
                                            residual_init_scale=1.0), gi).save(
        d / "sens.safetensors", extra={"generator_fingerprint": G.fingerprint()})
    ipath = ISFMapper(ISFConfig(z_dim=4, hidden_dim=8, residual_init_scale=1.0), gi).save(d / "isf.safetensors")
    lat = sorted((d / "lat").glob("*.wplus.safetensors"))
    return d, G, gpath, spath, ipath, lat


def _run(args):
    with registered_mapper("sensorium", SensoriumMapper), registered_mapper("isf", ISFMapper):
        return CliRunner().invoke(sample_edits, [str(a) for a in args])


@pytest.mark.parametrize("mode", ["random", "clusters"])
def test_sensorium_samples(setup, tmp_path, mode):
    from latentedit_toyfaces.judges import JudgeConfig, JudgeNet, save_judge

    d, G, gpath, spath, _, lat = setup
    # a tiny random attribute judge picks the faces with the attribute
    judge = save_judge(JudgeNet(JudgeConfig(name="attributes", channels=(4, 4, 4, 4), feature_dim=8)),
                       tmp_path / "judge.safetensors")
    res = _run([lat[0], "--attr", "smile=1", "--n", "4", "--method", "sensorium", "--mapper", spath, "--generator",
                gpath, "--mode", mode, "--pool", "24", "--classifier", judge, "--out", tmp_path])
    assert res.exit_code == 0, res.output
    grid = Image.open(tmp_path / "seed0000_samples.png")
    assert grid.size == (5 * CELL + 2, CELL + 2)               # source + 4 samples
    edits = load_latents(tmp_path / "seed0000_samples.wplus.safetensors", G).tensor
    assert edits.shape == (4, G.num_ws, G.w_dim) and torch.unique(edits.flatten(1), dim=0).shape[0] == 4
    if mode == "clusters":
        assert "K-means over the style codes of" in res.output and "of 24 generated faces with smile" in res.output


def test_isf_clusters_and_random(setup, tmp_path):
    d, G, gpath, _, ipath, lat = setup
    for mode in ("random", "clusters"):
        res = _run([*lat[:2], "--attr", "eyeglasses=1", "--n", "3", "--mapper", ipath, "--generator", gpath,
                    "--mode", mode, "--pool", "20", "--out", tmp_path / mode])
        assert res.exit_code == 0, res.output
        assert (tmp_path / mode / "seed0001_samples.png").is_file()


def test_reference_mix_and_interpolation(setup, tmp_path):
    d, G, gpath, spath, _, lat = setup
    res = _run([lat[0], "--mapper", spath, "--generator", gpath, "--reference", lat[1], "--mix", lat[2],
                "--mix-group", "eyeglasses", "--interpolate", lat[2], "--frames", "4", "--out", tmp_path])
    assert res.exit_code == 0, res.output
    assert Image.open(tmp_path / "seed0000_reference.png").size == (3 * CELL + 2, CELL + 2)
    assert Image.open(tmp_path / "seed0000_mix.png").size == (4 * CELL + 2, CELL + 2)
    assert Image.open(tmp_path / "seed0000_interp.png").size == ((4 + 3) * CELL + 2, CELL + 2)
    line = load_latents(tmp_path / "seed0000_interp.wplus.safetensors", G).tensor
    assert line.shape == (4, G.num_ws, G.w_dim)
    # a photo reference is aligned like an input: a faceless one is a one-line error; --no-align takes its square
    photo = tmp_path / "ref.png"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(photo)
    res = _run([lat[0], "--mapper", spath, "--generator", gpath, "--reference", photo, "--attr", "smile=1",
                "--out", tmp_path / "photo"])
    assert res.exit_code == 1 and "no face found" in res.output and "--no-align" in res.output
    assert len(res.output.strip().splitlines()) == 1
    res = _run([lat[0], "--mapper", spath, "--generator", gpath, "--reference", photo, "--attr", "smile=1",
                "--no-align", "--out", tmp_path / "photo"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "photo" / "seed0000_reference.png").is_file()


def test_errors_are_one_line(setup, tmp_path):
    d, G, gpath, spath, ipath, lat = setup
    cases = [
        ([lat[0], "--mapper", spath, "--generator", gpath], "give --attr"),
        ([lat[0], "--attr", "hat=1", "--mapper", spath, "--generator", gpath], "unknown attribute 'hat'"),
        ([lat[0], "--attr", "smile=1", "--mapper", ipath, "--generator", gpath, "--reference", lat[1]],
         "needs a style mapper"),
        ([lat[0], "--mapper", spath, "--generator", gpath, "--reference", lat[1], "--mix", lat[2]], "--mix-group"),
        ([lat[0], "--mapper", spath, "--generator", gpath, "--reference", lat[1], "--mix", lat[2],
          "--mix-group", "hair"], "unknown group"),
        ([lat[0], "--attr", "smile=1", "--mapper", spath, "--generator", gpath, "--interpolate", lat[1]],
         "also give --reference"),
    ]
    for args, msg in cases:
        res = _run([*args, "--out", tmp_path])
        assert res.exit_code != 0 and msg in res.output, (args, res.output)
        assert "Traceback" not in res.output


def test_sensorium_clusters_on_edits_use_prior_styles_not_face_codes(setup, tmp_path):
    """--cluster-on edits: the same K-means as for noise mappers (prior styles clustered by their edit of the
    input), so no faces are generated or judged, and the n styles are members of the prior pool."""
    from latentedit.editing import sampling as sm
    from latentedit.plugins import load_mapper_file

    d, G, gpath, spath, _, lat = setup
    res = _run([lat[0], "--attr", "smile=1", "--n", "3", "--method", "sensorium", "--mapper", spath, "--generator",
                gpath, "--mode", "clusters", "--cluster-on", "edits", "--pool", "16", "--out", tmp_path])
    assert res.exit_code == 0, res.output
    assert "K-means over the edits of 16 prior styles" in res.output and "style codes" not in res.output
    edits = load_latents(tmp_path / "seed0000_samples.wplus.safetensors", G).tensor
    m = load_mapper_file(spath).eval()
    w = load_latents(lat[0], G).tensor[:1]
    target = torch.full((1, len(m.generator_info.attribute_names)), float("nan"))
    target[0, m.generator_info.attribute_names.index("smile")] = 1.0
    with torch.no_grad():
        want = sm.edit_with_conditions(m, w, sm.cluster_conditions(m, 3, w_plus=w, target=target, pool=16, seed=0),
                                       target)
    assert torch.allclose(edits, want, atol=1e-5)
