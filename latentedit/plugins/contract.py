"""The mapper contract: what a ``latentedit.mappers`` plugin provides, written like a hook spec.

A mapper edits latents of a StyleGAN2 generator::

    w_plus' = mapper(w_plus, target=..., z=..., style=...)

    w_plus  (B, num_ws, w_dim)  float   the source latents (W+; broadcast W codes explicitly first)
    target  (B, n_attr)         float   wanted attribute values, columns in ``generator_info.attribute_names``
                                        order (1 = present, 0 = absent; fractional values are allowed)
    z       (B, z_dim)          float   optional noise for multimodal mappers (``takes_noise = True``)
    style   (B, style_dim)      float   optional reference style (``takes_style = True``)
    returns (B, num_ws, w_dim)  float   the edited latents: same shape as ``w_plus`` (and, outside autocast,
                                        the same device and dtype)

Rules (the base class enforces them, so every plugin behaves the same):

- Build with ``MyMapper(config, generator_info)``: ``config`` is an instance of ``MyMapper.config_class`` (a frozen
  dataclass subclassing ``MapperConfig``; ``None`` means its defaults), ``generator_info`` a ``GeneratorInfo``.
- ``forward(self, w_plus, *, target=None, z=None, style=None)``: every conditioning argument is keyword-only, so the
  contract can grow without breaking plugins. An implementation may accept fewer keywords (``forward(self, w_plus,
  *, target)``): the base class passes only those it takes, and refuses a non-None value for one it does not.
  Shapes are checked before and after ``forward``; errors say what was expected and what was found.
- Class attributes: ``kind`` is ``"trainable"`` (trained by the shared trainer) or ``"fit"`` (fitted in closed form
  or by a classic optimiser, e.g. InterFaceGAN directions); ``takes_noise`` / ``takes_style`` say whether ``z`` /
  ``style`` mean anything; their widths come from config fields ``z_dim`` / ``style_dim``.
- Trainable mappers declare ``default_loss_weights() -> dict[str, float]`` over the names in
  ``latentedit.losses.LOSS_NAMES``; the user's config can override each weight.
- Fit-style mappers implement ``fit(*, w_plus=None, labels=None, generator=None, **options) -> self``
  (keyword-only; take what you need).
- ``save(path)`` / ``MyMapper.load(path)``: one ``.safetensors`` file holding weights, config, generator info and
  the mapper's ``format_version``; bump ``format_version`` when the state-dict layout changes and override
  ``upgrade_state`` to read older files.

Optional hooks (``MapperHooks`` below documents each one; the core reaches them only through
``optional_hook(mapper, "name")``, so a mapper without one simply does not get that behaviour):

- editing: ``edit_steps`` (move along directions), ``sample_noise`` / ``sample_style`` (prior draws),
  ``encode_style`` (reference images -> styles), ``group_slices`` / ``style_columns`` (which style columns belong
  to which attribute group);
- training: ``default_trainer_config`` (a recipe), ``lr_multipliers``, ``condition_target``, ``style_mask``,
  ``pop_style_terms``.

``latentedit.testing.mapper_contract.check_mapper_contract`` checks all of this for any mapper class;
``tests/core/test_contract_hooks.py`` fails when the core calls a hook this module does not document.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from latentedit.io.errors import LatenteditInputError
from latentedit.io.modelfile import ModelFileError, load_state_dict_strict, read_model_file, save_model_file
from latentedit.plugins.config import ConfigError, GeneratorInfo, MapperConfig

MAPPER_FILE_KIND = "mapper"
CONTRACT_KEYWORDS = ("target", "z", "style")
KINDS = ("trainable", "fit")


class MapperContractError(TypeError):
    """A mapper class or call does not follow the mapper contract."""


def documented_hooks() -> frozenset[str]:
    """Names of every optional hook documented for mappers (``MapperHooks``) and encoders (``EncoderHooks``)."""
    from latentedit.plugins.encoder import OPTIONAL_ENCODER_HOOKS

    return OPTIONAL_MAPPER_HOOKS | OPTIONAL_ENCODER_HOOKS


def optional_hook(plugin: Any, name: str):
    """The optional hook ``name`` of a mapper or encoder (object or class) as a callable, or None when the plugin
    does not provide it. ``name`` must be documented (``MapperHooks`` / ``EncoderHooks``): the core calls no
    hook the contract does not describe, and a typo here fails at once instead of silently disabling a hook."""
    if name not in documented_hooks():
        raise MapperContractError(f"optional_hook: {name!r} is not a documented hook; document it in "
                                  "latentedit.plugins.contract.MapperHooks or latentedit.plugins.encoder.EncoderHooks "
                                  f"(documented: {', '.join(sorted(documented_hooks()))})")
    fn = getattr(plugin, name, None)
    return fn if callable(fn) else None


def _shape(t: Any) -> str:
    return str(tuple(t.shape)) if isinstance(t, torch.Tensor) else f"a {type(t).__name__}"


def _forward_keywords(cls: type) -> tuple[frozenset[str] | None, frozenset[str]]:
    """(accepted keyword names or None for **kwargs, keywords without a default) of ``cls.forward``."""
    params = list(inspect.signature(cls.forward).parameters.values())[1:]  # drop self
    if not params or params[0].kind not in (inspect.Parameter.POSITIONAL_ONLY,
                                            inspect.Parameter.POSITIONAL_OR_KEYWORD):
        raise MapperContractError(f"{cls.__qualname__}.forward must take w_plus as its first positional argument: "
                                  f"forward(self, w_plus, *, target=None, z=None, style=None)")
    accepted, required = set(), set()
    for p in params[1:]:
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            return None, frozenset(required)
        if p.kind is not inspect.Parameter.KEYWORD_ONLY:
            raise MapperContractError(
                f"{cls.__qualname__}.forward: '{p.name}' must be keyword-only (put it after '*'); expected "
                f"forward(self, w_plus, *, target=None, z=None, style=None), "
                f"found forward{inspect.signature(cls.forward)}")
        accepted.add(p.name)
        if p.default is inspect.Parameter.empty:
            required.add(p.name)
    return frozenset(accepted), frozenset(required)


class Mapper(nn.Module):
    """Base class of every latent mapper; see the module docstring for the full contract."""

    config_class: ClassVar[type[MapperConfig]] = MapperConfig
    kind: ClassVar[str] = "trainable"
    takes_noise: ClassVar[bool] = False
    takes_style: ClassVar[bool] = False
    format_version: ClassVar[int] = 1
    #: the name the registry loaded this class under (set by ``latentedit.plugins``); else the class name is used
    plugin_name: ClassVar[str | None] = None

    _accepted: ClassVar[frozenset[str] | None] = frozenset(CONTRACT_KEYWORDS)
    _required: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.kind not in KINDS:
            raise MapperContractError(f"{cls.__qualname__}.kind must be one of {KINDS}; got {cls.kind!r}")
        cfg = cls.config_class
        if not (isinstance(cfg, type) and issubclass(cfg, MapperConfig) and dataclasses.is_dataclass(cfg)
                and cfg.__dataclass_params__.frozen):  # type: ignore[attr-defined]
            raise MapperContractError(f"{cls.__qualname__}.config_class must be a @dataclass(frozen=True) subclass "
                                      f"of MapperConfig; got {cfg!r}")
        cls._accepted, cls._required = _forward_keywords(cls)

    def __init__(self, config: MapperConfig | None, generator_info: GeneratorInfo):
        super().__init__()
        if config is None:
            config = self.config_class()
        if not isinstance(config, self.config_class):
            raise ConfigError(f"{type(self).__name__} expects a {self.config_class.__name__} config; "
                              f"got {type(config).__name__}. Build one with "
                              f"{self.config_class.__name__}.from_dict(...)")
        if not isinstance(generator_info, GeneratorInfo):
            raise ConfigError(f"{type(self).__name__} expects a GeneratorInfo as its second argument; "
                              f"got {type(generator_info).__name__}")
        self.config = config
        self.generator_info = generator_info

    # ---- declared dimensions -------------------------------------------------------------------------------
    @property
    def z_dim(self) -> int:
        """Width of the noise ``z`` (config field ``z_dim``; 0 when the mapper takes no noise)."""
        return int(getattr(self.config, "z_dim", 0)) if self.takes_noise else 0

    @property
    def style_dim(self) -> int:
        """Width of the reference ``style`` (config field ``style_dim``; 0 when the mapper takes no style)."""
        return int(getattr(self.config, "style_dim", 0)) if self.takes_style else 0

    # ---- the call ------------------------------------------------------------------------------------------
    def _check_inputs(self, w_plus, target, z, style) -> None:
        gi = self.generator_info
        if not isinstance(w_plus, torch.Tensor) or w_plus.ndim != 3 or tuple(w_plus.shape[1:]) != (gi.num_ws, gi.w_dim):
            raise ValueError(f"w_plus must be (B, {gi.num_ws}, {gi.w_dim}); got {_shape(w_plus)}"
                             + (" (a W code? broadcast it with w.unsqueeze(1).repeat(1, num_ws, 1))"
                                if isinstance(w_plus, torch.Tensor) and w_plus.ndim == 2 else ""))
        b = w_plus.shape[0]
        for name, value, width in (("target", target, gi.n_attr), ("z", z, self.z_dim),
                                   ("style", style, self.style_dim)):
            if value is None:
                continue
            if not isinstance(value, torch.Tensor) or value.ndim != 2 or value.shape[0] != b or (
                    width and value.shape[1] != width):
                raise ValueError(f"{name} must be (B={b}, {width or name + '_dim'}); got {_shape(value)}")

    def __call__(self, w_plus: torch.Tensor, *, target: torch.Tensor | None = None, z: torch.Tensor | None = None,
                 style: torch.Tensor | None = None, **extra: Any) -> torch.Tensor:
        self._check_inputs(w_plus, target, z, style)
        given = {"target": target, "z": z, "style": style, **extra}
        if self._accepted is None:
            kwargs = {k: v for k, v in given.items() if v is not None or k in self._required}
        else:
            refused = [k for k, v in given.items() if v is not None and k not in self._accepted]
            if refused:
                raise MapperContractError(
                    f"{type(self).__name__} does not take {', '.join(map(repr, refused))} (its forward takes "
                    f"{sorted(self._accepted) or 'only w_plus'}; takes_noise={self.takes_noise}, "
                    f"takes_style={self.takes_style}); leave them out")
            kwargs = {k: v for k, v in given.items() if k in self._accepted and (v is not None or k in self._required)}
        missing = [k for k in self._required if kwargs.get(k) is None]
        if missing:
            shapes = {"target": f"(B, {self.generator_info.n_attr})", "z": f"(B, {self.z_dim})",
                      "style": f"(B, {self.style_dim})"}
            raise MapperContractError(f"{type(self).__name__} needs " + ", ".join(
                f"{k}={shapes.get(k, '...')}" for k in sorted(missing)))
        out = super().__call__(w_plus, **kwargs)
        if not isinstance(out, torch.Tensor) or out.shape != w_plus.shape:
            raise MapperContractError(f"{type(self).__name__}.forward must return w_plus of shape "
                                      f"{tuple(w_plus.shape)}; returned {_shape(out)}")
        return out

    def forward(self, w_plus: torch.Tensor, *, target: torch.Tensor | None = None, z: torch.Tensor | None = None,
                style: torch.Tensor | None = None) -> torch.Tensor:
        """Map ``w_plus (B, num_ws, w_dim)`` to edited latents of the same shape. Implement this."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward(self, w_plus, *, target=None, ...)")

    # ---- training / fitting declarations -------------------------------------------------------------------
    @classmethod
    def default_loss_weights(cls) -> dict[str, float]:
        """Trainable mappers: the losses they train with and their default weights (names from LOSS_NAMES)."""
        if cls.kind == "fit":
            return {}
        raise NotImplementedError(f"{cls.__qualname__} is a trainable mapper: declare its losses with a classmethod "
                                  "default_loss_weights() -> dict[str, float], "
                                  "e.g. {'attribute': 1.0, 'latent_l2': 0.8}")

    def fit(self, *, w_plus: torch.Tensor | None = None, labels: torch.Tensor | None = None,
            generator: nn.Module | None = None, **options: Any) -> Mapper:
        """Fit-style mappers: fit from latents ``w_plus (N, num_ws, w_dim)`` and ``labels (N, n_attr)`` and/or the
        ``generator``; return ``self``."""
        if self.kind == "trainable":
            raise MapperContractError(f"{type(self).__name__} is trainable, not fit-style: train it with "
                                      f"`latentedit train mapper --method NAME`")
        raise NotImplementedError(f"{type(self).__name__} is fit-style: implement fit(self, *, w_plus=None, "
                                  "labels=None, generator=None, **options) -> self")

    # ---- persistence ---------------------------------------------------------------------------------------
    @classmethod
    def class_path(cls) -> str:
        return f"{cls.__module__}:{cls.__qualname__}"

    def save(self, path: str | Path, *, extra: Mapping[str, Any] | None = None) -> Path:
        """Write weights + config + generator info + format version to one ``.safetensors`` file, atomically."""
        meta = dict(extra or {})
        meta.update({
            "mapper_name": self.plugin_name or type(self).__name__,
            "mapper_class": self.class_path(),
            "mapper_format_version": int(self.format_version),
            "generator_info": self.generator_info.to_dict(),
        })
        return save_model_file(path, self.state_dict(), kind=MAPPER_FILE_KIND, config=self.config, extra=meta)

    @classmethod
    def upgrade_state(cls, state: dict[str, torch.Tensor], config: dict[str, Any], from_version: int):
        """Turn a file written by an older ``format_version`` into the current layout; returns (state, config)."""
        raise ModelFileError(f"{cls.__qualname__} cannot read format version {from_version} files (it writes "
                             f"version {cls.format_version}); override upgrade_state to convert them")

    @classmethod
    def load(cls, path: str | Path, *, generator_info: GeneratorInfo | None = None,
             map_location: str | torch.device = "cpu") -> Mapper:
        """Rebuild a mapper saved by ``save``. ``generator_info``, if given, must match the file's."""
        try:
            return cls._load(path, generator_info, map_location)
        except LatenteditInputError:
            raise
        except (TypeError, KeyError, AttributeError, ValueError, IndexError, RecursionError) as exc:
            raise ModelFileError(f"{path}: damaged mapper metadata or weights ({type(exc).__name__}: "
                                 f"{' '.join(str(exc).split())[:200]})") from None

    @classmethod
    def _load(cls, path, generator_info, map_location) -> Mapper:
        state, _, config, extra = read_model_file(path, expect_kind=MAPPER_FILE_KIND)
        stored_cls = extra.get("mapper_class")
        if stored_cls is not None and stored_cls.rsplit(":", 1)[-1] != cls.__qualname__:
            raise ModelFileError(f"{path}: holds a '{extra.get('mapper_name')}' mapper ({stored_cls}), not "
                                 f"{cls.class_path()}; load it with latentedit.plugins.load_mapper_file(path)")
        version = int(extra.get("mapper_format_version", 1))
        if version > cls.format_version:
            raise ModelFileError(f"{path}: mapper format version {version} is newer than {cls.__qualname__} "
                                 f"understands ({cls.format_version}); upgrade the plugin")
        if version < cls.format_version:
            state, config = cls.upgrade_state(dict(state), dict(config), version)
        if "generator_info" not in extra:
            raise ModelFileError(f"{path}: no generator_info in the file's metadata; it was not written by Mapper.save")
        stored_gi = GeneratorInfo.from_dict(extra["generator_info"])
        if generator_info is not None and generator_info != stored_gi:
            raise ModelFileError(f"{path}: the mapper was saved for {stored_gi}; you passed {generator_info}")
        cfg = cls.config_class.from_dict(config, source=str(path))
        check_mapper_size(cls, cfg, stored_gi, state, path)
        mapper = cls(cfg, stored_gi)
        load_state_dict_strict(mapper, state, source=str(path))
        return mapper.to(map_location)

    def extra_repr(self) -> str:
        return f"kind={self.kind}, config={self.config}"


