"""rosinality/stylegan2-pytorch ``.pt`` files -> our naming.

Two shapes of file exist: converted official weights ``{'g_ema', 'latent_avg'}`` (optionally ``'g'``, ``'d'``)
and training snapshots ``{'g', 'd', 'g_ema', 'g_optim', 'd_optim', 'args'[, 'ada_aug_p']}`` (no ``latent_avg``).

Generator renames (no weight flips; rosinality stores the same orientation as NVIDIA's PyTorch code):

==============================================  ===================================================
rosinality                                      ours
==============================================  ===================================================
``style.{i+1}.weight/bias``                     ``mapping.fc{i}.weight/bias``
``latent_avg`` (w_dim,)                         ``mapping.w_avg``
``input.input`` (1, C, 4, 4)                    ``synthesis.b4.const`` (C, 4, 4)
``conv1.*``                                     ``synthesis.b4.conv1.*``
``convs.{2k}.*`` / ``convs.{2k+1}.*``           ``synthesis.b{8*2^k}.conv0.*`` / ``.conv1.*``
``to_rgb1.*`` / ``to_rgbs.{k}.*``               ``synthesis.b4.torgb.*`` / ``synthesis.b{8*2^k}.torgb.*``
``noises.noise_0`` / ``_{2k+1}`` / ``_{2k+2}``  ``b4.conv1`` / ``b{8*2^k}.conv0`` / ``.conv1`` ``.noise_const``
==============================================  ===================================================

inside a styled conv: ``conv.weight`` (1, O, I, 3, 3) -> ``weight`` (O, I, 3, 3); ``conv.modulation.*`` ->
``affine.*``; ``noise.weight`` (1,) -> ``noise_strength`` (); ``activate.bias`` -> ``bias``; inside a ToRGB:
``conv.weight`` (1, 3, C, 1, 1) -> ``weight`` (3, C, 1, 1), ``bias`` (1, 3, 1, 1) -> ``bias`` (3,). The blur
kernels ``convs.{2k}.conv.blur.kernel`` and ``to_rgbs.{k}.upsample.kernel`` are checked to be the standard
[1,3,3,1] filter times 4 (up-sampling gain) and dropped.

Discriminator: ``convs.0`` -> ``b{res}.fromrgb``; ``convs.{k>=1}`` is the residual block at r = res / 2^(k-1)
with ``conv1`` -> ``conv0``, ``conv2`` -> ``conv1`` (down-sampling), ``skip`` -> ``skip``; ``final_conv`` ->
``b4.conv``; ``final_linear.0`` / ``.1`` -> ``b4.fc`` / ``b4.out``. Blur kernels (gain 1) are checked and dropped.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import torch

from latentedit.io.arch_infer import check_filter
from latentedit.io.errors import CheckpointError

ROSINALITY_G_MARKERS = ("style.1.weight", "input.input", "conv1.conv.weight")
ROSINALITY_D_MARKERS = ("convs.0.0.weight", "final_conv.0.weight", "final_linear.0.weight")


def looks_like_rosinality(obj: Any) -> bool:
    """A dict holding a rosinality generator (``g_ema`` / ``g``) or discriminator (``d``) state dict."""
    if not isinstance(obj, Mapping):
        return False
    for name, markers in (("g_ema", ROSINALITY_G_MARKERS), ("g", ROSINALITY_G_MARKERS), ("d", ROSINALITY_D_MARKERS)):
        sd = obj.get(name)
        if isinstance(sd, Mapping) and all(m in sd for m in markers):
            return True
    return False


def _styled_conv_key(rest: str) -> tuple[str | None, float | None]:
    """Sub-key inside a rosinality StyledConv -> (our sub-key or None to drop, filter gain to check or None)."""
    table = {"conv.weight": "weight", "conv.modulation.weight": "affine.weight",
             "conv.modulation.bias": "affine.bias", "noise.weight": "noise_strength", "activate.bias": "bias"}
    if rest == "conv.blur.kernel":
        return None, 4.0
    return table.get(rest), None


def _torgb_key(rest: str) -> tuple[str | None, float | None]:
    table = {"conv.weight": "weight", "conv.modulation.weight": "affine.weight",
             "conv.modulation.bias": "affine.bias", "bias": "bias"}
    if rest == "upsample.kernel":
        return None, 4.0
    return table.get(rest), None


def _reshape_generator_tensor(our_key: str, t: torch.Tensor) -> torch.Tensor:
    """Drop rosinality's leading singleton dims: (1,O,I,k,k) -> (O,I,k,k), (1,) -> (), (1,3,1,1) -> (3,)."""
    if our_key == "synthesis.b4.const" and t.ndim == 4 and t.shape[0] == 1:
        return t[0]
    if our_key.endswith(".noise_const") and t.ndim == 4 and t.shape[:2] == (1, 1):
        return t[0, 0]
    if our_key.endswith(".noise_strength"):
        return t.reshape(()) if t.numel() == 1 else t
    if our_key.endswith("torgb.bias"):
        return t.reshape(-1)
    if our_key.endswith(".weight") and t.ndim == 5 and t.shape[0] == 1:
        return t[0]
    return t


