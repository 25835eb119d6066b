"""Paste an (edited) aligned crop back into its photo: inverse similarity, feathered mask, colour-matched seam.

For every photo pixel under the crop's quad: (u, v) = M^-1 (x, y); the crop is sampled there, and blended with
a mask that is 1 inside the crop and falls smoothly to 0 over the outer ``feather`` fraction of its side.
Colour matching: the mean colour difference (photo - crop) measured along the seam band is added to the crop,
fading out towards the centre, so lighting shifts from the edit do not leave a visible border while the face
itself keeps the edit. Pixels outside the quad are never touched.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from latentedit.faces.align import AlignTransform


def _smoothstep(t: torch.Tensor) -> torch.Tensor:
    t = t.clamp(0, 1)
    return t * t * (3 - 2 * t)


def paste_back(photo: np.ndarray, crop: torch.Tensor, transform: AlignTransform, *, feather: float = 0.08,
               color_match: bool = True) -> np.ndarray:
    """photo (H, W, 3) uint8, crop (1, 3, S', S') in [-1, 1] (any S'; resized to the transform's size) ->
    a new (H, W, 3) uint8 photo."""
    from latentedit.faces.loading import photo_to_tensor, tensor_to_photo

    if not isinstance(crop, torch.Tensor) or crop.ndim != 4 or crop.shape[:2] != (1, 3):
        raise ValueError(f"crop must be (1, 3, S, S) in [-1, 1]; got "
                         f"{tuple(crop.shape) if isinstance(crop, torch.Tensor) else type(crop).__name__}")
    if tuple(photo.shape[:2]) != tuple(transform.photo_hw):
        raise ValueError(f"the transform was made for a {transform.photo_hw[1]}x{transform.photo_hw[0]} photo; "
                         f"this one is {photo.shape[1]}x{photo.shape[0]}")
    if not 0 < feather < 0.5:
        raise ValueError(f"feather must be in (0, 0.5) (a fraction of the crop side); got {feather}")
    s = transform.size
    crop = crop.detach().float().cpu()
    if crop.shape[-1] != s:
        crop = F.interpolate(crop, size=(s, s), mode="area" if crop.shape[-1] > s else "bilinear")
    shrink = int(0.25 / transform.scale) if transform.scale < 0.125 else 1  # crop >8x finer than the photo: pre-blur
    if shrink > 1:
        crop = F.avg_pool2d(crop, shrink, stride=shrink, ceil_mode=True)
    H, W = photo.shape[:2]
    q = transform.quad()
    x0, y0 = max(int(math.floor(q[:, 0].min())), 0), max(int(math.floor(q[:, 1].min())), 0)
    x1, y1 = min(int(math.ceil(q[:, 0].max())) + 1, W), min(int(math.ceil(q[:, 1].max())) + 1, H)
    out = photo.copy()
    if x1 <= x0 or y1 <= y0:
        return out
    inv = torch.as_tensor(transform.inverse())
    ys, xs = torch.meshgrid(torch.arange(y0, y1, dtype=torch.float64) + 0.5,
                            torch.arange(x0, x1, dtype=torch.float64) + 0.5, indexing="ij")
    u = inv[0, 0] * xs + inv[0, 1] * ys + inv[0, 2]
    v = inv[1, 0] * xs + inv[1, 1] * ys + inv[1, 2]
    grid = torch.stack([u / s * 2 - 1, v / s * 2 - 1], dim=-1).unsqueeze(0).float()
    warped = F.grid_sample(crop, grid, mode="bicubic", padding_mode="border", align_corners=False)
    edge = torch.minimum(torch.minimum(u, s - u), torch.minimum(v, s - v)).float() / s  # 0 at the crop's border
    mask = _smoothstep(edge / feather)[None, None]
    region = photo_to_tensor(photo[y0:y1, x0:x1])
    if color_match:
        band = (mask * (1 - mask)).clamp_min(0)
        if float(band.sum()) > 0:
            offset = ((region - warped) * band).sum(dim=(2, 3), keepdim=True) / band.sum()
            core = _smoothstep(edge / (3 * feather))[None, None]
            warped = warped + offset * (1 - core)
    blended = region * (1 - mask) + warped * mask
    patch = tensor_to_photo(blended)
    keep = (mask[0, 0] <= 0).numpy()
    patch[keep] = photo[y0:y1, x0:x1][keep]
    out[y0:y1, x0:x1] = patch
    return out
