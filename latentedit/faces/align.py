"""FFHQ-style face alignment from 5 landmarks, keeping the transform for paste-back.

The FFHQ recipe (Karras et al. 2019, ``align_images``) builds an oriented square ("quad") from the eye centres and
the mouth centre; we take those from MTCNN's five points (eyes, nose, mouth corners):

    eye_avg = (eye_l + eye_r) / 2,  eye_to_eye = eye_r - eye_l,  eye_to_mouth = (mouth_l + mouth_r) / 2 - eye_avg
    x = eye_to_eye - rot90(eye_to_mouth);  x = x / |x| * max(2.0 |eye_to_eye|, 1.8 |eye_to_mouth|)
    y = rot90(x);  c = eye_avg + 0.1 eye_to_mouth;  quad = [c - x - y, c - x + y, c + x + y, c + x - y]

The crop is a similarity transform of the photo: crop point (u, v) (continuous pixel coordinates, pixel k covers
[k, k+1)) maps to photo point ``M @ (u, v, 1)`` with M (2, 3). ``AlignTransform`` stores M, the crop size and the
photo size, and serialises to a plain dict (JSON) so an edited crop can be pasted back later.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AlignTransform:
    """crop (u, v) -> photo (x, y) = matrix @ (u, v, 1); ``size`` the crop side, ``photo_hw`` the photo size."""

    matrix: tuple[tuple[float, float, float], tuple[float, float, float]]
    size: int
    photo_hw: tuple[int, int]

    @property
    def m(self) -> np.ndarray:
        return np.asarray(self.matrix, dtype=np.float64)

    @property
    def scale(self) -> float:
        """Photo pixels per crop pixel."""
        return float(math.hypot(*self.m[:, 0]))

    def inverse(self) -> np.ndarray:
        """(2, 3) photo (x, y) -> crop (u, v)."""
        a = self.m[:, :2]
        ai = np.linalg.inv(a)
        return np.concatenate([ai, -ai @ self.m[:, 2:]], axis=1)

    def quad(self) -> np.ndarray:
        """(4, 2) photo coordinates of the crop corners: top-left, bottom-left, bottom-right, top-right."""
        s = self.size
        uv = np.array([[0, 0, 1], [0, s, 1], [s, s, 1], [s, 0, 1]], dtype=np.float64)
        return uv @ self.m.T

    def to_dict(self) -> dict:
        return {"matrix": [list(r) for r in self.matrix], "size": self.size, "photo_hw": list(self.photo_hw)}

    @classmethod
    def from_dict(cls, d: dict) -> AlignTransform:
        m = d["matrix"]
        return cls((tuple(map(float, m[0])), tuple(map(float, m[1]))), int(d["size"]), tuple(d["photo_hw"]))


def ffhq_quad(landmarks: np.ndarray) -> np.ndarray:
    """(5, 2) MTCNN landmarks (x, y) -> (4, 2) quad corners (top-left, bottom-left, bottom-right, top-right)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (5, 2) or not np.isfinite(lm).all():
        raise ValueError(f"landmarks must be a finite (5, 2) array (eyes, nose, mouth corners); got {lm.shape}")
    eye_l, eye_r, mouth_l, mouth_r = lm[0], lm[1], lm[3], lm[4]
    eye_avg, eye_to_eye = (eye_l + eye_r) / 2, eye_r - eye_l
    eye_to_mouth = (mouth_l + mouth_r) / 2 - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    norm = np.hypot(*x)
    if norm < 1e-6:
        raise ValueError("degenerate landmarks: the eyes and mouth coincide")
    x = x / norm * max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def transform_from_quad(quad: np.ndarray, size: int, photo_hw: tuple[int, int]) -> AlignTransform:
    """The similarity that maps the crop square [0, size]^2 onto ``quad``."""
    q = np.asarray(quad, dtype=np.float64)
    ex, ey = (q[3] - q[0]) / size, (q[1] - q[0]) / size
    m = ((float(ex[0]), float(ey[0]), float(q[0, 0])), (float(ex[1]), float(ey[1]), float(q[0, 1])))
    return AlignTransform(m, int(size), (int(photo_hw[0]), int(photo_hw[1])))