def generator_to_ours(sd: Mapping[str, torch.Tensor], path) -> tuple[dict[str, torch.Tensor], list[str]]:
    """A rosinality generator state dict -> (our-named tensors, notes). Unknown keys raise CheckpointError."""
    out: dict[str, torch.Tensor] = {}
    unexpected: list[str] = []
    dropped = 0
    for key, t in sd.items():
        our, gain = None, None
        if m := re.fullmatch(r"style\.(\d+)\.(weight|bias)", key):
            our = f"mapping.fc{int(m.group(1)) - 1}.{m.group(2)}" if int(m.group(1)) >= 1 else None
        elif key == "input.input":
            our = "synthesis.b4.const"
        elif m := re.fullmatch(r"conv1\.(.+)", key):
            sub, gain = _styled_conv_key(m.group(1))
            our = sub and f"synthesis.b4.conv1.{sub}"
        elif m := re.fullmatch(r"convs\.(\d+)\.(.+)", key):
            j = int(m.group(1))
            sub, gain = _styled_conv_key(m.group(2))
            our = sub and f"synthesis.b{8 * 2 ** (j // 2)}.conv{j % 2}.{sub}"
        elif m := re.fullmatch(r"to_rgb1\.(.+)", key):
            sub, gain = _torgb_key(m.group(1))
            our = sub and f"synthesis.b4.torgb.{sub}"
        elif m := re.fullmatch(r"to_rgbs\.(\d+)\.(.+)", key):
            sub, gain = _torgb_key(m.group(2))
            our = sub and f"synthesis.b{8 * 2 ** int(m.group(1))}.torgb.{sub}"
        elif m := re.fullmatch(r"noises\.noise_(\d+)", key):
            n = int(m.group(1))
            our = ("synthesis.b4.conv1.noise_const" if n == 0
                   else f"synthesis.b{8 * 2 ** ((n - 1) // 2)}.conv{(n - 1) % 2}.noise_const")
        if gain is not None:
            check_filter(path, key, t, gain)
            dropped += 1
            continue
        if our is None:
            unexpected.append(key)
            continue
        out[our] = _reshape_generator_tensor(our, t)
    if unexpected:
        raise CheckpointError(path, f"unknown layout: {len(unexpected)} key(s) that are not part of a rosinality "
                                    f"StyleGAN2 generator: {', '.join(unexpected[:6])}"
                                    f"{' ...' if len(unexpected) > 6 else ''}")
    notes = [f"checked and dropped {dropped} standard [1,3,3,1] blur kernels"] if dropped else []
    return out, notes


def discriminator_to_ours(sd: Mapping[str, torch.Tensor], path) -> tuple[dict[str, torch.Tensor], list[str]]:
    """A rosinality discriminator state dict -> (our-named tensors, notes)."""
    ks = {int(m.group(1)) for k in sd if (m := re.match(r"convs\.(\d+)\.", k))}
    if 0 not in ks or ks != set(range(max(ks) + 1)):
        raise CheckpointError(path, f"unknown layout: discriminator blocks convs.{sorted(ks)}; expected convs.0.."
                                    f"convs.N without gaps")
    res = 4 * 2 ** max(ks)
    layer = {"conv1.0.weight": "conv0.weight", "conv1.1.bias": "conv0.bias", "conv2.1.weight": "conv1.weight",
             "conv2.2.bias": "conv1.bias", "skip.1.weight": "skip.weight"}
    fixed = {"convs.0.0.weight": f"b{res}.fromrgb.weight", "convs.0.1.bias": f"b{res}.fromrgb.bias",
             "final_conv.0.weight": "b4.conv.weight", "final_conv.1.bias": "b4.conv.bias",
             "final_linear.0.weight": "b4.fc.weight", "final_linear.0.bias": "b4.fc.bias",
             "final_linear.1.weight": "b4.out.weight", "final_linear.1.bias": "b4.out.bias"}
    out: dict[str, torch.Tensor] = {}
    unexpected: list[str] = []
    dropped = 0
    for key, t in sd.items():
        if key in fixed:
            out[fixed[key]] = t
            continue
        m = re.fullmatch(r"convs\.(\d+)\.(.+)", key)
        if m and int(m.group(1)) >= 1:
            r = res // 2 ** (int(m.group(1)) - 1)
            if m.group(2) in ("conv2.0.kernel", "skip.0.kernel"):
                check_filter(path, key, t, 1.0)
                dropped += 1
                continue
            if m.group(2) in layer:
                out[f"b{r}.{layer[m.group(2)]}"] = t
                continue
        unexpected.append(key)
    if unexpected:
        raise CheckpointError(path, f"unknown layout: {len(unexpected)} key(s) that are not part of a rosinality "
                                    f"StyleGAN2 discriminator: {', '.join(unexpected[:6])}"
                                    f"{' ...' if len(unexpected) > 6 else ''}")
    notes = [f"checked and dropped {dropped} standard [1,3,3,1] blur kernels"] if dropped else []
    return out, notes


def pick_generator_dict(obj: Mapping[str, Any], path) -> tuple[Mapping[str, torch.Tensor], str]:
    """The generator to use from a rosinality file: ``g_ema`` (the one meant for sampling), else ``g``."""
    for name in ("g_ema", "g"):
        sd = obj.get(name)
        if isinstance(sd, Mapping):
            return sd, name
    raise CheckpointError(path, f"a rosinality file without a generator: top-level keys are {sorted(obj)[:8]}; "
                                "expected 'g_ema' or 'g'")


def pick_latent_avg(obj: Mapping[str, Any], path) -> torch.Tensor | None:
    """``latent_avg`` flattened to (w_dim,), or None when the file has none (training snapshots)."""
    la = obj.get("latent_avg")
    if la is None:
        return None
    if not isinstance(la, torch.Tensor) or la.numel() == 0:
        raise CheckpointError(path, f"'latent_avg' should be a (w_dim,) tensor; found {type(la).__name__}")
    return la.reshape(-1)
