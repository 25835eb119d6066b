"""W+ latent files as editing inputs: each latent with a paste-back into its photo when the file records one
(files written by ``latentedit invert`` name the photo and the alignment transform)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from latentedit.io.errors import EditingError

LATENT_SUFFIX = ".safetensors"
WPLUS_SUFFIX = ".wplus.safetensors"


def is_latent_file(path: str | Path) -> bool:
    """True when ``path`` names a latent (W+) file, a ``.safetensors``, rather than a photo."""
    return Path(path).name.endswith(LATENT_SUFFIX)


def paste_from_metadata(extra: dict) -> Callable[[torch.Tensor], np.ndarray] | None:
    """A paste-back callable (edited crop (1, 3, S, S) -> photo (H, W, 3) uint8) from a latent file's metadata,
    or None when the file has none or its photo is gone or changed size."""
    if not extra.get("aligned") or "transform" not in extra or not extra.get("photo"):
        return None
    try:
        from latentedit import faces

        photo = faces.load_photo(extra["photo"])
        t = faces.AlignTransform.from_dict(extra["transform"])
    except (ImportError, ValueError, KeyError, OSError):
        return None
    if tuple(photo.shape[:2]) != tuple(t.photo_hw):
        return None
    return lambda edited: faces.paste_back(photo, edited, t)


def latents_from_files(paths, generator) -> Iterator[tuple[str, torch.Tensor, Callable | None]]:
    """Yield (name, w_plus (1, num_ws, w_dim), paste-back or None) per latent in each W or W+ file (tied to
    ``generator``: another generator's file is an error). Single-latent files from ``latentedit invert`` paste back
    into their photo when it still exists."""
    from latentedit.latents import LatentError, load_latents, w_to_wplus

    for path in map(Path, paths):
        try:
            lf = load_latents(path, generator)
        except LatentError as exc:
            raise EditingError(str(exc)) from None
        t = lf.tensor
        if lf.space == "w":
            t = w_to_wplus(t, generator.num_ws)
        elif lf.space != "w_plus":
            raise EditingError(f"{path}: holds {lf.space!r} latents; editing needs W or W+ files "
                               "(`latentedit sample --save-latents` writes W+)")
        stem = path.name[: -len(WPLUS_SUFFIX)] if path.name.endswith(WPLUS_SUFFIX) else path.stem
        paste = paste_from_metadata(lf.extra) if t.shape[0] == 1 else None
        for i in range(t.shape[0]):
            yield (stem if t.shape[0] == 1 else f"{stem}_{i}"), t[i: i + 1], paste
