"""Architecture from tensor shapes: our-named state dicts -> GeneratorConfig / DiscriminatorConfig.

Foreign readers first rename a file's tensors onto our naming (see ``rosinality_pt`` / ``nvidia_pkl``); the
functions here then read every architecture parameter off the shapes, so nobody is asked for ``--size`` or
``--channel_multiplier``:

- resolution: the deepest ``synthesis.b{r}`` block (generator) / the ``b{r}.fromrgb`` block (discriminator);
- channels: ``b4.const`` (C4, 4, 4) and each ``b{r}.conv1.weight`` (C_r, C_r, 3, 3) / each ``b{r}.conv0.weight``;
- mapping depth: the number of ``mapping.fc{i}`` layers; z_dim / w_dim: ``fc0.weight`` (w, z) and the last fc.

It also holds the check applied to the fixed [1, 3, 3, 1] resampling filters that foreign files store as
buffers and we do not: a filter is dropped only when it equals the standard one.
"""

from __future__ import annotations

import re
from typing import Callable, Mapping, TypeVar

import torch

from latentedit.io.errors import CheckpointError
from latentedit.stylegan2.config import DiscriminatorConfig, GeneratorConfig

M = TypeVar("M", bound=torch.nn.Module)


def standard_filter(gain: float = 1.0) -> torch.Tensor:
    """The normalised outer product of [1, 3, 3, 1] times ``gain``: (4, 4), sums to ``gain``."""
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    k = torch.outer(k, k)
    return k / k.sum() * gain


def check_filter(path, key: str, tensor: torch.Tensor, gain: float = 1.0) -> None:
    """Raise CheckpointError unless ``tensor`` is the standard [1,3,3,1] filter times ``gain``."""
    expected = standard_filter(gain)
    t = tensor.detach().to("cpu", torch.float32)
    if tuple(t.shape) != (4, 4) or not torch.allclose(t, expected, rtol=1e-5, atol=1e-6):
        found = [round(v, 5) for v in t.flatten()[:4].tolist()]
        raise CheckpointError(path, f"'{key}' is a non-standard resampling filter (shape {tuple(t.shape)}, first "
                                    f"row {found}); latentedit supports only the normalised [1,3,3,1] filter "
                                    f"(x{gain:g}) that StyleGAN2 uses")


def _shape(sd: Mapping[str, torch.Tensor], path, key: str, ndim: int) -> tuple[int, ...]:
    t = sd.get(key)
    if t is None:
        raise CheckpointError(path, f"unknown layout: no '{key}' tensor, which every StyleGAN2 network of this "
                                    "kind has")
    if t.ndim != ndim:
        raise CheckpointError(path, f"mis-shaped key '{key}': expected {ndim} dimensions, found shape "
                                    f"{tuple(t.shape)}")
    return tuple(t.shape)


def _powers_of_two_up_to(path, found: set[int], what: str) -> int:
    if not found:
        raise CheckpointError(path, f"unknown layout: no {what} blocks found")
    top = max(found)
    expected = {2 ** i for i in range(2, top.bit_length())}
    if top & (top - 1) or top < 8 or found != expected:
        raise CheckpointError(path, f"unknown layout: {what} blocks at resolutions {sorted(found)}; expected "
                                    f"every power of two from 4 up to the deepest ({sorted(expected)})")
    return top


