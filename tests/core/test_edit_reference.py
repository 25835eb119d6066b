"""`latentedit edit --reference` and ``Editor(..., reference=)`` on the shipped toy-faces sensorium mapper: the
command, the Python API and `sample-edits --reference` give the same edit of the same source and reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from latentedit.cli.edit_cmd import edit
from latentedit.cli.sample_edits_cmd import sample_edits
from latentedit.latents import load_latents, save_latents
from latentedit_toyfaces import assets

FILES = ("toyfaces_generator.safetensors", "toyfaces_sensorium.safetensors", "toyfaces_isf.safetensors")
pytestmark = pytest.mark.skipif(not all(assets.has_asset(f) for f in FILES), reason="toy-faces files not shipped")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The shipped generator and mappers, and two W+ files of generated faces (source, reference)."""
    from latentedit.editing import Editor, load_generator, load_mapper

    d = tmp_path_factory.mktemp("edit_reference")
    G = load_generator(assets.asset_path(FILES[0]))
    with torch.no_grad():
        w = G.mapping(torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(3)), truncation_psi=0.7)
    paths = [save_latents(d / f"{name}.wplus.safetensors", w[k:k + 1], space="w_plus", generator=G)
             for k, name in enumerate(("src", "ref"))]
    sens = Editor(G, load_mapper(assets.asset_path(FILES[1])).mapper)
    return d, G, sens, paths


def _run(command, args):
    return CliRunner().invoke(command, [str(a) for a in args])


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def test_edit_reference_matches_the_api_and_sample_edits(world, tmp_path):
    d, G, sens, (src, ref) = world
    gpath = assets.asset_path(FILES[0])
    mpath = assets.asset_path(FILES[1])
    common = ["--method", "sensorium", "--mapper", mpath, "--generator", gpath]
    res = _run(edit, [src, "--reference", ref, *common, "--out", tmp_path / "all"])
    assert res.exit_code == 0, res.output
    out = load_latents(tmp_path / "all" / "src_edited.wplus.safetensors", G)
    assert out.tensor.shape == (1, G.num_ws, G.w_dim)
    assert out.extra["rows"] == ["reference@+1.00"] and out.extra["reference"] == str(ref)
    w_src, w_ref = load_latents(src, G).tensor, load_latents(ref, G).tensor
    # the API: a W+ file or the W+ tensor as the reference, or the style it encodes, give the command's edit
    api = sens.edit_latents(w_src, reference=ref)
    assert api.shape == (1, 1, G.num_ws, G.w_dim)
    assert torch.allclose(api[0], out.tensor, atol=1e-6)
    assert torch.allclose(sens.edit_latents(w_src, reference=w_ref)[0], out.tensor, atol=1e-6)
    assert torch.allclose(sens.edit_latents(w_src, style=sens.reference_style(ref))[0], out.tensor, atol=1e-6)
    moved = (out.tensor - w_src).abs().mean().item()
    assert moved > 1e-2, moved                                          # the transfer changed the source
    # sample-edits --reference draws the same transfer: its strip is source | reference | transfer
    res = _run(sample_edits, [src, "--reference", ref, *common, "--out", tmp_path / "se"])
    assert res.exit_code == 0, res.output
    strip, mine = _png(tmp_path / "se" / "src_reference.png"), _png(tmp_path / "all" / "src" / "reference_+1.00_0.png")
    R, pad = G.resolution, 2
    for k, cell in enumerate((_png(tmp_path / "all" / "src" / "source.png"),
                              _png(tmp_path / "all" / "src" / "reference.png"), mine)):
        x = pad + k * (R + pad)
        assert np.abs(strip[pad:pad + R, x:x + R] - cell).max() <= 1, k
    assert np.abs(mine - _png(tmp_path / "all" / "src" / "source.png")).mean() > 2.0

    # with --attr only those attributes come from the reference, the same as the API's and sample-edits'
    res = _run(edit, [src, "--reference", ref, "--attr", "eyeglasses=1", *common, "--out", tmp_path / "glasses"])
    assert res.exit_code == 0, res.output
    glasses = load_latents(tmp_path / "glasses" / "src_edited.wplus.safetensors", G).tensor
    assert torch.allclose(sens.edit_latents(w_src, {"eyeglasses": 1.0}, reference=ref)[0], glasses, atol=1e-6)
    assert (glasses - out.tensor).abs().amax() > 1e-3                  # not the whole transfer
    res = _run(sample_edits, [src, "--reference", ref, "--attr", "eyeglasses=1", *common, "--out", tmp_path / "se2"])
    assert res.exit_code == 0, res.output
    x = pad + 2 * (R + pad)
    cell = _png(tmp_path / "se2" / "src_reference.png")[pad:pad + R, x:x + R]
    assert np.abs(cell - _png(tmp_path / "glasses" / "src" / "eyeglasses_+1.00_0.png")).max() <= 1


