"""latentedit's own network files: one ``.safetensors`` per network, config and format version in the metadata.

Kinds: ``stylegan2-generator`` (a :class:`GeneratorConfig` plus every tensor of ``Generator.state_dict()``,
``mapping.w_avg`` and the ``noise_const`` buffers included) and ``stylegan2-discriminator``. ``extra`` metadata
records where the weights came from (``source_format``, ``source_file``, ``w_avg_source``). Saving then loading
gives bit-identical tensors.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from latentedit.io.errors import CheckpointError
from latentedit.io.modelfile import ModelFileError, read_model_file, save_model_file
from latentedit.io.network_caps import check_discriminator_config, check_generator_config, check_tensors
from latentedit.stylegan2 import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig

GENERATOR_KIND = "stylegan2-generator"
DISCRIMINATOR_KIND = "stylegan2-discriminator"


def save_generator(G: Generator, path: str | os.PathLike, *, extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``G`` (its config and all tensors) to ``path`` atomically."""
    return save_model_file(path, G.state_dict(), kind=GENERATOR_KIND, config=G.config, extra=extra)


def save_discriminator(D: Discriminator, path: str | os.PathLike, *,
                       extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``D`` (its config and all tensors) to ``path`` atomically."""
    return save_model_file(path, D.state_dict(), kind=DISCRIMINATOR_KIND, config=D.config, extra=extra)


def read_kind(path: str | os.PathLike) -> str:
    """The ``latentedit.kind`` of one of our files (CheckpointError when it is not ours)."""
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:
        raise CheckpointError(path, f"not a readable .safetensors file ({type(exc).__name__}: "
                                    f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    kind = meta.get("latentedit.kind")
    if kind is None:
        raise CheckpointError(path, "a .safetensors file without latentedit metadata (no 'latentedit.kind'); "
                                    "it was not written by latentedit")
    return kind


def _read(path, kind: str):
    try:
        return read_model_file(path, expect_kind=kind)
    except ModelFileError as exc:
        text, prefix = str(exc), f"{Path(path)}: "
        raise CheckpointError(path, text[len(prefix):] if text.startswith(prefix) else text) from None


def _load_network(path, kind: str, config_cls, network_cls, what: str):
    """(network in eval mode, extra metadata) from one of our files of ``kind``."""
    from latentedit.io.arch_infer import build_and_load

    tensors, _, config, extra = _read(path, kind)
    try:
        cfg = config_cls.from_dict(config)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(path, f"the stored {what} config is invalid: {exc}") from None
    except (OverflowError, RecursionError, AttributeError, KeyError) as exc:
        raise CheckpointError(path, f"the stored {what} config is invalid ({type(exc).__name__}: {exc})") from None
    (check_generator_config if config_cls is GeneratorConfig else check_discriminator_config)(cfg, path)
    check_tensors(tensors, path)
    return build_and_load(lambda: network_cls(cfg).eval(), tensors, path), extra


def load_generator_file(path: str | os.PathLike) -> tuple[Generator, dict]:
    """(Generator, extra metadata) from one of our generator files."""
    return _load_network(path, GENERATOR_KIND, GeneratorConfig, Generator, "generator")


def load_discriminator_file(path: str | os.PathLike) -> tuple[Discriminator, dict]:
    """(Discriminator, extra metadata) from one of our discriminator files."""
    return _load_network(path, DISCRIMINATOR_KIND, DiscriminatorConfig, Discriminator, "discriminator")
