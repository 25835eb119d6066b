"""Domain files a user writes: JSON or YAML, paths relative to the file.

Example (``ffhq.domain.yaml``)::

    name: ffhq
    fingerprints: [0123456789abcdef]
    generator: {path: stylegan2-ffhq-config-f.pkl, url: https://..., size: 382000000, sha256: ...}
    encoder: e4e_ffhq_encode.pt
    classifier: ffhq_attributes.safetensors
    attribute_names: [smile, eyeglasses]
    mappers: {directions: interfacegan.safetensors}
    readers: [{role: classifier, kind: my-classifier, target: "mypkg.models:load_classifier"}]

A file entry is a path string or a mapping with ``path``/``url``/``size``/``sha256``/``name``; ``extras`` lists
further files by label. ``latentedit domains fetch`` downloads the files with a URL into the cache
(``latentedit.domains.fetch``); a file resolves from its ``path`` when that exists, else from the cache.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

from latentedit.domains.domain import ROLES, Domain, DomainError, DomainFile, Reader
from latentedit.io.modelfile import atomic_write

SUFFIXES = (".json", ".yaml", ".yml")
_FILE_KEYS = {"path", "url", "size", "sha256", "name"}


def _file_entry(value, where: str, base: Path) -> DomainFile:
    if isinstance(value, str):
        value = {"path": value}
    if not isinstance(value, dict):
        raise DomainError(f"{where}: expected a path or a mapping with {sorted(_FILE_KEYS)}; got {value!r}")
    unknown = sorted(set(value) - _FILE_KEYS)
    if unknown:
        raise DomainError(f"{where}: unknown keys {unknown}; expected some of {sorted(_FILE_KEYS)}")
    path = value.get("path")
    if path is not None:
        path = str((base / Path(path).expanduser()).resolve()) if not Path(path).is_absolute() else str(path)
    size = value.get("size")
    return DomainFile(path=path, url=value.get("url"), size=int(size) if size is not None else None,
                      sha256=value.get("sha256"), name=value.get("name"))


def domain_from_dict(data: dict, base: str | Path = ".", source: str = "") -> Domain:
    """A ``Domain`` from the mapping a domain file holds; relative paths are taken relative to ``base``."""
    if not isinstance(data, dict):
        raise DomainError(f"{source or 'domain'}: expected a mapping at the top; got {type(data).__name__}")
    known = {f.name for f in fields(Domain)} - {"source"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise DomainError(f"{source or 'domain'}: unknown keys {unknown}; a domain file understands {sorted(known)}")
    base = Path(base)
    d = dict(data)
    for role in ROLES:
        if d.get(role) is not None:
            d[role] = _file_entry(d[role], f"{source}: {role}", base)
    for group in ("mappers", "extras"):
        d[group] = {str(k): _file_entry(v, f"{source}: {group}.{k}", base) for k, v in (d.get(group) or {}).items()}
    try:
        d["readers"] = tuple(Reader(**r) for r in d.get("readers") or ())
    except TypeError as exc:
        raise DomainError(f"{source}: readers: each needs role, kind and target ({exc})") from None
    return Domain(**d, source=source)


def _file_dict(f: DomainFile, base: Path) -> dict | str:
    out = {}
    if f.path is not None:
        p = Path(f.path)
        try:
            out["path"] = p.relative_to(base).as_posix()
        except ValueError:
            out["path"] = str(p)
    out.update({k: getattr(f, k) for k in ("url", "size", "sha256", "name") if getattr(f, k) is not None})
    return out["path"] if list(out) == ["path"] else out


def domain_to_dict(domain: Domain, base: str | Path = ".") -> dict:
    """The mapping a domain file holds for ``domain``, paths relative to ``base`` where they lie under it."""
    base = Path(base).resolve()
    out: dict = {"name": domain.name}
    if domain.description:
        out["description"] = domain.description
    if domain.fingerprints:
        out["fingerprints"] = list(domain.fingerprints)
    for role in ROLES:
        if domain.file(role) is not None:
            out[role] = _file_dict(domain.file(role), base)
    if domain.attribute_names:
        out["attribute_names"] = list(domain.attribute_names)
    for group in ("mappers", "extras"):
        if getattr(domain, group):
            out[group] = {k: _file_dict(v, base) for k, v in getattr(domain, group).items()}
    if domain.oracle:
        out["oracle"] = domain.oracle
    if domain.readers:
        out["readers"] = [{"role": r.role, "kind": r.kind, "target": r.target} for r in domain.readers]
    return out


def read_domain_file(path: str | Path) -> Domain:
    """Read a JSON or YAML domain file (DomainError naming the file when it is unreadable)."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise DomainError(f"{path}: a domain file ends in {', '.join(SUFFIXES)}")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DomainError(f"{path}: cannot read the domain file ({exc.strerror or exc})") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise DomainError(f"{path}: not valid JSON ({exc})") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise DomainError(f"{path}: not valid YAML ({exc})") from None
    return domain_from_dict(data, base=path.resolve().parent, source=str(path))


def write_domain_file(domain: Domain, path: str | Path) -> Path:
    """Write ``domain`` to ``path`` (JSON or YAML by suffix) atomically, paths relative to the file's folder."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise DomainError(f"{path}: a domain file ends in {', '.join(SUFFIXES)}")
    data = domain_to_dict(domain, base=path.resolve().parent)
    if path.suffix.lower() == ".json":
        text = json.dumps(data, indent=2) + "\n"
    else:
        import yaml

        text = yaml.safe_dump(data, sort_keys=False)
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
