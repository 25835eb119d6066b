"""Community direction files as ``directions`` mappers: InterFaceGAN ``.npy`` (1, D), e4e ``.pt`` (1, 512) and
GANSpace ``.npz`` / e4e ``ffhq_pca.pt`` ``{mean, comp, std}`` with named presets.

* A single direction ``d`` becomes a unit normal ``d / |d|`` with offset 0 and ``edit_distance = |d|`` (absolute
  units), so step ``s`` is ``w + s · d`` on every layer, as InterFaceGAN and e4e apply it.
* A GANSpace preset ``(component k, layers [start, end), strength s, mode)`` becomes the normal
  ``sign(s) · comp_k`` with offset ``-sign(s) · mean · comp_k`` and full distance ``|s| · std_k``: in mode 'set'
  step 1 sets the coordinate ``(w_l - mean) · comp_k`` of each layer in [start, end) to ``s · std_k`` (e4e's
  GANSpace edit), in mode 'add' it adds ``s · std_k · comp_k``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch

from latentedit_directions.formats import DirectionFileError, read_direction, read_ganspace

SUFFIXES = (".npy", ".npz", ".pt", ".pth")
#: e4e's GANSpace notebook presets for FFHQ StyleGAN2 (component, start layer, end layer exclusive, strength)
GANSPACE_PRESETS = {"eye_openness": (54, 7, 8, 20.0), "smile": (46, 4, 5, -20.0), "trimmed_beard": (58, 7, 9, 20.0),
                    "white_hair": (57, 7, 10, -24.0), "lipstick": (34, 10, 11, 20.0)}
_NOISE_WORDS = {"stylegan", "stylegan1", "stylegan2", "ffhq", "celebahq", "pggan", "w", "z", "wp", "boundary",
                "direction", "directions", "pca", "latent", "e4e", "interfacegan"}


@dataclass(frozen=True)
class GanspacePreset:
    name: str
    component: int
    start: int
    end: int
    strength: float
    mode: str = "set"


def parse_preset(spec: str) -> GanspacePreset:
    """'smile' (a built-in, see GANSPACE_PRESETS) or 'NAME=COMPONENT,START,END,STRENGTH[,set|add]' (layers
    [START, END))."""
    name, sep, rest = str(spec).partition("=")
    name = name.strip()
    if not sep:
        if name not in GANSPACE_PRESETS:
            raise DirectionFileError(f"unknown GANSpace preset {name!r}; built-in: {', '.join(GANSPACE_PRESETS)}; or "
                                     "give NAME=COMPONENT,START,END,STRENGTH[,set|add]")
        return GanspacePreset(name, *GANSPACE_PRESETS[name])
    parts = [p.strip() for p in rest.split(",")]
    try:
        if len(parts) not in (4, 5) or (len(parts) == 5 and parts[4] not in ("set", "add")):
            raise ValueError
        k, start, end, strength = int(parts[0]), int(parts[1]), int(parts[2]), float(parts[3])
    except ValueError:
        raise DirectionFileError(f"preset {spec!r}: expected NAME=COMPONENT,START,END,STRENGTH[,set|add], e.g. "
                                 "smile=46,4,5,-20,set") from None
    if not name or not 0 <= start < end or strength == 0:
        raise DirectionFileError(f"preset {spec!r}: needs a name, 0 <= START < END and a non-zero STRENGTH")
    return GanspacePreset(name, k, start, end, strength, parts[4] if len(parts) == 5 else "set")


def guess_name(path) -> str:
    """An attribute name from a file name: 'stylegan_ffhq_smile_w_boundary.npy' -> 'smile', 'age.pt' -> 'age'."""
    words = [w for w in re.split(r"[_\-. ]+", Path(path).stem.lower()) if w and w not in _NOISE_WORDS]
    return "_".join(words) or Path(path).stem


def _is_ganspace(path: Path) -> bool:
    if path.suffix == ".npz":
        return True
    try:
        read_direction(path)
    except DirectionFileError as exc:
        if "holds a dict" in str(exc):
            return True
        raise
    return False


def _info(num_ws: int, w_dim: int, names):
    from latentedit.plugins import GeneratorInfo

    return GeneratorInfo(num_ws=num_ws, w_dim=w_dim, attribute_names=tuple(names), resolution=2 ** ((num_ws + 2) // 2))


def import_directions(path, *, num_ws: int = 18, w_dim: int | None = None, name: str | None = None,
                      presets=(), strength: float | None = None):
    """A fitted ``DirectionsMapper`` for a W+ of ``num_ws`` layers from a community file.

    ``w_dim``: the generator's W width (default: the direction's length; a direction of ``num_ws * w_dim`` is a
    W+ direction). ``name``: the attribute of a single direction (default: guessed from the file name).
    ``presets``: GANSpace presets (``GanspacePreset`` or strings for ``parse_preset``; default: every built-in
    one that fits the file and the W+). ``strength``: the scale of a single direction's step 1 (default: its
    original norm)."""
    from latentedit_directions.mapper import DirectionsConfig, DirectionsMapper

    path = Path(path)
    if not path.is_file():
        raise DirectionFileError(f"{path}: no such direction file")
    if path.suffix.lower() not in SUFFIXES:
        raise DirectionFileError(f"{path}: expected an InterFaceGAN .npy, e4e .pt or GANSpace .npz file; got "
                                 f"'{path.suffix}'")
    if _is_ganspace(path):
        return _import_ganspace(path, num_ws, w_dim, [p if isinstance(p, GanspacePreset) else parse_preset(p)
                                                      for p in presets])
    if presets:
        raise DirectionFileError(f"{path}: --preset is for GANSpace files; this one holds a single direction")
    d = read_direction(path).double()
    norm = float(d.norm())
    if not norm > 0 or not torch.isfinite(d).all():
        raise DirectionFileError(f"{path}: the direction is zero or not finite")
    width = w_dim or d.numel()
    if d.numel() not in (width, num_ws * width):
        raise DirectionFileError(f"{path}: a direction of {d.numel()} values fits neither W ({width}) nor W+ "
                                 f"({num_ws}x{width}) of this generator")
    space = "w" if d.numel() == width else "w_plus"
    scale = norm if strength is None else float(strength)
    if not scale > 0:
        raise DirectionFileError(f"strength must be > 0; got {strength}")
    cfg = DirectionsConfig(method="interfacegan", space=space, edit_distance=scale, distance_unit="absolute")
    mapper = DirectionsMapper(cfg, _info(num_ws, width, [name or guess_name(path)]))
    mapper.normals[0] = (d / norm).float()
    mapper.fitted.fill_(1)
    mapper.source_info = {"format": "interfacegan" if path.suffix == ".npy" else "e4e", "file": str(path.resolve()),
                          "original_norm": norm, "space": space}
    return mapper


def _import_ganspace(path: Path, num_ws: int, w_dim: int | None, presets: list[GanspacePreset]):
    from latentedit_directions.mapper import DirectionsConfig, DirectionsMapper

    pca = read_ganspace(path)
    comp, mean, std = pca["comp"].reshape(len(pca["std"]), -1).double(), pca["mean"].reshape(-1).double(), pca["std"]
    width = comp.shape[1]
    if w_dim is not None and width != w_dim:
        raise DirectionFileError(f"{path}: components of width {width}; the generator's W is {w_dim}")
    if not presets:
        presets = [GanspacePreset(n, *v) for n, v in GANSPACE_PRESETS.items() if v[0] < len(std) and v[2] <= num_ws]
        if not presets:
            raise DirectionFileError(f"{path}: no built-in preset fits {len(std)} components and {num_ws} layers; "
                                     "name one with `latentedit directions import FILE --preset "
                                     "NAME=COMPONENT,START,END,STRENGTH[,set|add]`")
    for p in presets:
        if not 0 <= p.component < len(std) or p.end > num_ws:
            raise DirectionFileError(f"preset {p.name!r}: component {p.component} / layers [{p.start}, {p.end}) do "
                                     f"not fit this file ({len(std)} components) and W+ ({num_ws} layers)")
    cfg = DirectionsConfig(method="ganspace", space="w", distance_unit="std", edit_distance=1.0,
                           spreads=tuple(abs(p.strength) * float(std[p.component]) for p in presets),
                           attribute_layers=tuple(tuple(range(p.start, p.end)) for p in presets),
                           modes=tuple(p.mode for p in presets))
    mapper = DirectionsMapper(cfg, _info(num_ws, width, [p.name for p in presets]))
    for a, p in enumerate(presets):
        c = comp[p.component]
        n = c / c.norm() * (1.0 if p.strength > 0 else -1.0)
        mapper.normals[a] = n.float()
        mapper.offsets[a] = float(-(mean @ n))
    mapper.fitted.fill_(1)
    mapper.source_info = {"format": "ganspace", "file": str(path.resolve()),
                          "presets": [p.__dict__ for p in presets]}
    return mapper
