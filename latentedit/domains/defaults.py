"""Where every default comes from: the domain of the generator in use (by fingerprint, or named).

These functions raise ``DomainError`` (a ValueError) with a one-line message that names the flag to pass; the CLI
shows it as is. ``LATENTEDIT_DOMAIN`` (a name or a file) stands in for ``--domain`` where a command has none.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from latentedit.domains.domain import Domain, DomainError, DomainFile
from latentedit.domains.registry import domain_for_fingerprint, domains, find_domain

ENV_DOMAIN = "LATENTEDIT_DOMAIN"
WHAT = {"generator": "generator", "encoder": "encoder", "classifier": "attribute classifier",
        "identity": "identity embedder", "estimator": "factor estimator", "mapper": "mapper file"}


def _spec(spec: str | None) -> str | None:
    return spec or os.environ.get(ENV_DOMAIN) or None


def domain_of(G=None, spec: str | None = None, *, fingerprint: str | None = None) -> Domain | None:
    """The domain named by ``spec`` (or ``LATENTEDIT_DOMAIN``), else the one that lists the generator's
    fingerprint, else None."""
    spec = _spec(spec)
    if spec:
        return find_domain(spec)
    if fingerprint is None and G is not None:
        fingerprint = G.fingerprint()
    return domain_for_fingerprint(fingerprint) if fingerprint else None


def _local(f: DomainFile | None) -> bool:
    return f is not None and f.path is not None and Path(f.path).is_file()


def default_generator(spec: str | None = None) -> str:
    """The generator file of the named domain, else of the only visible domain that ships one."""
    spec = _spec(spec)
    if spec:
        d = find_domain(spec)
        return _require(d, d.generator, "generator", "--generator")
    shipped = [d for d in domains() if _local(d.generator)]
    if len(shipped) == 1:
        return shipped[0].generator.path
    if not shipped:
        raise DomainError("no --generator given and no installed domain ships a generator: pass --generator FILE "
                          "(.safetensors, rosinality .pt or NVIDIA .pkl) or --domain NAME|FILE")
    raise DomainError(f"no --generator given and several domains ship one ({', '.join(d.name for d in shipped)}): "
                      "pass --generator FILE or --domain NAME")


def _require(d: Domain, f: DomainFile | None, what: str, flag: str) -> str:
    from latentedit.domains.fetch import cached_path, resolve_file

    label = WHAT.get(what, what)
    if f is None:
        raise DomainError(f"domain '{d.name}' has no local {label}: pass {flag} FILE")
    found = resolve_file(d, f)  # the user's path, else the download cache
    if found is not None:
        return found
    where = f.path or str(cached_path(d, f))
    fetch = f" (download {f.url}, or run `latentedit domains fetch {d.source or d.name}`)" if f.url else ""
    raise DomainError(f"domain '{d.name}': its {label} {where} is missing{fetch}; put the file there or pass "
                      f"{flag} FILE")


def domain_file(G, role: str, *, flag: str, spec: str | None = None, mapper: str | None = None) -> str:
    """The path of the ``role`` file ("encoder" | "classifier" | "identity" | "mapper") of ``G``'s domain.

    ``mapper`` names the mapper plugin when ``role == "mapper"``. DomainError naming ``flag`` when there is none.
    """
    d = domain_of(G, spec)
    label = WHAT.get(role, role) + (f" ({mapper})" if mapper else "")
    if d is None:
        fp = G.fingerprint() if G is not None else "?"
        raise DomainError(f"no {label} for generator {fp} (no domain matches its fingerprint): pass {flag} FILE "
                          "or --domain NAME|FILE")
    f = d.mappers.get(mapper) if role == "mapper" else d.file(role)
    return _require(d, f, label, flag)


#: (role, file kind) -> "module:function" for the model files the core writes, read whatever the domain.
CORE_READERS = {("classifier", "attribute-classifier"): "latentedit.classifiers.model:load_classifier_file"}


def load_domain_model(path: str | Path, role: str, domain: Domain | None = None):
    """Read a ``role`` model file ("classifier" | "identity" | "estimator") with the reader a domain declares for
    the file's kind (``domain`` first, then every visible domain). Returns what the reader returns."""
    from latentedit.io.modelfile import read_model_metadata

    path = Path(path)
    if not path.is_file():
        raise DomainError(f"{path}: no such {WHAT.get(role, role)} file")
    kind, _, _ = read_model_metadata(path)
    core = CORE_READERS.get((role, kind))
    if core is not None:  # formats the core itself writes (e.g. `latentedit train classifier` files)
        module, _, attr = core.partition(":")
        return getattr(importlib.import_module(module), attr)(path)
    for d in ([domain] if domain is not None else []) + domains():
        target = d.reader(role, kind)
        if target:
            module, _, attr = target.partition(":")
            return getattr(importlib.import_module(module), attr)(path)
    readers = sorted({f"{r.kind}" for d in domains() for r in d.readers if r.role == role})
    raise DomainError(f"{path}: no installed domain reads '{kind}' files as its {WHAT.get(role, role)} "
                      f"({WHAT.get(role, role)} kinds read here: {', '.join(readers) or 'none'})")
