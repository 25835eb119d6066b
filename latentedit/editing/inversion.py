"""Images -> W+ codes with an encoder plugin, optionally refined by optimisation against the images."""

from __future__ import annotations

from typing import Any

import torch

from latentedit.io.errors import EditingError
from latentedit.plugins.contract import optional_hook


def invert(encoder: Any, images: torch.Tensor, *, generator=None, refine: int = 0) -> torch.Tensor:
    """images (B, 3, H, W) in [-1, 1] (aligned crops, any square size) -> w_plus (B, num_ws, w_dim) on the
    images' device. ``refine`` > 0 then optimises the codes that many steps against the images (the encoder's
    optional ``refine`` hook; needs ``generator``); EditingError when the encoder has no such hook."""
    hook = optional_hook(encoder, "refine") if refine else None
    if refine and hook is None:
        raise EditingError(f"this encoder plugin ({type(encoder).__name__}) has no refine(); invert without "
                           "refining (refine=0, or drop --refine)")
    if refine and generator is None:
        raise EditingError("refine needs the generator the codes are drawn with (generator=G)")
    with torch.no_grad():
        w = encoder.invert(images)
    if refine:
        w = hook(w, images, generator, steps=int(refine)).detach()
    return w
