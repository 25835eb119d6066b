"""Multimodal attribute sampling for any mapper that takes noise (``takes_noise``) or a style (``takes_style``).

Modes (each returns conditions ``(n, dim)``: noises ``z`` or styles, to pass as ``z=`` / ``style=``):

- ``random_conditions``: draws from the prior (the mapper's ``sample_style``/``sample_noise`` when it has them,
  else N(0, I)).
- ``cluster_conditions``: pix2pixHD's trick. With ``codes`` (style codes of a set of faces that have the
  attribute, e.g. from ``encode_style``), K-means over them and return the n cluster centres. Without codes (noise
  mappers), draw a pool of conditions, K-means over the *edits* they cause on the given source, and return the
  pool member nearest each centre. Either way the n outputs cover distinct modes instead of n near-duplicates.
- ``mix_by_columns``: one style's columns for some attribute groups, another's for the rest (SMIS-style mixing).
- ``interpolate_conditions``: a straight line between two conditions (style morphing).

``count_bins`` measures mode coverage (how many distinct intensity bins n samples fall in).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from latentedit.io.errors import LatenteditInputError


class SamplingError(LatenteditInputError):
    """The mapper cannot be sampled this way, or the inputs do not fit it."""


def condition_kind(mapper) -> str:
    """'style' for style mappers, 'z' for noise mappers; SamplingError for deterministic ones."""
    if getattr(mapper, "takes_style", False):
        return "style"
    if getattr(mapper, "takes_noise", False):
        return "z"
    raise SamplingError(f"{getattr(mapper, 'plugin_name', None) or type(mapper).__name__} takes neither noise nor "
                        "a style, so it has one edit per target; use a multimodal mapper (e.g. isf, sensorium)")


def condition_dim(mapper) -> int:
    """Width of the mapper's condition (``style_dim`` or ``z_dim``)."""
    return int(mapper.style_dim if condition_kind(mapper) == "style" else mapper.z_dim)


