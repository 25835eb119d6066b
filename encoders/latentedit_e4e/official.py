"""Reading official e4e checkpoints (omertov/encoder4editing ``.pt``) safely.

Layout: ``{'state_dict': {encoder.*, decoder.*}, 'opts': dict, 'latent_avg': (num_ws|1, 512) or (512,)}`` and,
in training snapshots, optimiser/discriminator states (ignored). Read with ``torch.load(weights_only=True)``
(through ``latentedit.io.torch_files``): no code in the file runs. The encoder architecture is read off the
tensor shapes (depth, widths, heads, input size), the decoder is a rosinality generator mapped onto ours.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from latentedit.io.arch_infer import build_and_load, infer_generator_config
from latentedit.io.errors import CheckpointError
from latentedit.io.rosinality_pt import generator_to_ours
from latentedit.io.torch_files import read_torch_file
from latentedit_e4e.config import E4EConfig, E4EConfigError

SUPPORTED_ENCODER_TYPE = "Encoder4Editing"


@dataclass(frozen=True)
class OfficialCheckpoint:
    """What an official e4e file holds, split and renamed."""

    config: E4EConfig
    encoder_state: dict[str, torch.Tensor]       # our E4ENetwork names
    latent_avg: torch.Tensor | None               # (num_ws, w_dim) or None
    generator_state: dict[str, torch.Tensor]      # our Generator names ({} if the file has no decoder)
    opts: dict[str, Any]


def looks_like_official(obj: Any) -> bool:
    """A dict with a 'state_dict' holding ``encoder.*`` tensors."""
    sd = obj.get("state_dict") if isinstance(obj, Mapping) else None
    return isinstance(sd, Mapping) and any(str(k).startswith("encoder.") for k in sd)


def _opts(obj: Mapping, path) -> dict[str, Any]:
    opts = obj.get("opts", {})
    if isinstance(opts, argparse.Namespace):
        opts = vars(opts)
    if not isinstance(opts, Mapping):
        raise CheckpointError(path, f"'opts' should be a dict of options; found {type(opts).__name__}")
    return dict(opts)


def infer_e4e_config(enc: Mapping[str, torch.Tensor], opts: Mapping[str, Any], path) -> E4EConfig:
    """E4EConfig from encoder tensors (names without the ``encoder.`` prefix) and the stored opts."""
    def shape(key):
        if key not in enc:
            raise CheckpointError(path, f"unknown e4e layout: no 'encoder.{key}' tensor")
        return tuple(enc[key].shape)

    units = sorted({int(m.group(1)) for k in enc if (m := re.match(r"body\.(\d+)\.", k))})
    heads = sorted({int(m.group(1)) for k in enc if (m := re.match(r"styles\.(\d+)\.", k))})
    if not units or units != list(range(len(units))) or not heads or heads != list(range(len(heads))):
        raise CheckpointError(path, f"unknown e4e layout: body units {units[:3]}... and style heads {heads[:3]}... "
                                    "must be numbered 0..N without gaps")
    starts = [0] + [i for i in units if f"body.{i}.shortcut_layer.0.weight" in enc]
    if len(starts) != 4:
        raise CheckpointError(path, f"unknown e4e layout: expected 4 IR-SE stages, each after the first starting "
                                    f"with a width-changing unit (a shortcut conv); found stage starts at {starts}")
    stage_units = tuple(b - a for a, b in zip(starts, starts[1:] + [len(units)], strict=True))
    stage_widths = tuple(shape(f"body.{s}.res_layer.1.weight")[0] for s in starts)
    n_convs = [sum(1 for k in enc if re.fullmatch(rf"styles\.{h}\.convs\.\d+\.weight", k)) for h in heads]
    lo = min(n_convs)
    coarse_end = sum(1 for n in n_convs if n == lo)
    middle_end = coarse_end + sum(1 for n in n_convs if n == lo + 1)
    num_ws = len(heads)
    try:
        return E4EConfig(num_ws=num_ws, w_dim=shape("styles.0.linear.weight")[0], input_resolution=16 * 2 ** lo,
                         stage_units=stage_units, stage_widths=stage_widths,
                         stem_width=shape("input_layer.0.weight")[0],
                         se_reduction=stage_widths[0] // shape("body.0.res_layer.5.fc1.weight")[0],
                         coarse_end=coarse_end, middle_end=middle_end,
                         start_from_latent_avg=bool(opts.get("start_from_latent_avg", True)),
                         generator_resolution=2 ** ((num_ws + 2) // 2))
    except E4EConfigError as exc:
        raise CheckpointError(path, f"unsupported e4e architecture: {exc}") from None


def latent_avg_rows(t: Any, num_ws: int, w_dim: int, path) -> torch.Tensor:
    """``latent_avg`` of shape (w_dim,), (1, w_dim) or (num_ws, w_dim) -> (num_ws, w_dim) float32."""
    if not isinstance(t, torch.Tensor):
        raise CheckpointError(path, f"'latent_avg' should be a tensor; found {type(t).__name__}")
    t = t.detach().to("cpu", torch.float32)
    if t.numel() == w_dim:
        return t.reshape(1, w_dim).repeat(num_ws, 1)
    if t.numel() == num_ws * w_dim:
        return t.reshape(num_ws, w_dim).clone()
    raise CheckpointError(path, f"'latent_avg' has shape {tuple(t.shape)}; expected ({w_dim},), (1, {w_dim}) or "
                                f"({num_ws}, {w_dim})")


# The object ``E4EEncoder.can_load`` read from an official file (memory-mapped), handed to the ``read_official`` of
# the same unchanged file that follows it instead of reading (and checking) the 1 GB file a second time.
_SNIFFED: dict[tuple, Any] = {}


def _file_key(path: str | Path) -> tuple:
    st = os.stat(path)
    return os.path.realpath(path), st.st_ino, st.st_size, st.st_mtime_ns


def remember_sniffed(path: str | Path, obj: Any) -> None:
    """Keep what ``can_load`` read from ``path`` (already checked and loaded as ``read_torch_file`` does) for the
    next ``read_official`` of that file; one file at a time."""
    _SNIFFED.clear()
    _SNIFFED[_file_key(path)] = obj


def read_official(path: str | Path) -> OfficialCheckpoint:
    """Split an official e4e ``.pt`` into config, encoder tensors, latent_avg and our-named generator tensors."""
    try:
        obj = _SNIFFED.pop(_file_key(path), None)
    except OSError:
        obj = None
    if obj is None:
        obj = read_torch_file(path)
    if not looks_like_official(obj):
        keys = sorted(map(str, obj))[:8] if isinstance(obj, Mapping) else type(obj).__name__
        raise CheckpointError(path, f"not an e4e checkpoint: expected {{'state_dict': {{encoder.*, decoder.*}}, "
                                    f"'opts', 'latent_avg'}}; found {keys}")
    opts = _opts(obj, path)
    kind = opts.get("encoder_type", SUPPORTED_ENCODER_TYPE)
    if kind != SUPPORTED_ENCODER_TYPE:
        raise CheckpointError(path, f"encoder_type {kind!r} is not supported; only {SUPPORTED_ENCODER_TYPE} "
                                    "(e4e) checkpoints are (pSp's GradualStyleEncoder and SingleStyleCodeEncoder "
                                    "are not)")
    sd = obj["state_dict"]
    bad = [k for k in sd if not str(k).startswith(("encoder.", "decoder."))]
    if bad:
        raise CheckpointError(path, f"unexpected state_dict keys outside encoder.*/decoder.*: {bad[:5]}")
    enc = {k[len("encoder."):]: v for k, v in sd.items() if k.startswith("encoder.")}
    dec = {k[len("decoder."):]: v for k, v in sd.items() if k.startswith("decoder.")}
    config = infer_e4e_config(enc, opts, path)
    la = obj.get("latent_avg")
    latent_avg = None if la is None else latent_avg_rows(la, config.num_ws, config.w_dim, path)
    gen: dict[str, torch.Tensor] = {}
    if dec:
        gen, _ = generator_to_ours(dec, path)
    return OfficialCheckpoint(config, enc, latent_avg, gen, opts)


def build_decoder(ckpt: OfficialCheckpoint, path):
    """Our Generator holding the checkpoint's decoder (w_avg = latent_avg row 0, else the mean of 10k samples);
    None when the file has no decoder."""
    from latentedit.io.checkpoints import compute_w_avg
    from latentedit.stylegan2 import Generator

    if not ckpt.generator_state:
        return None
    tensors = dict(ckpt.generator_state)
    config = infer_generator_config(tensors, path)
    computed = ckpt.latent_avg is None
    tensors["mapping.w_avg"] = torch.zeros(config.w_dim) if computed else ckpt.latent_avg[0].clone()
    G = build_and_load(lambda: Generator(config).eval(), tensors, path)
    if computed:
        G.mapping.w_avg.copy_(compute_w_avg(G))
    if G.num_ws != ckpt.config.num_ws or G.w_dim != ckpt.config.w_dim:
        raise CheckpointError(path, f"the decoder has W+ {G.num_ws}x{G.w_dim} but the encoder has "
                                    f"{ckpt.config.num_ws} heads of width {ckpt.config.w_dim}")
    return G.requires_grad_(False)


def write_official(path: str | Path, encoder, G=None, *, latent_avg_shape: tuple[int, ...] | None = None,
                   opts: Mapping[str, Any] | None = None, extra_keys: Mapping[str, torch.Tensor] | None = None) -> Path:
    """Write ``encoder`` (an ``E4EEncoder``) and ``G`` (its decoder, optional) in the official e4e layout that
    ``read_official`` reads: ``{'state_dict': {encoder.*, decoder.* (rosinality names)}, 'latent_avg', 'opts'}``.

    ``latent_avg`` is ``G``'s ``w_avg`` repeated to ``latent_avg_shape`` (default ``(num_ws, w_dim)``; ``(1, w_dim)``
    and ``(w_dim,)`` are official too); ``opts`` defaults to the options the official training script stores.
    For stand-ins and tests: the same layout as a published file, the weights of the given networks."""
    from latentedit.io.modelfile import atomic_write
    from latentedit.testing.foreign_formats import rosinality_generator_state

    sd = {f"encoder.{k}": v.detach().clone() for k, v in encoder.net.state_dict().items()}
    obj: dict[str, Any] = {"state_dict": sd}
    if G is not None:
        sd.update({f"decoder.{k}": v.detach().clone() for k, v in rosinality_generator_state(G).items()})
        w_dim = G.w_dim
        shape = tuple(latent_avg_shape or (G.num_ws, w_dim))
        rows = 1 if len(shape) == 1 else shape[0]
        obj["latent_avg"] = G.mapping.w_avg.detach().clone().reshape(1, w_dim).expand(rows, w_dim).reshape(shape)
        size = G.config.resolution
    else:
        size = encoder.config.generator_resolution
    sd.update(extra_keys or {})
    obj["opts"] = dict(opts) if opts is not None else {
        "encoder_type": SUPPORTED_ENCODER_TYPE, "start_from_latent_avg": True, "stylegan_size": size,
        "lpips_lambda": 0.8, "exp_dir": "experiment"}
    return atomic_write(Path(path), lambda tmp: torch.save(obj, tmp))
