"""The one check every toy-judged command makes: the toy judges read only toy faces."""

from __future__ import annotations

import click


def require_toy_generator(G, extra: dict | None, domain: str | None, *, instead: str) -> None:
    """Return when ``G`` is a toy-faces generator: the toy domain's (by fingerprint or ``--domain``) or one
    distilled by the toy recipe (``extra``, its file's metadata, says so). Any other generator is a one-line
    ClickException naming its domain and ``instead`` (what to pass for that generator)."""
    from latentedit.domains import DomainError, domain_of
    from latentedit_toyfaces.evaluation.generator_ceiling import is_distilled_toy_generator

    if is_distilled_toy_generator(G, extra):
        return
    try:
        found = domain_of(G, domain)
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None
    if found is None or found.name != "toyfaces":
        where = found.name if found else "unknown: no domain matches its fingerprint"
        raise click.ClickException(f"no toy-faces judges for generator {G.fingerprint()} (its domain is {where}; "
                                   f"the toy judges read only toy faces): use {instead}, or pass --domain toyfaces")