class MapperHooks:
    """The optional mapper hooks, documented (a specification: never instantiated or subclassed). A mapper may
    implement any of them with the signature shown (it may accept fewer keywords); the core finds them with
    ``optional_hook(mapper, name)`` and does without them when they are absent."""

    # ---- editing (``latentedit.editing``, ``latentedit edit`` / ``sample-edits`` / ``evaluate``) ---------------
    def edit_steps(self, w_plus: torch.Tensor, steps: Mapping[str, float]) -> torch.Tensor:
        """Linear mappers: move ``w_plus (B, num_ws, w_dim)`` ``steps[name]`` units along each attribute's direction
        (signed); returns (B, num_ws, w_dim). When present, ``apply_edit`` uses it instead of calling the mapper
        with a target and scaling the change."""

    def sample_noise(self, batch: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Noise mappers (``takes_noise``): ``batch`` draws from the prior, (batch, z_dim). Default without it:
        N(0, I)."""

    def sample_style(self, batch: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Style mappers (``takes_style``): ``batch`` styles from the prior, (batch, style_dim). Default without
        it: N(0, I)."""

    def encode_style(self, images: torch.Tensor, *, w_plus: torch.Tensor | None = None,
                     labels: torch.Tensor | None = None, sample: bool | None = None) -> torch.Tensor:
        """Style mappers: reference ``images (B, 3, H, W)`` in [-1, 1] -> styles (B, style_dim) for ``style=``.
        Needed for reference-guided editing (``--reference``), clustering of face styles, and the trainer's
        reference targets and ``style_reconstruction`` loss. In training the trainer may pass ``w_plus`` (the
        latents that drew the images), ``labels`` (B, n_attr) (the judge's labels) and ``sample=False`` (take the
        mean of a stochastic encoder); a hook that does not accept a keyword is not given it."""

    def group_slices(self) -> dict[str, slice]:
        """Style mappers with attribute groups: {group name: the slice of style columns it reads}. Lets
        ``sample-edits --mix REF2 --mix-group G`` take group G's style from a second reference."""

    def style_columns(self, attributes: Sequence[str]) -> list[int]:
        """Style mappers: the style columns that matter for editing ``attributes`` (names); clustering of styles
        runs on these columns only (the others are set to the mean)."""

    # ---- training (``latentedit.training``: the shared mapper trainer) ----------------------------------------
    @classmethod
    def default_trainer_config(cls) -> dict:
        """Trainable mappers: a recipe for the trainer's ``trainer`` section (``TrainerConfig`` fields as a dict);
        the user's ``--config`` and ``--set`` go on top of it."""

    def lr_multipliers(self) -> dict[str, float]:
        """{parameter-name prefix: positive multiplier of the learning rate} (e.g. a style encoder that learns
        faster than the edit it drives). Parameters matching no prefix learn at the base rate."""

    def condition_target(self, target: torch.Tensor, source: torch.Tensor, *, keep_u: torch.Tensor | None = None,
                         generator: torch.Generator | None = None) -> torch.Tensor:
        """The target to call the mapper with, given the full ``target`` and the ``source`` labels (both
        (B, n_attr) in {0, 1}); e.g. attributes left unchanged become NaN (keep) with some probability
        (``latentedit.plugins.targets.keep_unchanged``). ``keep_u (B, n_attr)``: the trainer's uniform draws.
        The losses still compare against the full target."""

    def style_mask(self, w_plus: torch.Tensor, *, target: torch.Tensor | None, style: torch.Tensor) -> torch.Tensor:
        """For the ``style_reconstruction`` loss: (B, style_dim) weights, 1 on the style columns that the call
        ``self(w_plus, target=target, style=style)`` uses (target None: a reference transfer). Without it every
        column counts."""

    def pop_style_terms(self) -> dict[str, torch.Tensor]:
        """Weighted scalar loss terms the ``encode_style`` hook queued during the last forward (e.g. an attribute
        head's BCE), then cleared; the trainer adds them to the objective's terms."""


#: names of the documented optional mapper hooks
OPTIONAL_MAPPER_HOOKS = frozenset(n for n in vars(MapperHooks) if not n.startswith("_"))
MAX_MAPPER_ELEMENTS = 200_000_000  # 800 MB of float32; the shipped mappers hold well under a million


def check_mapper_size(cls, cfg, gi, state, path) -> None:
    """Refuse a stored config that would build a mapper far larger than its file (built first on the meta device:
    nothing is allocated); a plugin whose constructor cannot run on the meta device is not checked."""
    try:
        with torch.device("meta"):
            probe = cls(cfg, gi)
        size = sum(t.numel() for t in probe.state_dict().values())
    except Exception:  # noqa: BLE001 - the real construction below reports real problems
        return
    stored = sum(t.numel() for t in state.values())
    if size > MAX_MAPPER_ELEMENTS and size > 2 * stored:
        raise ModelFileError(f"{path}: the stored config builds a mapper of {size:,} values but the file holds "
                             f"{stored:,}; refusing to allocate it (at most {MAX_MAPPER_ELEMENTS:,})")
