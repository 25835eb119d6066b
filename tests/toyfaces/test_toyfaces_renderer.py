"""The toy-faces renderer: determinism, each factor doing what it says, resolutions."""

import pytest
import torch
import torch.nn.functional as tnf

from latentedit_toyfaces import renderer as R
from latentedit_toyfaces.factors import (FACTOR_NAMES, IDENTITY_INDEX, INDEX, NUISANCE_INDEX, NUM_FACTORS,
                                         factors_from_gaussian, sample_factors, with_attributes, with_nuisance)
from latentedit_toyfaces.renderer import render

FRAME = torch.tensor(R._FRAME) * 2 - 1
RES = 64


def centred(n, seed=0, **attrs):
    """Faces with no shift/tilt and neutral light (so regions sit at known places), plus attribute values."""
    f = with_nuisance(sample_factors(n, seed), shift_x=0.5, shift_y=0.5, tilt=0.5, light=0.5)
    return with_attributes(f, **attrs) if attrs else f


def rows_cols(y0, y1, x0, x1, res=RES):
    """Boolean (res, res) mask of an image-coordinate box."""
    axis = (torch.arange(res) + 0.5) * 2 / res - 1
    return ((axis[:, None] >= y0) & (axis[:, None] <= y1) & (axis[None, :] >= x0) & (axis[None, :] <= x1))


def changed(a, b, tol=1e-4):
    """(B, H, W) mask of pixels that differ between two image batches."""
    return (a - b).abs().amax(1) > tol


def test_shape_range_dtype():
    img = render(sample_factors(5, 0))
    assert img.shape == (5, 3, 64, 64) and img.dtype == torch.float32
    assert img.min() >= -1 and img.max() <= 1
    assert render(sample_factors(2, 0), resolution=32).shape == (2, 3, 32, 32)


def test_deterministic_and_independent_of_batch_size():
    f = sample_factors(70, 11)
    full = render(f)
    assert torch.equal(full, render(f))
    parts = torch.cat([render(f[:1]), render(f[1:33]), render(f[33:])])
    assert torch.allclose(full, parts, atol=1e-6, rtol=0)
    assert torch.allclose(full[5:6], render(f[5:6]), atol=1e-6, rtol=0)


def test_windows_hold_every_pose_and_identity(monkeypatch):
    """The speed-up windows never clip a shape: extreme poses/identities render as on the full frame."""
    g = torch.Generator().manual_seed(4)
    u = torch.randn(160, NUM_FACTORS, generator=g)
    cols = list(NUISANCE_INDEX) + list(IDENTITY_INDEX)
    u[:, cols] = torch.sign(u[:, cols]) * 5  # every identity and pose factor at 0 or 1
    f = factors_from_gaussian(u)
    fast = render(f)
    for name in ("_WIN_HEAD", "_WIN_NECK", "_WIN_EYES", "_WIN_LOWER"):
        monkeypatch.setattr(R, name, (-1.0, 1.0, -1.0, 1.0))
    assert torch.equal(fast, render(f))


def test_every_factor_changes_the_image():
    base = centred(8, 3)
    img = render(base)
    for i, name in enumerate(FACTOR_NAMES):
        f = base.clone()
        f[:, i] = torch.where(f[:, i] > 0.5, 0.0, 1.0)
        visible = changed(render(f), img, 0.1).sum((1, 2))  # pixels changed by > 5% of the range
        assert (visible >= 4).all(), f"{name}: only {int(visible.min())} pixels visibly change in some face"


def test_eyeglasses_off_means_no_frame_pixels_in_the_eye_region():
    eye_band = rows_cols(-0.35, 0.15, -0.6, 0.6)
    off, on = render(centred(16, 1, eyeglasses=0.0)), render(centred(16, 1, eyeglasses=1.0))
    near_frame = lambda img: ((img - FRAME[:, None, None]).abs().amax(1) < 0.08) & eye_band
    assert near_frame(off).sum() == 0
    assert (near_frame(on).sum((1, 2)) >= 25).all()  # thick frames: dozens of pixels per face at 64×64
    assert not changed(off, on)[:, ~eye_band].any()
    # below the visible ramp the glasses are not drawn at all
    assert torch.equal(off, render(centred(16, 1, eyeglasses=0.15)))


