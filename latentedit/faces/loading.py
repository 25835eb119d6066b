"""Robust photo loading: any mode PIL reads becomes an (H, W, 3) uint8 RGB array, upright, or a one-line error.

Handled: EXIF orientation (rotated phone photos), grayscale and 1-bit, palette, RGBA/LA/palette transparency
(composited on white), CMYK, 16-bit and 32-bit integer and float images (rescaled to 8 bits), and very large
images (up to :func:`pixel_limit`, 400 Mpx unless ``LATENTEDIT_MAX_PIXELS`` or ``max_pixels=`` says otherwise; the
declared size is checked before anything is decoded). Only regular files are opened (a FIFO would block). A
missing, truncated or non-image file raises :class:`PhotoError`, whose message is one line starting with the file
name.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from latentedit.io.errors import InputFileError, LatenteditInputError

#: largest image we agree to decode by default (a 20000x20000 photo); PIL's own default limit is ~179 MP
MAX_PIXELS = 400_000_000
PIXEL_LIMIT_ENV = "LATENTEDIT_MAX_PIXELS"


class PhotoError(InputFileError):
    """A photo could not be read or holds no usable face; one line naming the file."""


def pixel_limit() -> int:
    """The largest photo (width x height) :func:`load_photo` decodes: ``$LATENTEDIT_MAX_PIXELS`` or
    :data:`MAX_PIXELS`."""
    raw = os.environ.get(PIXEL_LIMIT_ENV, "").strip()
    if not raw:
        return MAX_PIXELS
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise LatenteditInputError(f"{PIXEL_LIMIT_ENV}={raw!r}: expected a positive whole number of pixels "
                                   f"(default {MAX_PIXELS:,})")
    return value


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    """Integer or float pixels of any range -> uint8 (16-bit: /257; other ranges: scaled by their maximum)."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    a = arr.astype(np.float64)
    if np.issubdtype(arr.dtype, np.floating):
        hi = float(np.nanmax(a)) if a.size else 1.0
        a = a * 255.0 if hi <= 1.0 else a * (255.0 / hi)
    else:
        hi = float(a.max()) if a.size else 255
        a = a / 257.0 if hi <= 65535 and hi > 255 else (a if hi <= 255 else a * (255.0 / hi))
    return np.clip(np.nan_to_num(a), 0, 255).round().astype(np.uint8)


def pil_to_rgb_array(image) -> np.ndarray:
    """A PIL image of any mode -> (H, W, 3) uint8 RGB (transparency composited on white)."""
    from PIL import Image

    mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    if mode.startswith("I") or mode == "F":
        gray = _to_uint8(np.asarray(image))
        if gray.ndim == 3:
            gray = gray[..., 0]
        return np.repeat(gray[..., None], 3, axis=2)
    if mode in ("RGB",):
        arr = np.asarray(image)
        return _to_uint8(arr) if arr.dtype != np.uint8 else arr
    return np.asarray(image.convert("RGB"))


def load_photo(path: str | os.PathLike, *, max_pixels: int | None = None) -> np.ndarray:
    """Read ``path`` as an upright (H, W, 3) uint8 RGB array; PhotoError (one line, names the file) otherwise.

    Images declaring more than ``max_pixels`` (default :func:`pixel_limit`) pixels are refused before decoding.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    from latentedit.io.paths import require_regular_file

    path = Path(path)
    if not path.exists():
        raise PhotoError(path, "no such file")
    if path.is_dir():
        raise PhotoError(path, "is a folder, not an image")
    require_regular_file(path, what="image file", error=PhotoError)
    limit = pixel_limit() if max_pixels is None else int(max_pixels)
    old_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # PIL's own check errors only at twice its limit; ours is exact, below
    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > limit:
                raise Image.DecompressionBombError(f"{w}x{h} = {w * h:,} pixels; the limit is {limit:,} "
                                                   f"(set {PIXEL_LIMIT_ENV} to raise it)")
            im.load()
            im = ImageOps.exif_transpose(im) or im
            arr = pil_to_rgb_array(im)
    except UnidentifiedImageError:
        raise PhotoError(path, "not an image PIL can read (unknown format)") from None
    except Image.DecompressionBombError as exc:
        raise PhotoError(path, f"too large to decode safely ({exc})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        low = str(exc).lower()
        why = "truncated or damaged image file" if "truncat" in low or "broken" in low or isinstance(
            exc, EOFError) else f"unreadable image ({type(exc).__name__}: {exc})"
        raise PhotoError(path, why) from None
    finally:
        Image.MAX_IMAGE_PIXELS = old_limit
    if arr.ndim != 3 or arr.shape[2] != 3 or min(arr.shape[:2]) < 1:
        raise PhotoError(path, f"decoded to an unexpected array of shape {arr.shape}")
    return np.ascontiguousarray(arr)


def photo_to_tensor(arr: np.ndarray):
    """(H, W, 3) uint8 -> (1, 3, H, W) float32 in [-1, 1]."""
    import torch

    return torch.from_numpy(np.array(arr, dtype=np.uint8, copy=True)).permute(2, 0, 1).unsqueeze(0).float() / 127.5 - 1


def tensor_to_photo(t) -> np.ndarray:
    """(1, 3, H, W) or (3, H, W) in [-1, 1] -> (H, W, 3) uint8."""
    if t.ndim == 4:
        t = t[0]
    return ((t.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
