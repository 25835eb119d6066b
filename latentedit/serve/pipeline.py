"""The one place where ``latentedit serve`` touches the editing pipeline: the warm models and what the page asks
of them (sample, invert, refine, edit, rows of samples, reference styles), all through ``latentedit.editing``.

Which files are loaded is ``latentedit.serve.loading``'s business (explicit files, else the generator's domain).
Errors the user can fix are the library's (``EditingError`` and its kin) or ``PipelineInputError``; the app maps
both to 4xx (``latentedit.serve.errors``).
"""

from __future__ import annotations

import dataclasses
import io
import math
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from latentedit.editing import (AlignedFace, EditingError, align_faces, apply_edit, center_square, invert,
                                refine_latents, style_encoder, synthesize, target_from_amounts)
from latentedit.editing.sampling import SamplingError, cluster_conditions, condition_kind, random_conditions
from latentedit.serve.errors import PipelineInputError
from latentedit.serve.loading import ModelPaths, load_models


@dataclasses.dataclass
class Method:
    """One editing method on the page: its mapper and how it is conditioned."""

    name: str
    mapper: torch.nn.Module
    condition: str  # 'none' | 'z' | 'style'
    reference: bool  # style mapper with a style encoder: a reference photo can give the style

    @property
    def attributes(self) -> tuple[str, ...]:
        return tuple(self.mapper.generator_info.attribute_names)


def method_from_mapper(name: str, mapper) -> Method:
    try:
        kind = condition_kind(mapper)
    except SamplingError:
        kind = "none"
    try:
        reference = kind == "style" and style_encoder(mapper) is not None
    except EditingError:
        reference = False
    return Method(name, mapper.eval().requires_grad_(False), kind, reference)


