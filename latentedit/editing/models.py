"""Loading the models of the editing pipeline from explicit files (no defaults here: a command or a domain picks
the files). Encoders and mappers are found through their plugin entry points, never imported by name.

    G = load_generator("ffhq.pt")                                  # eval mode, frozen
    encoder = load_encoder("e4e_ffhq_encode.pt", generator=G)      # checked against G's fingerprint / W+ shape
    mapper, name, fingerprint = load_mapper("isf.safetensors")     # checked with check_mapper_fits_generator
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import torch

from latentedit.io.errors import EditingError


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_generator(path: str | Path, *, device: str | torch.device = "cpu"):
    """A generator file (ours, rosinality ``.pt`` or NVIDIA ``.pkl``) -> the generator in eval mode, frozen, on
    ``device``. ``CheckpointError`` (one line naming the file) when it cannot be read."""
    from latentedit.io.checkpoints import load_generator as read_generator

    G, _ = read_generator(str(path))
    return G.eval().requires_grad_(False).to(device)


def find_encoder_class(path: str | Path) -> type:
    """The first installed ``latentedit.encoders`` plugin whose ``can_load`` accepts the file; EditingError listing
    the plugins tried (broken ones with their error) when none does."""
    from latentedit.plugins import PluginError, discover, load_spec

    path = Path(path)
    if not path.is_file():
        raise EditingError(f"{path}: no such file (expected an encoder file)")
    tried = []
    for spec in discover("encoders"):
        try:
            encoder_cls = load_spec(spec)
        except PluginError as exc:
            tried.append(f"{spec.name} (broken: {_first_line(exc)})")
            continue
        tried.append(spec.name)
        can_load = getattr(encoder_cls, "can_load", None)
        if callable(can_load) and can_load(path):
            return encoder_cls
    raise EditingError(f"{path}: no installed encoder plugin reads this file (encoder plugins: "
                       f"{', '.join(tried) or 'none installed'}); install latentedit's e4e encoder or start from "
                       "W+ latents")


def check_encoder_fits_generator(encoder: Any, generator) -> None:
    """The encoder was trained for this generator (fingerprint, when the file recorded one) and gives its W+
    shape (when the encoder says); EditingError otherwise."""
    fp = getattr(encoder, "generator_fingerprint", None)
    if fp and fp != generator.fingerprint():
        raise EditingError(f"the encoder was trained for generator {fp}, not {generator.fingerprint()}; pass the "
                           "generator it was trained with, or an encoder made for this generator")
    shape = (getattr(encoder, "num_ws", None), getattr(encoder, "w_dim", None))
    if None not in shape and shape != (generator.num_ws, generator.w_dim):
        raise EditingError(f"the encoder gives W+ {shape[0]}x{shape[1]}; the generator takes "
                           f"{generator.num_ws}x{generator.w_dim}")


def load_encoder(path: str | Path, *, generator=None, device: str | torch.device = "cpu"):
    """An encoder file -> the encoder (``.invert(images) -> w_plus``) in eval mode, read by the installed plugin
    that can load it, and checked against ``generator`` when given. EditingError / CheckpointError otherwise."""
    encoder_cls = find_encoder_class(path)
    try:
        encoder = encoder_cls.load(Path(path), map_location=device)
    except OSError as exc:
        raise EditingError(f"{path}: {_first_line(exc)}") from None
    except ValueError as exc:
        raise EditingError(_first_line(exc)) from None
    if generator is not None:
        check_encoder_fits_generator(encoder, generator)
    return encoder.eval()


class LoadedMapper(NamedTuple):
    """A mapper read from a file: the mapper (eval mode, frozen), its plugin name and the fingerprint of the
    generator it was made for (None when the file does not record one)."""

    mapper: Any
    name: str
    generator_fingerprint: str | None


#: suffixes of the community direction files (InterFaceGAN ``.npy``, e4e ``.pt``/``.pth``, GANSpace ``.npz``)
COMMUNITY_SUFFIXES = (".npy", ".npz", ".pt", ".pth")


def is_community_file(path: str | Path) -> bool:
    """True for a community direction file (by suffix), which ``load_mapper`` converts on the fly."""
    return Path(path).suffix.lower() in COMMUNITY_SUFFIXES


def load_mapper(path: str | Path, *, method: str | None = None, generator=None) -> LoadedMapper:
    """A mapper file (saved by ``Mapper.save``: trained, or fitted directions) -> ``LoadedMapper``; ``method``, when
    given, must be the file's plugin name. A community direction file (``is_community_file``) is converted by the
    ``directions`` plugin's ``import_file`` for ``generator``'s W+ layout (needed then). EditingError otherwise (the
    registry's errors list the plugins)."""
    from latentedit.io.modelfile import ModelFileError, read_model_metadata
    from latentedit.plugins import PluginError, load_mapper_file
    from latentedit.plugins import load_mapper as load_plugin

    if not Path(path).is_file():
        raise EditingError(f"{path}: no such file (expected a mapper file)")
    if is_community_file(path):
        if generator is None:
            raise EditingError(f"{path}: a community direction file needs the generator it edits")
        try:
            mapper = load_plugin("directions").import_file(path, num_ws=generator.num_ws, w_dim=generator.w_dim)
        except (PluginError, ValueError, OSError) as exc:
            raise EditingError(_first_line(exc)) from None
        return LoadedMapper(mapper.eval().requires_grad_(False), "directions", None)
    try:
        extra = read_model_metadata(path, expect_kind="mapper")[2]
        mapper = load_mapper_file(path)
    except (ModelFileError, PluginError, ValueError, OSError) as exc:
        raise EditingError(_first_line(exc)) from None
    name = extra.get("mapper_name") or type(mapper).__name__
    if method is not None and method != name:
        raise EditingError(f"{path} holds a {name!r} mapper, not a {method!r} one; drop the method or pass a "
                           f"{method} mapper file")
    return LoadedMapper(mapper.eval().requires_grad_(False), name, extra.get("generator_fingerprint"))
