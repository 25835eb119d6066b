"""Sane bounds on a network a file asks for, checked *before* the network is built (and its memory allocated).

A config read from a file (our ``.safetensors`` metadata, or inferred from a foreign file's tensor shapes) could
declare 20,000 mapping layers or a million channels; building that would take gigabytes and minutes before any
shape check. :func:`check_generator_config` / :func:`check_discriminator_config` refuse such configs with one line.
The limits sit far above every released StyleGAN2 (config-f: 8 mapping layers, 512 channels, ~30 M parameters).
"""

from __future__ import annotations

import math

from latentedit.io.errors import CheckpointError

MAX_MAPPING_LAYERS = 64
MAX_WIDTH = 8192           # z_dim, w_dim and every channel count
MAX_RESOLUTION = 4096
MAX_IMG_CHANNELS = 16
MAX_PARAMETERS = 400_000_000  # 1.6 GB of float32


def _finite(path, name: str, value) -> None:
    if value is not None and (not isinstance(value, (int, float)) or not math.isfinite(float(value))):
        raise CheckpointError(path, f"the config's {name} is {value!r}; expected a finite number")


def _widths(path, what: str, **widths) -> None:
    for name, value in widths.items():
        values = value if isinstance(value, tuple) else (value,)
        if any(int(v) > MAX_WIDTH for v in values):
            raise CheckpointError(path, f"the {what} config declares {name} {max(map(int, values)):,}; at most "
                                        f"{MAX_WIDTH:,} is accepted (released StyleGAN2 networks use 512)")


def _parameters(path, what: str, count: int) -> None:
    if count > MAX_PARAMETERS:
        raise CheckpointError(path, f"the {what} config asks for about {count:,} parameters; at most "
                                    f"{MAX_PARAMETERS:,} are accepted (config-f has ~30 M)")


def check_generator_config(config, path) -> None:
    """CheckpointError unless ``config`` (a GeneratorConfig) is within the bounds above."""
    if config.resolution > MAX_RESOLUTION:
        raise CheckpointError(path, f"resolution {config.resolution} is above {MAX_RESOLUTION}")
    if config.mapping_layers > MAX_MAPPING_LAYERS:
        raise CheckpointError(path, f"the generator config declares {config.mapping_layers:,} mapping layers; at "
                                    f"most {MAX_MAPPING_LAYERS} are accepted (released networks use 8)")
    if config.img_channels > MAX_IMG_CHANNELS:
        raise CheckpointError(path, f"img_channels {config.img_channels} is above {MAX_IMG_CHANNELS}")
    _widths(path, "generator", z_dim=config.z_dim, w_dim=config.w_dim, channels=tuple(config.channels))
    for name in ("mapping_lr_mul", "conv_clamp", "w_avg_beta"):
        _finite(path, name, getattr(config, name))
    w, ch = config.w_dim, list(config.channels)
    count = config.mapping_layers * w * max(config.z_dim, w)
    for prev, c in zip([ch[0]] + ch[:-1], ch):
        count += 9 * c * (prev + c) + w * (prev + 2 * c) + c * (config.img_channels + 1)
    _parameters(path, "generator", count)


def check_discriminator_config(config, path) -> None:
    """CheckpointError unless ``config`` (a DiscriminatorConfig) is within the bounds above."""
    if config.resolution > MAX_RESOLUTION:
        raise CheckpointError(path, f"resolution {config.resolution} is above {MAX_RESOLUTION}")
    if config.img_channels > MAX_IMG_CHANNELS:
        raise CheckpointError(path, f"img_channels {config.img_channels} is above {MAX_IMG_CHANNELS}")
    _widths(path, "discriminator", channels=tuple(config.channels), mbstd_channels=config.mbstd_channels)
    _finite(path, "conv_clamp", config.conv_clamp)
    ch = list(config.channels)
    count = sum(9 * c * c * 2 + c * c for c in ch) + 16 * ch[0] * ch[0] * 2
    _parameters(path, "discriminator", count)


def check_tensors(tensors, path) -> None:
    """Every weight is a floating-point tensor of finite values (an integer or NaN weight renders black or noise
    without a word); CheckpointError naming the first bad one otherwise."""
    import torch

    from latentedit.io.modelfile import all_finite

    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise CheckpointError(path, f"'{name}' should be a tensor; found {type(t).__name__}")
        if not t.is_floating_point():
            raise CheckpointError(path, f"'{name}' holds {str(t.dtype).replace('torch.', '')} values; network "
                                        "weights are floating point (was the file written with the wrong dtype?)")
        if not all_finite(t):
            bad = int((~torch.isfinite(t)).sum())
            raise CheckpointError(path, f"'{name}' holds {bad:,} non-finite values (NaN or infinity) of {t.numel():,}; "
                                        "the weights are damaged")
