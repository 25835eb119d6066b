"""Reference-guided editing with style mappers (``takes_style`` + the ``encode_style`` hook): reference images and
their styles, edits toward a style, style codes of generated faces (for clustering), and the style columns of
attribute groups (for mixing).

    style, image = reference_style(mapper, "ref.png", G)           # (1, style_dim), the aligned reference
    edited = transfer_style(mapper, w_plus, style)                  # every attribute/group from the reference
    edited = transfer_style(mapper, w_plus, style, {"eyeglasses": 1.0})   # only the reference's glasses
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from latentedit.editing.edits import apply_edit
from latentedit.editing.sampling import SamplingError, condition_kind
from latentedit.io.errors import EditingError
from latentedit.plugins.contract import optional_hook


def style_mapper_names() -> list[str]:
    """The visible mapper plugins that take a reference (``takes_style`` and an ``encode_style`` hook), by name.
    Imports the mapper plugins; one that fails to import is left out (this list only feeds messages)."""
    from latentedit.plugins.registry import PluginError, discover, load_spec

    names = []
    for spec in discover("mappers"):
        try:
            cls = load_spec(spec)
        except PluginError:
            continue
        if getattr(cls, "takes_style", False) and optional_hook(cls, "encode_style") is not None:
            names.append(spec.name)
    return names


def _no_reference(mapper, takes: str) -> EditingError:
    names, name = style_mapper_names(), getattr(mapper, "plugin_name", None) or type(mapper).__name__
    return EditingError(f"reference-guided editing needs a style mapper with a style encoder (installed: "
                        f"{', '.join(names) or 'none'}); {name} takes {takes}: pick one of those mappers or edit "
                        "without a reference")


def style_encoder(mapper):
    """The mapper's ``encode_style`` hook (reference images (B, 3, H, W) -> styles (B, style_dim)); EditingError
    naming the installed mappers that take a reference when the mapper is not a style mapper with one."""
    hook = optional_hook(mapper, "encode_style") if getattr(mapper, "takes_style", False) else None
    if hook is None:
        raise _no_reference(mapper, "a style without an encoder" if getattr(mapper, "takes_style", False)
                            else "no style")
    return hook


def load_reference(source: str | os.PathLike | np.ndarray, generator, *, align: bool = True,
                   face: str | int = "largest") -> torch.Tensor:
    """A reference image (1, 3, R, R) in [-1, 1] on the generator's device: a W+ file rendered by ``generator``
    (its first latent), or a photo (a path or an (H, W, 3) uint8 array) whose face is detected and aligned as for
    inputs (``face``: which one, 'all' meaning the largest; PhotoError when there is none), or with
    ``align=False`` its central square, at the generator's resolution."""
    from latentedit.editing.latent_files import is_latent_file, latents_from_files
    from latentedit.editing.photos import align_faces, center_square, is_photo, load_photo
    from latentedit.editing.synthesis import synthesize

    device = generator.mapping.w_avg.device
    if isinstance(source, np.ndarray):
        photo, name = source, "the reference photo"
    elif is_latent_file(source):
        _, w, _ = next(iter(latents_from_files([source], generator)))
        return synthesize(generator, w.to(device))
    elif not is_photo(source):
        raise EditingError(f"{source}: expected a photo or a W+ file as a reference")
    else:
        photo, name = load_photo(source), source
    if not align:
        return center_square(photo, generator.resolution).to(device)
    face = "largest" if face == "all" else face
    return align_faces(photo, generator.resolution, face=face, source=name)[0].crop.to(device)


@torch.no_grad()
def reference_style(mapper, reference, generator, *, align: bool = True,
                    face: str | int = "largest") -> tuple[torch.Tensor, torch.Tensor]:
    """(style (B, style_dim), reference images (B, 3, R, R)) of ``reference``: a photo (path or (H, W, 3) uint8
    array) or W+ file as ``load_reference`` reads it, a W+ tensor (B, num_ws, w_dim) rendered by ``generator``, or
    images (B, 3, H, W) in [-1, 1]; encoded by the mapper's ``encode_style``. EditingError for a mapper that takes
    no reference (naming those that do) or a tensor of another shape."""
    from latentedit.editing.synthesis import synthesize

    encode = style_encoder(mapper)
    if isinstance(reference, torch.Tensor):
        device = generator.mapping.w_avg.device
        if reference.ndim == 3 and tuple(reference.shape[1:]) == (generator.num_ws, generator.w_dim):
            image = synthesize(generator, reference.to(device))
        elif reference.ndim == 4 and reference.shape[1] == 3:
            image = reference.to(device)
        else:
            raise EditingError(f"a reference tensor must be W+ (B, {generator.num_ws}, {generator.w_dim}) or images "
                               f"(B, 3, H, W); got {tuple(reference.shape)}")
    else:
        image = load_reference(reference, generator, align=align, face=face)
    return encode(image), image


def transfer_style(mapper, w_plus: torch.Tensor, style: torch.Tensor, amounts: Mapping[str, float] | None = None,
                   *, strength: float = 1.0, others: torch.Tensor | None = None) -> torch.Tensor:
    """Edit ``w_plus (B, num_ws, w_dim)`` toward a style ``(1 or B, style_dim)`` (e.g. ``reference_style``'s).

    With ``amounts`` only those attributes change, as the style shows them (``apply_edit(style=)``: their sizes
    scale the edit; ``others`` as there). Without, everything the mapper transfers does (target None: every
    attribute or group, as ``sample-edits --reference`` without ``--attr``), ``strength`` scaling the whole
    transfer: ``w + strength * (mapper(w, style=style) - w)`` (1: the mapper's own). EditingError for a mapper that
    takes no style or a style of another shape."""
    if not getattr(mapper, "takes_style", False):
        raise _no_reference(mapper, "no style")
    b, dim = w_plus.shape[0], int(getattr(mapper, "style_dim", 0) or style.shape[-1])
    if style.ndim != 2 or style.shape[0] not in (1, b) or style.shape[1] != dim:
        raise EditingError(f"the style must be (1 or {b}, {dim}) for {b} latent(s); got {tuple(style.shape)}")
    style = style.to(w_plus).expand(b, -1)
    if amounts:
        return apply_edit(mapper, w_plus, amounts, style=style, others=others)
    full = mapper(w_plus, target=None, style=style)
    return full if strength == 1 else w_plus + strength * (full - w_plus)


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
