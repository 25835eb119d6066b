"""Z / W / W+ helpers and latent files.

Conventions: z (B, z_dim); w (B, w_dim); w_plus (B, num_ws, w_dim). A W code becomes W+ only through
``w_to_wplus`` (never implicitly). Latent files are ``.safetensors`` holding ``w_plus`` (or ``z``/``w``) plus
metadata naming the space and the generator (fingerprint, resolution, num_ws, w_dim); loading one for another
generator is an error that says so.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from latentedit.io.errors import LatenteditInputError
from latentedit.io.modelfile import atomic_write
from latentedit.stylegan2.mapping import truncate

SPACES = ("z", "w", "w_plus")
LATENT_FILE_KIND = "latents"


class LatentError(LatenteditInputError):
    """A latent of the wrong shape/space, or a latent file used with another generator."""


MAX_SEEDS = 100_000


def parse_seeds(spec: str) -> list[int]:
    """'0-7,10,12-13' -> [0..7, 10, 12, 13]; clear error on anything else."""
    seeds: list[int] = []
    for part in str(spec).split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise ValueError(f"seeds must look like '0-7,10'; could not read {part!r} in {spec!r}")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise ValueError(f"seed range {part!r} runs backwards; write {hi}-{lo}")
        if len(seeds) + hi - lo + 1 > MAX_SEEDS:
            raise LatentError(f"seeds {spec[:60]!r}: more than {MAX_SEEDS:,} seeds; ask for fewer (each is an image)")
        seeds.extend(range(lo, hi + 1))
    return seeds


def z_from_seed(seed: int, z_dim: int) -> torch.Tensor:
    """The z of one seed, (1, z_dim), identical on every machine and batch size."""
    g = torch.Generator().manual_seed(int(seed))
    return torch.randn(1, z_dim, generator=g)


def z_from_seeds(seeds, z_dim: int) -> torch.Tensor:
    """(len(seeds), z_dim): row i depends only on seeds[i]."""
    return torch.cat([z_from_seed(s, z_dim) for s in seeds], dim=0)


def check_w_plus(w_plus: torch.Tensor, num_ws: int, w_dim: int, name: str = "w_plus") -> torch.Tensor:
    """Raise a clear error unless ``w_plus`` is (B, num_ws, w_dim)."""
    if not torch.is_tensor(w_plus) or w_plus.ndim != 3 or tuple(w_plus.shape[1:]) != (num_ws, w_dim):
        shape = tuple(w_plus.shape) if torch.is_tensor(w_plus) else type(w_plus).__name__
        hint = " (a W code: broadcast it with w_to_wplus)" if torch.is_tensor(w_plus) and w_plus.ndim == 2 else ""
        raise LatentError(f"{name} must be (B, {num_ws}, {w_dim}); got {shape}{hint}")
    return w_plus


def w_to_wplus(w: torch.Tensor, num_ws: int) -> torch.Tensor:
    """(B, w_dim) -> (B, num_ws, w_dim), explicitly."""
    if w.ndim != 2:
        raise LatentError(f"w must be (B, w_dim); got {tuple(w.shape)}")
    return w.unsqueeze(1).repeat(1, num_ws, 1)


def mix_styles(w_a: torch.Tensor, w_b: torch.Tensor, index: int) -> torch.Tensor:
    """Style mixing: layers [0, index) from ``w_a``, [index, num_ws) from ``w_b``. Both (B, num_ws, w_dim)."""
    if w_a.shape != w_b.shape or w_a.ndim != 3:
        raise LatentError(f"style mixing needs two W+ codes of one shape; got {tuple(w_a.shape)} and "
                          f"{tuple(w_b.shape)}")
    if not 0 <= index <= w_a.shape[1]:
        raise LatentError(f"mixing index must be in [0, {w_a.shape[1]}]; got {index}")
    return torch.cat([w_a[:, :index], w_b[:, index:]], dim=1)


def sample_w_plus(G, seeds, truncation_psi: float = 1.0, truncation_cutoff: int | None = None,
                  device=None) -> torch.Tensor:
    """W+ codes (len(seeds), num_ws, w_dim) for seeds, truncated toward ``w_avg``."""
    z = z_from_seeds(seeds, G.z_dim).to(device or G.mapping.w_avg.device)
    with torch.no_grad():
        return G.mapping(z, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)


__all__ = ["parse_seeds", "z_from_seed", "z_from_seeds", "check_w_plus", "w_to_wplus", "mix_styles", "truncate",
           "sample_w_plus", "LatentFile", "save_latents", "load_latents", "LatentError"]


@dataclass(frozen=True)
class LatentFile:
    """A loaded latent file: the tensor, its space and the generator it belongs to."""

    tensor: torch.Tensor
    space: str
    generator_fingerprint: str
    num_ws: int
    w_dim: int
    resolution: int
    extra: dict


@torch.no_grad()
def score_latents(G, w_plus: torch.Tensor, classifier, *, batch: int = 128, noise_mode: str = "const") -> torch.Tensor:
    """Render ``w_plus`` (n, num_ws, w_dim) with ``G`` in chunks of ``batch`` and return ``classifier``'s outputs on
    the images, (n, n_out) on the CPU. ``noise_mode='random'`` is read as ``'const'``: a label must not depend on a
    noise draw."""
    mode = "const" if noise_mode == "random" else noise_mode
    return torch.cat([classifier(G.synthesis(chunk, noise_mode=mode).float()).cpu() for chunk in w_plus.split(batch)])


def save_latents(path, tensor: torch.Tensor, *, space: str, generator, extra: dict | None = None) -> Path:
    """Write ``tensor`` (z: (B, z_dim), w: (B, w_dim) or w_plus: (B, num_ws, w_dim)) tied to ``generator``."""
    from safetensors.torch import save_file

    if space not in SPACES:
        raise LatentError(f"space must be one of {SPACES}; got {space!r}")
    if space == "w_plus":
        check_w_plus(tensor, generator.num_ws, generator.w_dim)
    meta = {
        "latentedit.kind": LATENT_FILE_KIND,
        "latentedit.format_version": "1",
        "space": space,
        "generator_fingerprint": generator.fingerprint(),
        "num_ws": str(generator.num_ws),
        "w_dim": str(generator.w_dim),
        "resolution": str(generator.resolution),
        "extra": json.dumps(extra or {}, sort_keys=True),
    }
    data = {space: tensor.detach().to("cpu", torch.float32).contiguous()}
    return atomic_write(path, lambda tmp: save_file(data, tmp, metadata=meta))


def load_latents(path, generator=None, *, expect_space: str | None = None) -> LatentFile:
    """Read a latent file; with ``generator`` given, refuse one that belongs to another generator."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    from latentedit.io.paths import require_regular_file

    path = Path(path)
    require_regular_file(path, what="latent file", error=lambda p, why: LatentError(f"{p}: {why}"))
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise LatentError(f"{path}: not a readable latent file ({' '.join(str(exc).split())})") from None
    if meta.get("latentedit.kind") != LATENT_FILE_KIND or meta.get("space") not in tensors:
        raise LatentError(f"{path}: not a latentedit latent file (write one with `latentedit invert` or "
                          "`latentedit sample --save-latents`)")
    try:
        extra = json.loads(meta.get("extra", "{}"))
        if not isinstance(extra, dict):
            raise ValueError(f"'extra' is a {type(extra).__name__}, not an object")
        lf = LatentFile(tensors[meta["space"]], meta["space"], str(meta["generator_fingerprint"]),
                        int(meta["num_ws"]), int(meta["w_dim"]), int(meta["resolution"]), extra)
    except (KeyError, ValueError, TypeError, RecursionError) as exc:
        raise LatentError(f"{path}: damaged latent file metadata ({type(exc).__name__}: "
                          f"{' '.join(str(exc).split())[:160]})") from None
    if not lf.tensor.is_floating_point():
        raise LatentError(f"{path}: the latents hold {lf.tensor.dtype} values; latents are floating point")
    if lf.tensor.numel() and not bool(torch.isfinite(lf.tensor).all()):
        raise LatentError(f"{path}: the latents hold non-finite values (NaN or infinity), which render black or "
                          "noise; invert or sample them again")
    if expect_space is not None and lf.space != expect_space:
        raise LatentError(f"{path}: holds {lf.space!r} latents; expected {expect_space!r}")
    if generator is not None and lf.generator_fingerprint != generator.fingerprint():
        raise LatentError(
            f"{path}: these latents belong to another generator (fingerprint {lf.generator_fingerprint}, "
            f"{lf.resolution}px, W+ {lf.num_ws}x{lf.w_dim}); the generator given is {generator.fingerprint()} "
            f"({generator.resolution}px, W+ {generator.num_ws}x{generator.w_dim}). Invert the image again with "
            "this generator's encoder, or pass the generator these latents came from.")
    return lf
