"""Face detection and 5-point landmarks with MTCNN (``latentedit.faces.mtcnn``: facenet-pytorch's weights).

Landmarks are (5, 2) pixel coordinates (x, y) in the full photo, in MTCNN's order: left eye, right eye, nose,
left mouth corner, right mouth corner (left/right as seen in the image). Large photos are downscaled to
``max_side`` for detection only; boxes and landmarks are scaled back.

MTCNN's pyramid starts at the smallest face it looks for. By default that is 20 px per 512 px of the (detection)
photo's longer side, at least 20 px: 40 px in a 1024-px photo, where 20 px would cost twice the time for faces too
small to edit. When that finds no face, detection runs again with 20 px, so a photo whose only faces are small
still finds them. (Running MTCNN on a copy downscaled to 512 px instead is as fast but moves the landmarks more:
measured on rotated copies of a 1024-px photo, the aligned crops differ 30% more between rotations.)
"""

from __future__ import annotations

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


MIN_FACE_PER_512 = 20  # default smallest face: this many px per 512 px of the longer side (and never fewer)


def default_min_face_size(shape: tuple[int, ...]) -> int:
    """The smallest face (px) looked for by default in an image of this shape (after any downscaling)."""
    return max(MIN_FACE_PER_512, round(MIN_FACE_PER_512 * max(shape[:2]) / 512))


def detect_faces(photo: np.ndarray, *, max_side: int = DETECT_MAX_SIDE, min_face_size: int | None = None,
                 min_score: float = 0.9) -> list[Face]:
    """Faces in an (H, W, 3) uint8 photo, sorted left to right (by box centre); coordinates in the photo.

    ``min_face_size`` (px of the detection image): None = ``default_min_face_size``, then 20 px if that finds none.
    """
    from PIL import Image

    from latentedit.faces.mtcnn import detect_mtcnn

    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise ValueError(f"detect_faces expects an (H, W, 3) uint8 RGB array; got {photo.shape} {photo.dtype}")
    h, w = photo.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    small = photo
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = np.asarray(Image.fromarray(photo).resize(size, Image.Resampling.BOX))
    sx, sy = w / small.shape[1], h / small.shape[0]  # exact per axis (the sizes are rounded)
    tries = [int(min_face_size)] if min_face_size is not None else [default_min_face_size(small.shape)]
    if min_face_size is None and tries[0] > MIN_FACE_PER_512:
        tries.append(MIN_FACE_PER_512)
    faces: list[Face] = []
    for size in tries:
        boxes, points = detect_mtcnn(small, min_face_size=size)
        faces = [Face((b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy), float(b[4]), pts * [sx, sy])
                 for b, pts in zip(boxes, points, strict=True) if b[4] >= min_score]
        if faces:
            break
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
