"""Options and helpers shared by the CLI commands."""

from __future__ import annotations


import click
import torch


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda when available else cpu; 'cuda' without a GPU is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise click.ClickException("--device cuda was asked for but no CUDA device is available; use --device cpu")
    return torch.device(name)


device_option = click.option("--device", default="auto", show_default=True,
                             type=click.Choice(["auto", "cpu", "cuda"]), help="Where to run.")


def load_generator_or_default(path: str | None, device: torch.device, domain: str | None = None):
    """Load ``path`` (any supported format) or the domain's generator (``--domain``, else the only installed domain
    that ships one); ClickException on failure.

    Returns (generator in eval mode on ``device``, its ``CheckpointInfo``).
    """
    from latentedit.cli.domain_options import default_generator_path

    if path is None:
        path = default_generator_path(domain)
    try:
        from latentedit.io.checkpoints import load_generator
    except ImportError as exc:  # pragma: no cover - only while io is incomplete
        raise click.ClickException(f"checkpoint loading is unavailable: {exc}") from None
    try:
        G, info = load_generator(path)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    return G.eval().requires_grad_(False).to(device), info


def click_error(exc: BaseException, prefix: str = "") -> click.ClickException:
    """A ClickException carrying the first line of ``exc``'s message (its type name when it has none), after
    ``prefix`` (e.g. the option it concerns: ``"--encoder "``)."""
    return click.ClickException(prefix + (str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__))


def load_encoder(encoder_path: str | None, G, device, domain: str | None = None):
    """The encoder at ``encoder_path`` (or the encoder of ``G``'s domain), read by the installed encoder plugin that
    can load it, checked against generator ``G``'s fingerprint; ClickException on failure. Returns it in eval mode."""
    from latentedit.cli.domain_options import default_file
    from latentedit.editing import EditingError
    from latentedit.editing import load_encoder as load

    if encoder_path is None:
        encoder_path = default_file(G, "encoder", "--encoder", domain)
    try:
        return load(encoder_path, generator=G, device=device)
    except EditingError as exc:
        raise click_error(exc, "--encoder ") from None


def load_mapper_for_edit(method: str | None, mapper_path: str | None, G=None, domain: str | None = None):
    """``LoadedMapper`` (mapper in eval mode, plugin name, generator fingerprint recorded in the file or None) of
    --mapper FILE, else the mapper file of ``G``'s domain for ``method`` (default: the domain's first mapper)."""
    from latentedit.cli.domain_options import default_file
    from latentedit.domains import DomainError, domain_of
    from latentedit.editing import EditingError, load_mapper
    from latentedit.plugins import PluginError
    from latentedit.plugins import load_mapper as load_plugin

    if mapper_path is None:
        try:
            found = domain_of(G, domain) if G is not None else None
        except DomainError as exc:
            raise click_error(exc) from None
        name = method or (next(iter(found.mappers), None) if found is not None else None) or "isf"
        try:
            load_plugin(name)  # unknown names fail here, listing the available plugins
        except PluginError as exc:
            raise click_error(exc) from None
        mapper_path = default_file(G, "mapper", "--mapper", domain, mapper=name)
    try:  # a community direction file (InterFaceGAN .npy, e4e .pt, GANSpace .npz) is converted for G
        return load_mapper(mapper_path, method=method, generator=G)
    except EditingError as exc:
        raise click_error(exc, "--mapper ") from None