def test_strengths_scale_the_whole_transfer(world, tmp_path):
    from latentedit.editing import EditingError, transfer_style

    d, G, sens, (src, ref) = world
    res = _run(edit, [src, "--reference", ref, "--method", "sensorium", "--mapper", assets.asset_path(FILES[1]),
                      "--generator", assets.asset_path(FILES[0]), "--strengths", "0,0.5,1", "--samples", "3",
                      "--out", tmp_path])
    assert res.exit_code == 0, res.output
    assert "each edit has one sample" in res.output
    rows = load_latents(tmp_path / "src_edited.wplus.safetensors", G).tensor          # strengths 0, 0.5, 1
    w = load_latents(src, G).tensor
    assert torch.equal(rows[0], w[0])
    assert torch.allclose(rows[1], (w[0] + rows[2]) / 2, atol=1e-5)
    style = sens.reference_style(ref)
    with pytest.raises(EditingError, match=r"the style must be \(1 or 1, \d+\)"):
        transfer_style(sens.mapper, w, style[:, :3])
    with pytest.raises(EditingError, match="a reference or its style, not both"):
        sens.edit_latents(w, reference=ref, style=style)


def test_a_mapper_without_a_style_refuses_a_reference_in_one_line(world, tmp_path):
    from latentedit.editing import EditingError, Editor, load_mapper

    d, G, sens, (src, ref) = world
    gpath = assets.asset_path(FILES[0])
    res = _run(edit, [src, "--reference", ref, "--method", "isf", "--mapper", assets.asset_path(FILES[2]),
                      "--generator", gpath, "--out", tmp_path])
    assert res.exit_code == 1 and "Traceback" not in res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and "needs a style mapper" in lines[0] and "sensorium" in lines[0], res.output
    assert "isf takes no style" in lines[0]
    isf = Editor(G, load_mapper(assets.asset_path(FILES[2])).mapper)
    with pytest.raises(EditingError, match=r"needs a style mapper .*installed: .*sensorium.*isf takes no style"):
        isf.edit_latents(load_latents(src, G).tensor, reference=ref)
    # neither --attr nor --reference: a usage error
    res = _run(edit, [src, "--generator", gpath, "--out", tmp_path])
    assert res.exit_code == 2 and "give --attr NAME=AMOUNT or --reference REF" in res.output


def test_a_photo_input_is_pasted_back_as_the_editor_does(world, tmp_path):
    """A photo with a face and a W+ reference: the pasted photo equals ``Editor.edit_photo(reference=)``'s."""
    skimage_data = pytest.importorskip("skimage.data")
    from latentedit.editing import Editor

    if not assets.has_asset("toyfaces_e4e.safetensors"):
        pytest.skip("toy-faces encoder not shipped")
    d, G, sens, (src, ref) = world
    photo = tmp_path / "astronaut.png"
    Image.fromarray(skimage_data.astronaut()).save(photo)
    files = {"generator": assets.asset_path(FILES[0]), "encoder": assets.asset_path("toyfaces_e4e.safetensors"),
             "mapper": assets.asset_path(FILES[1])}
    res = _run(edit, [photo, "--reference", ref, "--method", "sensorium", "--mapper", files["mapper"],
                      "--generator", files["generator"], "--encoder", files["encoder"], "--out", tmp_path / "out"])
    assert res.exit_code == 0, res.output
    result = Editor.from_files(**files).edit_photo(photo, reference=ref)
    pasted = _png(tmp_path / "out" / "astronaut" / "pasted_reference_+1.00_0.png")
    assert pasted.shape == (512, 512, 3)
    assert np.abs(pasted - result.pasted[0].astype(np.int16)).max() <= 1
    edited = load_latents(tmp_path / "out" / "astronaut_edited.wplus.safetensors", G).tensor
    assert torch.allclose(edited, result.edited_w_plus, atol=1e-5)
    assert (result.edited_w_plus - result.w_plus).abs().mean() > 1e-2
