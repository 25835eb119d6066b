"""Reference-guided editing with style mappers (``takes_style`` + the ``encode_style`` hook): reference images,
style codes of generated faces (for clustering), and the style columns of attribute groups (for mixing)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from latentedit.editing.sampling import SamplingError, condition_kind
from latentedit.io.errors import EditingError
from latentedit.plugins.contract import optional_hook


def style_encoder(mapper):
    """The mapper's ``encode_style`` hook (reference images (B, 3, H, W) -> styles (B, style_dim)); EditingError
    when the mapper is not a style mapper with one."""
    hook = optional_hook(mapper, "encode_style") if getattr(mapper, "takes_style", False) else None
    if hook is None:
        takes = "a style without an encoder" if getattr(mapper, "takes_style", False) else "no style"
        raise EditingError(f"reference-guided editing needs a style mapper with a style encoder (e.g. sensorium); "
                           f"{getattr(mapper, 'plugin_name', None) or type(mapper).__name__} takes {takes}")
    return hook


def load_reference(path: str | Path, generator, *, align: bool = True, face: str | int = "largest") -> torch.Tensor:
    """A reference image (1, 3, R, R) in [-1, 1] on the generator's device: a W+ file rendered by ``generator``
    (its first latent), or a photo's face detected and aligned as for inputs (``face``: which one; PhotoError when
    there is none), or with ``align=False`` its central square, at the generator's resolution."""
    from latentedit.editing.latent_files import is_latent_file, latents_from_files
    from latentedit.editing.photos import align_faces, center_square, is_photo, load_photo
    from latentedit.editing.synthesis import synthesize

    device = generator.mapping.w_avg.device
    if is_latent_file(path):
        _, w, _ = next(iter(latents_from_files([path], generator)))
        return synthesize(generator, w.to(device))
    if not is_photo(path):
        raise EditingError(f"{path}: expected a photo or a W+ file as a reference")
    if not align:
        return center_square(load_photo(path), generator.resolution).to(device)
    return align_faces(load_photo(path), generator.resolution, face=face, source=path)[0].crop.to(device)


def group_columns(mapper, groups: Sequence[str]) -> list[int]:
    """The style columns of attribute ``groups`` (the ``group_slices`` hook); EditingError naming the mapper's
    groups when one is unknown."""
    hook = optional_hook(mapper, "group_slices")
    slices = hook() if hook is not None else {}
    unknown = [g for g in groups if g not in slices]
    if unknown:
        raise EditingError(f"unknown group(s) {unknown}; the {getattr(mapper, 'plugin_name', None) or 'mapper'}'s "
                           f"groups: {', '.join(slices) or '(none)'}")
    return sorted({c for g in groups for c in range(slices[g].start, slices[g].stop)})


def edited_style_columns(mapper, amounts: Mapping[str, float]) -> list[int] | None:
    """The style columns that matter for editing ``amounts``' attributes (the ``style_columns`` hook), or None."""
    hook = optional_hook(mapper, "style_columns")
    return hook(amounts) if hook is not None else None


@torch.no_grad()
def face_style_codes(mapper, generator, amounts: Mapping[str, float], *, pool: int, seed: int = 0,
                     classifier=None, batch_size: int = 16) -> tuple[torch.Tensor, str]:
    """Style codes (N, style_dim) of ``pool`` generated faces (seeds ``seed``.., truncation 0.7) that show the
    asked attributes as ``classifier`` (images -> logits, with ``output_names``) reads them, or of all of them
    without a classifier; and a note saying which. SamplingError when none qualifies.

    The pool is rendered, judged and encoded ``batch_size`` faces at a time, so peak memory is that of one chunk
    (only the codes are kept); the result does not depend on ``batch_size``."""
    from latentedit.latents import z_from_seeds

    if condition_kind(mapper) != "style":
        raise SamplingError("face style codes need a style mapper")
    if batch_size < 1:
        raise SamplingError(f"batch_size must be at least 1; got {batch_size}")
    encode = style_encoder(mapper)
    device = generator.mapping.w_avg.device
    names = [n for n in amounts if n in classifier.output_names] if classifier is not None else []
    codes, kept = [], 0
    for start in range(seed, seed + pool, batch_size):
        seeds = range(start, min(start + batch_size, seed + pool))
        w = generator.mapping(z_from_seeds(seeds, generator.z_dim).to(device), truncation_psi=0.7)
        images = generator.synthesis(w, noise_mode="const")
        keep = torch.ones(len(seeds), dtype=torch.bool, device=device)
        if names:
            logits = classifier(images)
            for n in names:
                has = logits[:, classifier.output_names.index(n)] > 0
                keep &= has if amounts[n] > 0 else ~has
        if bool(keep.any()):
            codes.append(encode(images[keep]))
            kept += int(keep.sum())
        del images, w
    note = f"{kept} of {pool} generated faces with {', '.join(names)} as asked" if names else \
        f"all {pool} generated faces"
    if not codes:
        raise SamplingError(f"clusters: none of {pool} generated faces shows {', '.join(names)} as asked; raise "
                            "--pool or use --mode random")
    return torch.cat(codes), note
