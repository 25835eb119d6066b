"""The mappers an evaluation scores: ``--method NAME`` (the domain's shipped file) or ``--method LABEL=FILE``
(any mapper file or community direction file), each checked against the generator; shared by every evaluate
command."""

from __future__ import annotations

from pathlib import Path

import click


def _sha256(path: str) -> str:
    """The first 16 hex digits of the file's SHA-256 (the evaluation's provenance)."""
    from latentedit.io.modelfile import file_sha256

    return file_sha256(path)[:16]


def load_methods(specs, generator, domain=None):
    """{name: mapper} from ``NAME`` (the domain's file) or ``NAME=FILE`` specs; default: every one the generator's
    domain ships."""
    from latentedit.cli.common import click_error as _fail
    from latentedit.cli.common import load_mapper_for_edit
    from latentedit.domains import DomainError, domain_of
    from latentedit.editing import EditError, check_mapper_fits_generator

    if not specs:
        try:
            found = domain_of(generator, domain)
        except DomainError as exc:
            raise _fail(exc) from None
        specs = [name for name, f in (found.mappers if found else {}).items() if f.path and Path(f.path).is_file()]
        if not specs:
            raise click.ClickException(f"no --method given and generator {generator.fingerprint()} has no domain "
                                       "that ships mappers: pass --method NAME=FILE (e.g. --method isf=FILE)")
    out, files = {}, {}
    for spec in specs:
        label, sep, path = spec.partition("=")
        mapper, name, fingerprint = load_mapper_for_edit(None if sep else label, path or None, generator, domain)
        label = label if sep else name
        try:
            check_mapper_fits_generator(mapper, generator, fingerprint=fingerprint, where=f"the {label} mapper")
        except EditError as exc:
            raise _fail(exc) from None
        if label in out:
            raise click.BadParameter(f"method {label!r} given twice; name them apart: --method LABEL=FILE",
                                     param_hint="--method")
        out[label] = mapper
        files[label] = {"plugin": name, "sha256": _sha256(path) if path else "shipped"}
    return out, files
