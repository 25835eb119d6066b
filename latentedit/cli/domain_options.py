"""The CLI side of domains: the ``--domain`` option and defaults resolved from the generator's domain.

Each helper turns ``DomainError`` into a one-line ``ClickException`` that names the flag to pass.
"""

from __future__ import annotations

import click

domain_option = click.option(
    "--domain", "domain", default=None, metavar="NAME|FILE",
    help="Domain whose files are the defaults (an installed domain's name or a JSON/YAML domain file); "
         "default: the domain of the generator in use, found by its fingerprint ($LATENTEDIT_DOMAIN).")


def default_generator_path(domain: str | None) -> str:
    from latentedit.domains import DomainError, default_generator

    try:
        return default_generator(domain)
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None


def default_file(G, role: str, flag: str, domain: str | None = None, *, mapper: str | None = None) -> str:
    """The path of ``G``'s domain's ``role`` file (see ``latentedit.domains.domain_file``)."""
    from latentedit.domains import DomainError, domain_file

    try:
        return domain_file(G, role, flag=flag, spec=domain, mapper=mapper)
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None


def load_model(path, role: str, flag: str):
    """Read the ``role`` model file at ``path`` with its domain's reader (``latentedit.domains.load_domain_model``)."""
    from latentedit.domains import load_domain_model

    try:
        return load_domain_model(path, role)
    except (ValueError, OSError) as exc:
        raise click.ClickException(f"{flag}: {str(exc).strip().splitlines()[0]}") from None


def load_domain_model_for(G, path, role: str, flag: str, domain: str | None = None):
    """``path`` if given, else ``G``'s domain's ``role`` file, read by its domain's reader."""
    return load_model(path if path is not None else default_file(G, role, flag, domain), role, flag)