@dataclasses.dataclass
class Models:
    """The warm models: generator, optional encoder (photos), and the editing methods by name."""

    G: torch.nn.Module
    encoder: torch.nn.Module | None
    methods: dict[str, Method]
    device: torch.device
    encoder_note: str = ""

    @classmethod
    def load(cls, paths: ModelPaths, device: torch.device) -> Models:
        """Load everything now (see ``latentedit.serve.loading.load_models``); its one-line ValueErrors pass."""
        loaded = load_models(paths, device)
        methods: dict[str, Method] = {}
        for m in loaded.mappers:
            key = m.name if m.name not in methods else f"{m.name}-{len(methods)}"
            methods[key] = method_from_mapper(key, m.mapper)
        return cls(loaded.generator, loaded.encoder, methods, torch.device(device), loaded.encoder_note)

    # ---- rendering and latents ------------------------------------------------------------------------------
    @property
    def resolution(self) -> int:
        return int(self.G.resolution)

    def render(self, w_plus: torch.Tensor) -> torch.Tensor:
        """(B, L, D) -> (B, 3, R, R) in [-1, 1] on the CPU."""
        return synthesize(self.G, w_plus.to(self.device)).cpu()

    @torch.no_grad()
    def sample(self, seed: int, truncation: float = 0.7) -> torch.Tensor:
        """W+ (1, L, D) of generator seed ``seed``."""
        from latentedit.latents import sample_w_plus

        return sample_w_plus(self.G, [int(seed)], truncation_psi=truncation, device=self.device).cpu()

    def encoder_size(self) -> int:
        return max(int(getattr(self.encoder, "input_resolution", self.resolution)), self.resolution)

    def invert(self, crop: torch.Tensor) -> torch.Tensor:
        if self.encoder is None:
            raise PipelineInputError(f"photos need an encoder and none is loaded ({self.encoder_note}); use a "
                                     "generator sample instead", status=409)
        return invert(self.encoder, crop.to(self.device), generator=self.G).cpu()

    def refine(self, w: torch.Tensor, crop: torch.Tensor, steps: int) -> torch.Tensor:
        """``steps`` more optimisation steps of ``w`` against the crop (``latentedit.editing.refine_latents``)."""
        return refine_latents(self.encoder, w.to(self.device), crop.to(self.device), generator=self.G,
                              steps=steps).cpu()

    def wplus_bytes(self, w_plus: torch.Tensor, extra: Mapping | None = None) -> bytes:
        """The W+ code as a latentedit latent file (the writer ``latentedit invert`` uses)."""
        from latentedit.latents import save_latents

        with tempfile.TemporaryDirectory(prefix="latentedit-serve-") as tmp:
            path = Path(tmp) / "edit.wplus.safetensors"
            save_latents(path, w_plus.cpu(), space="w_plus", generator=self.G, extra=dict(extra or {}))
            return path.read_bytes()

    # ---- edits ----------------------------------------------------------------------------------------------
    def method(self, name: str) -> Method:
        if name not in self.methods:
            raise PipelineInputError(f"unknown method {name!r}; this server has: {', '.join(self.methods)}", 400)
        return self.methods[name]

    @torch.no_grad()
    def edit(self, method: str, w_plus: torch.Tensor, amounts: Mapping[str, float],
             condition: torch.Tensor | None = None) -> torch.Tensor:
        """Apply all slider amounts at once (``latentedit.editing.apply_edit``); ``condition`` (1, dim): the noise
        or style for multimodal methods (None: the first seeded draw for noise mappers, the mapper's own default
        style for style mappers). EditError (400) for an attribute the method does not edit."""
        m = self.method(method)
        if m.condition == "z" and condition is None:
            condition = self.random_conditions(method, 1, seed=0)
        cond = None if condition is None else condition.to(self.device)
        kw = {"style": cond} if m.condition == "style" else {"z": cond}
        return apply_edit(m.mapper, w_plus.to(self.device), amounts, **kw).cpu()

    def random_conditions(self, method: str, n: int, seed: int = 0) -> torch.Tensor:
        return random_conditions(self.method(method).mapper, n, generator=torch.Generator().manual_seed(int(seed)))

    @torch.no_grad()
    def conditions(self, method: str, w_plus: torch.Tensor, amounts: Mapping[str, float], n: int, mode: str,
                   seed: int = 0, pool: int = 64) -> torch.Tensor:
        """n conditions (n, dim) for a multimodal method: 'random' prior draws or 'clusters' (K-means over the
        edits a pool of draws makes on this source). SamplingError (422) when the pool cannot give n."""
        m = self.method(method)
        if m.condition == "none":
            raise PipelineInputError(f"the {method} method is deterministic (one edit per setting); choose a "
                                     "multimodal method for a row of samples", 400)
        if mode == "random":
            return self.random_conditions(method, n, seed).cpu()
        w = w_plus.to(self.device)
        target = target_from_amounts({k: v for k, v in amounts.items() if v}, m.attributes, 1, w)
        return cluster_conditions(m.mapper, n, w_plus=w, target=target, pool=max(pool, n), seed=seed).cpu()

    @torch.no_grad()
    def reference_style(self, method: str, photo: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """A reference photo -> (style (1, dim), the reference image (1, 3, R, R) it was read from)."""
        m = self.method(method)
        if not m.reference:
            raise PipelineInputError(f"the {method} method takes no reference photo (that needs a style mapper with "
                                     "a style encoder, e.g. sensorium)", 400)
        image = center_square(photo, self.resolution)
        return style_encoder(m.mapper)(image.to(self.device)).cpu(), image


# ---- photos: crop, alignment, paste-back ---------------------------------------------------------------------
def crop_photo(photo: np.ndarray, size: int, align: bool) -> AlignedFace:
    """The largest face, aligned (``align``), or the central square; ``PhotoError`` (422) when there is no face.
    ``.paste`` puts an edited crop back (aligned faces only: ``.transform`` is None for a central square)."""
    return align_faces(photo, size, face="largest", align=align, source="the upload")[0]


def reconstruction_error(crop: torch.Tensor, recon: torch.Tensor) -> dict[str, float]:
    """MSE, mean absolute error (images in [-1, 1]) and PSNR in dB, at the generator's resolution."""
    import torch.nn.functional as F

    if crop.shape[-1] != recon.shape[-1]:
        crop = F.interpolate(crop, size=recon.shape[-2:], mode="area")
    diff = crop.float().cpu().clamp(-1, 1) - recon.float().cpu()
    mse = float(diff.square().mean())
    return {"mse": mse, "mae": float(diff.abs().mean()), "psnr": 10 * math.log10(4 / mse) if mse > 0 else 99.0}


def png_bytes(image, compress_level: int = 1) -> bytes:
    """(1, 3, H, W) / (3, H, W) tensor in [-1, 1] or an (H, W, 3) uint8 array -> PNG bytes."""
    from PIL import Image

    from latentedit.faces import tensor_to_photo

    arr = image if isinstance(image, np.ndarray) else tensor_to_photo(image)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()
