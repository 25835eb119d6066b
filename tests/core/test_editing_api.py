"""``latentedit.editing`` end to end on the shipped toy-faces files: the README example, then its numbers."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from latentedit_toyfaces import assets

FILES = ("toyfaces_generator.safetensors", "toyfaces_e4e.safetensors", "toyfaces_isf.safetensors")
pytestmark = pytest.mark.skipif(not all(assets.has_asset(f) for f in FILES), reason="toy-faces files not shipped")
skimage_data = pytest.importorskip("skimage.data")
ROOT = Path(__file__).resolve().parents[2]


def readme_example() -> str:
    """The Python block of README.md between the api-example markers: the code the README shows, run as is."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"<!-- api-example:start[^>]*-->\s*```python\n(.*?)```\s*<!-- api-example:end -->", text, re.S)
    assert m, "README.md has no ```python block between <!-- api-example:start --> and <!-- api-example:end -->"
    return m.group(1)


def test_readme_example_inverts_edits_two_attributes_and_pastes_back(tmp_path, monkeypatch):
    torch.manual_seed(0)
    code = readme_example()
    assert len(code.strip().splitlines()) <= 10 and '"photo.png"' in code and '"edited.png"' in code
    monkeypatch.chdir(tmp_path)
    photo_path = tmp_path / "photo.png"
    Image.fromarray(skimage_data.astronaut()).save(photo_path)    # a real photo: a face on a background

    namespace: dict = {}
    exec(compile(code, "README.md (api-example)", "exec"), namespace)   # noqa: S102 (our own README)
    editor, result = namespace["editor"], namespace["result"]

    assert type(editor.mapper).__name__ == "ISFMapper"              # the toy domain's first mapper
    photo = np.asarray(Image.open(photo_path).convert("RGB"), dtype=np.int16)
    out = np.asarray(Image.open(tmp_path / "edited.png").convert("RGB"), dtype=np.int16)
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


def test_from_domain_takes_the_files_a_domain_names(tmp_path):
    import json

    from latentedit.domains import DomainError
    from latentedit.editing import Editor, load_mapper

    default = Editor.from_domain()                                   # the only installed domain with a generator
    assert default.generator.fingerprint() == Editor.from_domain("toyfaces").generator.fingerprint()
    sens = Editor.from_domain("toyfaces", mapper="sensorium")
    shipped = load_mapper(assets.asset_path("toyfaces_sensorium.safetensors")).mapper.state_dict()
    assert type(sens.mapper).__name__ == "SensoriumMapper"
    assert all(torch.equal(v, shipped[k]) for k, v in sens.mapper.state_dict().items())

    # a domain file: paths relative to it; its first mapper is the default
    for f in (*FILES, "toyfaces_directions.safetensors"):
        (tmp_path / f).write_bytes(assets.asset_path(f).read_bytes())
    spec = {"name": "mine", "generator": FILES[0], "encoder": FILES[1],
            "mappers": {"directions": "toyfaces_directions.safetensors", "isf": FILES[2]}}
    (tmp_path / "mine.json").write_text(json.dumps(spec))
    mine = Editor.from_domain(tmp_path / "mine.json")
    assert type(mine.mapper).__name__ != "ISFMapper" and mine.encoder is not None

    with pytest.raises(DomainError, match="has no 'sensorium' mapper; its mappers: directions, isf"):
        Editor.from_domain(tmp_path / "mine.json", mapper="sensorium")
    with pytest.raises(DomainError, match="Did you mean: toyfaces"):
        Editor.from_domain("toyface")
    del spec["encoder"]
    (tmp_path / "noenc.json").write_text(json.dumps(spec))
    with pytest.raises(DomainError, match=r"no local encoder: pass Editor.from_files\(encoder=...\)"):
        Editor.from_domain(tmp_path / "noenc.json")


def test_apply_edit_with_a_style_and_refining_in_chunks():
    from latentedit.editing import EditingError, apply_edit, load_generator, load_mapper, refine_latents
    from latentedit.editing import target_from_amounts
    from latentedit.editing.sampling import random_conditions

    G = load_generator(assets.asset_path(FILES[0]))
    sensorium = load_mapper(assets.asset_path("toyfaces_sensorium.safetensors")).mapper
    isf = load_mapper(assets.asset_path(FILES[2])).mapper
    w = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0)), truncation_psi=0.7)
    styles = random_conditions(sensorium, 2, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = (apply_edit(sensorium, w, {"smile": 1.0}, style=styles[k:k + 1]) for k in range(2))
        target = target_from_amounts({"smile": 1.0}, sensorium.generator_info.attribute_names, 1, w)
        assert torch.allclose(a, sensorium(w, target=target, style=styles[:1]), atol=1e-6)
        default = apply_edit(sensorium, w, {"smile": 1.0})
        assert (a - b).abs().max() > 1e-3 and (a - default).abs().max() > 1e-3  # the style is used
        half = apply_edit(sensorium, w, {"smile": 0.5}, style=styles[:1])
        assert torch.allclose(half, w + 0.5 * (a - w), atol=1e-5)  # the amount scales the styled edit
        # a mapper that takes no style ignores it (as z is ignored by deterministic mappers)
        assert torch.equal(apply_edit(isf, w, {"smile": 1.0}, z=torch.zeros(1, isf.z_dim)),
                           apply_edit(isf, w, {"smile": 1.0}, z=torch.zeros(1, isf.z_dim), style=styles[:1]))

    class Stepper:  # an encoder whose refine hook moves the codes by one per step
        def refine(self, w_plus, target, generator, *, steps=100):
            return w_plus + steps

    x = torch.zeros(1, 2, 3)
    chunks = refine_latents(Stepper(), refine_latents(Stepper(), x, None, generator=G, steps=3), None, generator=G,
                            steps=4)
    assert torch.equal(chunks, x + 7) and torch.equal(refine_latents(object(), x, None, generator=G, steps=0), x)
    with pytest.raises(EditingError, match="has no refine"):
        refine_latents(object(), x, None, generator=G, steps=1)
    with pytest.raises(EditingError, match="needs the generator"):
        refine_latents(Stepper(), x, None, generator=None, steps=1)
