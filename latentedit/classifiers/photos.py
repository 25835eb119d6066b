"""Photos of a labelled set as classifier inputs: FFHQ-aligned face crops (MTCNN + the alignment the encoder uses),
cached on disk by content hash, or already aligned crops resized as they are (``align=False``).

A photo that cannot be read, or (aligned) shows no face, is a counted skip, never a traceback; the cache also
remembers "no face" so a rerun does not detect again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

#: bump when the crop recipe changes, so old cache entries are not reused
ALIGN_CACHE_VERSION = 1
NO_FACE = "noface"


@dataclass
class PreparedPhotos:
    """``images`` (N, 3, S, S) uint8 of the kept photos; ``kept`` their row indices in the label set; ``skipped``
    reason -> photo names."""

    images: torch.Tensor
    kept: list[int]
    skipped: dict[str, list[str]] = field(default_factory=dict)

    def skip_lines(self, total: int) -> list[str]:
        """One line per skip reason: 'skipped 3 of 300 photos: no face found (first: x.jpg)'."""
        return [f"skipped {len(names)} of {total} photos: {why} (first: {names[0]})"
                for why, names in self.skipped.items() if names]


def _resize_uint8(photo: np.ndarray, size: int) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, size, size) uint8, area-averaged (anti-aliased) resize of the whole image."""
    t = torch.from_numpy(np.array(photo, dtype=np.uint8, copy=True)).permute(2, 0, 1).unsqueeze(0).float()
    if t.shape[-2:] != (size, size):
        t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return t[0].round().clamp(0, 255).to(torch.uint8)


def _cache_key(data: bytes, size: int) -> str:
    h = hashlib.sha256(data)
    h.update(f"|align-v{ALIGN_CACHE_VERSION}|{size}".encode())
    return h.hexdigest()


def _aligned(path: Path, size: int, cache_dir: Path | None) -> torch.Tensor | None:
    """(3, size, size) uint8 FFHQ-aligned crop of the largest face, or None when no face is found."""
    from PIL import Image

    from latentedit.faces import align_face, detect_faces, load_photo, select_faces
    from latentedit.io.modelfile import atomic_write

    entry = None
    if cache_dir is not None:
        entry = cache_dir / _cache_key(path.read_bytes(), size)
        if entry.with_suffix(".png").is_file():
            with Image.open(entry.with_suffix(".png")) as im:
                return torch.from_numpy(np.array(im.convert("RGB"), dtype=np.uint8)).permute(2, 0, 1)
        if entry.with_suffix("." + NO_FACE).is_file():
            return None
    photo = load_photo(path)
    faces = detect_faces(photo)
    if not faces:
        if entry is not None:
            atomic_write(entry.with_suffix("." + NO_FACE), lambda tmp: Path(tmp).write_text(str(path)))
        return None
    crop, _ = align_face(photo, select_faces(faces, "largest", path)[0].landmarks, size)
    img = ((crop[0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    if entry is not None:
        arr = img.permute(1, 2, 0).numpy()
        atomic_write(entry.with_suffix(".png"), lambda tmp: Image.fromarray(arr).save(tmp, format="PNG"))
    return img


def prepare_photos(files, photos_dir, size: int, *, align: bool = True, cache_dir=None,
                   progress: bool = False) -> PreparedPhotos:
    """Load ``files`` (names under ``photos_dir``) as (N, 3, size, size) uint8: aligned crops (cached under
    ``cache_dir`` by content hash) or, with ``align=False``, the photos resized whole."""
    from latentedit.faces import PhotoError, load_photo

    root = Path(photos_dir)
    cache = Path(cache_dir) if cache_dir is not None and align else None
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    images, kept, skipped = [], [], {"unreadable": [], "no face found": []}
    items = list(enumerate(files))
    if progress:
        from tqdm import tqdm

        items = tqdm(items, desc="align" if align else "load", unit="photo")
    for i, name in items:
        path = root / name
        try:
            img = _aligned(path, size, cache) if align else _resize_uint8(load_photo(path), size)
        except (PhotoError, OSError) as exc:
            skipped["unreadable"].append(f"{name} ({exc})" if not skipped["unreadable"] else name)
            continue
        if img is None:
            skipped["no face found"].append(name)
            continue
        images.append(img)
        kept.append(i)
    stacked = torch.stack(images) if images else torch.zeros(0, 3, size, size, dtype=torch.uint8)
    return PreparedPhotos(stacked, kept, {k: v for k, v in skipped.items() if v})
