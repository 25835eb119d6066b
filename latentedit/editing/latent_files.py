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


def paste_from_metadata(extra: dict, *, base: str | Path | None = None,
                        notes: list[str] | None = None) -> Callable[[torch.Tensor], np.ndarray] | None:
    """A paste-back callable (edited crop (1, 3, S, S) -> photo (H, W, 3) uint8) from a latent file's metadata,
    or None when the file has none or its photo is gone or changed size (then a one-line reason is appended to
    ``notes``). A relative photo path (files from older versions) is tried as given, then next to ``base``."""
    if not extra.get("aligned") or "transform" not in extra or not extra.get("photo"):
        return None
    recorded = Path(extra["photo"])
    candidates = [recorded] + ([Path(base) / recorded] if base is not None and not recorded.is_absolute() else [])
    where = next((c for c in candidates if c.is_file()), None)

    def skip(why: str):
        if notes is not None:
            notes.append(f"no paste-back: {why}")
        return None

    if where is None:
        return skip(f"the photo {recorded} it was inverted from is missing (put it back there to paste back)")
    try:
        from latentedit import faces

        photo = faces.load_photo(where)
        t = faces.AlignTransform.from_dict(extra["transform"])
    except (ImportError, ValueError, KeyError, OSError) as exc:
        return skip(f"cannot read the photo {where} or its alignment ({str(exc).strip().splitlines()[0]})")
    if tuple(photo.shape[:2]) != tuple(t.photo_hw):
        return skip(f"the photo {where} is {photo.shape[1]}x{photo.shape[0]} px, not the {t.photo_hw[1]}x"
                    f"{t.photo_hw[0]} it was inverted from")
    return lambda edited: faces.paste_back(photo, edited, t)


def latents_from_files(paths, generator, *, notes: list[str] | None = None
                       ) -> Iterator[tuple[str, torch.Tensor, Callable | None]]:
    """Yield (name, w_plus (1, num_ws, w_dim), paste-back or None) per latent in each W or W+ file (tied to
    ``generator``: another generator's file is an error). Single-latent files from ``latentedit invert`` paste back
    into their photo when it still exists; otherwise ``notes`` gets a line "FILE: no paste-back: why"."""
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
        why: list[str] = []
        paste = paste_from_metadata(lf.extra, base=path.parent, notes=why) if t.shape[0] == 1 else None
        if notes is not None:
            notes += [f"{path}: {line}" for line in why]
        for i in range(t.shape[0]):
            yield (stem if t.shape[0] == 1 else f"{stem}_{i}"), t[i: i + 1], paste
