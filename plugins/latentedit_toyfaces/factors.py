"""The toy-faces factor vector: what every render is made of, and the prior it is sampled from.

A factor tensor ``f`` has shape ``(B, NUM_FACTORS)``, float in [0, 1], columns in the order of ``FACTOR_NAMES``.
It has three parts:

* identity (``IDENTITY_FACTORS``): what persists for a person — face width and length, jaw, skin tone, eye spacing
  and size, iris colour, nose size, mouth width, brow thickness, hairstyle (short crop at 0 → long bob at 1).
* attributes (``ATTRIBUTE_NAMES``): what edits change. Each column *is* the attribute's continuous intensity in
  [0, 1]; its binary label is ``intensity > 0.5``. ``hair_color`` runs from dark (0) to blond (1); ``age`` draws
  grey hair and wrinkles; ``smile`` runs from a slight frown (0) to an open grin (1).
* nuisance (``NUISANCE_FACTORS``): small head shift and tilt, background colour, light direction.

Sampling: ``factors_from_gaussian(u)`` maps standard-normal ``u`` to factors deterministically and smoothly:
identity and nuisance factors are ``Φ(u)`` (the Gaussian CDF, uniform on [0, 1]); an attribute is
``Φ(ATTRIBUTE_STEEPNESS · (u - t))``, which piles most of its mass near 0 or 1 (93.5% of samples lie outside
[0.3, 0.7]) so that labels are unambiguous while the intensity is still a smooth function of ``u``.

The correlation prior (``prior=True``) moves each attribute's threshold ``t`` with other factors:

* beard: more likely with short hair (``t = 0.3 + 1.0 · (hair_style - 0.5)``; P ≈ 0.55 for the shortest crop,
  ≈ 0.23 for the longest bob), and a little more likely with age;
* eyeglasses: more likely with age (``t = 0.6 - 0.8 · (age - 0.5)``);
* age: independent (``t = 0.1``); hair colour: blond a little rarer with age (``t = 0.1 + 0.4 · (age - 0.5)``);
* smile: independent (``t = 0``).

``prior=False`` uses independent attributes, each with ``t = 0`` (P(label) = 0.5).
"""

from __future__ import annotations

import math

import torch

IDENTITY_FACTORS: tuple[str, ...] = (
    "face_width",      # narrow (0) → wide (1) face
    "face_length",     # short (0) → long (1) face
    "jaw",             # round (0) → pointed (1) chin
    "skin_tone",       # light (0) → dark (1) skin
    "eye_spacing",     # close (0) → far apart (1) eyes
    "eye_size",        # small (0) → large (1) eyes
    "iris_color",      # brown (0) → blue (0.5) → green (1) iris
    "nose_size",       # small (0) → large (1) nose
    "mouth_width",     # narrow (0) → wide (1) mouth
    "brow_thickness",  # thin (0) → thick (1) eyebrows
    "hair_style",      # short crop (0) → long bob down to the jaw (1)
)
ATTRIBUTE_NAMES: tuple[str, ...] = ("smile", "eyeglasses", "age", "hair_color", "beard")
NUISANCE_FACTORS: tuple[str, ...] = (
    "shift_x",      # head left (0) → right (1), ±3% of the image width (±2 px at 64)
    "shift_y",      # head up (0) → down (1), ±2.5% of the image height
    "tilt",         # head roll, about ±9 degrees
    "background",   # background colour along a fixed non-looping palette path
    "light",        # light from the left (0) → from the right (1)
)
FACTOR_NAMES: tuple[str, ...] = IDENTITY_FACTORS + ATTRIBUTE_NAMES + NUISANCE_FACTORS
NUM_FACTORS: int = len(FACTOR_NAMES)
INDEX: dict[str, int] = {name: i for i, name in enumerate(FACTOR_NAMES)}
IDENTITY_INDEX: tuple[int, ...] = tuple(INDEX[n] for n in IDENTITY_FACTORS)
ATTRIBUTE_INDEX: tuple[int, ...] = tuple(INDEX[n] for n in ATTRIBUTE_NAMES)
NUISANCE_INDEX: tuple[int, ...] = tuple(INDEX[n] for n in NUISANCE_FACTORS)

#: Gain on ``u`` before the CDF for attributes: larger → more bimodal intensities.
ATTRIBUTE_STEEPNESS: float = 6.0


class FactorError(ValueError):
    """A factor tensor or factor name is not what was expected."""


