"""``FrozenConfig``: the base of every frozen config dataclass in latentedit and its plugins (the trainer's,
the recipes', the encoders', the mappers').

A subclass is a ``@dataclass(frozen=True)`` with a default and a doc for each field
(``field(default=..., metadata={"doc": ...})``). It gets ``to_dict`` (JSON-ready), ``from_dict`` (unknown keys are
errors that name them and list the valid fields; values coerced to the annotated types: lists -> tuples, nested
configs from mappings), ``replace`` and ``with_overrides(["a=1", "inner.b=[1,2]"])`` — the ``--set`` syntax of
every command (values read as JSON; dotted keys reach into nested configs and dict fields; type-checked; NaN and
infinities refused; errors name the flag). ``error`` is the exception class a subclass raises (a ``ValueError``).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

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
        if issubclass(tp, FrozenConfig):
            return tp.from_dict(value, source=where)
        return config_from_dict(tp, value, source=where)
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


def config_from_dict(cls: type, data: Mapping[str, Any], *, source: str):
    """Build any frozen dataclass ``cls`` from a JSON-ish mapping (``FrozenConfig.from_dict`` for plain dataclasses):
    unknown keys are errors that list the valid fields; values are coerced to the annotated types (lists -> tuples,
    nested dataclasses from mappings, dict fields copied)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping of {cls.__name__} fields; got {type(data).__name__} "
                          f"{data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = [k for k in data if k not in names]
    if unknown:
        parts = []
        for k in unknown:
            close = difflib.get_close_matches(str(k), names, n=1)
            parts.append(repr(k) + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(f"{source}: unknown {cls.__name__} field(s) {', '.join(parts)}; valid fields: "
                          f"{', '.join(names) or '(none)'}")
    kwargs = {}
    for k, v in data.items():
        tp = hints.get(k)
        if isinstance(tp, type) and dataclasses.is_dataclass(tp) and isinstance(v, tp):
            kwargs[k] = v
        elif typing.get_origin(tp) is dict:
            if not isinstance(v, Mapping):
                raise ConfigError(f"{source}: {cls.__name__}.{k}: expected a mapping; got {type(v).__name__} {v!r}")
            kwargs[k] = dict(v)
        else:
            kwargs[k] = _coerce(v, tp, where=f"{source}: {cls.__name__}.{k}")
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a field without default is missing
        raise ConfigError(f"{source}: cannot build {cls.__name__}: {exc}") from None


def _check_finite(value: Any, *, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: expected a finite number; got {value}")
    if isinstance(value, (list, tuple)):
        for v in value:
            _check_finite(v, where=where)
    if isinstance(value, Mapping):
        for v in value.values():
            _check_finite(v, where=where)


@dataclasses.dataclass(frozen=True)
class FieldInfo:
    """One config field as shown to users: name, type, default and doc."""

    name: str
    type: str
    default: Any
    doc: str


@dataclasses.dataclass(frozen=True)
class FrozenConfig:
    """Base class of frozen configs (see the module doc)."""

    error: ClassVar[type[ValueError]] = ConfigError

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
        try:
            return config_from_dict(cls, data, source=source)
        except ConfigError as exc:
            if cls.error is ConfigError or isinstance(exc, cls.error):
                raise
            raise cls.error(str(exc)) from None

    def replace(self, **changes):
        """A copy with some fields changed; unknown names are errors that list the valid ones."""
        return type(self).from_dict({**self.to_dict(), **changes}, source="replace()")

    def with_overrides(self, pairs: Iterable[str], *, source: str = "--set"):
        """A copy with ``key=value`` strings applied (``--set hidden=32 --set layers=[0,1] --set inner.depth=3``).

        Values are read as JSON when they parse (numbers, true/false, null, lists), else kept as strings; dotted
        keys reach into nested configs and dict fields. Unknown keys are errors that list the valid ones; NaN and
        infinities are refused; errors name ``source`` (the flag)."""
        merged = self.to_dict()
        for key, value in parse_set_pairs(pairs, source=source, example="steps=100").items():
            _check_finite(value, where=f"{source} {key}")
            node = merged
            *parents, leaf = key.split(".")
            for p in parents:
                if not isinstance(node.get(p), dict):
                    raise self.error(f"{source} {key!r}: {p!r} is not a nested config of {type(self).__name__}")
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


