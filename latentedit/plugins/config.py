"""Frozen config dataclasses for plugins: ``MapperConfig`` (the base every mapper config extends) and
``GeneratorInfo`` (what a mapper is told about the generator it edits).

A config is the constructor: a mapper is fully described by ``(config, generator_info)``; both are written
into every saved mapper file and read back on load. Field docs live in ``dataclasses.field(metadata={"doc": ...})``
and are shown by ``latentedit plugins show NAME``.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from latentedit.io.errors import LatenteditInputError


class ConfigError(LatenteditInputError):
    """A config dict does not fit its dataclass (unknown key, missing key, wrong type)."""


def _field_type_name(tp: Any) -> str:
    if isinstance(tp, str):
        return tp
    if typing.get_origin(tp) is not None:
        return str(tp).replace("typing.", "")
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, *, where: str) -> Any:
    """Coerce JSON-ish ``value`` (lists, ints) to the annotated type ``tp`` where it is unambiguous."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):  # Optional[X] / X | None / X | Y: first member that fits
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, where=where)
            except ConfigError as exc:
                errors.append(str(exc).split(": ", 1)[-1])
        raise ConfigError(f"{where}: {value!r} fits none of {_field_type_name(tp)} ({'; '.join(errors)})")
    if isinstance(tp, type) and dataclasses.is_dataclass(tp) and isinstance(value, Mapping):  # nested config
        if issubclass(tp, MapperConfig):
            return tp.from_dict(value, source=where)
        return tp(**value)
    if origin is tuple and not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where}: expected a list/tuple; got {type(value).__name__} {value!r}")
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], where=where) for v in value)
        if args and len(args) != len(value):
            raise ConfigError(f"{where}: expected a tuple of {len(args)} items; got {len(value)}: {value!r}")
        return tuple(_coerce(v, a, where=where) for v, a in zip(value, args, strict=True)) if args else tuple(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a float; got {type(value).__name__} {value!r}")
        return float(value)
    if tp is int and (not isinstance(value, int) or isinstance(value, bool)):
        raise ConfigError(f"{where}: expected an int; got {type(value).__name__} {value!r}")
    if tp is bool and not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true/false; got {type(value).__name__} {value!r}")
    if tp is str and not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string; got {type(value).__name__} {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class FieldInfo:
    """One config field as shown to users: name, type, default and doc."""

    name: str
    type: str
    default: Any
    doc: str


@dataclasses.dataclass(frozen=True)
class MapperConfig:
    """Base class of every mapper config. Subclass it as ``@dataclass(frozen=True) class MyConfig(MapperConfig)``.

    Give every field a default (so ``MyConfig()`` is a working config) and a doc::

        hidden: int = field(default=256, metadata={"doc": "width of the MLP"})
    """

    @classmethod
    def fields_info(cls) -> list[FieldInfo]:
        """Every field with its type, default (``<required>`` if none) and doc, in declaration order."""
        hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                default = f.default_factory()  # type: ignore[misc]
            else:
                default = "<required>"
            out.append(FieldInfo(f.name, _field_type_name(hints.get(f.name, f.type)), default,
                                 str(f.metadata.get("doc", ""))))
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples stay tuples; ``json`` writes them as lists)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "config"):
        """Build from a dict, e.g. read from JSON/YAML. Unknown keys are errors that list the valid ones."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a mapping of {cls.__name__} fields; got {type(data).__name__}")
        hints = typing.get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = [k for k in data if k not in names]
        if unknown:
            hints_txt = []
            for k in unknown:
                close = difflib.get_close_matches(k, names, n=1)
                hints_txt.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise ConfigError(f"{source}: unknown {cls.__name__} field(s) {', '.join(hints_txt)}; "
                              f"valid fields: {', '.join(names) or '(none)'}")
        kwargs = {k: _coerce(v, hints.get(k), where=f"{source}: {cls.__name__}.{k}") for k, v in data.items()}
        try:
            return cls(**kwargs)
        except TypeError as exc:  # a field without default is missing
            raise ConfigError(f"{source}: cannot build {cls.__name__}: {exc}") from None

    def replace(self, **changes):
        """A copy with some fields changed; unknown names are errors that list the valid ones."""
        merged = {**self.to_dict(), **changes}
        return type(self).from_dict(merged, source="replace()")

    def with_overrides(self, pairs: Iterable[str], *, source: str = "--set"):
        """A copy with ``key=value`` strings applied (``--set hidden=32 --set layers=[0,1] --set inner.depth=3``).

        Values are read as JSON when they parse (numbers, true/false, null, lists), else kept as strings; dotted
        keys reach into nested configs. Unknown keys are errors that list the valid ones.
        """
        merged = self.to_dict()
        for key, value in parse_set_pairs(pairs, source=source, example="hidden=32").items():
            node = merged
            *parents, leaf = key.split(".")
            for p in parents:
                if not isinstance(node.get(p), dict):
                    raise ConfigError(f"{source}: {key!r}: {p!r} is not a nested config of {type(self).__name__}")
                node = node[p]
            node[leaf] = value
        return type(self).from_dict(merged, source=source)


def parse_set_pairs(pairs: Iterable[str], *, source: str = "--set", example: str = "lr=0.002") -> dict[str, Any]:
    """``['a=1', 'b=[1,2]', 'c=x']`` -> ``{'a': 1, 'b': [1, 2], 'c': 'x'}``: the ``--set`` syntax of every config.

    Values are read as JSON when they parse (numbers, true/false, null, lists), else kept as strings; a key given
    twice keeps its last value. Keys are returned as written (dotted keys are the caller's to resolve)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = str(pair).partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{source}: expected key=value (e.g. {example}); got {pair!r}")
        try:
            out[key.strip()] = json.loads(raw)
        except ValueError:
            out[key.strip()] = raw
    return out


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
