"""Robust photo loading: CMYK, 16-bit, RGBA, grayscale, EXIF rotation, truncated and non-image files, huge photos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from latentedit.faces import PhotoError, detect_faces, load_photo

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def astro():
    return np.ascontiguousarray(skimage_data.astronaut())


def test_rgb_png_loads_exactly(tmp_path, astro):
    Image.fromarray(astro).save(tmp_path / "a.png")
    assert np.array_equal(load_photo(tmp_path / "a.png"), astro)


def test_cmyk_jpeg(tmp_path, astro):
    Image.fromarray(astro).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    arr = load_photo(tmp_path / "c.jpg")
    assert arr.shape == astro.shape and arr.dtype == np.uint8
    assert np.abs(arr.astype(int) - astro.astype(int)).mean() < 8


def test_16_bit_grayscale_png(tmp_path):
    ramp = (np.linspace(0, 65535, 64 * 32).reshape(32, 64)).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    arr = load_photo(tmp_path / "g16.png")
    assert arr.shape == (32, 64, 3) and arr[0, 0, 0] == 0 and arr[-1, -1, 0] == 255
    assert np.array_equal(arr[..., 0], arr[..., 2])


def test_rgba_composited_on_white_and_grayscale(tmp_path, astro):
    rgba = np.dstack([astro, np.full(astro.shape[:2], 255, np.uint8)])
    rgba[:100, :100, 3] = 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    arr = load_photo(tmp_path / "t.png")
    assert (arr[:100, :100] == 255).all() and np.array_equal(arr[200:, 200:], astro[200:, 200:])
    Image.fromarray(astro).convert("L").save(tmp_path / "l.png")
    gray = load_photo(tmp_path / "l.png")
    assert gray.shape == astro.shape and np.array_equal(gray[..., 0], gray[..., 1])


def test_exif_rotated_photo_comes_out_upright(tmp_path, astro):
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(astro, k=1)))  # camera stored it turned 90 deg CCW
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW to display
    stored.save(tmp_path / "r.png", exif=exif)
    assert np.array_equal(load_photo(tmp_path / "r.png"), astro)


def test_truncated_and_non_image_files_are_one_line_errors(tmp_path, astro):
    Image.fromarray(astro).save(tmp_path / "full.jpg", quality=90)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(PhotoError, match="cut.jpg: truncated or damaged") as exc:
        load_photo(tmp_path / "cut.jpg")
    assert "\n" not in str(exc.value)
    (tmp_path / "notes.jpg").write_text("not an image")
    with pytest.raises(PhotoError, match="notes.jpg: not an image"):
        load_photo(tmp_path / "notes.jpg")
    with pytest.raises(PhotoError, match="missing.png: no such file"):
        load_photo(tmp_path / "missing.png")
    with pytest.raises(PhotoError, match="is a folder"):
        load_photo(tmp_path)


def test_large_photo_is_downscaled_for_detection_only(astro):
    big = np.asarray(Image.fromarray(astro).resize((2048, 2048), Image.Resampling.BICUBIC))
    small = detect_faces(astro)
    faces = detect_faces(big, max_side=512)
    assert len(faces) == 1 and len(small) == 1
    assert np.abs(faces[0].landmarks / 4 - small[0].landmarks).max() < 4  # landmarks in full-size coordinates
