"""Image conversions and atomic image writes. Tensors are (B, 3, H, W) float in [-1, 1]."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from latentedit.io.modelfile import atomic_write

#: zlib level of the PNGs we write: 1 writes a 1024-px photo in 0.1 s instead of 0.6 s (level 6, PIL's default)
#: for files 10-40% larger
PNG_COMPRESS_LEVEL = 1


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """(B, C, H, W) in [-1, 1] -> (B, H, W, C) uint8."""
    if img.ndim != 4:
        raise ValueError(f"images must be (B, C, H, W); got {tuple(img.shape)}")
    x = ((img.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


def from_pil(image) -> torch.Tensor:
    """A PIL image -> (1, 3, H, W) float in [-1, 1] (converted to RGB)."""
    arr = np.asarray(image.convert("RGB"), dtype=np.float32)
    return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0) / 127.5 - 1


def make_grid(img: torch.Tensor, ncol: int | None = None, pad: int = 2) -> torch.Tensor:
    """(B, C, H, W) -> (C, H', W') with ``ncol`` columns (default ~sqrt(B)), white padding (1.0)."""
    b, c, h, w = img.shape
    ncol = ncol or math.ceil(math.sqrt(b))
    nrow = math.ceil(b / ncol)
    grid = torch.ones(c, nrow * (h + pad) + pad, ncol * (w + pad) + pad, dtype=img.dtype)
    for i in range(b):
        r, col = divmod(i, ncol)
        grid[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = img[i]
    return grid


def save_image(img: torch.Tensor, path, *, ncol: int | None = None) -> Path:
    """Save one image (C, H, W) or a batch (B, C, H, W) as a grid, atomically; the format follows the suffix."""
    from PIL import Image

    if img.ndim == 3:
        img = img.unsqueeze(0)
    grid = img[0] if img.shape[0] == 1 else make_grid(img.detach().float().cpu(), ncol)
    arr = to_uint8(grid.unsqueeze(0))[0]
    return save_pil(Image.fromarray(arr.squeeze(-1) if arr.shape[-1] == 1 else arr), path)


def save_pil(image, path) -> Path:
    """Save a PIL image (or an (H, W, 3) uint8 array) atomically; the format follows the suffix (PNG by default,
    written at ``PNG_COMPRESS_LEVEL``)."""
    from PIL import Image

    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    fmt = Path(path).suffix.lstrip(".").upper().replace("JPG", "JPEG") or "PNG"
    options = {"compress_level": PNG_COMPRESS_LEVEL} if fmt == "PNG" else {}
    return atomic_write(path, lambda tmp: image.save(tmp, format=fmt, **options))
