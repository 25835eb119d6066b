"""What a domain is: the files that belong to one generator, and the readers of its model files.

A *domain* names the generator, its encoder, its attribute classifier (with attribute names), its identity
embedder, its shipped mappers, optionally a ground-truth oracle, and the functions that read its classifier/embedder
files (``readers``). Every default a command uses comes from the domain of the generator in use, found by the
generator's fingerprint (``Generator.fingerprint()``) or named with ``--domain NAME|FILE``; a generator with no
domain gets no defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

ROLES: tuple[str, ...] = ("generator", "encoder", "classifier", "identity")
READER_ROLES: tuple[str, ...] = ("classifier", "identity", "estimator")  # estimator: evaluation/intensity only


class DomainError(ValueError):
    """A domain, a domain file or a file a command needs from a domain is not what was expected."""


@dataclass(frozen=True)
class DomainFile:
    """One file of a domain: a local ``path`` (absolute once resolved) and, where published, where to fetch it
    (``url``, with ``size`` in bytes and hex ``sha256`` only where the publisher gives them). ``name`` is the file's
    name in the download cache (default: the last part of ``path``, else of the URL)."""

    path: str | None = None
    url: str | None = None
    size: int | None = None
    sha256: str | None = None
    name: str | None = None

    def __post_init__(self):
        if self.path is None and self.url is None:
            raise DomainError("a domain file needs a path or a url; got neither")
        if self.sha256 is not None and (len(self.sha256) != 64 or any(c not in "0123456789abcdef"
                                                                      for c in self.sha256.lower())):
            raise DomainError(f"sha256 {self.sha256!r}: expected 64 hex digits (leave it out when unpublished)")

    @property
    def file_name(self) -> str:
        """The file's name in the download cache."""
        from pathlib import PurePosixPath
        from urllib.parse import urlparse

        if self.name:
            return self.name
        if self.path:
            return PurePosixPath(self.path.replace("\\", "/")).name
        return PurePosixPath(urlparse(self.url).path).name or "download"


@dataclass(frozen=True)
class Reader:
    """``target`` ("module:function", called with a path) reads the model files of ``kind`` for ``role``."""

    role: str
    kind: str
    target: str

    def __post_init__(self):
        if self.role not in READER_ROLES:
            raise DomainError(f"reader role {self.role!r}: expected one of {', '.join(READER_ROLES)}")
        if ":" not in self.target:
            raise DomainError(f"reader target {self.target!r}: expected 'module:function'")


@dataclass(frozen=True)
class Domain:
    """A frozen description of a domain. ``mappers`` maps a mapper plugin name to its shipped file; ``oracle``
    ("module:attribute") is an optional ground-truth hook for evaluation; ``fingerprints`` are the generator
    fingerprints this domain belongs to (a fine-tune that keeps the mapping keeps the fingerprint); ``extras`` are
    further files the domain lists by name (an LPIPS backbone, community direction files), fetched with the rest."""

    name: str
    description: str = ""
    fingerprints: tuple[str, ...] = ()
    generator: DomainFile | None = None
    encoder: DomainFile | None = None
    classifier: DomainFile | None = None
    attribute_names: tuple[str, ...] = ()
    identity: DomainFile | None = None
    mappers: Mapping[str, DomainFile] = field(default_factory=dict)
    extras: Mapping[str, DomainFile] = field(default_factory=dict)  # other files: LPIPS backbone, direction files
    oracle: str | None = None
    readers: tuple[Reader, ...] = ()
    source: str = ""  # where this description came from (entry point or file); not part of a written file

    def __post_init__(self):
        if not self.name or not isinstance(self.name, str):
            raise DomainError(f"a domain needs a name; got {self.name!r}")
        object.__setattr__(self, "fingerprints", tuple(self.fingerprints))
        object.__setattr__(self, "attribute_names", tuple(self.attribute_names))
        object.__setattr__(self, "readers", tuple(self.readers))
        object.__setattr__(self, "mappers", dict(self.mappers))
        object.__setattr__(self, "extras", dict(self.extras))

    def all_files(self) -> dict[str, DomainFile]:
        """Every file the domain lists, by label ("generator", "mappers.isf", "extras.lpips_alex", ...)."""
        out = {role: self.file(role) for role in ROLES if self.file(role) is not None}
        out.update({f"mappers.{k}": v for k, v in self.mappers.items()})
        out.update({f"extras.{k}": v for k, v in self.extras.items()})
        return out

    def file(self, role: str) -> DomainFile | None:
        """The domain's file for ``role`` (one of ``ROLES``)."""
        if role not in ROLES:
            raise DomainError(f"unknown domain role {role!r}; expected one of {', '.join(ROLES)}")
        return getattr(self, role)

    def reader(self, role: str, kind: str) -> str | None:
        """The reader target for model files of ``kind`` used as ``role``, or None."""
        return next((r.target for r in self.readers if r.role == role and r.kind == kind), None)
