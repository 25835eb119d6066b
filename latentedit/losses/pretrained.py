"""Finding pretrained weight files offline: where each loss network looks, and a clear error when it is absent.

Nothing here downloads. A missing file raises ``MissingWeightsError`` naming the file, the exact cache path it is
looked for at, where to fetch it on a machine with internet, and the explicit-path alternative.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch


class MissingWeightsError(FileNotFoundError):
    """A pretrained weights file needed by a loss network is not on disk (and we never download)."""


def torch_hub_checkpoints_dir() -> Path:
    """``torch.hub.get_dir()/checkpoints``: where torchvision keeps ImageNet backbones
    (``$TORCH_HOME/hub/checkpoints``, default ``~/.cache/torch/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def facenet_checkpoints_dir() -> Path:
    """Where facenet-pytorch caches its weights: ``$TORCH_HOME/checkpoints`` (default ``~/.cache/torch/checkpoints``;
    note: *not* under ``hub/``)."""
    home = os.getenv("TORCH_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch"))
    return Path(os.path.expanduser(home)) / "checkpoints"


def resolve_weights(*, what: str, filename: str, cache_dir: Path, url: str, explicit: str | os.PathLike | None,
                    option_hint: str, test_hint: str) -> Path:
    """Return the weights file to read: ``explicit`` if given (must exist), else ``cache_dir/filename``.

    Raises MissingWeightsError with the exact path and the offline recipe when the file is not there.
    """
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise MissingWeightsError(f"{what}: weights file {path} does not exist (expected {filename}, "
                                      f"downloadable from {url})")
        return path
    path = cache_dir / filename
    if path.is_file():
        return path
    raise MissingWeightsError(
        f"{what} needs the pretrained weights file '{filename}', looked for at\n"
        f"    {path}\n"
        f"and it is not there (latentedit never downloads). To run offline:\n"
        f"  1. on a machine with internet: download {url}\n"
        f"  2. copy it to {path}  (set TORCH_HOME to move the cache root), or\n"
        f"  3. pass its location explicitly: {option_hint}.\n"
        f"For tests only: {test_hint}."
    )


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A plain tensor state dict from ``.pt``/``.pth`` (``weights_only=True``) or ``.safetensors``."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path}: not a readable weights file ({type(exc).__name__}: {exc})") from None
    if isinstance(sd, Mapping) and "state_dict" in sd and isinstance(sd["state_dict"], Mapping):
        sd = sd["state_dict"]
    if not isinstance(sd, Mapping) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ValueError(f"{path}: expected a state dict of tensors; found {type(sd).__name__}")
    return dict(sd)


def freeze(module: torch.nn.Module) -> torch.nn.Module:
    """Eval mode and no gradients for every parameter (the loss networks are judges, never trained)."""
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module
