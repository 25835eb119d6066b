"""Options and helpers shared by the CLI commands."""

from __future__ import annotations

from pathlib import Path

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


def click_error(exc: BaseException) -> click.ClickException:
    """A ClickException carrying the first line of ``exc``'s message (its type name when it has none)."""
    return click.ClickException(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)


def load_encoder(encoder_path: str | None, G, device, domain: str | None = None):
    """The encoder at ``encoder_path`` (or the encoder of ``G``'s domain), read by the installed encoder plugin that
    can load it, checked against generator ``G``'s fingerprint; ClickException on failure. Returns it in eval mode."""
    from latentedit.cli.domain_options import default_file
    from latentedit.plugins import PluginError, discover, load_spec

    if encoder_path is None:
        encoder_path = default_file(G, "encoder", "--encoder", domain)
    if not Path(encoder_path).is_file():
        raise click.ClickException(f"--encoder {encoder_path}: no such file")
    candidates = []
    for spec in discover("encoders"):
        try:
            cls = load_spec(spec)
        except PluginError:
            continue
        if getattr(cls, "can_load", None) and cls.can_load(encoder_path):
            candidates.append(cls)
    if not candidates:
        names = ", ".join(s.name for s in discover("encoders")) or "(none installed)"
        raise click.ClickException(f"--encoder {encoder_path}: no installed encoder plugin reads this file "
                                   f"(encoder plugins: {names}); install latentedit's e4e encoder or pass W+ files")
    try:
        enc = candidates[0].load(encoder_path, map_location=device)
    except (ValueError, OSError) as exc:
        raise click_error(exc) from None
    fp = getattr(enc, "generator_fingerprint", None)
    if fp and fp != G.fingerprint():
        raise click.ClickException(f"--encoder {encoder_path} was trained for generator {fp}, not "
                                   f"{G.fingerprint()}; pass the matching --generator or --encoder")
    return enc.eval()