def check_factors(f: torch.Tensor, what: str = "factors") -> torch.Tensor:
    """Validate ``f`` as a ``(B, NUM_FACTORS)`` floating tensor; return it unchanged."""
    if not isinstance(f, torch.Tensor):
        raise FactorError(f"{what}: expected a torch.Tensor of shape (B, {NUM_FACTORS}); got {type(f).__name__}. "
                          "Build one with latentedit_toyfaces.factors.sample_factors(n, seed).")
    if f.ndim != 2 or f.shape[1] != NUM_FACTORS:
        raise FactorError(f"{what}: expected shape (B, {NUM_FACTORS}) (columns: FACTOR_NAMES); got "
                          f"{tuple(f.shape)}. Add a batch dimension with f[None] if you have one vector.")
    if not f.is_floating_point():
        raise FactorError(f"{what}: expected a floating tensor in [0, 1]; got dtype {f.dtype}. Use f.float().")
    return f


def _normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def _attribute_thresholds(f: torch.Tensor, prior: bool) -> torch.Tensor:
    """Thresholds ``t`` (B, n_attr) of the attribute CDFs given the identity factors and age level of ``f``."""
    b = f.shape[0]
    t = torch.zeros(b, len(ATTRIBUTE_NAMES), dtype=f.dtype, device=f.device)
    if not prior:
        return t
    hair = f[:, INDEX["hair_style"]] - 0.5
    age_level = f[:, INDEX["age"]] - 0.5
    t[:, ATTRIBUTE_NAMES.index("smile")] = 0.0
    t[:, ATTRIBUTE_NAMES.index("age")] = 0.1
    t[:, ATTRIBUTE_NAMES.index("eyeglasses")] = 0.6 - 0.8 * age_level
    t[:, ATTRIBUTE_NAMES.index("hair_color")] = 0.1 + 0.4 * age_level
    t[:, ATTRIBUTE_NAMES.index("beard")] = 0.3 + 1.0 * hair - 0.3 * age_level
    return t


def factors_from_gaussian(u: torch.Tensor, prior: bool = True) -> torch.Tensor:
    """Map standard-normal ``u`` (B, NUM_FACTORS) to factors (B, NUM_FACTORS) in [0, 1], deterministically.

    Identity and nuisance columns: ``Φ(u)``. Attribute columns: ``Φ(ATTRIBUTE_STEEPNESS · (u - t))`` where ``t``
    follows the documented prior (module docstring); age is computed first since the other thresholds use it.
    Smooth (differentiable) in ``u``.
    """
    check_factors(u, "u")
    f = _normal_cdf(u)
    age_col = INDEX["age"]
    age_t = 0.1 if prior else 0.0
    age = _normal_cdf(ATTRIBUTE_STEEPNESS * (u[:, age_col] - age_t))
    f = torch.cat([f[:, :age_col], age[:, None], f[:, age_col + 1:]], dim=1)
    t = _attribute_thresholds(f, prior)
    cols = list(f.unbind(1))
    for j, i in enumerate(ATTRIBUTE_INDEX):
        cols[i] = _normal_cdf(ATTRIBUTE_STEEPNESS * (u[:, i] - t[:, j]))
    return torch.stack(cols, dim=1)


def flip_attribute_gaussian(u: torch.Tensor, name: str, prior: bool = True) -> torch.Tensor:
    """The ground-truth edit in Gaussian coordinates: ``u'`` (B, NUM_FACTORS) whose factors equal those of ``u``
    with attribute ``name`` set to ``1 - intensity`` and every other column unchanged.

    The attribute's coordinate is mirrored about its threshold (``u' = 2t - u``); the other attributes' coordinates
    move with their thresholds (which depend on age), so their intensities stay exactly where they were.
    """
    check_factors(u, "u")
    if name not in ATTRIBUTE_NAMES:
        raise FactorError(f"unknown attribute {name!r}; expected one of {', '.join(ATTRIBUTE_NAMES)}")
    f = factors_from_gaussian(u, prior)
    t = _attribute_thresholds(f, prior)
    flipped = f.clone()
    flipped[:, INDEX[name]] = 1 - f[:, INDEX[name]]
    t_new = _attribute_thresholds(flipped, prior)
    out = u.clone()
    for j, i in enumerate(ATTRIBUTE_INDEX):
        if ATTRIBUTE_NAMES[j] == name:
            out[:, i] = 2 * t[:, j] - u[:, i]
        else:
            out[:, i] = u[:, i] - t[:, j] + t_new[:, j]
    return out


