"""Images -> W+ codes with an encoder plugin, optionally refined by optimisation against the images."""

from __future__ import annotations

from typing import Any

import torch

from latentedit.io.errors import EditingError
from latentedit.plugins.contract import optional_hook


def _refine_hook(encoder: Any, generator):
    hook = optional_hook(encoder, "refine")
    if hook is None:
        raise EditingError(f"this encoder plugin ({type(encoder).__name__}) has no refine(); invert without "
                           "refining (refine=0, or drop --refine)")
    if generator is None:
        raise EditingError("refine needs the generator the codes are drawn with (generator=G)")
    return hook


def refine_latents(encoder: Any, w_plus: torch.Tensor, images: torch.Tensor, *, generator,
                   steps: int) -> torch.Tensor:
    """``steps`` optimisation steps of the codes ``w_plus (B, num_ws, w_dim)`` against ``images (B, 3, H, W)``
    with the encoder's optional ``refine`` hook (call it in chunks to report progress between them); the codes as
    given when ``steps`` <= 0. EditingError when the encoder has no such hook. Returns detached codes."""
    if steps <= 0:
        return w_plus
    return _refine_hook(encoder, generator)(w_plus, images, generator, steps=int(steps)).detach()


def invert(encoder: Any, images: torch.Tensor, *, generator=None, refine: int = 0) -> torch.Tensor:
    """images (B, 3, H, W) in [-1, 1] (aligned crops, any square size) -> w_plus (B, num_ws, w_dim) on the
    images' device. ``refine`` > 0 then optimises the codes that many steps against the images (the encoder's
    optional ``refine`` hook; needs ``generator``; see ``refine_latents``); EditingError when it has none."""
    if refine:
        _refine_hook(encoder, generator)  # fail before the encoder runs
    with torch.no_grad():
        w = encoder.invert(images)
    return refine_latents(encoder, w, images, generator=generator, steps=int(refine))
