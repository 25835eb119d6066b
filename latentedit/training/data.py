"""Training batches for the mapper trainer: source latents, target attribute codes, noise and references.

Every random number of step ``t`` is drawn for the *global* batch from one generator seeded by ``(seed, t)``,
then each DDP rank keeps its slice ``[lo, hi)``. A batch is therefore a pure function of (seed, step, slice):
a resumed run sees exactly the batches it would have seen, and N ranks together see exactly the batch one
process would.

Sources: latents sampled from the generator (``z -> G.mapping`` with truncation and optional style mixing), or
W+ files written by ``invert`` / ``sample --save-latents`` (visited in a seeded random order, epoch by epoch).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from latentedit.latents import LatentError, load_latents

_STEP_PRIME = 1_000_003


def step_generator(seed: int, step: int, stream: int = 0) -> torch.Generator:
    """A CPU ``torch.Generator`` that depends only on (seed, step, stream)."""
    return torch.Generator().manual_seed((int(seed) * 7_919 + int(stream)) * _STEP_PRIME + int(step))


@dataclass
class Randoms:
    """The random draws of one step, for the rows ``[lo, hi)`` of the global batch (b = hi - lo rows).

    z (b, z_dim), z_mix (b, z_dim), mix_u (b,), mix_cut (b,) long: source sampling; ref_z (b, z_dim): reference
    latents; flip_keys (b, n_attr), n_flips (b,) long: which attributes to flip; noise, noise2 (b, mapper_z_dim)
    or None; style_noise, style_noise2 (b, style_dim) or None; index (b,) long: rows of a latent file;
    keep_u (b, n_attr) uniform in [0, 1): for a mapper's ``condition_target`` hook (which unchanged attributes are
    given as NaN = keep).
    """

    z: torch.Tensor
    z_mix: torch.Tensor
    mix_u: torch.Tensor
    mix_cut: torch.Tensor
    ref_z: torch.Tensor
    flip_keys: torch.Tensor
    n_flips: torch.Tensor
    noise: torch.Tensor | None
    noise2: torch.Tensor | None
    style_noise: torch.Tensor | None
    style_noise2: torch.Tensor | None
    keep_u: torch.Tensor | None = None


def draw_randoms(*, seed: int, step: int, batch: int, lo: int, hi: int, z_dim: int, num_ws: int, n_attr: int,
                 max_flips: int, mapper_z_dim: int = 0, style_dim: int = 0) -> Randoms:
    """Draw the global batch's randoms for ``step`` (always in the same order) and keep rows ``[lo, hi)``."""
    g = step_generator(seed, step)
    z = torch.randn(batch, z_dim, generator=g)
    z_mix = torch.randn(batch, z_dim, generator=g)
    mix_u = torch.rand(batch, generator=g)
    mix_cut = torch.randint(1, max(num_ws, 2), (batch,), generator=g)
    ref_z = torch.randn(batch, z_dim, generator=g)
    flip_keys = torch.rand(batch, max(n_attr, 1), generator=g)[:, :n_attr]
    n_flips = torch.randint(1, max(1, min(max_flips, max(n_attr, 1))) + 1, (batch,), generator=g)
    noise = torch.randn(batch, mapper_z_dim, generator=g) if mapper_z_dim else None
    noise2 = torch.randn(batch, mapper_z_dim, generator=g) if mapper_z_dim else None
    style_noise = torch.randn(batch, style_dim, generator=g) if style_dim else None
    style_noise2 = torch.randn(batch, style_dim, generator=g) if style_dim else None
    keep_u = torch.rand(batch, max(n_attr, 1), generator=g)[:, :n_attr]   # drawn last: earlier draws unchanged
    s = slice(lo, hi)
    pick = (lambda t: None if t is None else t[s])  # noqa: E731
    return Randoms(z[s], z_mix[s], mix_u[s], mix_cut[s], ref_z[s], flip_keys[s], n_flips[s], pick(noise),
                   pick(noise2), pick(style_noise), pick(style_noise2), keep_u[s])