def test_hair_color_changes_hair_pixels_only():
    f = centred(16, 2, beard=0.0, age=0.0)
    dark, blond = render(with_attributes(f, hair_color=0.0)), render(with_attributes(f, hair_color=1.0))
    diff = changed(dark, blond, 0.05)
    assert (diff.sum((1, 2)) > 80).all()  # a visible amount of hair changes colour
    # Compositing is linear in the hair colour: wherever anything changed, the change must be (some coverage
    # in [0, 1]) × (blond - dark). A change of skin, eyes or background would point elsewhere.
    v = (torch.tensor(R._HAIR_BLOND) - torch.tensor(R._HAIR_DARK)) * 2
    d = (blond - dark).permute(0, 2, 3, 1)[changed(dark, blond)]  # (N, 3)
    coverage = d @ v / v.dot(v)
    assert (coverage > 0).all() and (coverage <= 1 + 1e-4).all()
    assert (d - coverage[:, None] * v).abs().max() < 1e-4
    # the eyes, nose and mouth never change
    assert not changed(dark, blond)[:, rows_cols(-0.2, 0.3, -0.2, 0.2)].any()


def test_smile_changes_only_the_mouth_region():
    f = centred(16, 5)
    a, b = render(with_attributes(f, smile=0.0)), render(with_attributes(f, smile=1.0))
    diff = changed(a, b)
    mouth = rows_cols(0.12, 0.48, -0.3, 0.3)
    assert not diff[:, ~mouth].any()
    assert (diff.sum((1, 2)) > 15).all()


def test_beard_changes_only_the_lower_face_and_age_adds_grey():
    f = centred(16, 6, beard=0.0)
    a, b = render(f), render(with_attributes(f, beard=1.0))
    assert not changed(a, b)[:, rows_cols(-1, -0.05, -1, 1)].any()
    assert (changed(a, b, 0.05).sum((1, 2)) > 100).all()
    young, old = render(with_attributes(f, age=0.0)), render(with_attributes(f, age=1.0))
    sat = lambda img: (img.amax(1) - img.amin(1))
    hair_px = changed(young, old, 0.05)
    assert (sat(old)[hair_px] < sat(young)[hair_px] + 1e-6).float().mean() > 0.8  # greyer


def test_rerendering_a_person_with_other_attributes_keeps_identity_pixels():
    f = centred(16, 7)
    g = with_attributes(f, smile=1 - f[:, INDEX["smile"]].round())
    diff = changed(render(f), render(g))
    assert not diff[:, rows_cols(-1, 0.1, -1, 1)].any()  # forehead, eyes, hair untouched


def test_same_face_across_resolutions():
    f = sample_factors(16, 8)
    r64 = render(f, 64)
    down = tnf.avg_pool2d(render(f, 128), 2)
    assert (down - r64).abs().mean() < 0.02
    down4 = tnf.avg_pool2d(render(f, 256), 4)
    assert (down4 - r64).abs().mean() < 0.025
    assert (tnf.avg_pool2d(r64, 2) - render(f, 32)).abs().mean() < 0.03


def test_contact_sheet_and_uint8():
    img = render(sample_factors(10, 0), 16)
    sheet = R.contact_sheet(img, columns=4, pad=2)
    assert sheet.shape == (3 * 18 + 2, 4 * 18 + 2, 3) and sheet.dtype == torch.uint8
    assert R.to_uint8(img).shape == (10, 16, 16, 3)


@pytest.mark.parametrize("res", [4, 64.0, True])
def test_bad_resolution_is_rejected(res):
    with pytest.raises(R.RenderError, match="resolution"):
        render(sample_factors(1, 0), res)


@pytest.mark.parametrize("name", ["smile", "eyeglasses", "age", "hair_color", "beard"])
def test_attribute_intensity_is_a_continuous_ramp(name):
    """The picture moves away from intensity 0 steadily as the intensity grows, with no jump anywhere.

    (The smile moves a curve, so its distance from the frown need not grow monotonically: only smoothness.)
    """
    f = centred(6, 9)
    levels = torch.linspace(0, 1, 21)
    imgs = torch.stack([render(with_attributes(f, **{name: float(v)})) for v in levels])  # (21, B, 3, H, W)
    dist = (imgs - imgs[0]).abs().mean((2, 3, 4))  # (21, B)
    if name != "smile":
        assert (dist[1:] >= dist[:-1] - 1e-6).all(), "not monotone"
    steps = (imgs[1:] - imgs[:-1]).abs().mean((2, 3, 4))  # (20, B)
    assert (steps.amax(0) < 0.35 * dist[-1]).all(), "one 0.05 step makes most of the change: not smooth"
    assert (dist[-1] > 5 * dist[2]).all(), "most of the change should happen past 0.1"
