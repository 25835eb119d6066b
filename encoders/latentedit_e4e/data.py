"""Training images for e4e: every source is a pure function of (seed, step), so a resumed run sees the same data.

- ``ToyRenders``: toy-faces renders of fresh random faces (the embedded default's domain).
- ``FolderImages``: aligned face images from a folder (any format ``latentedit.faces.load_photo`` reads), central
  square, resized to the generator's resolution; batches sample without replacement within an epoch.
- ``GeneratorSamples``: images the generator itself draws (their W+ is known: the easy case, and tests).

Each has ``batch(step) -> (B, 3, R, R)`` in [-1, 1].
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


def step_generator(seed: int, step: int, stream: int = 0) -> torch.Generator:
    """The torch.Generator of one (seed, step, stream): independent of everything else."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 7 + stream)


class ToyRenders:
    def __init__(self, resolution: int, batch_size: int, seed: int, prior: bool = True):
        self.resolution, self.batch_size, self.seed, self.prior = resolution, batch_size, seed, prior

    def batch(self, step: int) -> torch.Tensor:
        from latentedit_toyfaces import render, sample_factors

        f = sample_factors(self.batch_size, step_generator(self.seed, step), prior=self.prior)
        return render(f, self.resolution)


class GeneratorSamples:
    def __init__(self, G, batch_size: int, seed: int):
        self.G, self.batch_size, self.seed = G, batch_size, seed

    @torch.no_grad()
    def batch(self, step: int) -> torch.Tensor:
        z = torch.randn(self.batch_size, self.G.z_dim, generator=step_generator(self.seed, step))
        return self.G(z.to(self.G.mapping.w_avg.device), noise_mode="const").clamp(-1, 1)


def square_resize(photo, resolution: int) -> torch.Tensor:
    """(H, W, 3) uint8 -> central square (1, 3, R, R) in [-1, 1]."""
    from latentedit.faces import photo_to_tensor

    h, w = photo.shape[:2]
    s = min(h, w)
    x = photo_to_tensor(photo[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s])
    if s != resolution:
        x = F.interpolate(x, size=(resolution, resolution), mode="area" if s > resolution else "bilinear")
    return x.clamp(-1, 1)


class FolderImages:
    def __init__(self, folder: str | Path, resolution: int, batch_size: int, seed: int):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise FileNotFoundError(f"data_path {self.folder}: not a folder of images")
        self.files = sorted(p for p in self.folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if len(self.files) < batch_size:
            raise ValueError(f"data_path {self.folder}: found {len(self.files)} image(s) "
                             f"({', '.join(sorted(IMAGE_SUFFIXES))}); need at least batch_size={batch_size}")
        self.resolution, self.batch_size, self.seed = resolution, batch_size, seed

    def indices(self, step: int) -> list[int]:
        n = len(self.files)
        per_epoch = n // self.batch_size
        epoch, k = divmod(step, per_epoch)
        perm = torch.randperm(n, generator=step_generator(self.seed, epoch, stream=1))
        return perm[k * self.batch_size:(k + 1) * self.batch_size].tolist()

    def batch(self, step: int) -> torch.Tensor:
        from latentedit.faces import load_photo

        return torch.cat([square_resize(load_photo(self.files[i]), self.resolution) for i in self.indices(step)])


def make_source(cfg, G):
    """The data source an ``E4ETrainConfig`` asks for, at the generator's resolution."""
    if cfg.data == "toy":
        return ToyRenders(G.resolution, cfg.batch_size, cfg.seed, cfg.toy_prior)
    if cfg.data == "generator":
        return GeneratorSamples(G, cfg.batch_size, cfg.seed)
    return FolderImages(cfg.data_path, G.resolution, cfg.batch_size, cfg.seed)
