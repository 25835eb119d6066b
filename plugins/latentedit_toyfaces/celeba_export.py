"""Toy renders written as a CelebA-format labelled photo folder: ``photos/NNNNNN.jpg`` and ``list_attr_celeba.txt``
(count, header, ``file ±1 ...``), so the real-face commands (``latentedit train classifier`` …) can be rehearsed on
data whose truth is known."""

from __future__ import annotations

from pathlib import Path

CANVAS = 1.6  # a face is pasted on a plain canvas this many times its side (unless crops)


def write_toy_celeba(folder, n: int, *, seed: int = 0, resolution: int = 128, crops: bool = False,
                     chunk: int = 256, quality: int = 92) -> Path:
    """Write ``n`` toy renders as CelebA: ``folder/photos/*.jpg`` + ``folder/list_attr_celeba.txt``; returns the
    label file. Without ``crops`` each face is pasted at a random place on a plain canvas ``CANVAS`` x its size."""
    import numpy as np
    from PIL import Image

    from latentedit.classifiers import write_celeba_labels
    from latentedit_toyfaces.factors import ATTRIBUTE_NAMES, attribute_labels, sample_factors
    from latentedit_toyfaces.renderer import render

    if n < 1:
        raise ValueError(f"n must be >= 1; got {n}")
    folder = Path(folder)
    (folder / "photos").mkdir(parents=True, exist_ok=True)
    factors = sample_factors(n, seed)
    rng = np.random.default_rng(seed)
    files = []
    for start in range(0, n, chunk):
        imgs = render(factors[start:start + chunk], resolution)
        for k, img in enumerate(imgs):
            arr = ((img.permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).byte().numpy()
            if not crops:
                side = int(resolution * CANVAS)
                canvas = np.empty((side, side, 3), np.uint8)
                canvas[:] = rng.integers(90, 230, size=3)
                y, x = rng.integers(0, side - resolution, size=2)
                canvas[y:y + resolution, x:x + resolution] = arr
                arr = canvas
            name = f"{start + k:06d}.jpg"
            Image.fromarray(arr).save(folder / "photos" / name, quality=quality)
            files.append(name)
    return write_celeba_labels(folder / "list_attr_celeba.txt", files, attribute_labels(factors), ATTRIBUTE_NAMES)
