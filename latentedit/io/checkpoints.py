"""One entry point for every supported checkpoint: detect the format, build the network, say where it came from.

Formats (see :func:`detect_format`):

- ``latentedit``: our ``.safetensors`` (``ours.py``);
- ``rosinality``: rosinality/stylegan2-pytorch ``.pt`` (converted ``{g_ema, latent_avg}`` or a training snapshot);
- ``nvidia-pkl``: NVIDIA stylegan2-ada-pytorch / stylegan3-era StyleGAN2 snapshot pickles;
- ``nvidia-state-dict``: a ``torch.save`` of NVIDIA's ``G.state_dict()`` / ``D.state_dict()``.

The architecture always comes from tensor shapes (plus ``_init_kwargs`` for what shapes cannot tell). Every
failure is a :class:`CheckpointError` whose message is one line starting with the file's path; no code stored
in a file ever runs (pickles go through ``restricted_unpickler``, torch files through ``weights_only=True``).
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

from latentedit.io import nvidia_pkl, ours, rosinality_pt
from latentedit.io.arch_infer import build_and_load, infer_discriminator_config, infer_generator_config
from latentedit.io.errors import CheckpointError, LatenteditInputError
from latentedit.io.network_caps import check_discriminator_config, check_generator_config, check_tensors
from latentedit.io.paths import require_regular_file
from latentedit.io.torch_files import read_torch_file
from latentedit.stylegan2 import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig

__all__ = ["CheckpointError", "CheckpointInfo", "FORMATS", "detect_format", "load_generator", "load_discriminator",
           "convert_checkpoint", "compute_w_avg"]

FORMATS = ("latentedit", "rosinality", "nvidia-pkl", "nvidia-state-dict")
W_AVG_SAMPLES = 10_000
W_AVG_SEED = 0

_LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


@dataclass(frozen=True)
class CheckpointInfo:
    """What was loaded and from where.

    ``network`` is 'generator' or 'discriminator'; ``source_key`` the entry of the file used ('G_ema', 'g_ema',
    ...); ``w_avg_source`` says whether ``mapping.w_avg`` was read from the file or computed (generators only);
    ``networks`` lists what the file holds.
    """

    path: str
    format: str
    network: str
    config: GeneratorConfig | DiscriminatorConfig
    num_parameters: int
    source_key: str = ""
    w_avg_source: str | None = None
    networks: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Opened:
    format: str
    payload: Any  # the unpickled object (foreign formats) or None (ours)


def _sniff(path: Path) -> str:
    if not path.exists():
        raise CheckpointError(path, "no such file")
    if path.is_dir():
        raise CheckpointError(path, "is a directory, not a checkpoint file")
    require_regular_file(path, what="checkpoint file", error=CheckpointError)
    with open(path, "rb") as f:
        head = f.read(16)
    if not head:
        raise CheckpointError(path, "empty file (0 bytes): not a checkpoint")
    if head.startswith(b"PK\x03\x04"):
        return "torch"
    if head.startswith(_LEGACY_TORCH_MAGIC[:len(head)]) and len(head) >= 14:
        return "torch"
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    if head[0] == 0x80 and len(head) > 1 and 2 <= head[1] <= 5:
        return "pickle"
    raise CheckpointError(path, f"not a checkpoint: unrecognised start bytes {head[:8]!r} (expected a .safetensors "
                                "file, a torch .pt file or a network .pkl)")


def _nvidia_state_dict_kind(obj: Any) -> str | None:
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        return None
    if "mapping.fc0.weight" in obj and "synthesis.b4.const" in obj:
        return "generator"
    if "b4.conv.weight" in obj and "b4.out.weight" in obj:
        return "discriminator"
    return None


def _open(path: str | os.PathLike) -> _Opened:
    p = Path(path)
    kind = _sniff(p)
    if kind == "safetensors":
        ours.read_kind(p)  # refuses safetensors that are not ours
        return _Opened("latentedit", None)
    if kind == "torch":
        obj = read_torch_file(p)
        if rosinality_pt.looks_like_rosinality(obj):
            return _Opened("rosinality", obj)
        if _nvidia_state_dict_kind(obj):
            return _Opened("nvidia-state-dict", obj)
        keys = sorted(map(str, obj))[:8] if isinstance(obj, Mapping) else type(obj).__name__
        raise CheckpointError(p, f"unknown layout: a torch file holding {keys}; expected a rosinality checkpoint "
                                 "('g_ema'/'g'/'d' with 'style.1.weight', 'input.input', ...) or an NVIDIA "
                                 "StyleGAN2 state dict ('mapping.fc0.weight', 'synthesis.b4.const', ...)")
    obj = nvidia_pkl.read_nvidia_pickle(p)
    if nvidia_pkl.looks_like_nvidia_snapshot(obj):
        return _Opened("nvidia-pkl", obj)
    keys = sorted(map(str, obj))[:8] if isinstance(obj, Mapping) else type(obj).__name__
    raise CheckpointError(p, f"unknown layout: a pickle holding {keys}; expected an NVIDIA snapshot with 'G_ema' / "
                             "'G' / 'D' networks")


def _one_line_errors(fn):
    """Any failure interpreting a file becomes a CheckpointError naming it: a malformed record (a list where a
    dict belongs, a string where a tensor does) must not surface as a traceback."""
    import functools

    @functools.wraps(fn)
    def wrapped(path, *args, **kwargs):
        try:
            return fn(path, *args, **kwargs)
        except LatenteditInputError:
            raise
        except (TypeError, AttributeError, KeyError, ValueError, IndexError, RuntimeError, RecursionError,
                OverflowError, MemoryError, pickle.UnpicklingError) as exc:
            text = " ".join(str(exc).split())[:200]
            raise CheckpointError(path, f"unknown or damaged layout ({type(exc).__name__}: {text})") from None
    return wrapped


@_one_line_errors
def detect_format(path: str | os.PathLike) -> str:
    """One of :data:`FORMATS`, or CheckpointError saying why the file is none of them."""
    return _open(path).format


def _networks(opened: _Opened, path) -> tuple[str, ...]:
    if opened.format == "latentedit":
        return ("discriminator",) if ours.read_kind(path) == ours.DISCRIMINATOR_KIND else ("generator",)
    obj = opened.payload
    if opened.format == "rosinality":
        has = [("generator", ("g_ema", "g")), ("discriminator", ("d",))]
    elif opened.format == "nvidia-pkl":
        if nvidia_pkl.is_persistent(obj):
            return ("discriminator",) if obj.class_name == "Discriminator" else ("generator",)
        has = [("generator", ("G_ema", "G")), ("discriminator", ("D",))]
    else:
        return (_nvidia_state_dict_kind(obj),)
    return tuple(net for net, keys in has if any(isinstance(obj.get(k), Mapping) for k in keys))


@torch.no_grad()
def compute_w_avg(G: Generator, n: int = W_AVG_SAMPLES, seed: int = W_AVG_SEED, batch: int = 2000) -> torch.Tensor:
    """Mean of ``mapping(z)`` over ``n`` z drawn from ``torch.Generator().manual_seed(seed)``: (w_dim,)."""
    gen = torch.Generator().manual_seed(seed)
    device = G.mapping.w_avg.device
    total = torch.zeros(G.config.w_dim, dtype=torch.float64, device=device)
    done = 0
    while done < n:
        b = min(batch, n - done)
        z = torch.randn(b, G.config.z_dim, generator=gen).to(device)
        total += G.mapping(z, truncation_psi=1.0)[:, 0].to(torch.float64).sum(dim=0)
        done += b
    return (total / n).to(torch.float32)


def _foreign_generator(opened: _Opened, path) -> tuple[Generator, str, str, list[str]]:
    """(G, source_key, w_avg_source, notes) for rosinality / NVIDIA files."""
    obj, options, w_avg = opened.payload, {}, None
    if opened.format == "rosinality":
        sd, key = rosinality_pt.pick_generator_dict(obj, path)
        tensors, notes = rosinality_pt.generator_to_ours(sd, path)
        w_avg = rosinality_pt.pick_latent_avg(obj, path)
        if w_avg is not None:
            tensors["mapping.w_avg"] = w_avg
            w_avg_source = "read from the file ('latent_avg')"
        else:
            w_avg_source = (f"computed: mean of mapping(z) over {W_AVG_SAMPLES:,} z (torch seed {W_AVG_SEED}); "
                            "the file has no latent_avg")
    elif opened.format == "nvidia-pkl":
        meta, key = nvidia_pkl.pick_network(obj, path, "G")
        options, notes = nvidia_pkl.generator_options(nvidia_pkl.init_kwargs(meta), path)
        tensors, more = nvidia_pkl.generator_tensors(meta, path)
        notes += more
        w_avg_source = "read from the file ('mapping.w_avg')"
    else:
        key = "state_dict"
        tensors, notes = nvidia_pkl.state_dict_to_ours(obj, path)
        notes.append("a bare state dict records no conv_clamp: assumed none")
        w_avg_source = "read from the file ('mapping.w_avg')"
    config = infer_generator_config(tensors, path, **options)
    check_generator_config(config, path)
    check_tensors(tensors, path)
    if "mapping.w_avg" not in tensors and w_avg_source.startswith("computed"):
        tensors["mapping.w_avg"] = torch.zeros(config.w_dim)
    G = build_and_load(lambda: Generator(config).eval(), tensors, path)
    if w_avg_source.startswith("computed"):
        G.mapping.w_avg.copy_(compute_w_avg(G))
    return G, key, w_avg_source, notes


def _provenance(extra: Mapping[str, Any]) -> list[str]:
    if not extra.get("source_format"):
        return []
    entry = f" (entry '{extra['source_key']}')" if extra.get("source_key") else ""
    return [f"converted from {extra['source_format']} file {extra.get('source_file', '?')}{entry}"]


@_one_line_errors
def load_generator(path: str | os.PathLike, *, device: str | torch.device = "cpu"
                   ) -> tuple[Generator, CheckpointInfo]:
    """Load a generator from any supported file: (Generator in eval mode on ``device``, CheckpointInfo)."""
    opened = _open(path)
    networks = _networks(opened, path)
    if "generator" not in networks:
        raise CheckpointError(path, f"this {opened.format} file holds no generator (it holds: "
                                    f"{', '.join(networks) or 'nothing usable'})")
    if opened.format == "latentedit":
        G, extra = ours.load_generator_file(path)
        key, w_avg_source = "", extra.get("w_avg_source", "stored in the file")
        notes = _provenance(extra)
    else:
        G, key, w_avg_source, notes = _foreign_generator(opened, path)
    info = CheckpointInfo(path=str(path), format=opened.format, network="generator", config=G.config,
                          num_parameters=sum(p.numel() for p in G.parameters()), source_key=key,
                          w_avg_source=w_avg_source, networks=networks, notes=tuple(notes))
    return G.to(device), info


@_one_line_errors
def load_discriminator(path: str | os.PathLike, *, device: str | torch.device = "cpu"
                       ) -> tuple[Discriminator, CheckpointInfo]:
    """Load a discriminator from any supported file: (Discriminator in eval mode on ``device``, CheckpointInfo)."""
    opened = _open(path)
    networks = _networks(opened, path)
    if "discriminator" not in networks:
        hint = "; converted rosinality files usually carry only g_ema" if opened.format == "rosinality" else ""
        raise CheckpointError(path, f"this {opened.format} file holds no discriminator (it holds: "
                                    f"{', '.join(networks) or 'nothing usable'}){hint}")
    options: dict[str, Any] = {}
    if opened.format == "latentedit":
        D, extra = ours.load_discriminator_file(path)
        key, notes = "", _provenance(extra)
    else:
        if opened.format == "rosinality":
            key = "d"
            tensors, notes = rosinality_pt.discriminator_to_ours(opened.payload["d"], path)
        elif opened.format == "nvidia-pkl":
            meta, key = nvidia_pkl.pick_network(opened.payload, path, "D")
            options, notes = nvidia_pkl.discriminator_options(nvidia_pkl.init_kwargs(meta), path)
            tensors, more = nvidia_pkl.state_dict_to_ours(nvidia_pkl.flatten_state(meta, path), path)
            notes += more
        else:
            key = "state_dict"
            tensors, notes = nvidia_pkl.state_dict_to_ours(opened.payload, path)
        d_config = infer_discriminator_config(tensors, path, **options)
        check_discriminator_config(d_config, path)
        check_tensors(tensors, path)
        D = build_and_load(lambda: Discriminator(d_config).eval(), tensors, path)
    info = CheckpointInfo(path=str(path), format=opened.format, network="discriminator", config=D.config,
                          num_parameters=sum(p.numel() for p in D.parameters()), source_key=key,
                          networks=networks, notes=tuple(notes))
    return D.to(device), info


def convert_checkpoint(src: str | os.PathLike, dst: str | os.PathLike, *, discriminator: bool = False
                       ) -> CheckpointInfo:
    """Load ``src`` (any format) and write our ``.safetensors`` to ``dst`` atomically; returns the source info."""
    if Path(dst).suffix != ".safetensors":
        raise CheckpointError(dst, "the output must end in .safetensors")
    net, info = (load_discriminator if discriminator else load_generator)(src)
    extra = {"source_format": info.format, "source_file": Path(src).name, "source_key": info.source_key}
    if info.format == "latentedit":
        extra = {}
    if info.w_avg_source is not None:
        extra["w_avg_source"] = info.w_avg_source
    save = ours.save_discriminator if discriminator else ours.save_generator
    try:
        save(net, dst, extra=extra)
    except OSError as exc:
        raise CheckpointError(dst, f"cannot write the output ({exc.strerror or exc})") from None
    return info
