"""``E4EConfig``: the frozen architecture of an e4e encoder, stored in every encoder file.

Official e4e (FFHQ, 1024 px generator): IR-SE50 backbone (units per stage (3, 4, 14, 3), widths
(64, 128, 256, 512)), input 256x256, 18 style heads of width 512, coarse heads 0-2 on the 16x16 map, middle heads
3-6 on the 32x32 map, fine heads 7.. on the 64x64 map, ``latent_avg`` added (``--start_from_latent_avg``).
``E4EConfig.official()`` builds exactly that; ``E4EConfig.small(...)`` a narrow one for small generators.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from latentedit.config import ConfigError, FrozenConfig

#: IR-SE depth -> units per stage (TreB1eN / pSp / e4e ``get_blocks``).
IRSE_UNITS = {50: (3, 4, 14, 3), 100: (3, 13, 30, 3), 152: (3, 8, 36, 3)}


class E4EConfigError(ConfigError):
    """An E4EConfig field is out of range or does not fit the generator."""


def num_ws_for(resolution: int) -> int:
    """W+ layers of a StyleGAN2 generator at ``resolution``: 2*log2(resolution) - 2 (18 at 1024)."""
    return 2 * int(math.log2(resolution)) - 2


@dataclass(frozen=True)
class E4EConfig(FrozenConfig):
    """Everything needed to rebuild an e4e encoder network."""

    error: ClassVar[type[ValueError]] = E4EConfigError

    num_ws: int = field(default=18, metadata={"doc": "W+ layers of the generator (18 at 1024 px)"})
    w_dim: int = field(default=512, metadata={"doc": "width of one W code"})
    input_resolution: int = field(default=256, metadata={"doc": "images are resized to this before encoding"})
    stage_units: tuple[int, ...] = field(default=IRSE_UNITS[50], metadata={"doc": "IR-SE units per stage (4)"})
    stage_widths: tuple[int, ...] = field(default=(64, 128, 256, 512), metadata={"doc": "IR-SE widths (4 stages)"})
    stem_width: int = field(default=64, metadata={"doc": "channels of the 3x3 stem conv"})
    se_reduction: int = field(default=16, metadata={"doc": "squeeze-excitation reduction"})
    coarse_end: int = field(default=3, metadata={"doc": "heads [0, coarse_end) read the deepest map"})
    middle_end: int = field(default=7, metadata={"doc": "heads [coarse_end, middle_end) read the middle map"})
    start_from_latent_avg: bool = field(default=True, metadata={"doc": "add the generator's w_avg to the codes"})
    generator_resolution: int = field(default=1024, metadata={"doc": "output size of the generator it serves"})

    def __post_init__(self):
        object.__setattr__(self, "stage_units", tuple(int(u) for u in self.stage_units))
        object.__setattr__(self, "stage_widths", tuple(int(c) for c in self.stage_widths))
        if len(self.stage_units) != 4 or len(self.stage_widths) != 4:
            raise E4EConfigError(f"stage_units and stage_widths need 4 entries (the 4 IR-SE stages); got "
                                 f"{self.stage_units} and {self.stage_widths}")
        if any(u < 1 for u in self.stage_units) or any(c < 1 for c in self.stage_widths):
            raise E4EConfigError(f"stage_units/stage_widths must be positive; got {self.stage_units}, "
                                 f"{self.stage_widths}")
        r = self.input_resolution
        if not isinstance(r, int) or r < 32 or r & (r - 1):
            raise E4EConfigError(f"input_resolution must be a power of two >= 32 (the backbone halves it 4 times "
                                 f"and the coarse heads need a map of at least 2x2); got {r!r}")
        if self.num_ws < 1 or self.w_dim < 1:
            raise E4EConfigError(f"num_ws and w_dim must be positive; got {self.num_ws}, {self.w_dim}")
        if self.num_ws != num_ws_for(self.generator_resolution):
            raise E4EConfigError(f"num_ws must be 2*log2(generator_resolution)-2 = "
                                 f"{num_ws_for(self.generator_resolution)} for a {self.generator_resolution}-px "
                                 f"generator; got num_ws={self.num_ws}")
        # heads past the last layer do not exist: clamp so equal architectures compare equal
        object.__setattr__(self, "coarse_end", min(int(self.coarse_end), self.num_ws))
        object.__setattr__(self, "middle_end", min(int(self.middle_end), self.num_ws))
        if not 1 <= self.coarse_end <= self.middle_end:
            raise E4EConfigError(f"need 1 <= coarse_end <= middle_end; got {self.coarse_end}, {self.middle_end}")
        if any(c // self.se_reduction < 1 for c in self.stage_widths):
            raise E4EConfigError(f"every stage width must be >= se_reduction ({self.se_reduction}); got "
                                 f"{self.stage_widths}")

    # ---- derived -----------------------------------------------------------------------------------------
    @property
    def fpn_width(self) -> int:
        """Channels of the feature pyramid (the deepest stage's width; 512 officially)."""
        return self.stage_widths[-1]

    @property
    def tap_indices(self) -> tuple[int, int, int]:
        """Body unit indices whose outputs feed the pyramid (c1, c2, c3): (6, 20, 23) for IR-SE50."""
        ends = [sum(self.stage_units[: i + 1]) - 1 for i in range(4)]
        return ends[1], ends[2], ends[3]

    def head_spatial(self, i: int) -> int:
        """Side of the feature map style head ``i`` reads (16/32/64 officially)."""
        deepest = self.input_resolution // 16
        if i < self.coarse_end:
            return deepest
        return deepest * 2 if i < self.middle_end else deepest * 4

    # ---- presets and (de)serialisation -------------------------------------------------------------------
    @classmethod
    def official(cls, generator_resolution: int = 1024, depth: int = 50) -> E4EConfig:
        """The published e4e architecture for a StyleGAN2 of ``generator_resolution`` (w_dim 512)."""
        if depth not in IRSE_UNITS:
            raise E4EConfigError(f"IR-SE depth must be one of {sorted(IRSE_UNITS)}; got {depth}")
        return cls(num_ws=num_ws_for(generator_resolution), w_dim=512, input_resolution=256,
                   stage_units=IRSE_UNITS[depth], generator_resolution=generator_resolution)

    @classmethod
    def small(cls, generator_resolution: int, w_dim: int, *, input_resolution: int | None = None,
              stage_units: tuple[int, ...] = (1, 1, 2, 1), stage_widths: tuple[int, ...] | None = None,
              **kw: Any) -> E4EConfig:
        """A narrow encoder for small generators (e.g. the 64-px toy faces: input 64, widths up to w_dim)."""
        widths = stage_widths or (max(w_dim // 8, 16), max(w_dim // 4, 16), max(w_dim // 2, 16), w_dim)
        return cls(num_ws=num_ws_for(generator_resolution), w_dim=w_dim,
                   input_resolution=input_resolution or max(generator_resolution, 32), stage_units=stage_units,
                   stage_widths=widths, stem_width=widths[0], generator_resolution=generator_resolution, **kw)
