"""The one place where ``latentedit serve`` touches the editing pipeline (loading, inversion, edits, paste-back).

Everything the server does with models goes through :class:`Models` and the few functions here, so the page can be
switched to another pipeline API (e.g. ``latentedit.editing``) by editing this file only. Today it calls the
helpers the CLI uses (``cli.common``, ``cli.edit_cmd``), ``latentedit.faces`` and ``latentedit.sampling_modes``.

Defaults (when ``--generator``/``--encoder``/``--mapper`` are not given) are the shipped toy-faces assets, found
with the same helpers as ``latentedit edit``; a domain FILE (JSON or YAML with ``generator``, ``encoder`` and
``mappers`` entries) names other files.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch


class PipelineInputError(ValueError):
    """Input the pipeline cannot use (no face, unknown attribute, wrong method); ``status`` is the HTTP code."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


@dataclasses.dataclass(frozen=True)
class ModelPaths:
    """Where the models come from; ``None`` means the domain's (today: the shipped toy-faces) default."""

    domain: str = "toyfaces"
    generator: str | None = None
    encoder: str | None = None
    mappers: tuple[str, ...] = ()


def resolve_paths(domain: str | None, generator: str | None, encoder: str | None,
                  mappers: tuple[str, ...] = ()) -> ModelPaths:
    """Explicit files win; a domain FILE (JSON/YAML mapping) fills the rest; 'toyfaces' (default) leaves the shipped
    assets to the loaders. ValueError (one line) for an unknown domain or an unreadable domain file."""
    spec = domain or "toyfaces"
    if spec == "toyfaces":
        return ModelPaths("toyfaces", generator, encoder, tuple(mappers))
    path = Path(spec)
    if not path.is_file():
        raise ValueError(f"--domain {spec}: expected 'toyfaces' or a domain file (JSON/YAML with generator, encoder, "
                         "mappers); no such file")
    try:
        text = path.read_text()
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:  # noqa: BLE001 - OSError, JSON or YAML errors: all one line
        raise ValueError(f"--domain {spec}: unreadable ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"--domain {spec}: expected a mapping with generator/encoder/mappers; got {type(data).__name__}")
    base = path.resolve().parent

    def _p(v):
        return None if v is None else str((base / str(v)).resolve())

    listed = data.get("mappers") or []
    if not isinstance(listed, list):
        raise ValueError(f"--domain {spec}: 'mappers' must be a list of files; got {type(listed).__name__}")
    return ModelPaths(str(data.get("name", path.stem)), generator or _p(data.get("generator")),
                      encoder or _p(data.get("encoder")), tuple(mappers) + tuple(_p(m) for m in listed))


@dataclasses.dataclass
class Method:
    """One editing method on the page: its mapper and how it is conditioned."""

    name: str
    mapper: torch.nn.Module
    condition: str  # 'none' | 'z' | 'style'
    reference: bool  # style mapper with encode_style: a reference photo can give the style

    @property
    def attributes(self) -> tuple[str, ...]:
        return tuple(self.mapper.generator_info.attribute_names)


def method_from_mapper(name: str, mapper) -> Method:
    from latentedit import sampling_modes as sm

    try:
        kind = sm.condition_kind(mapper)
    except sm.SamplingError:
        kind = "none"
    return Method(name, mapper.eval().requires_grad_(False), kind,
                  kind == "style" and callable(getattr(mapper, "encode_style", None)))


def shipped_mapper_names() -> list[str]:
    """Method names whose default mapper file ships with this installation."""
    from latentedit import assets
    from latentedit.cli.edit_cmd import DEFAULT_MAPPERS

    return [m for m, asset in DEFAULT_MAPPERS.items() if assets.has_asset(asset)]


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
        """Load everything now (the server keeps it warm); click.ClickException with one line on failure."""
        import click

        from latentedit.cli.common import load_encoder, load_generator_or_default
        from latentedit.cli.edit_cmd import load_mapper_for_edit
        from latentedit.edits import EditError, check_mapper_fits_generator

        G, _ = load_generator_or_default(paths.generator, device)
        methods: dict[str, Method] = {}
        files = [(None, p) for p in paths.mappers] or [(m, None) for m in shipped_mapper_names()]
        for method, file in files:
            mapper, name, fingerprint = load_mapper_for_edit(method, file)
            try:
                check_mapper_fits_generator(mapper, G, fingerprint=fingerprint, where=f"the {name} mapper")
            except EditError as exc:
                raise click.ClickException(str(exc)) from None
            key = name if name not in methods else f"{name}-{len(methods)}"
            methods[key] = method_from_mapper(key, mapper.to(device))
        if not methods:
            raise click.ClickException("no editing method: pass --mapper FILE (this installation ships none)")
        encoder, note = None, ""
        try:
            encoder = load_encoder(paths.encoder, G, device)
        except click.ClickException as exc:
            if paths.encoder is not None:
                raise
            note = exc.format_message()
        return cls(G, encoder, methods, device, note)

    # ---- rendering and latents ------------------------------------------------------------------------------
    @property
    def resolution(self) -> int:
        return int(self.G.resolution)

    @torch.no_grad()
    def render(self, w_plus: torch.Tensor) -> torch.Tensor:
        """(B, L, D) -> (B, 3, R, R) in [-1, 1] on the CPU."""
        return self.G.synthesis(w_plus.to(self.device), noise_mode="const").clamp(-1, 1).cpu()

    @torch.no_grad()
    def sample(self, seed: int, truncation: float = 0.7) -> torch.Tensor:
        """W+ (1, L, D) of generator seed ``seed``."""
        from latentedit.latents import sample_w_plus

        return sample_w_plus(self.G, [int(seed)], truncation_psi=truncation, device=self.device).cpu()

    def encoder_size(self) -> int:
        return max(int(getattr(self.encoder, "input_resolution", self.resolution)), self.resolution)

    @torch.no_grad()
    def invert(self, crop: torch.Tensor) -> torch.Tensor:
        if self.encoder is None:
            raise PipelineInputError(f"photos need an encoder and none is loaded ({self.encoder_note}); use a "
                                     "generator sample instead", status=409)
        return self.encoder.invert(crop.to(self.device)).cpu()

    def refine(self, w: torch.Tensor, crop: torch.Tensor, steps: int) -> torch.Tensor:
        """``steps`` optimisation steps of the encoder plugin's refine (none when it has no refine)."""
        fn = getattr(self.encoder, "refine", None)
        if not callable(fn) or steps <= 0:
            return w
        return fn(w.to(self.device), crop.to(self.device), self.G, steps=steps).detach().cpu()

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
        """Apply all slider amounts at once; ``condition`` (1, dim): the noise or style for multimodal methods
        (None: the first seeded draw for noise mappers, the prior's mean for style mappers)."""
        from latentedit.edits import EditError, apply_edit, check_edit, target_from_amounts

        m = self.method(method)
        try:
            check_edit(amounts, m.attributes, source=f"the {method} method")
        except EditError as exc:
            raise PipelineInputError(str(exc), 400) from None
        w = w_plus.to(self.device)
        if m.condition == "z" and condition is None:
            condition = self.random_conditions(method, 1, seed=0)
        if m.condition != "style" or condition is None:
            z = None if condition is None else condition.to(self.device)
            return apply_edit(m.mapper, w, amounts, z=z).cpu()
        style = condition.to(self.device)
        active = {k: float(v) for k, v in amounts.items() if float(v) != 0.0}
        out = w
        for size in sorted({abs(v) for v in active.values()}, reverse=True):  # as apply_edit, with a style
            group = {k: v for k, v in active.items() if abs(v) == size}
            target = target_from_amounts(group, m.attributes, 1, w)
            out = out + size * (m.mapper(out, target=target, style=style) - out)
        return out.cpu()

    def random_conditions(self, method: str, n: int, seed: int = 0) -> torch.Tensor:
        from latentedit import sampling_modes as sm

        m = self.method(method)
        return sm.random_conditions(m.mapper, n, generator=torch.Generator().manual_seed(int(seed))).cpu()

    @torch.no_grad()
    def conditions(self, method: str, w_plus: torch.Tensor, amounts: Mapping[str, float], n: int, mode: str,
                   seed: int = 0, pool: int = 64) -> torch.Tensor:
        """n conditions (n, dim) for a multimodal method: 'random' prior draws or 'clusters' (K-means over the
        edits a pool of draws makes on this source)."""
        from latentedit import sampling_modes as sm
        from latentedit.edits import target_from_amounts

        m = self.method(method)
        if m.condition == "none":
            raise PipelineInputError(f"the {method} method is deterministic (one edit per setting); choose a "
                                     "multimodal method for a row of samples", 400)
        if mode == "random":
            return self.random_conditions(method, n, seed)
        w = w_plus.to(self.device)
        target = target_from_amounts({k: v for k, v in amounts.items() if v}, m.attributes, 1, w)
        try:
            return sm.cluster_conditions(m.mapper, n, w_plus=w, target=target, pool=max(pool, n), seed=seed).cpu()
        except sm.SamplingError as exc:
            raise PipelineInputError(str(exc), 422) from None

    @torch.no_grad()
    def reference_style(self, method: str, photo: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """A reference photo -> (style (1, dim), the reference image (1, 3, R, R) it was read from)."""
        from latentedit.cli.edit_cmd import _center_square

        m = self.method(method)
        if not m.reference:
            raise PipelineInputError(f"the {method} method takes no reference photo (that needs a style mapper with "
                                     "a style encoder, e.g. sensorium)", 400)
        image = _center_square(photo, self.resolution).clamp(-1, 1)
        return m.mapper.encode_style(image.to(self.device)).cpu(), image


# ---- photos: crop, alignment, paste-back ---------------------------------------------------------------------
@dataclasses.dataclass
class Crop:
    """The face crop of a photo (1, 3, S, S) and how to paste an edited face back (None without alignment)."""

    image: torch.Tensor
    paste: Callable[[torch.Tensor], np.ndarray] | None
    aligned: bool


def crop_photo(photo: np.ndarray, size: int, align: bool) -> Crop:
    """Detect and align the largest face (``align``) or take the central square; PipelineInputError (422) when
    there is no face."""
    from latentedit import faces
    from latentedit.cli.edit_cmd import _center_square

    if not align:
        return Crop(_center_square(photo, size).clamp(-1, 1), None, False)
    try:
        face = faces.select_faces(faces.detect_faces(photo), "largest", "upload")[0]
        image, t = faces.align_face(photo, face.landmarks, size)
    except (faces.PhotoError, ValueError) as exc:
        raise PipelineInputError(f"{exc}".replace("--no-align", "untick 'align face'"), 422) from None
    return Crop(image, lambda edited, _p=photo, _t=t: faces.paste_back(_p, edited, _t), True)


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
