"""The toy-faces judges: small CNNs trained on renders, shipped in ``plugins/latentedit_toyfaces/assets/``.

Three judges share one backbone design (``JudgeNet``), each with its own head:

* ``attributes`` — multi-label attribute classifier: images (B, 3, H, W) in [-1, 1] → logits (B, n_attr) in
  ``ATTRIBUTE_NAMES`` order (the *attribute discriminator* mapper training uses);
* ``identity``   — identity embedder: images → (B, embed_dim) L2-normalised; same person ⇒ close whatever the
  attributes and nuisance (trained with an ArcFace-style additive angular margin);
* ``factors``    — factor estimator: images → (B, NUM_FACTORS) in [0, 1]; ``.features(x)`` gives the
  penultimate features (B, feature_dim) for a Fréchet distance. Used only for *evaluation*, never as a loss.

Inputs of any square resolution are resized to 64×64 (anti-aliased bilinear). ``load_judge(name)`` returns an
eval-mode module loaded from the shipped asset (or from ``path``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from latentedit.config import FrozenConfig
from latentedit.io.modelfile import (ModelFileError, load_state_dict_strict, read_model_file, read_model_metadata,
                                     save_model_file)
from latentedit_toyfaces.factors import ATTRIBUTE_NAMES, FACTOR_NAMES, NUM_FACTORS

JUDGE_NAMES: tuple[str, ...] = ("attributes", "identity", "factors")
ASSETS_DIR = Path(__file__).resolve().parent / "assets"
INPUT_RESOLUTION = 64


class JudgeError(ValueError):
    """A judge name, input or file is not what was expected."""


@dataclass(frozen=True)
class TrainRecipe(FrozenConfig):
    """How a judge was trained (recorded in its file so it can be reproduced)."""

    error: ClassVar[type[ValueError]] = JudgeError

    seed: int = 0
    steps: int = 3000
    batch_size: int = 64          # images per step (identity: persons per step × 2 views)
    lr: float = 3e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    max_minutes: float = 12.0     # cap on CPU-minutes per thread; training anneals and stops (and says so) past it
    prior: bool = True            # sample faces with the correlation prior
    margin: float = 0.3           # identity: ArcFace additive angular margin (radians)
    scale: float = 16.0           # identity: logit scale s
    threads: int = 1


@dataclass(frozen=True)
class JudgeConfig(FrozenConfig):
    """Architecture of a judge plus its training recipe. ``name`` is one of ``JUDGE_NAMES``."""

    name: str = "attributes"
    channels: tuple[int, ...] = (32, 48, 96, 128)
    feature_dim: int = 256
    out_dim: int = len(ATTRIBUTE_NAMES)
    recipe: TrainRecipe = field(default_factory=TrainRecipe)

    error: ClassVar[type[ValueError]] = JudgeError


def default_config(name: str, **recipe) -> JudgeConfig:
    """The shipped architecture for judge ``name``, with recipe fields overridden by ``recipe``."""
    _check_name(name)
    out = {"attributes": len(ATTRIBUTE_NAMES), "identity": 64, "factors": NUM_FACTORS}[name]
    # The factor estimator reads small details (iris colour, brows, jaw): it gets the wider body.
    channels = (32, 48, 96, 128) if name == "factors" else (24, 32, 64, 96)
    return JudgeConfig(name=name, channels=channels, out_dim=out, recipe=TrainRecipe(**recipe))


def _check_name(name: str) -> None:
    if name not in JUDGE_NAMES:
        raise JudgeError(f"unknown judge {name!r}; expected one of {', '.join(JUDGE_NAMES)}")


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.SiLU())


def prepare_input(x: torch.Tensor) -> torch.Tensor:
    """Check images (B, 3, H, W) and resize them to (B, 3, 64, 64)."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise JudgeError(f"expected images of shape (B, 3, H, W) in [-1, 1]; got {got}")
    if x.shape[-2:] != (INPUT_RESOLUTION, INPUT_RESOLUTION):
        x = F.interpolate(x.float(), size=(INPUT_RESOLUTION, INPUT_RESOLUTION), mode="bilinear",
                          align_corners=False, antialias=x.shape[-1] > INPUT_RESOLUTION)
    return x.float()


