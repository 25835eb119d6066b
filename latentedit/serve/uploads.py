"""Decoding uploaded photos safely: a byte limit, a pixel limit read from the header before any pixel is decoded
(decompression bombs), a short list of formats, and one-line errors carrying the HTTP status to answer with."""

from __future__ import annotations

import io
import warnings

import numpy as np

#: formats the page accepts (PIL names); anything else is refused before decoding
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")


class UploadError(ValueError):
    """An upload the server refuses; ``status`` is the 4xx code to answer with, the message is for the page."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(" ".join(str(message).split()))
        self.status = status


def check_size(n_bytes: int, max_bytes: int) -> None:
    """UploadError (413) when ``n_bytes`` exceeds ``max_bytes``; (400) when empty."""
    if n_bytes <= 0:
        raise UploadError("the uploaded file is empty; choose a photo (PNG, JPEG, WebP, BMP or GIF)")
    if n_bytes > max_bytes:
        raise UploadError(f"the upload is {n_bytes / 1e6:.1f} MB; this server takes at most {max_bytes / 1e6:.1f} MB "
                          "per photo (start it with a larger --max-upload-mb, or shrink the photo)", 413)


def decode_photo(data: bytes, *, max_bytes: int, max_pixels: int) -> np.ndarray:
    """Upload bytes -> an upright (H, W, 3) uint8 RGB array, or UploadError (400/413/415)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    from latentedit.faces import pil_to_rgb_array

    check_size(len(data), max_bytes)
    try:
        im = Image.open(io.BytesIO(data), formats=FORMATS)
    except UnidentifiedImageError:
        raise UploadError(f"not an image this page reads; accepted formats: {', '.join(FORMATS)}", 415) from None
    except Image.DecompressionBombError:
        raise UploadError(f"refused: the image declares far more pixels than this server decodes (at most "
                          f"{max_pixels / 1e6:.1f} MP: decompression-bomb guard); shrink the photo", 413) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UploadError(f"unreadable image header ({type(exc).__name__}: {exc})") from None
    with im:
        w, h = im.size
        if w < 1 or h < 1:
            raise UploadError(f"the image is {w}x{h} pixels; nothing to edit")
        if w * h > max_pixels:
            raise UploadError(f"refused: the image declares {w}x{h} = {w * h / 1e6:.1f} MP; this server decodes at "
                              f"most {max_pixels / 1e6:.1f} MP (decompression-bomb guard); shrink the photo", 413)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                im.load()
                upright = ImageOps.exif_transpose(im) or im
                arr = pil_to_rgb_array(upright)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise UploadError(f"refused: decompression bomb ({exc})", 413) from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            low = str(exc).lower()
            why = "truncated or damaged image file" if "truncat" in low or isinstance(exc, EOFError) else (
                f"unreadable image ({type(exc).__name__}: {exc})")
            raise UploadError(why) from None
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise UploadError(f"decoded to an unexpected array of shape {arr.shape}")
    return np.ascontiguousarray(arr)
