"""NVIDIA stylegan2-ada-pytorch / stylegan3-era StyleGAN2 snapshot ``.pkl`` files -> our naming and config.

A snapshot is ``{'G', 'D', 'G_ema', 'augment_pipe', 'training_set_kwargs'}``; each network is a persistent
record (see ``restricted_unpickler``) whose ``state`` is the module ``__dict__``. Parameters and persistent
buffers are collected recursively through ``_modules`` under the same dotted names ``state_dict()`` would give,
which are already ours (``mapping.fc{i}``, ``mapping.w_avg``, ``synthesis.b{r}.conv0/conv1/torgb``, ``affine``,
``noise_const``, ``noise_strength``; discriminator ``b{r}.fromrgb/conv0/conv1/skip``, ``b4.conv/fc/out``). The
``resample_filter`` buffers are checked to be the standard normalised [1,3,3,1] filter and dropped.

What shapes cannot tell comes from ``_init_kwargs``: ``conv_clamp``, the mapping's ``lr_multiplier`` and
``w_avg_beta``, the discriminator's minibatch-stddev group size. Conditional networks (``c_dim > 0``) and
non-default architectures are refused with a clear message.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import torch

from latentedit.io.arch_infer import check_filter
from latentedit.io.errors import CheckpointError
from latentedit.io.hardened_pickle import PickleRefused
from latentedit.io.paths import require_regular_file
from latentedit.io.restricted_unpickler import PersistentMeta, RefusedGlobalError, restricted_load

WHOLE_BATCH = 2 ** 31 - 1  # minibatch-stddev group size meaning "the whole batch"
_TF_HINT = ("this is a TensorFlow StyleGAN2 pickle; convert it to PyTorch first (NVIDIA's stylegan2-ada-pytorch "
            "legacy.py or rosinality's convert_weight.py), then load the result")


def read_nvidia_pickle(path: str | Path) -> Any:
    """Unpickle a snapshot with the restricted unpickler. Every failure is one CheckpointError line."""
    require_regular_file(path, what="checkpoint file", error=CheckpointError)
    try:
        with open(path, "rb") as f:
            return restricted_load(f, size=os.fstat(f.fileno()).st_size)
    except FileNotFoundError:
        raise CheckpointError(path, "no such file") from None
    except RefusedGlobalError as exc:
        hint = f"; {_TF_HINT}" if exc.qualified.startswith("dnnlib.tflib") else ""
        raise CheckpointError(path, f"{exc}{hint}") from None
    except PickleRefused as exc:
        raise CheckpointError(path, f"refused pickle: {exc}") from None
    except EOFError:
        raise CheckpointError(path, "truncated pickle (the data ends early); re-download or re-save it") from None
    except Exception as exc:  # noqa: BLE001 - only allow-listed stand-ins ran: any failure is a damaged file
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "truncated" in text.lower() or "ran out of input" in text.lower():
            raise CheckpointError(path, "truncated pickle (the data ends early); re-download or re-save it") from None
        raise CheckpointError(path, f"not a readable network pickle ({type(exc).__name__}: {text[:200]})") from None


def is_persistent(obj: Any) -> bool:
    return isinstance(obj, PersistentMeta)


def looks_like_nvidia_snapshot(obj: Any) -> bool:
    """A snapshot dict with persistent networks, or a bare persistent network."""
    if is_persistent(obj):
        return True
    return isinstance(obj, Mapping) and any(is_persistent(obj.get(k)) for k in ("G_ema", "G", "D"))


MAX_MODULES = 10_000  # persistent records visited in one network (config-f: ~100); shared ones count each time
MAX_MODULE_DEPTH = 16


def flatten_state(meta: PersistentMeta, path, prefix: str = "", _seen: list | None = None) -> dict[str, torch.Tensor]:
    """Parameters and persistent buffers of a persistent module tree, named as ``state_dict()`` names them.

    A tree deeper than :data:`MAX_MODULE_DEPTH` or with more than :data:`MAX_MODULES` records (a pickle can share
    one record under many names, making a tiny file a huge tree) is refused."""
    seen = [0] if _seen is None else _seen
    seen[0] += 1
    if seen[0] > MAX_MODULES or prefix.count(".") >= MAX_MODULE_DEPTH:
        raise CheckpointError(path, f"unknown layout: a module tree of more than {MAX_MODULES:,} records or "
                                    f"{MAX_MODULE_DEPTH} levels (at '{prefix[:80]}')")
    state = meta.state
    out: dict[str, torch.Tensor] = {}
    skip = set(state.get("_non_persistent_buffers_set") or ())
    for group in ("_parameters", "_buffers"):
        for name, t in (state.get(group) or {}).items():
            if t is None or (group == "_buffers" and name in skip):
                continue
            if not isinstance(t, torch.Tensor):
                raise CheckpointError(path, f"'{prefix}{name}' should be a tensor; found {type(t).__name__}")
            out[prefix + name] = t.detach()
    for name, sub in (state.get("_modules") or {}).items():
        if sub is None:
            continue
        if not is_persistent(sub):
            raise CheckpointError(path, f"unknown layout: sub-module '{prefix}{name}' is a {type(sub).__name__}, "
                                        "not a persistent network record")
        out.update(flatten_state(sub, path, f"{prefix}{name}.", seen))
    return out


def pick_network(obj: Any, path, which: str) -> tuple[PersistentMeta, str]:
    """``which='G'``: G_ema (else G); ``which='D'``: D. Returns (record, key it came from)."""
    if is_persistent(obj):
        want = "Discriminator" if which == "D" else "Generator"
        if obj.class_name != want:
            raise CheckpointError(path, f"this pickle holds a bare {obj.class_name}, not a {want}")
        return obj, obj.class_name
    names = ("D",) if which == "D" else ("G_ema", "G")
    for name in names:
        if is_persistent(obj.get(name)):
            return obj[name], name
    what = "discriminator ('D')" if which == "D" else "generator ('G_ema' or 'G')"
    raise CheckpointError(path, f"this snapshot holds no {what}; it has {sorted(map(str, obj))[:8]}")


def init_kwargs(meta: PersistentMeta) -> dict:
    kw = meta.state.get("_init_kwargs")
    return dict(kw) if isinstance(kw, Mapping) else {}


def drop_resample_filters(sd: Mapping[str, torch.Tensor], path) -> tuple[dict[str, torch.Tensor], int]:
    """Check every ``*resample_filter`` is the standard normalised [1,3,3,1] filter, and drop it."""
    out, dropped = {}, 0
    for key, t in sd.items():
        if key.endswith("resample_filter"):
            check_filter(path, key, t, 1.0)
            dropped += 1
        else:
            out[key] = t
    return out, dropped


def _refuse_other_generators(sd: Mapping[str, torch.Tensor], path) -> None:
    if any(k.startswith("synthesis.input.") or ".L0_" in k or k.startswith("synthesis.L") for k in sd):
        raise CheckpointError(path, "this is a StyleGAN3 (alias-free) generator; latentedit supports StyleGAN2 "
                                    "generators only")
    if any(k.startswith("mapping.embed.") for k in sd):
        raise CheckpointError(path, "this is a class-conditional generator (mapping.embed); latentedit supports "
                                    "unconditional StyleGAN2 generators only")


def generator_options(kwargs: Mapping[str, Any], path) -> tuple[dict[str, Any], list[str]]:
    """Config fields shapes cannot tell, from a Generator's ``_init_kwargs``: (options, notes)."""
    if int(kwargs.get("c_dim") or 0) != 0:
        raise CheckpointError(path, f"this generator is class-conditional (c_dim={kwargs.get('c_dim')}); "
                                    "latentedit supports unconditional StyleGAN2 generators only")
    syn = dict(kwargs.get("synthesis_kwargs") or {})
    mapk = dict(kwargs.get("mapping_kwargs") or {})
    arch = syn.get("architecture", "skip")
    if arch != "skip":
        raise CheckpointError(path, f"synthesis architecture '{arch}' is not supported; latentedit implements "
                                    "StyleGAN2's 'skip' generator (the default of every released model)")
    opts: dict[str, Any] = {"conv_clamp": syn.get("conv_clamp")}
    if mapk.get("lr_multiplier") is not None:
        opts["mapping_lr_mul"] = float(mapk["lr_multiplier"])
    if mapk.get("w_avg_beta") is not None:
        opts["w_avg_beta"] = float(mapk["w_avg_beta"])
    notes = [f"conv_clamp {opts['conv_clamp']} from _init_kwargs"] if kwargs else \
        ["no _init_kwargs: conv_clamp assumed none"]
    if int(syn.get("num_fp16_res") or 0) > 0:
        notes.append(f"trained with float16 in the top {syn['num_fp16_res']} resolutions; latentedit computes in "
                     "float32 (as NVIDIA's code does with force_fp32=True)")
    return opts, notes