class JudgeNet(nn.Module):
    """A small CNN: (B, 3, 64, 64) → features (B, feature_dim) → head (B, out_dim), as the config's name says.

    Layout: a stride-2 stem, then at 16², 8² and 4² a stride-2 block followed by a stride-1 block; the 4×4 map is
    flattened (keeping where things are, which matters for pose and landmark positions) into ``feature_dim``.
    """

    def __init__(self, config: JudgeConfig):
        super().__init__()
        _check_name(config.name)
        self.config = config
        c = config.channels
        if len(c) != 4:
            raise JudgeError(f"channels: expected 4 widths (stem, 16², 8², 4²); got {c}")
        self.body = nn.Sequential(
            _block(3, c[0], 2),                          # 32²
            _block(c[0], c[1], 2), _block(c[1], c[1], 1),  # 16²
            _block(c[1], c[2], 2), _block(c[2], c[2], 1),  # 8²
            _block(c[2], c[3], 2), _block(c[3], c[3], 1),  # 4²
        )
        self.neck = nn.Sequential(nn.Flatten(), nn.Linear(c[3] * 16, config.feature_dim), nn.SiLU())
        self.head = nn.Linear(config.feature_dim, config.out_dim)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) in [-1, 1] → penultimate features (B, feature_dim)."""
        return self.neck(self.body(prepare_input(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) → logits (attributes), unit embeddings (identity) or factors in [0, 1]."""
        out = self.head(self.features(x))
        if self.config.name == "identity":
            return F.normalize(out, dim=1)
        if self.config.name == "factors":
            return torch.sigmoid(out)
        return out

    @property
    def output_names(self) -> tuple[str, ...]:
        """Names of the output columns (attributes and factors judges; identity: empty)."""
        return {"attributes": ATTRIBUTE_NAMES, "factors": FACTOR_NAMES}.get(self.config.name, ())


def kind_of(name: str) -> str:
    """The model-file ``kind`` of judge ``name``."""
    return f"toyfaces-judge-{name}"


def default_path(name: str) -> Path:
    """Where the shipped judge ``name`` lives."""
    return ASSETS_DIR / f"judge_{name}.safetensors"


def save_judge(model: JudgeNet, path, extra: dict | None = None) -> Path:
    """Write ``model`` with its config (and ``extra`` figures) atomically to ``path``."""
    return save_model_file(path, model.state_dict(), kind=kind_of(model.config.name), config=model.config,
                           extra=extra)


def load_judge(name: str, path=None) -> JudgeNet:
    """Load judge ``name`` ("attributes" | "identity" | "factors") in eval mode, from the shipped asset by default."""
    _check_name(name)
    path = Path(path) if path is not None else default_path(name)
    if not path.is_file():
        raise JudgeError(f"{path}: no such judge file; train one with "
                         f"`latentedit toyfaces train-judge {name} --out {path}`")
    return load_judge_file(path, names=(name,))


def load_judge_file(path, names: tuple[str, ...] = JUDGE_NAMES) -> JudgeNet:
    """Load whichever judge the file at ``path`` holds (in eval mode, frozen), reading the file once; a file of
    another kind than ``names`` is a ModelFileError naming what it holds."""
    path = Path(path)
    tensors, kind, config, _ = read_model_file(path)
    if kind not in {kind_of(n) for n in names}:
        wanted = " or ".join(f"'{kind_of(n)}'" for n in names)
        raise ModelFileError(f"{path}: expected a {wanted} file; this one holds a '{kind}'")
    try:
        cfg = JudgeConfig.from_dict(config, source=f"{path} config")
    except TypeError as exc:
        raise ModelFileError(f"{path}: judge config is unreadable ({exc})") from None
    model = JudgeNet(cfg)
    load_state_dict_strict(model, tensors, source=str(path))
    return model.eval().requires_grad_(False)


def judge_extra(path) -> dict:
    """The ``extra`` metadata (training figures) stored with a judge file."""
    return read_model_metadata(path)[2]


def load_attributes_judge(path) -> JudgeNet:
    """The domain reader of attribute-classifier files (``toyfaces-judge-attributes``)."""
    return load_judge_file(path, names=("attributes",))


def load_identity_judge(path) -> JudgeNet:
    """The domain reader of identity-embedder files (``toyfaces-judge-identity``)."""
    return load_judge_file(path, names=("identity",))


def load_factors_judge(path) -> JudgeNet:
    """The domain reader of factor-estimator files (``toyfaces-judge-factors``)."""
    return load_judge_file(path, names=("factors",))
