"""Photos in, aligned face crops out (keeping the transform for paste-back), and edited crops pasted back.

    photo = load_photo("me.jpg")                        # (H, W, 3) uint8, upright; PhotoError otherwise
    faces = align_faces(photo, 256, face="largest")     # [AlignedFace]: crop (1, 3, 256, 256) in [-1, 1] + transform
    pasted = faces[0].paste(edited_crop)                # (H, W, 3) uint8: feathered, colour-matched seam

With ``align=False`` the photo is taken as an already aligned crop: its central square, resized, with no
transform (nothing to paste back into).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from latentedit.faces import AlignTransform, PhotoError, load_photo, paste_back, photo_to_tensor

PHOTO_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif"})

__all__ = ["AlignedFace", "PHOTO_SUFFIXES", "PhotoError", "align_faces", "center_square", "expand_photo_paths",
           "is_photo", "load_photo", "paste_back"]


def is_photo(path: str | os.PathLike) -> bool:
    """Whether the file name has an image suffix we read."""
    return Path(path).suffix.lower() in PHOTO_SUFFIXES


def expand_photo_paths(inputs, *, latents: bool = False) -> list[Path]:
    """Files as given; folders -> the image files they contain (sorted, not recursive), and with ``latents`` also
    the W+ latent files (``*.safetensors``) in them."""
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if not p.is_dir():
            out.append(p)
            continue
        out += sorted(q for q in p.iterdir() if q.is_file() and (is_photo(q) or (latents and
                                                                                 q.name.endswith(".safetensors"))))
    return out


def center_square(photo: np.ndarray, size: int) -> torch.Tensor:
    """An (H, W, 3) uint8 photo -> its central square resized to (1, 3, size, size) in [-1, 1]."""
    h, w = photo.shape[:2]
    s = min(h, w)
    sq = photo_to_tensor(photo[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s])
    if s != size:
        sq = F.interpolate(sq, size=(size, size), mode="area" if s > size else "bilinear")
    return sq.clamp(-1, 1)


@dataclass(frozen=True)
class AlignedFace:
    """One face of a photo: ``crop (1, 3, S, S)`` in [-1, 1], the ``photo (H, W, 3)`` uint8 it came from and the
    ``transform`` (None for an unaligned central square); ``index``/``count``: which of the photo's chosen faces."""

    crop: torch.Tensor
    photo: np.ndarray = field(repr=False)
    transform: AlignTransform | None = None
    box: tuple[float, float, float, float] | None = None
    score: float | None = None
    index: int = 0
    count: int = 1

    @property
    def suffix(self) -> str:
        """'' for a photo's only face, else '_faceK' (K from 1, left to right)."""
        return f"_face{self.index + 1}" if self.count > 1 else ""

    def paste(self, edited: torch.Tensor) -> np.ndarray | None:
        """Paste an edited crop (1, 3, S', S') in [-1, 1] back into the photo -> (H, W, 3) uint8; None without a
        transform (unaligned crops)."""
        return None if self.transform is None else paste_back(self.photo, edited, self.transform)

    def metadata(self) -> dict:
        """What a latent file records to paste back later: aligned, box, score, transform (a JSON-able dict)."""
        if self.transform is None:
            return {"aligned": False}
        return {"aligned": True, "box": list(self.box), "score": self.score, "transform": self.transform.to_dict()}


def align_faces(photo: np.ndarray, size: int, *, face: str | int = "largest", align: bool = True,
                source: str | os.PathLike = "photo") -> list[AlignedFace]:
    """Detect (MTCNN), choose (``face``: 'all', 'largest' or N counted from the left) and FFHQ-align the faces of
    an (H, W, 3) uint8 photo into crops of ``size``; ``align=False`` takes the central square instead.
    PhotoError (naming ``source``) when there is no (such) face."""
    from latentedit.faces import align_face, detect_faces, select_faces

    if not align:
        return [AlignedFace(center_square(photo, size), photo)]
    found = select_faces(detect_faces(photo), face, source)
    out = []
    for k, f in enumerate(found):
        crop, t = align_face(photo, f.landmarks, size)
        out.append(AlignedFace(crop, photo, t, tuple(f.box), f.score, k, len(found)))
    return out
