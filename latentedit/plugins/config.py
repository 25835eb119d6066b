"""Frozen config dataclasses for plugins: ``MapperConfig`` (the base every mapper config extends) and
``GeneratorInfo`` (what a mapper is told about the generator it edits).

A config is the constructor: a mapper is fully described by ``(config, generator_info)``; both are written
into every saved mapper file and read back on load. Field docs live in ``dataclasses.field(metadata={"doc": ...})``
and are shown by ``latentedit plugins show NAME``. ``MapperConfig`` is a ``latentedit.config.FrozenConfig``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from latentedit.config import (ConfigError, FieldInfo, FrozenConfig, _coerce, _field_type_name,  # noqa: F401
                               config_from_dict, parse_set_pairs)


@dataclasses.dataclass(frozen=True)
class MapperConfig(FrozenConfig):
    """Base class of every mapper config. Subclass it as ``@dataclass(frozen=True) class MyConfig(MapperConfig)``.

    Give every field a default (so ``MyConfig()`` is a working config) and a doc::

        hidden: int = field(default=256, metadata={"doc": "width of the MLP"})
    """


@dataclasses.dataclass(frozen=True)
class GeneratorInfo:
    """What a mapper knows about the generator it edits.

    ``num_ws``: W+ layers (``2*log2(resolution) - 2``, 18 at 1024); ``w_dim``: width of one W code (512 for FFHQ);
    ``attribute_names``: the editable attributes, in the order of the columns of ``target (B, n_attr)``;
    ``resolution``: output image side in pixels.
    """

    num_ws: int
    w_dim: int
    attribute_names: tuple[str, ...] = ()
    resolution: int = 1024

    def __post_init__(self):
        for name in ("num_ws", "w_dim", "resolution"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"GeneratorInfo.{name} must be a positive int; got {value!r}")
        log2 = math.log2(self.resolution)
        if log2 != int(log2) or self.resolution < 4:
            raise ConfigError(f"GeneratorInfo.resolution must be a power of two >= 4; got {self.resolution}")
        expected = 2 * int(log2) - 2
        if self.num_ws != expected:
            raise ConfigError(f"GeneratorInfo: num_ws must be 2*log2(resolution)-2 = {expected} at resolution "
                              f"{self.resolution}; got num_ws={self.num_ws}")
        names = tuple(self.attribute_names)
        if any(not isinstance(n, str) or not n for n in names) or len(set(names)) != len(names):
            raise ConfigError(f"GeneratorInfo.attribute_names must be distinct non-empty strings; got {names!r}")
        object.__setattr__(self, "attribute_names", names)

    @property
    def n_attr(self) -> int:
        """Number of editable attributes (columns of ``target``)."""
        return len(self.attribute_names)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GeneratorInfo:
        valid = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - valid)
        if unknown:
            raise ConfigError(f"GeneratorInfo: unknown field(s) {unknown}; valid fields: {sorted(valid)}")
        data = dict(data)
        if "attribute_names" in data:
            data["attribute_names"] = tuple(data["attribute_names"])
        return cls(**data)

    @classmethod
    def from_generator(cls, generator: Any, attribute_names=()) -> GeneratorInfo:
        """Read ``num_ws``, ``w_dim`` and the resolution (``img_resolution``/``resolution``/``size``) off a
        generator."""
        res = next((getattr(generator, a) for a in ("img_resolution", "resolution", "size")
                    if hasattr(generator, a)), None)
        missing = [a for a in ("num_ws", "w_dim") if not hasattr(generator, a)]
        if missing or res is None:
            raise ConfigError(f"GeneratorInfo.from_generator: {type(generator).__name__} lacks "
                              f"{missing + ([] if res is not None else ['img_resolution'])}; build a GeneratorInfo "
                              "by hand instead")
        return cls(int(generator.num_ws), int(generator.w_dim), tuple(attribute_names), int(res))