def _generator(seed: int | torch.Generator) -> torch.Generator:
    if isinstance(seed, torch.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise FactorError(f"seed: expected an int or a torch.Generator; got {type(seed).__name__}")
    g = torch.Generator()
    g.manual_seed(int(seed))
    return g


def sample_gaussian(n: int, seed: int | torch.Generator) -> torch.Tensor:
    """Standard-normal ``u`` (n, NUM_FACTORS), deterministic for an int seed (CPU float32)."""
    if not isinstance(n, int) or n < 0:
        raise FactorError(f"n: expected a non-negative int; got {n!r}")
    return torch.randn(n, NUM_FACTORS, generator=_generator(seed))


def sample_factors(n: int, seed: int | torch.Generator, prior: bool = True) -> torch.Tensor:
    """``n`` random faces: factors (n, NUM_FACTORS) = ``factors_from_gaussian(randn(n, NUM_FACTORS), prior)``."""
    return factors_from_gaussian(sample_gaussian(n, seed), prior=prior)


def attribute_intensities(f: torch.Tensor) -> torch.Tensor:
    """Continuous attribute intensities (B, len(ATTRIBUTE_NAMES)) in [0, 1], columns in ATTRIBUTE_NAMES order."""
    check_factors(f)
    return f[:, list(ATTRIBUTE_INDEX)]


def attribute_labels(f: torch.Tensor) -> torch.Tensor:
    """Binary attribute labels (B, len(ATTRIBUTE_NAMES)) bool: ``intensity > 0.5``."""
    return attribute_intensities(f) > 0.5


def _set_columns(f: torch.Tensor, allowed: tuple[str, ...], kind: str, values: dict) -> torch.Tensor:
    check_factors(f)
    out = f.clone()
    for name, value in values.items():
        if name not in allowed:
            raise FactorError(f"unknown {kind} {name!r}; expected one of {', '.join(allowed)}")
        v = torch.as_tensor(value, dtype=f.dtype, device=f.device)
        if v.ndim > 1 or (v.ndim == 1 and v.shape[0] not in (1, f.shape[0])):
            raise FactorError(f"{kind} {name!r}: expected a number or a (B,) = ({f.shape[0]},) tensor; "
                              f"got shape {tuple(v.shape)}")
        if bool(((v < 0) | (v > 1)).any()):
            raise FactorError(f"{kind} {name!r}: values must lie in [0, 1]; got min {float(v.min()):.3g}, "
                              f"max {float(v.max()):.3g}")
        out[:, INDEX[name]] = v
    return out


def with_attributes(f: torch.Tensor, **values) -> torch.Tensor:
    """A copy of ``f`` (B, NUM_FACTORS) with some attribute intensities set, e.g. ``with_attributes(f, smile=1.0)``.

    Values are numbers or (B,) tensors in [0, 1]. The identity and nuisance columns are kept: same person.
    """
    return _set_columns(f, ATTRIBUTE_NAMES, "attribute", values)


def with_nuisance(f: torch.Tensor, **values) -> torch.Tensor:
    """A copy of ``f`` with some nuisance factors set, e.g. ``with_nuisance(f, tilt=0.5, background=0.2)``."""
    return _set_columns(f, NUISANCE_FACTORS, "nuisance factor", values)


def resample_nuisance(f: torch.Tensor, seed: int | torch.Generator) -> torch.Tensor:
    """A copy of ``f`` with every nuisance factor drawn afresh (uniform on [0, 1]); same person, same attributes."""
    check_factors(f)
    fresh = _normal_cdf(torch.randn(f.shape[0], len(NUISANCE_FACTORS), generator=_generator(seed)))
    out = f.clone()
    out[:, list(NUISANCE_INDEX)] = fresh.to(dtype=f.dtype, device=f.device)
    return out


def resample_attributes(f: torch.Tensor, seed: int | torch.Generator, prior: bool = True) -> torch.Tensor:
    """A copy of ``f`` with every attribute drawn afresh from the prior given ``f``'s identity; same person."""
    check_factors(f)
    u = torch.randn(f.shape[0], NUM_FACTORS, generator=_generator(seed)).to(dtype=f.dtype, device=f.device)
    # Re-use the identity/nuisance columns through the inverse CDF so the prior sees this person's hairstyle.
    keep = f.clamp(1e-6, 1 - 1e-6)
    u_keep = math.sqrt(2.0) * torch.erfinv(2 * keep - 1)
    cols = list(ATTRIBUTE_INDEX)
    u_keep[:, cols] = u[:, cols]
    fresh = factors_from_gaussian(u_keep, prior=prior)
    out = f.clone()
    out[:, cols] = fresh[:, cols]
    return out


def factor_table() -> str:
    """A Markdown table of every factor, its group and index (for docs and ``--help``)."""
    rows = ["| index | factor | group |", "|---|---|---|"]
    for i, name in enumerate(FACTOR_NAMES):
        group = "identity" if name in IDENTITY_FACTORS else "attribute" if name in ATTRIBUTE_NAMES else "nuisance"
        rows.append(f"| {i} | {name} | {group} |")
    return "\n".join(rows)
