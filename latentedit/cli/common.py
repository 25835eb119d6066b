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


def load_generator_or_default(path: str | None, device: torch.device):
    """Load ``path`` (any supported format) or the shipped toy-faces generator; ClickException on failure.

    Returns (generator in eval mode on ``device``, its ``CheckpointInfo``).
    """
    from latentedit import assets

    if path is None:
        if not assets.has_asset(assets.DEFAULT_GENERATOR):
            raise click.ClickException("no --generator given and this installation ships no default generator yet; "
                                       "pass --generator FILE (.safetensors, rosinality .pt or NVIDIA .pkl)")
        path = str(assets.asset_path(assets.DEFAULT_GENERATOR))
    try:
        from latentedit.io.checkpoints import load_generator
    except ImportError as exc:  # pragma: no cover - only while io is incomplete
        raise click.ClickException(f"checkpoint loading is unavailable: {exc}") from None
    try:
        G, info = load_generator(path)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    return G.eval().requires_grad_(False).to(device), info
