"""``directions``: attribute edits along linear directions in W or W+ (InterFaceGAN, GANSpace, SeFa).

One direction per attribute: a unit normal ``n`` and an offset ``b`` so that ``d(w) = w·n + b`` is a signed
distance (> 0: attribute present). ``forward(w_plus, target=t)`` moves each latent along ``n`` until
``d = (2t - 1) · D`` (t = 1 present, 0 absent; NaN leaves that attribute alone). ``edit_steps`` adds
``step · D · n`` instead (the CLI's ``--attr smile=+1``). Conditional editing projects the normals of
``conditions`` out of every other direction, so editing one attribute keeps the conditioned ones.

The full-edit distance ``D`` of an attribute is ``edit_distance`` in W units (``distance_unit="absolute"``,
InterFaceGAN's convention: its 3.0 is three standard deviations of a unit Gaussian Z), or ``edit_distance`` times
that attribute's *spread* (``distance_unit="std"``): the standard deviation of the fitted samples' signed
distances, recorded by ``fit`` in ``spreads``. W spaces differ in scale from one generator to the next (the toy
generator's smile spread is 0.17 W units, its hair colour's 1.1), so a fixed absolute distance is a small nudge
on one and a jump far off the distribution on another.

Community files (``import_file``): an InterFaceGAN / e4e direction is one unit normal with ``edit_distance`` its
original norm (``--attr smile=2`` is ``w + 2 · direction``, as e4e edits); a GANSpace preset is a component with
its own W+ layers (``attribute_layers``) and mode (``modes``: 'set' fixes the layer's coordinate, as e4e's
GANSpace edits; 'add' moves along it).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import torch

from latentedit.plugins import Mapper, MapperConfig
from latentedit_directions.ganspace_sefa import ganspace_components, sefa_directions
from latentedit_directions.interfacegan import project_boundary, train_boundary

METHODS = ("interfacegan", "ganspace", "sefa")
MODES = ("add", "set")
SPACES = ("w", "w_plus")
DISTANCE_UNITS = ("absolute", "std")


@dataclass(frozen=True)
class DirectionsConfig(MapperConfig):
    method: str = field(default="interfacegan", metadata={"doc": "interfacegan | ganspace | sefa"})
    space: str = field(default="w", metadata={"doc": "w: one direction for all edited layers; w_plus: per-layer"})
    ratio: float = field(default=0.02, metadata={"doc": "InterFaceGAN: top/bottom fraction of scored samples"})
    edit_distance: float = field(default=3.0, metadata={"doc": "target |signed distance| for a full edit, in "
                                                               "distance_unit"})
    distance_unit: str = field(default="absolute", metadata={
        "doc": "absolute: edit_distance in W units; std: in units of each attribute's spread (spreads)"})
    spreads: tuple[float, ...] = field(default=(), metadata={
        "doc": "per attribute: std of the fitted samples' signed distances (written by fit)"})
    conditions: tuple[str, ...] = field(default=(), metadata={"doc": "attributes held fixed while editing others"})
    layers: tuple[int, ...] = field(default=(), metadata={"doc": "W+ layers the edit touches (empty: all)"})
    attribute_layers: tuple[tuple[int, ...], ...] = field(default=(), metadata={
        "doc": "per attribute: its own W+ layers (empty tuple: `layers`); empty: `layers` for all"})
    modes: tuple[str, ...] = field(default=(), metadata={
        "doc": "per attribute: add (move along the normal) or set (GANSpace presets: set each edited layer's "
               "coordinate w_l.n + b to the goal); empty: add for all"})
    n_components: int = field(default=32, metadata={"doc": "GANSpace: PCA components to search"})
    seed: int = field(default=0, metadata={"doc": "seed of the SVM split"})

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}; got {self.method!r}")
        if self.space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}; got {self.space!r}")
        if self.distance_unit not in DISTANCE_UNITS:
            raise ValueError(f"distance_unit must be one of {DISTANCE_UNITS}; got {self.distance_unit!r}")
        if any(m not in MODES for m in self.modes):
            raise ValueError(f"modes must each be one of {MODES}; got {self.modes!r}")
        if "set" in self.modes and self.space != "w":
            raise ValueError("mode 'set' works on per-layer W coordinates; use space='w'")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 and math.isfinite(v) for v in self.spreads):
            raise ValueError(f"spreads must be finite numbers > 0; got {self.spreads!r}")


class DirectionsMapper(Mapper):
    """Linear attribute directions; fit-style (``fit``), no training."""

    config_class = DirectionsConfig
    kind = "fit"
    plugin_name = "directions"

    def __init__(self, config, generator_info):
        super().__init__(config, generator_info)
        gi = self.generator_info
        dim = gi.w_dim if self.config.space == "w" else gi.num_ws * gi.w_dim
        self.register_buffer("normals", torch.zeros(gi.n_attr, dim))
        self.register_buffer("offsets", torch.zeros(gi.n_attr))
        self.register_buffer("fitted", torch.zeros(gi.n_attr))
        unknown = [c for c in self.config.conditions if c not in gi.attribute_names]
        every = [*self.config.layers, *(i for ls in self.config.attribute_layers for i in ls)]
        bad_layers = [i for i in every if not 0 <= i < gi.num_ws]
        if unknown or bad_layers:
            raise ValueError(f"conditions must name attributes in {list(gi.attribute_names)} and layers lie in "
                             f"[0, {gi.num_ws}); got unknown {unknown}, layers {bad_layers}")
        for name in ("spreads", "attribute_layers", "modes"):
            value = getattr(self.config, name)
            if value and len(value) != gi.n_attr:
                raise ValueError(f"{name} must hold one entry per attribute ({gi.n_attr}); got {len(value)}")

    # ---- codes in the direction's space ---------------------------------------------------------------------
    def _codes(self, w_plus: torch.Tensor) -> torch.Tensor:
        """(B, num_ws, w_dim) -> (B, D): the mean W over layers (exact for broadcast W), or flattened W+."""
        return w_plus.mean(dim=1) if self.config.space == "w" else w_plus.flatten(1)

    def _layer_mask(self, like: torch.Tensor, a: int | None = None) -> torch.Tensor:
        """(num_ws, 1) 0/1: the layers attribute ``a`` edits (its own ``attribute_layers``, else ``layers``)."""
        layers = self.config.attribute_layers[a] if a is not None and self.config.attribute_layers else ()
        layers = layers or self.config.layers
        mask = torch.ones(self.generator_info.num_ws, 1, dtype=like.dtype, device=like.device)
        if layers:
            mask.zero_()
            mask[list(layers)] = 1
        return mask

    def _mode(self, a: int) -> str:
        return self.config.modes[a] if self.config.modes else "add"

    def _set_coordinate(self, a: int, goal: torch.Tensor, w_plus: torch.Tensor) -> torch.Tensor:
        """Mode 'set': on each edited layer l, move w_l along n so that w_l.n + b = goal (B,); NaN goals keep."""
        n = self.normals[a]
        coord = w_plus @ n + self.offsets[a]                                   # (B, num_ws)
        amount = torch.where(torch.isnan(goal)[:, None], torch.zeros_like(coord), goal[:, None] - coord)
        return w_plus + amount.unsqueeze(-1) * n * self._layer_mask(w_plus, a).unsqueeze(0)

    def _delta(self, a: int, amount: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Displacement (B, num_ws, w_dim) of ``amount`` (B,) along attribute a's normal on the edited layers."""
        gi = self.generator_info
        n = self.normals[a]
        n = n.expand(gi.num_ws, -1) if self.config.space == "w" else n.view(gi.num_ws, gi.w_dim)
        return amount.view(-1, 1, 1) * (n * self._layer_mask(like, a)).unsqueeze(0)

    def _check_fitted(self, a: int) -> None:
        if not bool(self.fitted[a]):
            raise RuntimeError(f"no direction fitted for {self.generator_info.attribute_names[a]!r}; call fit(...) "
                               "or load a fitted file")

    def full_edit_distance(self, a: int) -> float:
        """``D`` of attribute a: the |signed distance| of a full edit, in W units."""
        cfg = self.config
        if cfg.distance_unit == "absolute":
            return cfg.edit_distance
        if not cfg.spreads:
            raise RuntimeError("distance_unit='std' needs the spreads that fit(...) records; this mapper has none "
                               "(a file imported from a community format?): use distance_unit='absolute'")
        return cfg.edit_distance * cfg.spreads[a]

    def signed_distance(self, w_plus: torch.Tensor) -> torch.Tensor:
        """(B, num_ws, w_dim) -> (B, n_attr)."""
        return self._codes(w_plus) @ self.normals.T + self.offsets

    def forward(self, w_plus: torch.Tensor, *, target: torch.Tensor) -> torch.Tensor:
        out = w_plus
        for a in range(self.generator_info.n_attr):
            t = target[:, a]
            if torch.isnan(t).all():
                continue
            self._check_fitted(a)
            goal = (2 * t.clamp(0, 1) - 1) * self.full_edit_distance(a)
            if self._mode(a) == "set":
                out = self._set_coordinate(a, goal, out)
                continue
            d = self.signed_distance(out)[:, a]
            out = out + self._delta(a, torch.where(torch.isnan(t), torch.zeros_like(d), goal - d), out)
        return out

    def edit_steps(self, w_plus: torch.Tensor, steps: dict[str, float]) -> torch.Tensor:
        """Additive edits: ``w + step · D · n`` per named attribute (mode 'set': each edited layer's coordinate
        becomes ``step · D``). w_plus: (B, num_ws, w_dim)."""
        names = list(self.generator_info.attribute_names)
        out = w_plus
        for name, step in steps.items():
            if name not in names:
                raise KeyError(f"unknown attribute {name!r}; valid: {names}")
            a = names.index(name)
            self._check_fitted(a)
            amount = torch.full((w_plus.shape[0],), float(step) * self.full_edit_distance(a), dtype=w_plus.dtype,
                                device=w_plus.device)
            out = self._set_coordinate(a, amount, out) if self._mode(a) == "set" else out + self._delta(a, amount, out)
        return out

    @classmethod
    def import_file(cls, path, **options) -> "DirectionsMapper":
        """A mapper from a community direction file (InterFaceGAN .npy, e4e .pt, GANSpace .npz/.pt with presets);
        see ``latentedit_directions.community.import_directions`` for the options."""
        from latentedit_directions.community import import_directions

        return import_directions(path, **options)

    def direction(self, name: str) -> torch.Tensor:
        """The unit normal of one attribute: (D,)."""
        a = list(self.generator_info.attribute_names).index(name)
        self._check_fitted(a)
        return self.normals[a].clone()

    # ---- fitting --------------------------------------------------------------------------------------------
    @torch.no_grad()
    def fit(self, *, w_plus: torch.Tensor, labels: torch.Tensor, generator=None, **options) -> "DirectionsMapper":
        """Fit from latents ``w_plus (N, num_ws, w_dim)`` and per-attribute scores/labels ``(N, n_attr)``
        (logits or probabilities: higher = more present). SeFa also needs ``generator``."""
        cfg, gi = self.config, self.generator_info
        if labels.shape != (w_plus.shape[0], gi.n_attr):
            raise ValueError(f"labels must be (N={w_plus.shape[0]}, {gi.n_attr}); got {tuple(labels.shape)}")
        codes = self._codes(w_plus).float()
        scores = labels.float()
        if cfg.method == "interfacegan":
            for a in range(gi.n_attr):
                n, b, _ = train_boundary(codes, scores[:, a], ratio=cfg.ratio, seed=cfg.seed)
                self.normals[a], self.offsets[a] = n, b
        else:
            if cfg.space != "w":
                raise ValueError(f"{cfg.method} directions live in W; use space='w'")
            if cfg.method == "ganspace":
                candidates = ganspace_components(codes, cfg.n_components, cfg.seed)["comp"].squeeze(1)
            else:
                if generator is None:
                    raise ValueError("SeFa needs the generator: fit(w_plus=..., labels=..., generator=G)")
                candidates = sefa_directions(generator)[0][: cfg.n_components]
            self._assign_components(codes, scores, candidates)
        self.fitted.fill_(1)
        self._apply_conditions()
        spreads = (codes @ self.normals.T).std(dim=0).clamp_min(1e-8)       # (n_attr,)
        self.config = dataclasses.replace(cfg, spreads=tuple(float(v) for v in spreads))
        return self

    def _assign_components(self, codes, scores, candidates) -> None:
        """Name components: each attribute takes the candidate whose projection best separates it (signed)."""
        proj = codes @ candidates.T                                    # (N, K)
        for a in range(self.generator_info.n_attr):
            s = scores[:, a] - scores[:, a].mean()
            p = proj - proj.mean(0)
            corr = (p * s[:, None]).sum(0) / (p.norm(dim=0) * s.norm() + 1e-12)
            k = int(corr.abs().argmax())
            n = candidates[k] * torch.sign(corr[k])
            n = n / n.norm()
            pos = scores[:, a] > scores[:, a].median()
            x = codes @ n
            self.normals[a] = n
            self.offsets[a] = -(x[pos].mean() + x[~pos].mean()) / 2

    def _apply_conditions(self) -> None:
        names = list(self.generator_info.attribute_names)
        conds = [names.index(c) for c in self.config.conditions]
        if not conds:
            return
        originals = self.normals.clone()
        for a in range(len(names)):
            if a in conds:
                continue
            n = project_boundary(originals[a], *[originals[c] for c in conds])
            # keep the offset's meaning: d = w·n + b, with b rescaled along the projected normal
            scale = float(n @ originals[a])
            self.normals[a] = n
            self.offsets[a] = self.offsets[a] * scale if math.isfinite(scale) else self.offsets[a]
