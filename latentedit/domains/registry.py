"""Finding domains: installed ones (the ``latentedit.domains`` entry point group, listed without importing, loaded
when asked for), the named public domains shipped as data files (``builtin/NAME.json``, e.g. ``ffhq``) and domain
files; a generator's domain by its fingerprint.

An entry point names a ``Domain`` or a callable returning one. The plugin visibility switches of
``latentedit.plugins`` apply (``LATENTEDIT_DISABLE_PLUGIN_AUTOLOAD=1``, ``LATENTEDIT_PLUGINS=...``).
"""

from __future__ import annotations

import importlib.metadata as metadata
import threading
from pathlib import Path

from latentedit.domains.domain import Domain, DomainError
from latentedit.domains.files import SUFFIXES, read_domain_file

GROUP = "latentedit.domains"
_lock = threading.RLock()
_registered: dict[str, Domain] = {}
_loaded: dict[str, Domain | DomainError] = {}


def _visible_entry_points() -> list:
    from latentedit.plugins.registry import allow_list

    allow = allow_list()
    eps = []
    for ep in metadata.entry_points(group=GROUP):
        dist = getattr(getattr(ep, "dist", None), "name", None)
        if allow is None or ep.name in allow or (dist and dist in allow):
            eps.append(ep)
    return sorted(eps, key=lambda ep: ep.name)


BUILTIN_DIR = Path(__file__).with_name("builtin")


def _builtin_files() -> dict[str, Path]:
    """Named public domains shipped with the core as domain files (``latentedit/domains/builtin/NAME.json``)."""
    return {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.json"))} if BUILTIN_DIR.is_dir() else {}


def domain_names() -> list[str]:
    """Names of the visible domains (registered in-process, installed and built-in), without importing any."""
    return sorted(set(_registered) | {ep.name for ep in _visible_entry_points()} | set(_builtin_files()))


def register_domain(domain: Domain, *, replace: bool = False) -> Domain:
    """Make ``domain`` visible in this process (it shadows an installed domain of the same name)."""
    with _lock:
        if domain.name in _registered and not replace:
            raise DomainError(f"a domain named {domain.name!r} is already registered; pass replace=True")
        _registered[domain.name] = domain
    return domain


def unregister_domain(name: str) -> None:
    """Forget a domain ``register_domain`` made visible in this process (no error when there is none)."""
    with _lock:
        _registered.pop(name, None)


def _load_entry_point(ep) -> Domain:
    key = f"{ep.name}={ep.value}"
    with _lock:
        if key in _loaded:
            hit = _loaded[key]
            if isinstance(hit, DomainError):
                raise hit
            return hit
    try:
        obj = ep.load()
        domain = obj() if callable(obj) and not isinstance(obj, Domain) else obj
        if not isinstance(domain, Domain):
            raise TypeError(f"expected a latentedit.domains.Domain (or a callable returning one); got {domain!r}")
        result: Domain | DomainError = domain
    except (Exception, SystemExit) as exc:  # a broken domain explains itself, never takes the caller down
        result = DomainError(f"cannot load domain '{ep.name}' ({ep.value}): {type(exc).__name__}: {exc}")
    with _lock:
        _loaded[key] = result
    if isinstance(result, DomainError):
        raise result
    return result


def load_domain(name: str) -> Domain:
    """The visible domain called ``name`` (DomainError naming the valid ones and close matches otherwise)."""
    if name in _registered:
        return _registered[name]
    for ep in _visible_entry_points():
        if ep.name == name:
            return _load_entry_point(ep)
    builtin = _builtin_files().get(name)
    if builtin is not None:
        import dataclasses

        return dataclasses.replace(read_domain_file(builtin), source=name)  # a built-in is named by its name
    import difflib

    names = domain_names()
    close = difflib.get_close_matches(name, names, n=3)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise DomainError(f"no domain named {name!r}.{hint} Domains: {', '.join(names) or '(none installed)'}; "
                      f"or pass a domain file ({', '.join(SUFFIXES)})")


def find_domain(spec: str) -> Domain:
    """``spec`` is a domain name or the path of a domain file."""
    if Path(spec).suffix.lower() in SUFFIXES or Path(spec).is_file():
        return read_domain_file(spec)
    return load_domain(spec)


def domains() -> list[Domain]:
    """Every visible domain that loads (a broken one is skipped here; ``load_domain`` says why)."""
    out = []
    for name in domain_names():
        try:
            out.append(load_domain(name))
        except DomainError:
            continue
    return out


def domain_for_fingerprint(fingerprint: str) -> Domain | None:
    """The visible domain that lists ``fingerprint`` among its generators' fingerprints, or None."""
    return next((d for d in domains() if fingerprint in d.fingerprints), None)


def clear_cache() -> None:
    with _lock:
        _loaded.clear()
