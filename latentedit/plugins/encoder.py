"""The encoder contract (``latentedit.encoders`` entry points): image -> W+.

The core (``latentedit.editing``, ``latentedit invert``/``edit``/``train encoder``) relies on nothing but this
duck-typed surface, so any class providing it can be registered under ``latentedit.encoders``; ``Encoder`` below is
a base class that provides most of it:

    cls.load(path, *, map_location="cpu") -> encoder     # our .safetensors (and any foreign format it knows)
    cls.can_load(path) -> bool                           # cheap sniff, used to pick a plugin for a file
    encoder.invert(images)      (B, 3, H, W) in [-1, 1], any square size  ->  w_plus (B, num_ws, w_dim)
    encoder.num_ws, encoder.w_dim, encoder.input_resolution
    encoder.generator           the generator bundled with the file (or None)
    encoder.generator_fingerprint   fingerprint of the generator it was trained for (or None)
    encoder.save(path, generator=None)                   one .safetensors, config + format version inside

Optional hooks (``EncoderHooks`` documents each; the core reaches them through
``latentedit.plugins.contract.optional_hook``): ``refine`` (optimise codes against the image),
``make_training_config`` and ``run_training`` (``latentedit train encoder``).

Subclasses set ``config_class`` (a frozen dataclass with ``to_dict``/``from_dict``) and implement ``forward``
(images at ``input_resolution`` -> codes).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from latentedit.latents import check_w_plus
from latentedit.plugins.config import GeneratorInfo

ENCODER_FILE_KIND = "encoder"


class EncoderContractError(TypeError):
    """An encoder class or call does not follow the encoder contract."""


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 3, H, W) in [-1, 1] -> (B, 3, size, size): area pooling when shrinking, bilinear when growing."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
        got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"expected images (B, 3, H, W) in [-1, 1]; got {got}")
    if tuple(images.shape[-2:]) == (size, size):
        return images
    if images.shape[-1] >= size and images.shape[-2] >= size:
        return F.interpolate(images, size=(size, size), mode="area")
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)


class Encoder(nn.Module):
    """Base class of image -> W+ encoders."""

    config_class: ClassVar[type] = object
    format_version: ClassVar[int] = 1
    plugin_name: ClassVar[str | None] = None

    def __init__(self, config: Any, generator_info: GeneratorInfo):
        super().__init__()
        if not isinstance(config, self.config_class):
            raise EncoderContractError(f"{type(self).__name__} expects a {self.config_class.__name__}; got "
                                       f"{type(config).__name__}")
        if not isinstance(generator_info, GeneratorInfo):
            raise EncoderContractError(f"{type(self).__name__} expects a GeneratorInfo; got "
                                       f"{type(generator_info).__name__}")
        self.config, self.generator_info = config, generator_info
        self.set_generator(None)
        self.generator_fingerprint: str | None = None

    def set_generator(self, generator: nn.Module | None) -> None:
        """Attach the generator bundled with this encoder, *not* as a submodule: it stays out of
        ``parameters()``, ``state_dict()``, ``train()``/``eval()`` and ``to()``."""
        object.__setattr__(self, "generator", generator)

    @property
    def num_ws(self) -> int:
        return self.generator_info.num_ws

    @property
    def w_dim(self) -> int:
        return self.generator_info.w_dim

    @property
    def input_resolution(self) -> int:
        return int(self.config.input_resolution)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, input_resolution, input_resolution) in [-1, 1] -> w_plus (B, num_ws, w_dim)."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward(images) -> w_plus")

    @torch.no_grad()
    def invert(self, images: torch.Tensor, *, batch_size: int = 16) -> torch.Tensor:
        """Images of any square size (B, 3, H, W) in [-1, 1] -> w_plus (B, num_ws, w_dim), in eval mode."""
        was_training = self.training
        self.eval()
        try:
            device = next((p.device for p in self.parameters()), torch.device("cpu"))
            out = [self(resize_images(chunk.to(device, torch.float32), self.input_resolution))
                   for chunk in images.split(batch_size)]
        finally:
            self.train(was_training)
        return check_w_plus(torch.cat(out), self.num_ws, self.w_dim, name=f"{type(self).__name__} output")

    @classmethod
    def can_load(cls, path: str | Path) -> bool:
        """True when ``load`` understands this file (default: our .safetensors of this class)."""
        return False


class EncoderHooks:
    """The optional encoder hooks, documented (a specification: never instantiated or subclassed)."""

    def refine(self, w_plus: torch.Tensor, target: torch.Tensor, generator: nn.Module, *, steps: int = 100
               ) -> torch.Tensor:
        """Optimise ``w_plus (B, num_ws, w_dim)`` for ``steps`` steps so that ``generator`` draws ``target
        (B, 3, H, W)`` in [-1, 1] more faithfully; returns the refined codes (B, num_ws, w_dim), detached or not
        (callers detach). Used by ``invert(..., refine=N)`` / ``--refine N``."""

    @classmethod
    def make_training_config(cls, preset: str, overrides: list[str]) -> Any:
        """``latentedit train encoder``: the training config of a named ``preset`` with ``key=value`` overrides;
        ValueError on an unknown preset or key."""

    @classmethod
    def run_training(cls, config: Any, generator: nn.Module, run_dir: str | Path, *, steps: int,
                     resume: bool = False, checkpoint_minutes: float = 5.0, progress: bool = True) -> Any:
        """``latentedit train encoder``: train (or, with ``resume``, continue) a run in ``run_dir`` up to ``steps``;
        returns an object with ``.step``, ``.ckpt`` (the checkpoint path) and ``.export(path) -> Path``."""


#: names of the documented optional encoder hooks
OPTIONAL_ENCODER_HOOKS = frozenset(n for n in vars(EncoderHooks) if not n.startswith("_"))