def _sample(image: torch.Tensor, xy: torch.Tensor, origin: tuple[int, int], hw: tuple[int, int]) -> torch.Tensor:
    """Bilinear samples of image (1, C, h, w) covering photo box origin=(y0, x0), hw=(H, W) at photo points
    xy (N, M, 2) -> (1, C, N, M); reflection outside the image."""
    h, w = image.shape[-2:]
    sx, sy = w / hw[1], h / hw[0]
    gx = (xy[..., 0] - origin[1]) * sx / w * 2 - 1
    gy = (xy[..., 1] - origin[0]) * sy / h * 2 - 1
    grid = torch.stack([gx, gy], dim=-1).unsqueeze(0).to(image.dtype)
    return F.grid_sample(image, grid, mode="bicubic", padding_mode="reflection", align_corners=False)


def warp_crop(photo: np.ndarray, transform: AlignTransform) -> torch.Tensor:
    """Resample the crop described by ``transform`` from an (H, W, 3) uint8 photo -> (1, 3, S, S) in [-1, 1].

    Only the region under the quad is converted to float; it is area-downsampled first when the crop is much
    smaller than the face (anti-aliasing, as the FFHQ script shrinks before cropping).
    """
    from latentedit.faces.loading import photo_to_tensor

    H, W = photo.shape[:2]
    q = transform.quad()
    x0, y0 = max(int(math.floor(q[:, 0].min())) - 2, 0), max(int(math.floor(q[:, 1].min())) - 2, 0)
    x1, y1 = min(int(math.ceil(q[:, 0].max())) + 2, W), min(int(math.ceil(q[:, 1].max())) + 2, H)
    if x1 <= x0 or y1 <= y0:  # the quad lies entirely outside the photo: sample the nearest border
        x0, y0, x1, y1 = max(min(x0, W - 1), 0), max(min(y0, H - 1), 0), W, H
    roi = photo_to_tensor(photo[y0:y1, x0:x1])
    shrink = int(transform.scale // 2) if transform.scale >= 4 else 1
    if shrink > 1:
        roi = F.interpolate(roi, size=(max(1, roi.shape[-2] // shrink), max(1, roi.shape[-1] // shrink)),
                            mode="area")
    s = transform.size
    c = torch.arange(s, dtype=torch.float64) + 0.5
    v, u = torch.meshgrid(c, c, indexing="ij")
    m = torch.as_tensor(transform.m)
    xy = torch.stack([m[0, 0] * u + m[0, 1] * v + m[0, 2], m[1, 0] * u + m[1, 1] * v + m[1, 2]], dim=-1)
    return _sample(roi, xy, (y0, x0), (y1 - y0, x1 - x0)).clamp(-1, 1)


def align_face(photo, landmarks: np.ndarray | None = None, size: int = 256) -> tuple[torch.Tensor, AlignTransform]:
    """FFHQ-aligned crop of one face: ((1, 3, size, size) in [-1, 1], transform).

    ``photo``: (H, W, 3) uint8 array (or a PIL image); ``landmarks``: that face's (5, 2) MTCNN points, or None to
    detect and take the largest face (PhotoError when there is none).
    """
    from latentedit.faces.loading import pil_to_rgb_array

    if not isinstance(photo, np.ndarray):
        photo = pil_to_rgb_array(photo)
    if not isinstance(size, int) or size < 8:
        raise ValueError(f"crop size must be an int >= 8; got {size!r}")
    if landmarks is None:
        from latentedit.faces.detect import detect_faces, select_faces

        landmarks = select_faces(detect_faces(photo), "largest", "photo")[0].landmarks
    t = transform_from_quad(ffhq_quad(landmarks), size, photo.shape[:2])
    return warp_crop(photo, t), t
