"""Options and helpers shared by the CLI commands."""

from __future__ import annotations

import click
import torch

DEFAULT_ENCODER = "toyfaces_e4e.safetensors"


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


def click_error(exc: BaseException, prefix: str = "") -> click.ClickException:
    """A ClickException carrying the first line of ``exc``'s message (its type name when it has none), after
    ``prefix`` (e.g. the option it concerns: ``"--encoder "``)."""
    return click.ClickException(prefix + (str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__))


def _file_or_default(path: str | None, asset: str, missing: str) -> str:
    """``path``, else the shipped asset ``asset``; ClickException ``missing`` when it is not shipped."""
    from latentedit import assets

    if path is not None:
        return path
    if not assets.has_asset(asset):
        raise click.ClickException(missing)
    return str(assets.asset_path(asset))


def load_encoder(encoder_path: str | None, G, device):
    """The encoder at ``encoder_path`` (or the shipped toy e4e encoder), read by the installed encoder plugin that
    can load it, checked against generator ``G``; ClickException on failure. Returns it in eval mode."""
    from latentedit.editing import EditingError
    from latentedit.editing import load_encoder as load

    encoder_path = _file_or_default(encoder_path, DEFAULT_ENCODER, f"editing photos needs an encoder: pass --encoder "
                                    f"FILE ({DEFAULT_ENCODER} is not shipped with this installation), or give W+ "
                                    "files instead")
    try:
        return load(encoder_path, generator=G, device=device)
    except EditingError as exc:
        raise click_error(exc, "--encoder ") from None


DEFAULT_MAPPERS = {"isf": "toyfaces_isf.safetensors", "directions": "toyfaces_directions.safetensors",
                   "sensorium": "toyfaces_sensorium.safetensors"}


def load_mapper_for_edit(method: str | None, mapper_path: str | None):
    """``LoadedMapper`` (mapper in eval mode, plugin name, generator fingerprint recorded in the file or None) of
    --mapper FILE, else of the shipped toy-faces file of --method (default: the first shipped one)."""
    from latentedit import assets
    from latentedit.editing import EditingError, load_mapper
    from latentedit.plugins import PluginError
    from latentedit.plugins import load_mapper as load_plugin

    if mapper_path is None:
        shipped = [m for m, asset in DEFAULT_MAPPERS.items() if assets.has_asset(asset)]
        name = method or (shipped[0] if shipped else "isf")
        try:
            load_plugin(name)  # unknown names fail here, listing the available plugins
        except PluginError as exc:
            raise click_error(exc) from None
        asset = DEFAULT_MAPPERS.get(name)
        if asset is None or not assets.has_asset(asset):
            shipped = f" ({asset} is not shipped with this installation)" if asset else ""
            raise click.ClickException(f"no --mapper FILE given for method {name!r} and no default one{shipped}; "
                                       f"pass --mapper FILE (a mapper saved by `latentedit train` or a fitted "
                                       f"directions file)")
        mapper_path = str(assets.asset_path(asset))
    try:
        return load_mapper(mapper_path, method=method)
    except EditingError as exc:
        raise click_error(exc, "--mapper ") from None


def load_toy_judge(kind: str, spec: str | None, option: str):
    """A toy-faces judge ('attributes', 'identity' or 'factors'): the shipped one for ``spec`` None or
    'toyfaces', else the judge file ``spec``; ClickException naming ``option`` otherwise."""
    from latentedit.toyfaces.judges import JudgeError, load_judge

    try:
        return load_judge(kind, None if spec in (None, "toyfaces") else spec)
    except (JudgeError, ValueError, OSError) as exc:
        raise click.ClickException(f"{option} {spec}: {exc}") from None
