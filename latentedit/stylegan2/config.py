"""Frozen configs of the StyleGAN2 networks: every architecture parameter, stored in every checkpoint.

The channel table is explicit (one entry per resolution 4, 8, ..., resolution) so that any checkpoint's widths
can be represented; ``channels_from_base`` (NVIDIA) and ``channels_from_multiplier`` (rosinality) build the
stock tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, asdict
from typing import Any, Mapping


def check_resolution(resolution: int) -> int:
    """A square power of two from 8 to 1024 (4 is allowed for tests), else a clear error."""
    if not isinstance(resolution, int) or resolution < 4 or resolution > 4096 or resolution & (resolution - 1):
        raise ValueError(f"resolution must be a power of two between 4 and 4096; got {resolution!r}")
    return resolution


def block_resolutions(resolution: int) -> tuple[int, ...]:
    """(4, 8, ..., resolution)."""
    return tuple(2 ** i for i in range(2, int(math.log2(check_resolution(resolution))) + 1))


def channels_from_base(resolution: int, channel_base: int = 32768, channel_max: int = 512) -> tuple[int, ...]:
    """NVIDIA's table: ``min(channel_base // r, channel_max)`` for r = 4..resolution (config-f: base 32768)."""
    return tuple(min(channel_base // r, channel_max) for r in block_resolutions(resolution))


def channels_from_multiplier(resolution: int, channel_multiplier: int = 2) -> tuple[int, ...]:
    """rosinality's table: 512 up to 32 px, then 256·cm, 128·cm, 64·cm, 32·cm, 16·cm (at 64..1024)."""
    table = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier, 128: 128 * channel_multiplier,
             256: 64 * channel_multiplier, 512: 32 * channel_multiplier, 1024: 16 * channel_multiplier}
    try:
        return tuple(table[r] for r in block_resolutions(resolution))
    except KeyError:
        raise ValueError(f"rosinality's channel table covers 4..1024; got resolution {resolution}") from None


def _check_channels(channels, resolution: int, owner: str) -> tuple[int, ...]:
    channels = tuple(int(c) for c in channels)
    expected = len(block_resolutions(resolution))
    if len(channels) != expected or any(c < 1 for c in channels):
        raise ValueError(f"{owner}.channels must hold {expected} positive widths (one per resolution 4..{resolution});"
                         f" got {channels}")
    return channels


def _config_from_dict(cls, d: Mapping[str, Any]):
    """Rebuild a network config from its JSON dict; unknown fields are an error listing the valid ones."""
    known = set(cls.__dataclass_fields__)
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields {unknown}; valid fields: {sorted(known)}")
    d = dict(d)
    d["channels"] = tuple(d.get("channels", ()))
    return cls(**d)


class _ChannelTableConfig:
    """What both network configs share: the resolution ladder, the channel table and dict round-trips."""

    @property
    def resolutions(self) -> tuple[int, ...]:
        return block_resolutions(self.resolution)

    def channels_at(self, r: int) -> int:
        return self.channels[self.resolutions.index(r)]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]):
        return _config_from_dict(cls, d)


@dataclass(frozen=True)
class GeneratorConfig(_ChannelTableConfig):
    """Everything needed to rebuild a StyleGAN2 generator (config-f: 1024, 512, 512, 8, channels_from_base(1024))."""

    resolution: int
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    channels: tuple[int, ...] = ()
    mapping_lr_mul: float = 0.01
    conv_clamp: float | None = None
    img_channels: int = 3
    w_avg_beta: float = 0.995

    def __post_init__(self):
        check_resolution(self.resolution)
        channels = self.channels or channels_from_base(self.resolution)
        object.__setattr__(self, "channels", _check_channels(channels, self.resolution, "GeneratorConfig"))
        for name in ("z_dim", "w_dim", "mapping_layers", "img_channels"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"GeneratorConfig.{name} must be >= 1; got {getattr(self, name)}")

    @property
    def num_ws(self) -> int:
        """Number of W vectors in W+: 2*log2(resolution) - 2 (18 at 1024)."""
        return 2 * int(math.log2(self.resolution)) - 2


@dataclass(frozen=True)
class DiscriminatorConfig(_ChannelTableConfig):
    """A residual StyleGAN2 discriminator with minibatch standard deviation."""

    resolution: int
    channels: tuple[int, ...] = ()
    img_channels: int = 3
    mbstd_group: int = 4
    mbstd_channels: int = 1
    conv_clamp: float | None = None

    def __post_init__(self):
        check_resolution(self.resolution)
        channels = self.channels or channels_from_base(self.resolution)
        object.__setattr__(self, "channels", _check_channels(channels, self.resolution, "DiscriminatorConfig"))
