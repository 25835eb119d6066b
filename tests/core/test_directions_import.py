"""Community direction files (InterFaceGAN .npy, e4e .pt, GANSpace .npz presets) imported as directions files and
used directly by `edit --mapper`; each reproduces the community edit within 1e-5."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

try:
    import latentedit_directions  # noqa: F401
except ImportError:  # the editable install predates the plugin folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))

from latentedit.cli.main import cli
from latentedit.latents import load_latents
from latentedit.plugins import load_mapper_file
from latentedit_directions.community import guess_name, import_directions
from latentedit_directions.formats import DirectionFileError, write_e4e, write_interfacegan
from latentedit_directions.ganspace_sefa import ganspace_edit
from tests.conftest import tiny_generator


def _w_plus(num_ws, w_dim, seed=0, b=3):
    return torch.randn(b, num_ws, w_dim, generator=torch.Generator().manual_seed(seed))


def _ganspace_npz(path, k, dim, seed=0):
    g = torch.Generator().manual_seed(seed)
    comp = torch.linalg.qr(torch.randn(dim, k, generator=g, dtype=torch.float64))[0].T.float()   # unit rows
    data = {"lat_mean": torch.randn(1, dim, generator=g).numpy(), "lat_comp": comp.reshape(k, 1, dim).numpy(),
            "lat_stdev": (torch.rand(k, generator=g) + 0.5).numpy()}
    np.savez(path, **data)
    return {"mean": torch.from_numpy(data["lat_mean"]), "comp": comp.reshape(k, 1, dim),
            "std": torch.from_numpy(data["lat_stdev"])}


@pytest.mark.parametrize("num_ws,w_dim", [(6, 8), (18, 512)])
@pytest.mark.parametrize("fmt", ["npy", "pt"])
def test_single_direction_round_trips_to_the_community_edit(tmp_path, fmt, num_ws, w_dim):
    d = torch.randn(w_dim, generator=torch.Generator().manual_seed(1)) * 2.5
    path = tmp_path / f"stylegan_ffhq_smile_w_boundary.{fmt}"
    (write_interfacegan if fmt == "npy" else write_e4e)(path, d)
    m = import_directions(path, num_ws=num_ws)
    assert m.generator_info.attribute_names == ("smile",)
    assert m.normals[0].norm().item() == pytest.approx(1.0, abs=1e-6)          # unit norm ...
    assert m.config.edit_distance == pytest.approx(float(d.norm()), rel=1e-6)   # ... original norm kept as the scale
    w = _w_plus(num_ws, w_dim)
    want = w + 1.7 * d.view(1, 1, -1)                                           # latent + f * direction, every layer
    assert (m.edit_steps(w, {"smile": 1.7}) - want).abs().max() < 1e-5
    saved = load_mapper_file(m.save(tmp_path / "d.safetensors"))               # the written file edits the same
    assert (saved.edit_steps(w, {"smile": 1.7}) - want).abs().max() < 1e-5


def test_a_w_plus_direction_edits_each_layer_by_its_own_part(tmp_path):
    d = torch.randn(6 * 8, generator=torch.Generator().manual_seed(2))
    write_interfacegan(tmp_path / "age.npy", d)
    m = import_directions(tmp_path / "age.npy", num_ws=6, w_dim=8)
    assert m.config.space == "w_plus"
    w = _w_plus(6, 8)
    assert (m.edit_steps(w, {"age": -2.0}) - (w - 2 * d.view(1, 6, 8))).abs().max() < 1e-5


@pytest.mark.parametrize("mode", ["set", "add"])
def test_ganspace_preset_applies_only_to_its_layers(tmp_path, mode):
    pca = _ganspace_npz(tmp_path / "ffhq_pca.npz", 20, 512)
    m = import_directions(tmp_path / "ffhq_pca.npz", num_ws=18, presets=[f"smile=7,4,6,-3,{mode}"])
    w = _w_plus(18, 512, b=4)
    out = m.edit_steps(w, {"smile": 1.0})
    assert torch.equal(out[:, :4], w[:, :4]) and torch.equal(out[:, 6:], w[:, 6:])
    if mode == "set":
        want = ganspace_edit(w, pca, 7, 4, 6, -3.0)
    else:
        want = w.clone()
        want[:, 4:6] += -3.0 * pca["std"][7] * pca["comp"][7].reshape(-1)
    assert (out - want).abs().max() < 1e-5
    coord = (out[:, 4:6] - pca["mean"]) @ pca["comp"][7].reshape(-1)
    if mode == "set":                                  # the coordinate is set, whatever it was
        assert torch.allclose(coord, torch.full_like(coord, -3.0 * float(pca["std"][7])), atol=1e-4)


def test_ganspace_file_without_presets_takes_every_builtin_that_fits(tmp_path):
    _ganspace_npz(tmp_path / "pca.npz", 80, 512)
    m = import_directions(tmp_path / "pca.npz", num_ws=18)
    assert m.generator_info.attribute_names == ("eye_openness", "smile", "trimmed_beard", "white_hair", "lipstick")
    assert m.config.attribute_layers[1] == (4,) and m.config.modes == ("set",) * 5
    _ganspace_npz(tmp_path / "small.npz", 6, 8)
    with pytest.raises(DirectionFileError, match=r"no built-in preset fits 6 components and 6 layers"):
        import_directions(tmp_path / "small.npz", num_ws=6)


def test_names_are_guessed_from_community_file_names():
    assert guess_name("stylegan_ffhq_smile_w_boundary.npy") == "smile"
    assert guess_name("age.pt") == "age" and guess_name("pggan_celebahq_eyeglasses_boundary.npy") == "eyeglasses"


@pytest.mark.parametrize("make,match", [
    (lambda p: p.with_suffix(".npy").write_text("not numpy"), r"not a readable array file"),
    (lambda p: np.save(p.with_suffix(".npy"), np.zeros((2, 8), np.float32)), r"must be \(1, D\) or \(D,\)"),
    (lambda p: np.save(p.with_suffix(".npy"), np.zeros((1, 8), np.float32)), r"zero or not finite"),
    (lambda p: np.save(p.with_suffix(".npy"), np.ones((1, 7), np.float32)), r"7 values fits neither W \(8\)"),
    (lambda p: np.savez(p.with_suffix(".npz"), a=np.zeros(3)), r"expected arrays lat_mean"),
])
def test_bad_direction_files_are_one_line_errors(tmp_path, make, match):
    make(tmp_path / "bad")
    path = next(tmp_path.glob("bad.*"))
    with pytest.raises(DirectionFileError, match=match) as exc:
        import_directions(path, num_ws=6, w_dim=8)
    assert "\n" not in str(exc.value)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from latentedit.io.ours import save_generator

    d = tmp_path_factory.mktemp("dirs")
    G = tiny_generator(resolution=16)
    gpath = save_generator(G, d / "g.safetensors")
    res = CliRunner().invoke(cli, ["sample", "--generator", str(gpath), "--seeds", "0", "--out", str(d / "s.png"),
                                   "--save-latents", str(d / "lat")])
    assert res.exit_code == 0, res.output
    return d, G, gpath, d / "lat" / "seed0000.wplus.safetensors"


def test_edit_takes_community_files_directly_and_import_writes_the_same(tiny, tmp_path):
    d, G, gpath, lat = tiny
    direction = torch.randn(G.w_dim, generator=torch.Generator().manual_seed(3))
    npy = write_interfacegan(tmp_path / "stylegan_ffhq_smile_w_boundary.npy", direction)
    res = CliRunner().invoke(cli, ["edit", str(lat), "--attr", "smile=2", "--mapper", str(npy), "--generator",
                                   str(gpath), "--out", str(tmp_path / "e")])
    assert res.exit_code == 0, res.output
    edited = load_latents(tmp_path / "e" / "seed0000_edited.wplus.safetensors", G)
    w = load_latents(lat, G).tensor
    row = edited.extra["rows"].index("all@+1.00") if "all@+1.00" in edited.extra["rows"] else -1
    assert (edited.tensor[row] - (w[0] + 2 * direction)).abs().max() < 1e-5
    res = CliRunner().invoke(cli, ["directions", "import", str(npy), "--generator", str(gpath), "--out",
                                   str(tmp_path / "smile.safetensors")])
    assert res.exit_code == 0 and "wrote" in res.output, res.output
    m = load_mapper_file(tmp_path / "smile.safetensors")
    assert (m.edit_steps(w, {"smile": 2.0})[0] - edited.tensor[row]).abs().max() < 1e-5
    res = CliRunner().invoke(cli, ["directions", "import", str(npy), "--preset", "smile", "--out",
                                   str(tmp_path / "x.safetensors")])
    assert res.exit_code == 1 and "--preset is for GANSpace files" in res.output


def test_directions_fit_with_a_classifier_file(tiny, tmp_path):
    from latentedit.classifiers import AttributeClassifier, build_backbone, save_classifier

    d, G, gpath, _ = tiny
    torch.manual_seed(0)
    clf = AttributeClassifier(build_backbone("resnet18", 2), ("smile", "glasses"), input_size=16, backbone="resnet18")
    cpath = save_classifier(clf.eval(), tmp_path / "c.safetensors")
    res = CliRunner().invoke(cli, ["directions", "fit", "--generator", str(gpath), "--classifier", str(cpath),
                                   "--attributes", "glasses", "--n", "60", "--out", str(tmp_path / "f.safetensors")])
    assert res.exit_code == 0, res.output
    m = load_mapper_file(tmp_path / "f.safetensors")
    assert m.generator_info.attribute_names == ("glasses",) and bool(m.fitted.all())
    res = CliRunner().invoke(cli, ["directions", "fit", "--generator", str(gpath), "--classifier", str(cpath),
                                   "--attributes", "bald", "--n", "60", "--out", str(tmp_path / "g.safetensors")])
    assert res.exit_code == 1 and "has no attribute 'bald'; it reads smile, glasses" in res.output


def test_edit_takes_an_e4e_pt_and_explains_a_ganspace_file_without_a_fitting_preset(tiny, tmp_path):
    d, G, gpath, lat = tiny
    direction = torch.randn(G.w_dim, generator=torch.Generator().manual_seed(4)) * 3
    pt = write_e4e(tmp_path / "age.pt", direction)
    res = CliRunner().invoke(cli, ["edit", str(lat), "--attr", "age=-1", "--mapper", str(pt), "--generator",
                                   str(gpath), "--out", str(tmp_path / "e")])
    assert res.exit_code == 0, res.output
    edited = load_latents(tmp_path / "e" / "seed0000_edited.wplus.safetensors", G).tensor[-1]
    assert (edited - (load_latents(lat, G).tensor[0] - direction)).abs().max() < 1e-5
    _ganspace_npz(tmp_path / "pca.npz", 6, G.w_dim)
    res = CliRunner().invoke(cli, ["edit", str(lat), "--attr", "smile=1", "--mapper", str(tmp_path / "pca.npz"),
                                   "--generator", str(gpath), "--out", str(tmp_path / "f")])
    assert res.exit_code == 1 and "latentedit directions import FILE --preset" in res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1


def test_community_files_from_the_cli_on_a_1024_stand_in(tmp_path):
    """The issue's FFHQ case, from the command line: an NVIDIA pickle of config-f's layout at 1024 px (18 W+ layers of
    512; 4 channels per layer so that it synthesises in a second), an InterFaceGAN boundary used by `edit --mapper`
    as it is, and a GANSpace preset (its own layer range, set mode) imported then edited with."""
    from latentedit.testing.standins import small_ffhq_generator, write_generator_pkl

    G = small_ffhq_generator(resolution=1024, w_dim=512, channels=4)
    pkl = write_generator_pkl(tmp_path, G)
    w = torch.randn(1, 18, 512, generator=torch.Generator().manual_seed(0)) * 0.5
    from latentedit.latents import save_latents

    lat = save_latents(tmp_path / "face.wplus.safetensors", w, space="w_plus", generator=G)
    direction = torch.randn(512, generator=torch.Generator().manual_seed(5))
    npy = write_interfacegan(tmp_path / "stylegan_ffhq_smile_w_boundary.npy", direction)
    res = CliRunner().invoke(cli, ["edit", str(lat), "--attr", "smile=1", "--mapper", str(npy), "--generator",
                                   str(pkl), "--out", str(tmp_path / "e")])
    assert res.exit_code == 0, res.output
    edited = load_latents(tmp_path / "e" / "face_edited.wplus.safetensors", G).tensor
    assert edited.shape == (1, 18, 512) and (edited[0] - (w[0] + direction)).abs().max() < 1e-5  # every layer
    assert (tmp_path / "e" / "face_grid.png").is_file()

    pca = _ganspace_npz(tmp_path / "ffhq_pca.npz", 12, 512)
    res = CliRunner().invoke(cli, ["directions", "import", str(tmp_path / "ffhq_pca.npz"), "--preset",
                                   "smile=7,4,6,-3,set", "--generator", str(pkl), "--out", str(tmp_path / "g.st")])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(cli, ["edit", str(lat), "--attr", "smile=1", "--mapper", str(tmp_path / "g.st"),
                                   "--generator", str(pkl), "--out", str(tmp_path / "f")])
    assert res.exit_code == 0, res.output
    edited = load_latents(tmp_path / "f" / "face_edited.wplus.safetensors", G).tensor
    want = ganspace_edit(w, pca, 7, 4, 6, -3.0)
    assert torch.equal(edited[:, :4], w[:, :4]) and torch.equal(edited[:, 6:], w[:, 6:])
    assert (edited - want).abs().max() < 1e-5


def test_the_editing_api_reads_community_files_for_a_generator(tiny, tmp_path):
    """`latentedit.editing.load_mapper` converts a community file itself (the CLI, serve and Editor share it)."""
    from latentedit.editing import EditingError, load_mapper

    _, G, _, _ = tiny
    direction = torch.randn(G.w_dim, generator=torch.Generator().manual_seed(6))
    npy = write_interfacegan(tmp_path / "stylegan_ffhq_age_w_boundary.npy", direction)
    loaded = load_mapper(npy, generator=G)
    w = _w_plus(G.num_ws, G.w_dim, b=2)
    assert loaded.name == "directions" and loaded.generator_fingerprint is None
    assert (loaded.mapper.edit_steps(w, {"age": 1.0}) - (w + direction)).abs().max() < 1e-5
    with pytest.raises(EditingError, match="needs the generator it edits"):
        load_mapper(npy)
