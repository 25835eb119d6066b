"""Which models ``latentedit serve`` loads: explicit files first, the rest from the generator's domain.

The generator is ``--generator`` or the default of ``latentedit.domains.default_generator`` (the named
``--domain``, else the only installed domain that ships one: toy-faces in a plain install). The encoder and the
mappers (one editing method each) are the given files, else the files of the generator's domain (``--domain
NAME|FILE``, else the domain that lists the generator's fingerprint). Errors are the library's one-line
``ValueError``s (``DomainError``, ``EditingError``, ``CheckpointError``); the command shows them as they are.
"""

from __future__ import annotations

import dataclasses

import torch

from latentedit.domains import DomainError, default_generator, domain_file, domain_of
from latentedit.editing import (EditingError, LoadedMapper, check_mapper_fits_generator, load_encoder,
                                load_generator, load_mapper)


@dataclasses.dataclass(frozen=True)
class ModelPaths:
    """Where the models come from: ``domain`` an installed domain's name or a JSON/YAML domain file (None: the
    generator's own domain); ``None``/empty files come from that domain."""

    domain: str | None = None
    generator: str | None = None
    encoder: str | None = None
    mappers: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class LoadedModels:
    """What ``load_models`` read: the generator, the encoder (None: ``encoder_note`` says why) and the mappers."""

    generator: torch.nn.Module
    encoder: torch.nn.Module | None
    mappers: tuple[LoadedMapper, ...]
    encoder_note: str = ""


def domain_mappers(G, spec: str | None) -> list[LoadedMapper]:
    """The mapper files of ``G``'s domain that are present here (a listed but absent file is skipped; DomainError
    when none is)."""
    d = domain_of(G, spec)
    if d is None:
        raise DomainError(f"no editing method: generator {G.fingerprint()} belongs to no installed domain; pass "
                          "--mapper FILE (repeatable) or --domain NAME|FILE")
    loaded, missing = [], []
    for name in d.mappers:
        try:
            path = domain_file(G, "mapper", flag="--mapper", spec=spec, mapper=name)
        except DomainError as exc:
            missing.append(str(exc))
            continue
        loaded.append(load_mapper(path, generator=G))
    if not loaded:
        raise DomainError(f"no editing method: domain '{d.name}' has no mapper file here "
                          f"({'; '.join(missing) or 'it lists none'}); pass --mapper FILE")
    return loaded


def load_models(paths: ModelPaths, device: torch.device | str = "cpu") -> LoadedModels:
    """Load the generator, the encoder and every mapper now (the server keeps them warm), each mapper checked
    against the generator. Without an explicit encoder a missing domain encoder is not an error: the page then
    edits generator samples only, and ``encoder_note`` says why."""
    G = load_generator(paths.generator or default_generator(paths.domain), device=device)
    mappers = [load_mapper(p, generator=G) for p in paths.mappers] or domain_mappers(G, paths.domain)
    for m in mappers:
        check_mapper_fits_generator(m.mapper, G, fingerprint=m.generator_fingerprint, where=f"the {m.name} mapper")
    encoder, note = None, ""
    if paths.encoder is not None:
        encoder = load_encoder(paths.encoder, generator=G, device=device)
    else:
        try:
            encoder = load_encoder(domain_file(G, "encoder", flag="--encoder", spec=paths.domain), generator=G,
                                   device=device)
        except (DomainError, EditingError) as exc:
            note = str(exc)
    moved = tuple(LoadedMapper(m.mapper.to(device), m.name, m.generator_fingerprint) for m in mappers)
    return LoadedModels(G, encoder, moved, note)