def discriminator_options(kwargs: Mapping[str, Any], path) -> tuple[dict[str, Any], list[str]]:
    """Config fields from a Discriminator's ``_init_kwargs``: conv_clamp and the mbstd group size."""
    if int(kwargs.get("c_dim") or 0) != 0:
        raise CheckpointError(path, f"this discriminator is class-conditional (c_dim={kwargs.get('c_dim')}); "
                                    "latentedit supports unconditional discriminators only")
    arch = kwargs.get("architecture", "resnet")
    if arch != "resnet":
        raise CheckpointError(path, f"discriminator architecture '{arch}' is not supported; latentedit implements "
                                    "StyleGAN2's residual ('resnet') discriminator")
    epi = dict(kwargs.get("epilogue_kwargs") or {})
    group = epi.get("mbstd_group_size", 4)
    # NVIDIA's None means "the whole minibatch": min(group, batch) with an unreachably large group does that
    opts = {"conv_clamp": kwargs.get("conv_clamp"), "mbstd_group": WHOLE_BATCH if group is None else int(group)}
    shown = "whole batch" if group is None else opts["mbstd_group"]
    return opts, [f"conv_clamp {opts['conv_clamp']}, mbstd group {shown} from _init_kwargs"]


def generator_tensors(meta: PersistentMeta, path) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Our-named generator tensors (filters dropped) and notes."""
    sd = flatten_state(meta, path)
    _refuse_other_generators(sd, path)
    return state_dict_to_ours(sd, path)


def state_dict_to_ours(sd: Mapping[str, torch.Tensor], path) -> tuple[dict[str, torch.Tensor], list[str]]:
    """NVIDIA-named tensors (generator or discriminator) -> ours: the names agree; filters are dropped."""
    _refuse_other_generators(sd, path)
    out, dropped = drop_resample_filters(sd, path)
    return out, ([f"checked and dropped {dropped} standard [1,3,3,1] resample filters"] if dropped else [])
