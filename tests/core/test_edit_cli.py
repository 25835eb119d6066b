"""`latentedit edit` end to end on W+ files written by `latentedit sample --save-latents`, and its errors."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

try:
    import latentedit_isf  # noqa: F401
except ImportError:  # the editable install predates the plugin folder
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))

from latentedit.cli.edit_cmd import edit
from latentedit.batch import run_batch
from latentedit.cli.main import cli
from latentedit.editing import EditError, apply_edit, edit_rows, parse_attr, parse_strengths
from latentedit.io.errors import InputFileError
from latentedit.latents import load_latents
from latentedit.plugins import GeneratorInfo, load_mapper, registered_mapper
from latentedit_directions import DirectionsConfig, DirectionsMapper
from latentedit_isf import ISFConfig, ISFMapper
from tests.conftest import tiny_generator

ATTRS = ("smile", "eyeglasses")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from latentedit.io.ours import save_generator

    d = tmp_path_factory.mktemp("edit")
    G = tiny_generator(resolution=16)
    gpath = save_generator(G, d / "g.safetensors")
    res = CliRunner().invoke(cli, ["sample", "--generator", str(gpath), "--seeds", "0-1", "--out", str(d / "s.png"),
                                   "--save-latents", str(d / "lat")])
    assert res.exit_code == 0, res.output
    gi = GeneratorInfo.from_generator(G, ATTRS)
    load_mapper("directions")  # via the registry, so files record the plugin name 'directions'
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        w = G.mapping(torch.randn(300, G.z_dim, generator=g))
    scores = torch.stack([w[:, 0, 0] - w[:, 0, 1], w[:, 0, 2]], 1)
    dirs = DirectionsMapper(DirectionsConfig(edit_distance=1.0), gi).fit(w_plus=w, labels=scores)
    dpath = dirs.save(d / "dirs.safetensors", extra={"generator_fingerprint": G.fingerprint()})
    torch.manual_seed(0)
    with registered_mapper("isf", ISFMapper):
        ipath = ISFMapper(ISFConfig(z_dim=4, hidden_dim=8, residual_init_scale=1.0), gi).save(d / "isf.safetensors")
    return d, G, gpath, dpath, ipath


def _run(args):
    return CliRunner().invoke(edit, [str(a) for a in args])


def test_directions_edit_writes_every_file(setup, tmp_path):
    d, G, gpath, dpath, _ = setup
    lat = sorted((d / "lat").glob("*.wplus.safetensors"))
    res = _run([*lat, "--attr", "smile=+1", "--attr", "eyeglasses=-0.5", "--method", "directions", "--mapper", dpath,
                "--generator", gpath, "--strengths", "-1:1:3", "--samples", "3", "--gif", "--out", tmp_path])
    assert res.exit_code == 0, res.output
    assert "deterministic" in res.output
    for stem in ("seed0000", "seed0001"):
        grid = Image.open(tmp_path / f"{stem}_grid.png")
        rows, cols = 3 * 3, 2  # (smile, eyeglasses, all) x 3 strengths; source + one sample
        assert grid.size == (cols * 18 + 2, rows * 18 + 2)
        assert (tmp_path / stem / "source.png").is_file()
        assert (tmp_path / stem / "all_+1.00_0.png").is_file() and (tmp_path / stem / "smile_-1.00_0.png").is_file()
        gif = Image.open(tmp_path / f"{stem}_strip.gif")
        assert gif.n_frames == 3
        edited = load_latents(tmp_path / f"{stem}_edited.wplus.safetensors", G)
        assert edited.tensor.shape == (9, G.num_ws, G.w_dim) and edited.extra["method"] == "directions"
    # strength 0 leaves the latent alone; +1 on 'all' equals the mapper's own additive edit
    w = load_latents(lat[0], G).tensor
    rows = edited.extra["rows"]
    edited0 = load_latents(tmp_path / "seed0000_edited.wplus.safetensors", G).tensor
    assert torch.allclose(edited0[rows.index("all@+0.00")], w[0])
    mapper = DirectionsMapper.load(dpath)
    want = mapper.edit_steps(w, {"smile": 1.0, "eyeglasses": -0.5})
    assert torch.allclose(edited0[rows.index("all@+1.00")], want[0], atol=1e-6)


def test_isf_edit_gives_several_different_samples(setup, tmp_path):
    d, G, gpath, _, ipath = setup
    lat = d / "lat" / "seed0000.wplus.safetensors"
    with registered_mapper("isf", ISFMapper):
        res = _run([lat, "--attr", "smile=1", "--mapper", ipath, "--generator", gpath, "--samples", "4",
                    "--out", tmp_path])
    assert res.exit_code == 0, res.output
    assert Image.open(tmp_path / "seed0000_grid.png").size == (5 * 18 + 2, 18 + 2)
    ws = load_latents(tmp_path / "seed0000_edited.wplus.safetensors", G).tensor
    assert ws.shape[0] == 4 and (ws[0] - ws[1]).abs().amax() > 1e-4  # different z -> different edits


def test_full_targets_use_the_classifier_labels(setup, tmp_path):
    from latentedit_toyfaces.judges import JudgeConfig, JudgeNet, save_judge

    d, G, gpath, _, ipath = setup
    judge = save_judge(JudgeNet(JudgeConfig(name="attributes", channels=(4, 4, 4, 4), feature_dim=8)),
                       tmp_path / "attr.safetensors")
    lat = d / "lat" / "seed0000.wplus.safetensors"
    with registered_mapper("isf", ISFMapper):
        res = _run([lat, "--attr", "smile=1", "--mapper", ipath, "--generator", gpath, "--samples", "2",
                    "--targets", "full", "--classifier", judge, "--out", tmp_path / "full"])
        assert res.exit_code == 0, res.output
        keep = _run([lat, "--attr", "smile=1", "--mapper", ipath, "--generator", gpath, "--samples", "2",
                     "--out", tmp_path / "keep"])
        assert keep.exit_code == 0, keep.output
    a = load_latents(tmp_path / "full" / "seed0000_edited.wplus.safetensors", G).tensor
    b = load_latents(tmp_path / "keep" / "seed0000_edited.wplus.safetensors", G).tensor
    assert not torch.allclose(a, b)  # the code differs: eyeglasses given as a label vs NaN
    with registered_mapper("isf", ISFMapper):
        res = _run([lat, "--attr", "smile=1", "--mapper", ipath, "--generator", gpath, "--targets", "full",
                    "--classifier", tmp_path / "none.safetensors"])
    assert res.exit_code != 0 and "no such attribute classifier file" in res.output


def test_apply_edit_semantics():
    gi = GeneratorInfo(num_ws=6, w_dim=8, attribute_names=ATTRS, resolution=16)
    m = ISFMapper(ISFConfig(z_dim=4, hidden_dim=8), gi).eval()
    w, z = torch.randn(2, 6, 8), torch.randn(2, 4)
    nan = float("nan")
    with torch.no_grad():
        full = m(w, target=torch.tensor([[1.0, nan]] * 2), z=z)
        assert torch.allclose(apply_edit(m, w, {"smile": 1.0}, z=z), full)
        assert torch.allclose(apply_edit(m, w, {"smile": 0.5}, z=z), w + 0.5 * (full - w))
        both = m(w, target=torch.tensor([[1.0, 0.0]] * 2), z=z)  # equal sizes: one pass
        assert torch.allclose(apply_edit(m, w, {"smile": 1.0, "eyeglasses": -1.0}, z=z), both)
        assert torch.equal(apply_edit(m, w, {"smile": 0.0}), w)
        labels = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
        want = m(w, target=torch.tensor([[1.0, 1.0], [1.0, 0.0]]), z=z)  # others = the source's labels
        assert torch.allclose(apply_edit(m, w, {"smile": 1.0}, z=z, others=labels), want)
    with pytest.raises(EditError, match="did you mean 'smile'.*smile, eyeglasses"):
        apply_edit(m, w, {"smiel": 1.0})
    assert parse_attr("age=-0.5") == ("age", -0.5) and parse_attr("smile") == ("smile", 1.0)
    assert parse_strengths("-2:2:5") == [-2.0, -1.0, 0.0, 1.0, 2.0] and parse_strengths("0.5,1") == [0.5, 1.0]
    with pytest.raises(EditError, match="START:STOP:COUNT"):
        parse_strengths("big")
    assert [r[:2] for r in edit_rows({"smile": 1.0}, [1.0])] == [("smile", 1.0)]


def test_errors_are_clear(setup, tmp_path, monkeypatch):
    from latentedit.io.ours import save_generator

    d, G, gpath, dpath, ipath = setup
    lat = d / "lat" / "seed0000.wplus.safetensors"
    base = ["--mapper", dpath, "--generator", gpath, "--out", tmp_path]
    res = _run([lat, "--attr", "smiel=1", *base])
    assert res.exit_code != 0 and "unknown attribute 'smiel'" in res.output and "smile, eyeglasses" in res.output
    res = _run([lat, "--attr", "smile=lots", *base])
    assert res.exit_code != 0 and "must be a number" in res.output
    # latents of another generator with the same shapes: the fingerprint tells them apart
    other = save_generator(tiny_generator(resolution=16, seed=1), tmp_path / "other.safetensors")
    res = _run([lat, "--attr", "smile=1", "--mapper", dpath, "--generator", other, "--out", tmp_path])
    assert res.exit_code != 0 and "made for generator" in res.output
    # a mapper for another W+ shape
    big = save_generator(tiny_generator(resolution=32), tmp_path / "big.safetensors")
    res = _run([lat, "--attr", "smile=1", "--mapper", dpath, "--generator", big, "--out", tmp_path])
    assert res.exit_code != 0 and "W+ of 6x8" in res.output and "8x8" in res.output
    # latent file vs generator: undirected mapper file without fingerprint, other generator
    plain = DirectionsMapper.load(dpath).save(tmp_path / "plain.safetensors")
    res = _run([lat, "--attr", "smile=1", "--mapper", plain, "--generator", other, "--out", tmp_path])
    assert res.exit_code != 0 and "belong to another generator" in res.output
    res = _run([lat, "--attr", "smile=1", "--mapper", tmp_path / "none.safetensors", "--generator", gpath])
    assert res.exit_code != 0 and "no such file" in res.output
    res = _run([lat, "--attr", "smile=1", "--method", "isf", "--mapper", dpath, "--generator", gpath])
    assert res.exit_code != 0 and "holds a 'directions' mapper" in res.output
    res = _run([lat, "--attr", "smile=1", "--method", "nosuch", "--generator", gpath])
    assert res.exit_code != 0 and "no mapper plugin named 'nosuch'" in res.output
    res = _run([lat, "--attr", "smile=1", "--method", "directions", "--generator", gpath])  # no domain: no default
    assert res.exit_code != 0 and "no mapper file (directions) for generator" in res.output
    photo = tmp_path / "face.png"
    Image.new("RGB", (20, 16), (90, 60, 40)).save(photo)
    res = _run([photo, "--attr", "smile=1", *base, "--no-align", "--encoder", tmp_path / "missing.safetensors"])
    assert res.exit_code != 0 and "--encoder" in res.output and "no such file" in res.output
    unfitted = load_mapper("directions")(DirectionsConfig(), DirectionsMapper.load(dpath).generator_info)
    unfitted.save(tmp_path / "unfitted.safetensors", extra={"generator_fingerprint": G.fingerprint()})
    res = _run([lat, "--attr", "smile=1", "--mapper", tmp_path / "unfitted.safetensors", "--generator", gpath,
                "--out", tmp_path])
    assert res.exit_code != 0 and "no direction fitted for 'smile'" in res.output
    junk = tmp_path / "notes.txt"
    junk.write_text("x")
    res = _run([junk, "--attr", "smile=1", *base])
    assert res.exit_code != 0 and "expected W+ files" in res.output


class StubEncoder:
    """A duck-typed encoder plugin: 'inverts' any image to w_avg plus a colour-dependent offset."""

    input_resolution = 32
    G = None

    def __init__(self):
        self.generator_fingerprint = self.G.fingerprint()

    @classmethod
    def can_load(cls, path):
        return str(path).endswith(".stubenc")

    @classmethod
    def load(cls, path, *, map_location="cpu"):
        return cls()

    def eval(self):
        return self

    def invert(self, images, *, batch_size=16):
        assert images.shape[-2:] == (32, 32)
        w = self.G.mapping.w_avg.reshape(1, 1, -1).repeat(images.shape[0], self.G.num_ws, 1)
        return w + images.mean(dim=(1, 2, 3)).reshape(-1, 1, 1)


def test_photo_edit_aligns_inverts_and_pastes_back(setup, tmp_path):
    import skimage.data

    from latentedit.plugins import register_encoder, unregister

    d, G, gpath, dpath, _ = setup
    StubEncoder.G = G
    photo = tmp_path / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).save(photo)
    small = tmp_path / "crop.jpg"
    Image.fromarray(skimage.data.astronaut()[:200, 100:300]).save(small)
    enc = tmp_path / "enc.stubenc"
    enc.write_text("stub")
    register_encoder("stub", StubEncoder, replace=True)
    try:
        res = _run([photo, "--attr", "smile=1", "--mapper", dpath, "--generator", gpath, "--encoder", enc,
                    "--out", tmp_path / "out", "--gif", "--strengths", "0:1:2"])
        assert res.exit_code == 0, res.output
        out = tmp_path / "out"
        assert Image.open(out / "astronaut" / "aligned.png").size == (32, 32)
        pasted = Image.open(out / "astronaut" / "pasted_smile_+1.00_0.png")
        assert pasted.size == (512, 512)
        assert (out / "astronaut_grid.png").is_file() and Image.open(out / "astronaut_strip.gif").n_frames == 2
        res = _run([small, "--attr", "smile=1", "--mapper", dpath, "--generator", gpath, "--encoder", enc,
                    "--out", tmp_path / "out2", "--no-align"])
        assert res.exit_code == 0, res.output
        assert (tmp_path / "out2" / "crop" / "aligned.png").is_file()
        assert not list((tmp_path / "out2" / "crop").glob("pasted_*"))
        blank = tmp_path / "blank.png"
        Image.new("RGB", (64, 64), (40, 120, 200)).save(blank)
        res = _run([blank, "--attr", "smile=1", "--mapper", dpath, "--generator", gpath, "--encoder", enc])
        assert res.exit_code != 0 and "no face found" in res.output
    finally:
        unregister("encoders", "stub")
    res = _run([small, "--attr", "smile=1", "--mapper", dpath, "--generator", gpath, "--encoder", enc, "--no-align"])
    assert res.exit_code != 0 and "no installed encoder plugin reads this file" in res.output


def test_w_plus_from_invert_pastes_back_into_its_photo(setup, tmp_path):
    import numpy as np

    from latentedit import faces
    from latentedit.latents import save_latents

    d, G, gpath, dpath, _ = setup
    photo = (np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)
    Image.fromarray(photo).save(tmp_path / "me.png")
    marks = np.array([[22.0, 18.0], [42.0, 18.0], [32.0, 26.0], [25.0, 34.0], [39.0, 34.0]])
    _, t = faces.align_face(photo, marks, G.resolution)
    w = load_latents(d / "lat" / "seed0000.wplus.safetensors", G).tensor
    save_latents(tmp_path / "me.wplus.safetensors", w, space="w_plus", generator=G,
                 extra={"photo": str(tmp_path / "me.png"), "aligned": True, "transform": t.to_dict()})
    res = _run([tmp_path / "me.wplus.safetensors", "--attr", "smile=1", "--mapper", dpath, "--generator", gpath,
                "--out", tmp_path / "out"])
    assert res.exit_code == 0, res.output
    pasted = Image.open(tmp_path / "out" / "me" / "pasted_smile_+1.00_0.png")
    assert pasted.size == (64, 48)
    (tmp_path / "me.png").unlink()  # the photo is gone: edit still works, without paste-back
    res = _run([tmp_path / "me.wplus.safetensors", "--attr", "smile=1", "--mapper", dpath, "--generator", gpath,
                "--out", tmp_path / "out2"])
    assert res.exit_code == 0 and not list((tmp_path / "out2" / "me").glob("pasted_*"))
    notes = [ln for ln in res.output.splitlines() if "no paste-back" in ln]  # said, not skipped silently
    assert notes == [f"note: {tmp_path / 'me.wplus.safetensors'}: no paste-back: the photo {tmp_path / 'me.png'} "
                     "it was inverted from is missing (put it back there to paste back)"]


def test_edit_takes_folders_and_a_relative_photo_path_next_to_the_w_plus_file(setup, tmp_path):
    import numpy as np

    from latentedit import faces
    from latentedit.latents import save_latents

    d, G, gpath, dpath, _ = setup
    folder = tmp_path / "inverted"
    folder.mkdir()
    photo = (np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)
    Image.fromarray(photo).save(folder / "me.png")
    _, t = faces.align_face(photo, np.array([[22.0, 18.0], [42.0, 18.0], [32.0, 26.0], [25.0, 34.0], [39.0, 34.0]]),
                            G.resolution)
    w = load_latents(d / "lat" / "seed0000.wplus.safetensors", G).tensor
    save_latents(folder / "me.wplus.safetensors", w, space="w_plus", generator=G,
                 extra={"photo": "me.png", "aligned": True, "transform": t.to_dict()})  # relative, as older files
    (folder / "notes.txt").write_text("ignored")
    res = _run([folder, "--attr", "smile=1", "--mapper", dpath, "--generator", gpath, "--out", tmp_path / "out",
                "--no-align", "--encoder", tmp_path / "missing.safetensors"])
    # the folder expands to its W+ file and its photo; the photo needs the (missing) encoder
    assert res.exit_code != 0 and "missing.safetensors" in res.output
    (folder / "me.png").rename(tmp_path / "me.png")
    res = _run([folder, "--attr", "smile=1", "--mapper", dpath, "--generator", gpath, "--out", tmp_path / "out"])
    assert res.exit_code == 0, res.output
    assert "no paste-back: the photo me.png it was inverted from is missing" in res.output
    (tmp_path / "me.png").rename(folder / "me.png")
    (folder / "sub").mkdir()
    res = _run([folder / "sub", "--attr", "smile=1", "--mapper", dpath, "--generator", gpath])
    assert res.exit_code == 2 and "no photos or W+ files found" in res.output


class RefiningStubEncoder(StubEncoder):
    """StubEncoder with a ``refine`` that records its calls."""

    calls: list = []

    def refine(self, w_plus, target, generator, steps=100, **options):
        same_generator = generator.fingerprint() == self.G.fingerprint()
        self.calls.append((tuple(w_plus.shape), tuple(target.shape), steps, same_generator))
        return w_plus + 0.25


def test_photo_edit_refines_the_inversion_when_asked_and_refuses_an_encoder_without_refine(setup, tmp_path):
    import skimage.data

    from latentedit.plugins import register_encoder, unregister

    d, G, gpath, dpath, _ = setup
    StubEncoder.G = G
    small = tmp_path / "crop.png"
    Image.fromarray(skimage.data.astronaut()[:200, 100:300]).save(small)
    enc = tmp_path / "enc.stubenc"
    enc.write_text("stub")
    base = [small, "--attr", "smile=1", "--mapper", dpath, "--generator", gpath, "--encoder", enc, "--no-align"]
    register_encoder("stub", RefiningStubEncoder, replace=True)
    try:
        RefiningStubEncoder.calls.clear()
        assert _run([*base, "--out", tmp_path / "plain"]).exit_code == 0 and RefiningStubEncoder.calls == []
        res = _run([*base, "--out", tmp_path / "refined", "--refine", "7"])
        assert res.exit_code == 0, res.output
        assert RefiningStubEncoder.calls == [((1, G.num_ws, G.w_dim), (1, 3, 32, 32), 7, True)]
        plain = np.asarray(Image.open(tmp_path / "plain" / "crop_grid.png"), dtype=float)
        refined = np.asarray(Image.open(tmp_path / "refined" / "crop_grid.png"), dtype=float)
        assert np.abs(plain - refined).mean() > 0.5  # the refined code is what was edited
        register_encoder("stub", StubEncoder, replace=True)
        res = _run([*base, "--out", tmp_path / "none", "--refine", "3"])
        assert res.exit_code != 0 and "has no refine()" in res.output
    finally:
        unregister("encoders", "stub")


# ---- `latentedit edit` on a batch with bad items: every good input is edited, every bad one named, exit 1.


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


def test_photo_edit_loads_the_encoder_and_the_generator_once(setup, tmp_path, monkeypatch):
    import skimage.data

    from latentedit.cli import edit_cmd, invert_cmd
    from latentedit.plugins import register_encoder, unregister

    d, G, gpath, dpath, _ = setup
    loads = {"encoder": 0, "generator": 0}

    class CountingEncoder(StubEncoder):
        @classmethod
        def load(cls, path, *, map_location="cpu"):
            loads["encoder"] += 1
            return cls()

    def domain_generator(path, device, domain=None):  # stands in for the domain's shipped generator
        assert path is None
        loads["generator"] += 1
        return G, None

    monkeypatch.setattr(edit_cmd, "load_generator_or_default", domain_generator)
    monkeypatch.setattr(invert_cmd, "load_generator_or_default", domain_generator)
    StubEncoder.G = G
    photo = tmp_path / "crop.png"
    Image.fromarray(skimage.data.astronaut()[:200, 100:300]).save(photo)
    enc = tmp_path / "enc.stubenc"
    enc.write_text("stub")
    register_encoder("stub", CountingEncoder, replace=True)
    try:
        res = _run([photo, "--attr", "smile=1", "--mapper", dpath, "--encoder", enc, "--no-align",
                    "--out", tmp_path / "out"])
    finally:
        unregister("encoders", "stub")
    assert res.exit_code == 0, res.output
    assert loads == {"encoder": 1, "generator": 1}
    assert (tmp_path / "out" / "crop_grid.png").is_file()