def condition_kwargs(mapper, conditions: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """``{'style': c}`` or ``{'z': c}`` (empty for None)."""
    return {} if conditions is None else {condition_kind(mapper): conditions}


def random_conditions(mapper, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """(n, dim) draws from the mapper's prior."""
    kind = condition_kind(mapper)
    hook = getattr(mapper, "sample_style" if kind == "style" else "sample_noise", None)
    if callable(hook):
        return hook(n, generator=generator)
    return torch.randn(n, condition_dim(mapper), generator=generator)


def kmeans_centres(codes: torch.Tensor, n: int, *, seed: int = 0) -> torch.Tensor:
    """codes (N, C) -> n distinct K-means centres (n, C), largest cluster first (scikit-learn, seeded)."""
    if codes.ndim != 2:
        raise SamplingError(f"codes must be (N, C); got {tuple(codes.shape)}")
    distinct = torch.unique(codes.detach().float().cpu(), dim=0).shape[0]
    if distinct < n:
        raise SamplingError(f"clusters mode needs at least n={n} distinct codes; got {distinct} (of {codes.shape[0]})"
                            "; give more faces (a larger --pool) or ask for fewer samples")
    from sklearn.cluster import KMeans

    x = codes.detach().double().cpu().numpy()
    km = KMeans(n_clusters=n, n_init=4, random_state=int(seed)).fit(x)
    sizes = torch.bincount(torch.as_tensor(km.labels_), minlength=n)
    order = torch.argsort(sizes, descending=True, stable=True)
    return torch.as_tensor(km.cluster_centers_)[order].to(codes.dtype)


def nearest_members(codes: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Index (n,) of the row of ``codes (N, C)`` nearest each of ``centres (n, C)``, all distinct."""
    d = torch.cdist(centres.double(), codes.double())
    picked: list[int] = []
    for row in d:
        row = row.clone()
        row[picked] = float("inf")
        picked.append(int(row.argmin()))
    return torch.tensor(picked)


@torch.no_grad()
def cluster_conditions(mapper, n: int, *, codes: torch.Tensor | None = None, w_plus: torch.Tensor | None = None,
                       target: torch.Tensor | None = None, pool: int = 256, seed: int = 0,
                       columns: Sequence[int] | None = None) -> torch.Tensor:
    """n conditions (n, dim) covering distinct modes.

    ``codes (N, dim)``: style codes of faces with the attribute -> their K-means centres; with ``columns`` (e.g.
    ``mapper.style_columns(attrs)``: the edited groups' part of the style) K-means runs on those columns only and
    the other columns are the codes' mean. Otherwise a pool of ``pool`` prior draws is clustered by the edit it
    makes on ``w_plus (1, L, D)`` with ``target (1, n_attr)``, and the draws nearest the centres are returned."""
    if codes is not None:
        if codes.ndim != 2 or codes.shape[1] != condition_dim(mapper):
            raise SamplingError(f"codes must be (N, {condition_dim(mapper)}); got {tuple(codes.shape)}")
        if not columns:
            return kmeans_centres(codes, n, seed=seed)
        cols = torch.as_tensor(list(columns), dtype=torch.long)
        out = codes.mean(dim=0, keepdim=True).repeat(n, 1)
        out[:, cols] = kmeans_centres(codes[:, cols], n, seed=seed).to(out)
        return out
    if w_plus is None or w_plus.shape[0] != 1:
        raise SamplingError("clusters mode without style codes needs one source w_plus (1, num_ws, w_dim) to "
                            "cluster the edits of a pool of prior draws")
    if pool < n:
        raise SamplingError(f"pool={pool} must be at least n={n}")
    draws = random_conditions(mapper, pool, generator=torch.Generator().manual_seed(seed)).to(w_plus)
    src = w_plus.expand(pool, -1, -1)
    tgt = None if target is None else target.to(w_plus).expand(pool, -1)
    effects = (mapper(src, target=tgt, **condition_kwargs(mapper, draws)) - src).flatten(1)
    return draws[nearest_members(effects, kmeans_centres(effects, n, seed=seed))]


def mix_by_columns(style_a: torch.Tensor, style_b: torch.Tensor, columns: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """style_a, style_b (B, S) -> (B, S): ``style_b`` on ``columns``, ``style_a`` elsewhere."""
    if style_a.shape != style_b.shape:
        raise SamplingError(f"styles to mix must have one shape; got {tuple(style_a.shape)} and "
                            f"{tuple(style_b.shape)}")
    mask = torch.zeros(style_a.shape[-1], dtype=torch.bool, device=style_a.device)
    mask[torch.as_tensor(list(columns) if not isinstance(columns, torch.Tensor) else columns, dtype=torch.long)] = True
    return torch.where(mask, style_b, style_a)


def interpolate_conditions(a: torch.Tensor, b: torch.Tensor, steps: int) -> torch.Tensor:
    """a, b (1, S) or (S,) -> (steps, S), from a (first) to b (last)."""
    if steps < 2:
        raise SamplingError(f"interpolation needs steps >= 2; got {steps}")
    a, b = a.reshape(1, -1), b.reshape(1, -1)
    if a.shape != b.shape:
        raise SamplingError(f"conditions to interpolate must have one width; got {a.shape[1]} and {b.shape[1]}")
    t = torch.linspace(0.0, 1.0, steps, dtype=a.dtype, device=a.device)[:, None]
    return (1 - t) * a + t * b


def count_bins(values: torch.Tensor, bins: int, lo: float = 0.0, hi: float = 1.0) -> int:
    """How many of ``bins`` equal bins of [lo, hi] the values (n,) fall in (values outside are clamped)."""
    idx = ((values.float().clamp(lo, hi) - lo) / (hi - lo) * bins).long().clamp(0, bins - 1)
    return int(torch.unique(idx).numel())


@torch.no_grad()
def edit_with_conditions(mapper, w_plus: torch.Tensor, conditions: torch.Tensor,
                         target: torch.Tensor | None) -> torch.Tensor:
    """One source w_plus (1, L, D), conditions (n, dim), target (1, n_attr) or None -> edits (n, L, D)."""
    n = conditions.shape[0]
    src = w_plus.expand(n, -1, -1)
    tgt = None if target is None else target.to(w_plus).expand(n, -1)
    return mapper(src, target=tgt, **condition_kwargs(mapper, conditions.to(w_plus)))