def infer_generator_config(sd: Mapping[str, torch.Tensor], path, *, conv_clamp: float | None = None,
                           mapping_lr_mul: float = 0.01, w_avg_beta: float = 0.995) -> GeneratorConfig:
    """GeneratorConfig from our-named generator tensors (shape checks are left to strict loading)."""
    depth = 0
    while f"mapping.fc{depth}.weight" in sd:
        depth += 1
    if depth == 0:
        raise CheckpointError(path, "unknown layout: no 'mapping.fc0.weight' (the mapping network's first layer)")
    w_dim, z_dim = _shape(sd, path, "mapping.fc0.weight", 2)
    w_dim = _shape(sd, path, f"mapping.fc{depth - 1}.weight", 2)[0]
    blocks = {int(m.group(1)) for k in sd if (m := re.match(r"synthesis\.b(\d+)\.", k))}
    resolution = _powers_of_two_up_to(path, blocks, "synthesis")
    channels = [_shape(sd, path, "synthesis.b4.const", 3)[0]]
    for r in (2 ** i for i in range(3, resolution.bit_length())):
        channels.append(_shape(sd, path, f"synthesis.b{r}.conv1.weight", 4)[0])
    img_channels = _shape(sd, path, "synthesis.b4.torgb.weight", 4)[0]
    try:
        return GeneratorConfig(resolution=resolution, z_dim=z_dim, w_dim=w_dim, mapping_layers=depth,
                               channels=tuple(channels), mapping_lr_mul=float(mapping_lr_mul),
                               conv_clamp=None if conv_clamp is None else float(conv_clamp),
                               img_channels=img_channels, w_avg_beta=float(w_avg_beta))
    except ValueError as exc:
        raise CheckpointError(path, f"unsupported generator architecture: {exc}") from None


def infer_discriminator_config(sd: Mapping[str, torch.Tensor], path, *, mbstd_group: int = 4,
                               conv_clamp: float | None = None) -> DiscriminatorConfig:
    """DiscriminatorConfig from our-named discriminator tensors."""
    tops = {int(m.group(1)) for k in sd if (m := re.match(r"b(\d+)\.fromrgb\.weight$", k))}
    if len(tops) != 1:
        raise CheckpointError(path, f"unknown layout: expected exactly one 'b<res>.fromrgb.weight' in a residual "
                                    f"discriminator; found {len(tops)}")
    blocks = {int(m.group(1)) for k in sd if (m := re.match(r"b(\d+)\.", k))}
    resolution = _powers_of_two_up_to(path, blocks, "discriminator")
    if resolution not in tops:
        raise CheckpointError(path, f"unknown layout: fromrgb sits at b{min(tops)}, not at the top block "
                                    f"b{resolution}")
    c4, c4_in = _shape(sd, path, "b4.conv.weight", 4)[:2]
    channels = [c4] + [_shape(sd, path, f"b{2 ** i}.conv0.weight", 4)[0] for i in range(3, resolution.bit_length())]
    img_channels = _shape(sd, path, f"b{resolution}.fromrgb.weight", 4)[1]
    try:
        return DiscriminatorConfig(resolution=resolution, channels=tuple(channels), img_channels=img_channels,
                                   mbstd_group=int(mbstd_group), mbstd_channels=c4_in - c4,
                                   conv_clamp=None if conv_clamp is None else float(conv_clamp))
    except ValueError as exc:
        raise CheckpointError(path, f"unsupported discriminator architecture: {exc}") from None


def load_into(module: torch.nn.Module, sd: Mapping[str, torch.Tensor], path, *, assign: bool = False) -> None:
    """Strict load naming every missing / unexpected / mis-shaped key (expected vs found) as a CheckpointError;
    ``assign``: the module keeps the given tensors (see ``load_state_dict_strict``)."""
    from latentedit.io.modelfile import ModelFileError, load_state_dict_strict

    try:
        load_state_dict_strict(module, sd, source=str(path), assign=assign)
    except ModelFileError as exc:
        problem = str(exc)
        prefix = f"{path}: "
        raise CheckpointError(path, problem[len(prefix):] if problem.startswith(prefix) else problem) from None


def build_and_load(build: Callable[[], M], sd: Mapping[str, torch.Tensor], path) -> M:
    """``build()`` without drawing random initial weights, then strictly loaded from ``sd``, whose tensors it keeps
    (no copy): the way to make a network that a checkpoint fills. ``sd`` must not be used afterwards."""
    from latentedit.io.skip_init import without_random_init

    with without_random_init():
        net = build()
    load_into(net, sd, path, assign=True)
    return net
