"""``latentedit.editing`` end to end on the shipped toy-faces files: the README example, then its numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from latentedit_toyfaces import assets

FILES = ("toyfaces_generator.safetensors", "toyfaces_e4e.safetensors", "toyfaces_isf.safetensors")
pytestmark = pytest.mark.skipif(not all(assets.has_asset(f) for f in FILES), reason="toy-faces files not shipped")
skimage_data = pytest.importorskip("skimage.data")


def test_readme_example_inverts_edits_two_attributes_and_pastes_back(tmp_path):
    torch.manual_seed(0)
    photo_path = tmp_path / "astronaut.png"
    Image.fromarray(skimage_data.astronaut()).save(photo_path)    # a real photo: a face on a background
    G, E, M = (assets.asset_path(f) for f in FILES)

    # --- the README example ---
    from latentedit.editing import Editor

    editor = Editor.from_files(generator=G, encoder=E, mapper=M)
    result = editor.edit_photo(photo_path, {"smile": 1.0, "eyeglasses": 1.0})
    result.save(tmp_path / "astronaut_edited.png")
    # ---

    photo = np.asarray(Image.open(photo_path).convert("RGB"), dtype=np.int16)
    out = np.asarray(Image.open(tmp_path / "astronaut_edited.png").convert("RGB"), dtype=np.int16)
    assert out.shape == photo.shape == (512, 512, 3)
    R = editor.generator.resolution
    assert result.source.shape == (1, 3, R, R) and result.edited.shape == (1, 3, R, R)
    assert result.edited_w_plus.shape == (1, editor.generator.num_ws, editor.generator.w_dim)
    # the edit changed the face crop: far more than the reconstruction's own noise (0 here: const noise)
    crop_change = (result.edited - result.source).abs().mean().item()
    assert crop_change > 0.02, crop_change
    # the pasted photo differs from the input only under the face's quad; far from the face it is unchanged
    quad = result.face.transform.quad()
    x0, y0 = np.floor(quad.min(axis=0)).astype(int)
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
    outside = np.ones(photo.shape[:2], dtype=bool)
    outside[max(y0, 0):y1 + 1, max(x0, 0):x1 + 1] = False
    assert outside.mean() > 0.3 and (out[outside] == photo[outside]).all()
    inside = np.abs(out - photo)[~outside].mean()
    assert inside > 3.0, inside                                       # the face was replaced by the edited render


def test_functions_match_the_editor_and_errors_are_library_errors(tmp_path):
    from latentedit.editing import EditError, EditingError, Editor, edit_latents, invert, load_encoder
    from latentedit.editing import load_generator, load_mapper, synthesize

    G = load_generator(assets.asset_path(FILES[0]))
    enc = load_encoder(assets.asset_path(FILES[1]), generator=G)
    mapper, name, fingerprint = load_mapper(assets.asset_path(FILES[2]))
    assert name == "isf" and fingerprint == G.fingerprint()
    crop = torch.rand(1, 3, G.resolution, G.resolution) * 2 - 1
    w = invert(enc, crop)
    edits = edit_latents(mapper, w, {"smile": 1.0}, samples=3, seed=5)
    assert edits.shape == (3, 1, G.num_ws, G.w_dim)
    assert (edits[0] - edits[1]).abs().max() > 1e-4                 # ISF is multimodal: samples differ
    editor = Editor(G, mapper, enc)
    assert torch.equal(editor.edit_latents(w, {"smile": 1.0}, samples=3, seed=5), edits)
    assert synthesize(G, edits[:, 0]).shape == (3, 3, G.resolution, G.resolution)
    with pytest.raises(EditError, match="unknown attribute 'smiel'.*did you mean 'smile'"):
        edit_latents(mapper, w, {"smiel": 1.0})
    with pytest.raises(EditingError, match="no such file"):
        load_mapper(tmp_path / "nope.safetensors")
    with pytest.raises(EditingError, match="holds a 'isf' mapper, not a 'directions' one"):
        load_mapper(assets.asset_path(FILES[2]), method="directions")
    with pytest.raises(EditingError, match="needs an encoder"):
        Editor(G, mapper).edit_photo(tmp_path / "x.png", {"smile": 1.0})
