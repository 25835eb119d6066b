"""LPIPS perceptual distance (Zhang et al. 2018) through the ``lpips`` package, without any download.

``lpips.LPIPS(pretrained=True)`` would ask torchvision for the ImageNet backbone and download it when the torch hub
cache lacks it. We instead build the network with a *random* backbone (``pnet_rand=True``: torchvision gets
``weights=None`` and fetches nothing), then load the backbone ourselves from the hub cache
(``torch.hub.get_dir()/checkpoints/alexnet-owt-7be5be79.pth`` for ``alex``) or an explicit file, and the calibrated
linear heads from the files the ``lpips`` package ships. Every file is read with ``weights_only=True``.

Images are ``(B, 3, H, W)`` in [-1, 1]; images larger than ``max_size`` are average-pooled down first (as e4e
pools 1024-px outputs to 256 for its losses).
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from latentedit.losses.pretrained import freeze, load_state_dict_file, resolve_weights, torch_hub_checkpoints_dir

#: net -> (torchvision ImageNet weights file name, download URL)
BACKBONE_FILES = {
    "alex": ("alexnet-owt-7be5be79.pth", "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"),
    "vgg": ("vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth"),
    "squeeze": ("squeezenet1_1-b8a52dc0.pth", "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth"),
}


def check_image_pair(x: torch.Tensor, y: torch.Tensor, *, name: str = "images") -> None:
    """Both ``(B, 3, H, W)`` with equal shapes, else a ValueError saying what was found."""
    for t in (x, y):
        if not isinstance(t, torch.Tensor) or t.ndim != 4 or t.shape[1] != 3:
            raise ValueError(f"{name}: expected (B, 3, H, W) images in [-1, 1]; got "
                             f"{tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}")
    if x.shape != y.shape:
        raise ValueError(f"{name}: both images must have the same shape; got {tuple(x.shape)} and {tuple(y.shape)}")


def pool_to(x: torch.Tensor, max_size: int | None) -> torch.Tensor:
    """Average-pool ``(B, C, H, W)`` so that its longer side is at most ``max_size`` (no-op if already small)."""
    if max_size is None or max(x.shape[-2:]) <= max_size:
        return x
    scale = max(x.shape[-2:]) / max_size
    return F.adaptive_avg_pool2d(x, (max(1, round(x.shape[-2] / scale)), max(1, round(x.shape[-1] / scale))))


def _load_backbone(trunk: nn.Module, state: dict[str, torch.Tensor], *, source: str) -> None:
    """Copy torchvision ``features.{i}.*`` weights into lpips' ``slice{k}.{i}.*`` layout (every key must match)."""
    own = trunk.state_dict()
    mapped, missing = {}, []
    for key in own:
        m = re.fullmatch(r"slice\d+\.(.+)", key)
        src = f"features.{m.group(1)}" if m else key
        if src not in state:
            missing.append(src)
        elif tuple(state[src].shape) != tuple(own[key].shape):
            missing.append(f"{src} (expected {tuple(own[key].shape)}, found {tuple(state[src].shape)})")
        else:
            mapped[key] = state[src]
    if missing:
        raise ValueError(f"{source}: not the expected torchvision backbone; missing or mis-shaped: "
                         f"{', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}")
    trunk.load_state_dict(mapped, strict=True)


def build_lpips(net: str = "alex", *, pretrained_backbone: bool = True, backbone_path: str | os.PathLike | None = None,
                linear_path: str | os.PathLike | None = None) -> nn.Module:
    """A frozen ``lpips.LPIPS`` (v0.1) built without network access.

    ``pretrained_backbone=False`` keeps a random backbone (tests only: the distance is then not perceptual).
    ``backbone_path``: a torchvision ImageNet state dict to use instead of the hub cache.
    ``linear_path``: the LPIPS linear heads (default: the file shipped inside the ``lpips`` package).
    """
    if net not in BACKBONE_FILES:
        raise ValueError(f"LPIPS net must be one of {', '.join(BACKBONE_FILES)}; got {net!r}")
    path = None
    if pretrained_backbone or backbone_path is not None:  # find the file first: fail before building anything
        filename, url = BACKBONE_FILES[net]
        path = resolve_weights(
            what=f"LPIPS({net})", filename=filename, cache_dir=torch_hub_checkpoints_dir(), url=url,
            explicit=backbone_path, option_hint="LPIPSLoss(backbone_path=...) / build_lpips(backbone_path=...)",
            test_hint="LPIPSLoss(pretrained_backbone=False) uses a random backbone")
    import lpips as lpips_pkg

    with warnings.catch_warnings():  # torchvision's 'pretrained is deprecated' notice for pretrained=False
        warnings.simplefilter("ignore", UserWarning)
        model = lpips_pkg.LPIPS(pretrained=False, net=net, pnet_rand=True, verbose=False)
    if path is not None:
        _load_backbone(model.net, load_state_dict_file(path), source=str(path))
    lin = Path(linear_path) if linear_path is not None else (
        Path(lpips_pkg.__file__).parent / "weights" / "v0.1" / f"{net}.pth")
    if not lin.is_file():
        raise FileNotFoundError(f"LPIPS({net}) linear-head weights not found at {lin}; reinstall the lpips package "
                                f"or pass linear_path=")
    heads = load_state_dict_file(lin)
    expected = {k for k in model.state_dict() if re.match(r"lin\d+\.", k)}  # lins.* alias the same tensors
    if set(heads) != expected:
        raise ValueError(f"{lin}: LPIPS({net}) linear heads expected keys {sorted(expected)}; found {sorted(heads)}")
    model.load_state_dict(heads, strict=False)
    return freeze(model)


def lpips_loss(x: torch.Tensor, y: torch.Tensor, model: nn.Module, *, max_size: int | None = 256,
               reduction: str = "mean") -> torch.Tensor:
    """LPIPS distance between ``x`` and ``y`` ``(B, 3, H, W)`` in [-1, 1]: a scalar (``mean``/``sum``) or ``(B,)``."""
    check_image_pair(x, y, name="lpips_loss")
    d = model(pool_to(x, max_size), pool_to(y, max_size)).reshape(x.shape[0])
    if reduction == "mean":
        return d.mean()
    if reduction == "sum":
        return d.sum()
    if reduction == "none":
        return d
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none'; got {reduction!r}")


class LPIPSLoss(nn.Module):
    """``weight * LPIPS(x, y)``, a frozen judge: gradients reach the images, never the network."""

    def __init__(self, net: str = "alex", *, weight: float = 1.0, pretrained_backbone: bool = True,
                 backbone_path: str | os.PathLike | None = None, linear_path: str | os.PathLike | None = None,
                 max_size: int | None = 256, model: nn.Module | None = None):
        super().__init__()
        self.weight = float(weight)
        self.max_size = max_size
        self.model = freeze(model) if model is not None else build_lpips(
            net, pretrained_backbone=pretrained_backbone, backbone_path=backbone_path, linear_path=linear_path)

    def train(self, mode: bool = True):
        super().train(mode)
        self.model.eval()  # never leave the judge's dropout on
        return self

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x``, ``y``: ``(B, 3, H, W)`` in [-1, 1] -> scalar."""
        return self.weight * lpips_loss(x, y, self.model, max_size=self.max_size)

    def extra_repr(self) -> str:
        return f"weight={self.weight}, max_size={self.max_size}"
