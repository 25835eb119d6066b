"""Face detection and 5-point landmarks with facenet-pytorch's MTCNN (its weights ship inside the wheel).

Landmarks are (5, 2) pixel coordinates (x, y) in the full photo, in MTCNN's order: left eye, right eye, nose,
left mouth corner, right mouth corner (left/right as seen in the image). Large photos are downscaled to
``max_side`` for detection only; landmarks are scaled back.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np

from latentedit.faces.loading import PhotoError

DETECT_MAX_SIDE = 1024


@dataclass(frozen=True)
class Face:
    """One detection: ``box`` (x0, y0, x1, y1), ``score`` in [0, 1], ``landmarks`` (5, 2) float (x, y)."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray

    @property
    def area(self) -> float:
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])


@functools.lru_cache(maxsize=2)
def _mtcnn(min_face_size: int):
    from facenet_pytorch import MTCNN

    return MTCNN(keep_all=True, min_face_size=min_face_size, post_process=False, device="cpu")


def detect_faces(photo: np.ndarray, *, max_side: int = DETECT_MAX_SIDE, min_face_size: int = 20,
                 min_score: float = 0.9) -> list[Face]:
    """Faces in an (H, W, 3) uint8 photo, sorted left to right (by box centre)."""
    import torch
    from PIL import Image

    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise ValueError(f"detect_faces expects an (H, W, 3) uint8 RGB array; got {photo.shape} {photo.dtype}")
    h, w = photo.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    pil = Image.fromarray(photo)
    if scale < 1.0:
        pil = pil.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BOX)
    with torch.no_grad():
        boxes, probs, points = _mtcnn(int(min_face_size)).detect(pil, landmarks=True)
    if boxes is None:
        return []
    faces = [Face(tuple(float(v) / scale for v in b), float(p), np.asarray(pts, dtype=np.float64) / scale)
             for b, p, pts in zip(boxes, probs, points, strict=True) if p is not None and p >= min_score]
    return sorted(faces, key=lambda f: (f.box[0] + f.box[2]) / 2)


def parse_face_choice(spec: str) -> str | int:
    """'all' | 'largest' | N (1-based, counted left to right) -> 'all' | 'largest' | N."""
    s = str(spec).strip().lower()
    if s in ("all", "largest"):
        return s
    if s.isdigit() and int(s) >= 1:
        return int(s)
    raise ValueError(f"--face must be 'all', 'largest' or a face number N >= 1 (counted left to right); got {spec!r}")


def select_faces(faces: list[Face], choice: str | int, path: str | os.PathLike) -> list[Face]:
    """Apply ``--face``; PhotoError (one line naming the file) when there is no (such) face."""
    if not faces:
        raise PhotoError(path, "no face found (MTCNN detected none); use a photo with a visible, roughly frontal "
                               "face, or pass --no-align for an already aligned crop")
    if choice == "all":
        return list(faces)
    if choice == "largest":
        return [max(faces, key=lambda f: f.area)]
    if choice > len(faces):
        raise PhotoError(path, f"--face {choice} asked for face {choice} but only {len(faces)} found "
                               f"(numbered 1..{len(faces)} from the left)")
    return [faces[choice - 1]]
