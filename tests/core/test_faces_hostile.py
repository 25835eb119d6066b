"""Photos that declare more pixels than the setting are refused before decoding; FIFOs are refused unopened."""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from latentedit.faces.loading import MAX_PIXELS, PhotoError, load_photo, pixel_limit
from latentedit.testing import hostile_files as hf


def _png_header_only(path, width: int, height: int):
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def test_documented_limit_is_the_default():
    assert MAX_PIXELS == 400_000_000 and pixel_limit() == MAX_PIXELS


def test_625_megapixel_png_is_refused_before_decoding(tmp_path):
    path = _png_header_only(tmp_path / "huge.png", 25_000, 25_000)
    with pytest.raises(PhotoError) as err:
        load_photo(path)
    msg = str(err.value)
    assert msg.startswith(str(path)) and "625,000,000 pixels" in msg and "400,000,000" in msg


def test_pixel_limit_is_a_setting(tmp_path, monkeypatch):
    path = tmp_path / "small.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(path)
    assert load_photo(path).shape == (20, 20, 3)
    with pytest.raises(PhotoError, match="400 pixels"):
        load_photo(path, max_pixels=100)
    monkeypatch.setenv("LATENTEDIT_MAX_PIXELS", "100")
    with pytest.raises(PhotoError, match="limit is 100"):
        load_photo(path)


def test_fifo_photo_is_refused_without_blocking(tmp_path):
    path = tmp_path / "photo.png"
    os.mkfifo(path)
    out = hf.run_limited(path, "photo", timeout=15)
    assert out["status"] == "refused" and "named pipe" in out["error"], out
