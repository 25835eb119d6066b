"""Applying attribute edits with any mapper: ``{"smile": +1, "age": -0.5}`` (``--attr smile=+1 --attr age=-0.5``
on the command line), shared by ``latentedit edit``, ``latentedit evaluate`` and ``Editor``.

An edit is a mapping ``{attribute: amount}``; the sign says the direction (+ present, - absent), the size how far.

- Mappers with ``edit_steps(w_plus, {name: amount})`` (linear directions) move ``amount`` steps along each direction.
- Any other mapper is called with a target: 1 for positive amounts, 0 for negative, NaN (= keep) for the other
  attributes, and the edit is scaled: ``w + |amount| * (mapper(w, target=..., z=z) - w)`` (|amount| = 1 is the
  mapper's own edit, 0.5 half of it, 2 an extrapolation). Attributes sharing the same |amount| go in one pass
  (several attributes at once); different sizes are applied one after the other.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence

import torch

from latentedit.io.errors import EditingError
from latentedit.plugins.config import GeneratorInfo
from latentedit.plugins.contract import optional_hook


class EditError(EditingError):
    """An edit names an unknown attribute, has a malformed amount, or does not fit the mapper/generator."""


def parse_attr(spec: str) -> tuple[str, float]:
    """``"smile=+1"`` -> ``("smile", 1.0)``; ``"smile"`` alone means ``+1``."""
    name, sep, raw = str(spec).partition("=")
    name = name.strip()
    if not name:
        raise EditError(f"--attr expects NAME=AMOUNT (e.g. smile=+1 or age=-0.5); got {spec!r}")
    if not sep:
        return name, 1.0
    try:
        value = float(raw)
    except ValueError:
        raise EditError(f"--attr {spec!r}: the amount must be a number such as +1, -0.5 or 2; got {raw!r}") from None
    if not math.isfinite(value):
        raise EditError(f"--attr {spec!r}: the amount must be a finite number such as +1, -0.5 or 2; got {raw!r}")
    return name, value


MAX_STRENGTHS = 256  # edits per row: each is an image per input and sample


def parse_strengths(spec: str) -> list[float]:
    """``"-2:2:5"`` -> 5 evenly spaced values from -2 to 2; ``"0.5,1,2"`` -> those values; ``"1"`` -> [1.0]."""
    spec = str(spec).strip()
    m = re.fullmatch(r"\s*([-+]?[\d.]+(?:e[-+]?\d+)?)\s*:\s*([-+]?[\d.]+(?:e[-+]?\d+)?)\s*:\s*(\d+)\s*", spec)
    if m:
        lo, hi, n = float(m.group(1)), float(m.group(2)), int(m.group(3))
        if not 1 <= n <= MAX_STRENGTHS:
            raise EditError(f"strengths {spec!r}: the count must be between 1 and {MAX_STRENGTHS}; got {n}")
        values = torch.linspace(lo, hi, n).tolist() if n > 1 else [lo]
        return _finite_strengths(values, spec)
    try:
        values = [float(v) for v in spec.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values:
        raise EditError(f"strengths must look like START:STOP:COUNT (e.g. -2:2:5) or a list (0.5,1,2); got {spec!r}")
    if len(values) > MAX_STRENGTHS:
        raise EditError(f"strengths {spec[:40]!r}...: at most {MAX_STRENGTHS} values; got {len(values)}")
    return _finite_strengths(values, spec)


def _finite_strengths(values: list[float], spec: str) -> list[float]:
    if not all(math.isfinite(v) for v in values):
        raise EditError(f"strengths {spec[:60]!r}: every strength must be a finite number")
    return values


def check_edit(amounts: Mapping[str, float], attribute_names: Sequence[str], *, source: str = "the mapper") -> None:
    """Every attribute in ``amounts`` must be one of ``attribute_names``; the error lists the valid ones."""
    valid = list(attribute_names)
    for name in amounts:
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1)
            raise EditError(f"unknown attribute {name!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                            + f"; {source} edits: {', '.join(valid) or '(none)'}")


def target_from_amounts(amounts: Mapping[str, float], attribute_names: Sequence[str], batch: int,
                        like: torch.Tensor, others: torch.Tensor | None = None) -> torch.Tensor:
    """(batch, n_attr): 1 where the amount is > 0, 0 where < 0; elsewhere NaN (keep), or ``others`` (batch, n_attr)
    (the source's labels) when given."""
    names = list(attribute_names)
    target = torch.full((batch, len(names)), float("nan"), dtype=like.dtype, device=like.device)
    if others is not None:
        if others.shape != target.shape:
            raise EditError(f"source labels must be {tuple(target.shape)} (batch, n_attr); got {tuple(others.shape)}")
        target = others.to(target).clone()
    for name, amount in amounts.items():
        if amount != 0:
            target[:, names.index(name)] = 1.0 if amount > 0 else 0.0
    return target


def apply_edit(mapper, w_plus: torch.Tensor, amounts: Mapping[str, float], *,
               z: torch.Tensor | None = None, style: torch.Tensor | None = None,
               others: torch.Tensor | None = None) -> torch.Tensor:
    """Edit ``w_plus (B, num_ws, w_dim)`` by ``{attribute: amount}`` with ``mapper``; ``z (B, z_dim)`` for mappers
    that take noise, ``style (B, style_dim)`` for style mappers (e.g. a reference photo's ``encode_style``, a
    sample of ``random_conditions``; None: the mapper's own default style); each is ignored by mappers that do not
    take it. ``others (B, n_attr)``: the source's labels, given for the attributes not edited instead of NaN (for
    mappers trained on full targets only). Returns (B, num_ws, w_dim)."""
    names = mapper.generator_info.attribute_names
    check_edit(amounts, names, source=f"this {getattr(mapper, 'plugin_name', None) or type(mapper).__name__} mapper")
    amounts = {k: float(v) for k, v in amounts.items() if float(v) != 0.0}
    if not amounts:
        return w_plus
    edit_steps = optional_hook(mapper, "edit_steps")
    if edit_steps is not None:
        return edit_steps(w_plus, amounts)
    kw = {"z": z} if z is not None and getattr(mapper, "takes_noise", False) else {}
    if style is not None and getattr(mapper, "takes_style", False):
        kw["style"] = style
    out = w_plus
    for size in sorted({abs(v) for v in amounts.values()}, reverse=True):
        group = {k: v for k, v in amounts.items() if abs(v) == size}
        target = target_from_amounts(group, names, w_plus.shape[0], w_plus, others)
        out = out + size * (mapper(out, target=target, **kw) - out)
    return out


def check_mapper_fits_generator(mapper, generator, *, fingerprint: str | None = None, where: str = "the mapper"):
    """The mapper was built for this generator's W+ shape (and fingerprint, when the file recorded one)."""
    gi: GeneratorInfo = mapper.generator_info
    if (gi.num_ws, gi.w_dim) != (generator.num_ws, generator.w_dim):
        raise EditError(f"{where} edits W+ of {gi.num_ws}x{gi.w_dim} ({gi.resolution}px) but the generator's W+ is "
                        f"{generator.num_ws}x{generator.w_dim} ({generator.resolution}px); pass the generator the "
                        "mapper was trained/fitted for (--generator) or a mapper made for this generator (--mapper)")
    if fingerprint and fingerprint != generator.fingerprint():
        raise EditError(f"{where} was made for generator {fingerprint}, not {generator.fingerprint()} (same W+ shape, "
                        "different weights); pass the matching --generator or --mapper")


def edit_rows(amounts: Mapping[str, float], strengths: Sequence[float]) -> list[tuple[str, float, dict[str, float]]]:
    """Grid rows (label, strength, scaled amounts): each attribute alone (when several are asked for), then all
    together ('all'); each at every strength. No amounts (a reference transferred whole): one row 'reference' of
    empty amounts per strength."""
    if not amounts:
        return [("reference", s, {}) for s in strengths]
    groups = [(name, {name: a}) for name, a in amounts.items()] if len(amounts) > 1 else []
    groups.append(("all" if len(amounts) > 1 else next(iter(amounts)), dict(amounts)))
    return [(label, s, {k: v * s for k, v in group.items()}) for label, group in groups for s in strengths]


def noise_draws(mapper, samples: int, *, seed: int = 0) -> list[torch.Tensor | None]:
    """The noises of ``samples`` edits: draw k is N(0, I) (1, z_dim) seeded ``seed + k``, for mappers that take
    noise; ``[None]`` (one edit) for deterministic mappers."""
    z_dim = int(getattr(mapper, "z_dim", 0) or 0)
    if not (getattr(mapper, "takes_noise", False) and z_dim):
        return [None]
    return [torch.randn(1, z_dim, generator=torch.Generator().manual_seed(seed + k)) for k in range(samples)]


def edit_latents(mapper, w_plus: torch.Tensor, amounts: Mapping[str, float], *, samples: int = 1, seed: int = 0,
                 others: torch.Tensor | None = None) -> torch.Tensor:
    """Edit ``w_plus (B, num_ws, w_dim)`` by ``{attribute: amount}`` ``samples`` times (seeded noise draws for
    multimodal noise mappers; one edit for deterministic ones) -> (S, B, num_ws, w_dim), S = the number of edits.
    ``others (B, n_attr)``: see ``apply_edit``. Reference-guided edits: ``latentedit.editing.references``
    (``transfer_style``)."""
    check_edit(amounts, mapper.generator_info.attribute_names,
               source=f"the {getattr(mapper, 'plugin_name', None) or type(mapper).__name__} mapper")
    outs = []
    with torch.no_grad():
        for z in noise_draws(mapper, samples, seed=seed):
            z = None if z is None else z.to(w_plus).expand(w_plus.shape[0], -1)
            outs.append(apply_edit(mapper, w_plus, amounts, z=z, others=others))
    return torch.stack(outs)


__all__ = ["EditError", "apply_edit", "check_edit", "check_mapper_fits_generator", "edit_latents", "edit_rows",
           "noise_draws", "parse_attr", "parse_strengths", "target_from_amounts"]
