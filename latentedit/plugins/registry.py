"""Finding and loading plugins: entry points listed without importing them, loaded by name on demand.

Groups: ``latentedit.mappers`` (editing methods, classes subclassing ``Mapper``) and ``latentedit.encoders``
(image -> W+). Built-ins are declared in latentedit's own pyproject exactly like third-party plugins.

Visibility (keeps tests and production hermetic):

- ``register_mapper(name, cls)`` / ``register_encoder(name, obj)``: in-process plugins, always visible, and they
  shadow an installed entry point of the same name (handy in tests and notebooks).
- An allow-list (the ``allow=`` argument, else ``LATENTEDIT_PLUGINS=isf,directions``) keeps only the installed
  entry points whose name (or distribution name) is listed.
- ``LATENTEDIT_DISABLE_PLUGIN_AUTOLOAD=1``: no installed entry point is visible unless allow-listed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import importlib.metadata as metadata
import os
import threading
from collections.abc import Iterable, Iterator
from typing import Any

GROUPS = {"mappers": "latentedit.mappers", "encoders": "latentedit.encoders"}
ENV_DISABLE = "LATENTEDIT_DISABLE_PLUGIN_AUTOLOAD"
ENV_ALLOW = "LATENTEDIT_PLUGINS"


class PluginError(Exception):
    """Base class of plugin discovery/loading errors."""


class UnknownPluginError(PluginError, LookupError):
    """No visible plugin has this name; carries close matches and the valid names."""

    def __init__(self, message: str, *, group: str, name: str, suggestions: list[str], valid: list[str]):
        super().__init__(message)
        self.group, self.name, self.suggestions, self.valid = group, name, suggestions, valid

    def __str__(self) -> str:  # LookupError would repr() the message
        return self.args[0]


class PluginLoadError(PluginError):
    """A plugin was found but importing it (or checking what it provides) failed. ``__cause__`` is the cause."""

    def __init__(self, *, group: str, name: str, distribution: str | None, value: str, cause: BaseException):
        self.group, self.name, self.distribution, self.value, self.cause = group, name, distribution, value, cause
        origin = f"distribution '{distribution}'" if distribution else "an unknown distribution"
        super().__init__(f"cannot load {group} plugin '{name}' ({value}) from {origin}: "
                         f"{type(cause).__name__}: {cause}")

    def __str__(self) -> str:
        return self.args[0]

    def __reduce__(self):
        return (_rebuild_load_error, (self.group, self.name, self.distribution, self.value, self.cause))


def _rebuild_load_error(group, name, distribution, value, cause):
    return PluginLoadError(group=group, name=name, distribution=distribution, value=value, cause=cause)


@dataclasses.dataclass(frozen=True)
class PluginSpec:
    """One visible plugin, known without importing it."""

    name: str
    group: str
    value: str  # "module:attr" for entry points, the object's path for registered ones
    distribution: str | None
    version: str | None
    source: str  # "entry-point" | "registered"
    entry_point: Any = dataclasses.field(default=None, compare=False, repr=False)
    obj: Any = dataclasses.field(default=None, compare=False, repr=False)


_lock = threading.RLock()
_registered: dict[str, dict[str, Any]] = {g: {} for g in GROUPS.values()}
_loaded: dict[tuple, Any] = {}


def _group(group: str) -> str:
    if group in GROUPS:
        return GROUPS[group]
    if group in GROUPS.values():
        return group
    raise ValueError(f"unknown plugin group {group!r}; valid groups: {', '.join(GROUPS)} "
                     f"(or {', '.join(GROUPS.values())})")


def _short(group: str) -> str:
    return group.rsplit(".", 1)[-1]


def autoload_disabled() -> bool:
    """True when ``LATENTEDIT_DISABLE_PLUGIN_AUTOLOAD`` is set to 1/true/yes/on."""
    return os.environ.get(ENV_DISABLE, "").strip().lower() in {"1", "true", "yes", "on"}


def allow_list(allow: Iterable[str] | str | None = None) -> frozenset[str] | None:
    """The effective allow-list: ``allow`` if given, else ``LATENTEDIT_PLUGINS``; None means 'no filter'."""
    if allow is None:
        env = os.environ.get(ENV_ALLOW)
        if env is None or not env.strip():
            return frozenset() if autoload_disabled() else None
        allow = env
    if isinstance(allow, str):
        allow = allow.split(",")
    return frozenset(a.strip() for a in allow if a and a.strip())


def _entry_point_specs(group: str) -> list[PluginSpec]:
    specs = []
    for ep in metadata.entry_points(group=group):
        dist = getattr(ep, "dist", None)
        specs.append(PluginSpec(name=ep.name, group=group, value=ep.value,
                                distribution=getattr(dist, "name", None) if dist else None,
                                version=getattr(dist, "version", None) if dist else None,
                                source="entry-point", entry_point=ep))
    return specs


def _sort_key(spec: PluginSpec) -> tuple[str, str]:
    return spec.name, spec.distribution or ""


def _partition(group: str, allow) -> tuple[list[PluginSpec], list[PluginSpec]]:
    """(visible, hidden) specs of one group; registered plugins shadow entry points of the same name."""
    allowed = allow_list(allow)
    with _lock:
        registered = dict(_registered[group])
    visible = [PluginSpec(name=n, group=group, value=f"{getattr(o, '__module__', '?')}:"
                          f"{getattr(o, '__qualname__', type(o).__name__)}", distribution=None, version=None,
                          source="registered", obj=o) for n, o in registered.items()]
    hidden = []
    for spec in _entry_point_specs(group):
        if spec.name in registered:
            continue
        if allowed is not None and spec.name not in allowed and (spec.distribution or "") not in allowed:
            hidden.append(spec)
        else:
            visible.append(spec)
    return sorted(visible, key=_sort_key), sorted(hidden, key=_sort_key)


def discover(group: str = "mappers", *, allow: Iterable[str] | str | None = None) -> list[PluginSpec]:
    """The visible plugins of ``group`` ("mappers"/"encoders"), sorted by name. Imports nothing."""
    return _partition(_group(group), allow)[0]


def hidden_plugins(group: str = "mappers", *, allow: Iterable[str] | str | None = None) -> list[PluginSpec]:
    """Installed entry points of ``group`` that the allow-list / autoload switch hides. Imports nothing."""
    return _partition(_group(group), allow)[1]


def _find(group: str, name: str, allow) -> PluginSpec:
    visible, hidden = _partition(group, allow)
    matches = [s for s in visible if s.name == name]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        dists = ", ".join(f"'{s.distribution}' ({s.value})" for s in matches)
        raise PluginLoadError(
            group=group, name=name, distribution=" and ".join(str(s.distribution) for s in matches),
            value=" | ".join(s.value for s in matches),
            cause=PluginError(f"the name is provided by several distributions: {dists}; uninstall one of them"))
    valid = sorted({s.name for s in visible})
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.5)
    msg = f"no {_short(group)[:-1]} plugin named {name!r}."
    if close:
        msg += f" Did you mean: {', '.join(close)}?"
    msg += f" Available {_short(group)}: {', '.join(valid) if valid else '(none)'}."
    hidden_names = sorted({s.name for s in hidden})
    if hidden_names:
        why = (f"{ENV_DISABLE}=1" if autoload_disabled() and not os.environ.get(ENV_ALLOW) else "the allow-list")
        msg += (f" Installed but hidden by {why}: {', '.join(hidden_names)} "
                f"(add the name to {ENV_ALLOW} or the allow= argument).")
    raise UnknownPluginError(msg, group=group, name=name, suggestions=close, valid=valid)


def _check_loaded(group: str, obj: Any) -> None:
    if group == GROUPS["mappers"]:
        from latentedit.plugins.contract import Mapper

        if not (isinstance(obj, type) and issubclass(obj, Mapper)):
            raise TypeError(f"a mapper entry point must name a subclass of latentedit.plugins.Mapper; "
                            f"it names {obj!r}")
    elif not callable(obj):
        raise TypeError(f"an encoder entry point must name a class or factory; it names {obj!r}")


def load_spec(spec: PluginSpec) -> Any:
    """Import (once, then cached) and check what ``spec`` provides; failures become ``PluginLoadError``."""
    if spec.source == "registered":
        return spec.obj
    key = (spec.group, spec.name, spec.value, spec.distribution)
    with _lock:
        if key in _loaded:
            return _loaded[key]
    try:
        obj = spec.entry_point.load()
        _check_loaded(spec.group, obj)
    except (Exception, SystemExit) as exc:  # a plugin calling sys.exit() at import must not end the caller
        raise PluginLoadError(group=spec.group, name=spec.name, distribution=spec.distribution,
                              value=spec.value, cause=exc) from exc
    if spec.group == GROUPS["mappers"] and "plugin_name" not in vars(obj):
        obj.plugin_name = spec.name
    with _lock:
        _loaded[key] = obj
    return obj


def load_plugin(group: str, name: str, *, allow: Iterable[str] | str | None = None) -> Any:
    """Find ``name`` in ``group`` and load it. Raises UnknownPluginError or PluginLoadError."""
    return load_spec(_find(_group(group), name, allow))


def load_mapper(name: str, *, allow: Iterable[str] | str | None = None):
    """The ``Mapper`` subclass registered as ``name`` in ``latentedit.mappers``."""
    return load_plugin("mappers", name, allow=allow)


def load_encoder(name: str, *, allow: Iterable[str] | str | None = None):
    """The class/factory registered as ``name`` in ``latentedit.encoders``."""
    return load_plugin("encoders", name, allow=allow)


def build_mapper(name: str, generator_info, config=None, *, allow: Iterable[str] | str | None = None):
    """Load mapper ``name`` and build it from ``config`` (its config dataclass, a dict of fields, or None)."""
    cls = load_mapper(name, allow=allow)
    if isinstance(config, dict):
        config = cls.config_class.from_dict(config, source=f"config of mapper '{name}'")
    return cls(config, generator_info)


def load_mapper_file(path, *, generator_info=None, allow: Iterable[str] | str | None = None,
                     map_location="cpu"):
    """Rebuild any saved mapper: its plugin is found by the name (or class path) stored in the file."""
    from latentedit.io.modelfile import ModelFileError, read_model_file

    _, _, _, extra = read_model_file(path, expect_kind="mapper")
    name, class_path = extra.get("mapper_name"), extra.get("mapper_class")
    specs = discover("mappers", allow=allow)
    spec = next((s for s in specs if s.name == name), None) or next(
        (s for s in specs if class_path and s.value == class_path), None)
    if spec is None:
        raise ModelFileError(f"{path}: holds a '{name}' mapper ({class_path}) but no visible mapper plugin provides "
                             f"it; visible: {', '.join(s.name for s in specs) or '(none)'}. Install its package or "
                             f"register it with latentedit.plugins.register_mapper")
    return load_spec(spec).load(path, generator_info=generator_info, map_location=map_location)


def register(group: str, name: str, obj: Any, *, replace: bool = False) -> Any:
    """Register ``obj`` in-process under ``name`` (visible regardless of the allow-list)."""
    group = _group(group)
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"plugin name must be a non-empty string; got {name!r}")
    _check_loaded(group, obj)
    with _lock:
        if name in _registered[group] and not replace and _registered[group][name] is not obj:
            raise ValueError(f"a {_short(group)[:-1]} named {name!r} is already registered "
                             f"({_registered[group][name]!r}); pass replace=True to override it")
        _registered[group][name] = obj
    if group == GROUPS["mappers"] and "plugin_name" not in vars(obj):
        obj.plugin_name = name
    return obj


def register_mapper(name: str, cls: Any = None, *, replace: bool = False):
    """Register a Mapper subclass in-process. Also usable as a decorator: ``@register_mapper("mine")``."""
    if cls is None:
        def decorate(c):
            return register("mappers", name, c, replace=replace)

        return decorate
    return register("mappers", name, cls, replace=replace)


def register_encoder(name: str, obj: Any, *, replace: bool = False):
    """Register an encoder class/factory in-process."""
    return register("encoders", name, obj, replace=replace)


def unregister(group: str, name: str) -> None:
    """Remove an in-process registration (no error if absent)."""
    with _lock:
        _registered[_group(group)].pop(name, None)


@contextlib.contextmanager
def registered_mapper(name: str, cls: Any) -> Iterator[Any]:
    """Context manager: ``cls`` is registered as ``name`` inside the block only."""
    with _lock:
        previous = _registered[GROUPS["mappers"]].get(name)
    register("mappers", name, cls, replace=True)
    try:
        yield cls
    finally:
        with _lock:
            if previous is None:
                _registered[GROUPS["mappers"]].pop(name, None)
            else:
                _registered[GROUPS["mappers"]][name] = previous


def clear_cache() -> None:
    """Forget loaded entry points (tests)."""
    with _lock:
        _loaded.clear()