def flip_targets(source: torch.Tensor, flip_keys: torch.Tensor, n_flips: torch.Tensor) -> torch.Tensor:
    """Targets: ``source (b, n_attr)`` in {0, 1} with the ``n_flips[i]`` attributes of smallest ``flip_keys[i]``
    flipped (so 1..max_flips attributes change per row). Returns (b, n_attr)."""
    if source.shape != flip_keys.shape:
        raise ValueError(f"flip_targets: source {tuple(source.shape)} and flip_keys {tuple(flip_keys.shape)} "
                         "must have the same shape (b, n_attr)")
    rank = flip_keys.argsort(dim=1).argsort(dim=1)
    flip = rank < n_flips.to(rank.device)[:, None]
    return torch.where(flip.to(source.device), 1.0 - source, source)


class GeneratorLatents:
    """Source latents sampled from the generator: ``w_plus (b, num_ws, w_dim)`` from ``z`` with truncation
    ``psi`` toward ``w_avg`` and, with probability ``mixing_prob``, style mixing with a second ``z`` at a random
    layer."""

    def __init__(self, G, *, truncation_psi: float, mixing_prob: float):
        self.G, self.psi, self.mixing_prob = G, float(truncation_psi), float(mixing_prob)

    def __call__(self, r: Randoms, *, step: int, batch: int, lo: int, hi: int) -> torch.Tensor:
        dev = self.G.mapping.w_avg.device
        with torch.no_grad():
            w = self.G.mapping(r.z.to(dev), truncation_psi=self.psi)
            if self.mixing_prob > 0:
                w2 = self.G.mapping(r.z_mix.to(dev), truncation_psi=self.psi)
                layer = torch.arange(w.shape[1], device=dev)[None, :]
                cut = torch.where(r.mix_u.to(dev) < self.mixing_prob, r.mix_cut.to(dev),
                                  torch.full_like(r.mix_cut.to(dev), w.shape[1]))
                w = torch.where((layer < cut[:, None])[..., None], w, w2)
        return w

    def reference(self, r: Randoms, *, step: int, batch: int, lo: int, hi: int) -> torch.Tensor:
        """Reference latents ``(b, num_ws, w_dim)`` (for style mappers), sampled like the sources."""
        with torch.no_grad():
            return self.G.mapping(r.ref_z.to(self.G.mapping.w_avg.device), truncation_psi=self.psi)


def _latent_files(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(path.glob("*.safetensors"))
        if not files:
            raise LatentError(f"{path}: no .safetensors W+ files in this folder (write some with `latentedit invert` "
                              "or `latentedit sample --save-latents DIR`)")
        return files
    if not path.is_file():
        raise LatentError(f"trainer.latents={str(path)!r}: no such file or folder (write one with `latentedit invert "
                          "PHOTOS --out DIR`, or for the toy-faces configs `latentedit toyfaces latents --out "
                          f"{path}`)")
    return [path]


class FileLatents:
    """Source latents from W+ files (one file or a folder of them), all checked against the generator.

    Rows are visited in a random order that depends on (seed, epoch); reference latents are other rows.
    """

    def __init__(self, path: str | Path, G, *, seed: int):
        tensors = []
        for f in _latent_files(Path(path)):
            lf = load_latents(f, G, expect_space="w_plus")
            tensors.append(lf.tensor.reshape(-1, G.num_ws, G.w_dim))
        self.w = torch.cat(tensors).to(G.mapping.w_avg.device)
        self.seed = int(seed)
        self._perm_cache: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return self.w.shape[0]

    def _perm(self, epoch: int) -> torch.Tensor:
        if epoch not in self._perm_cache:
            if len(self._perm_cache) > 4:
                self._perm_cache.clear()
            self._perm_cache[epoch] = torch.randperm(len(self), generator=step_generator(self.seed, epoch, 1))
        return self._perm_cache[epoch]

    def rows(self, step: int, batch: int, lo: int, hi: int, offset: int = 0) -> torch.Tensor:
        """Indices of global rows ``[lo, hi)`` of step ``step`` (``offset`` shifts to an independent stream)."""
        flat = torch.arange(lo, hi) + step * batch + offset
        n = len(self)
        return torch.stack([self._perm(int(i) // n)[int(i) % n] for i in flat])

    def __call__(self, r: Randoms, *, step: int, batch: int, lo: int, hi: int) -> torch.Tensor:
        return self.w[self.rows(step, batch, lo, hi)]

    def reference(self, r: Randoms, *, step: int, batch: int, lo: int, hi: int) -> torch.Tensor:
        """Reference latents ``(b, num_ws, w_dim)``: rows of an independent shuffled stream."""
        return self.w[self.rows(step, batch, lo, hi, offset=len(self) // 2 + 1)]
