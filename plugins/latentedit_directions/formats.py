"""Community direction files: InterFaceGAN ``.npy`` (1, D), e4e ``.pt`` (1, 512) tensors, GANSpace
``{mean, comp, std}``. Reading never executes code (``numpy.load(allow_pickle=False)``, ``torch.load(weights_only=True)``)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from latentedit.io.array_files import read_array_file
from latentedit.io.errors import LatenteditInputError
from latentedit.io.modelfile import atomic_write


class DirectionFileError(LatenteditInputError):
    """A direction file of an unknown layout or shape."""


def read_direction(path) -> torch.Tensor:
    """A single direction, returned as (D,) float32, from .npy (1, D)/(D,) or .pt (1, D)/(D,)."""
    path = Path(path)
    arr = read_array_file(path, error=_file_error)
    if isinstance(arr, np.ndarray):
        arr = torch.from_numpy(arr) if arr.dtype.kind in "fiub" else arr
    if isinstance(arr, dict):
        raise DirectionFileError(f"{path}: holds a dict with keys {sorted(arr)}; for GANSpace files use "
                                 "read_ganspace")
    if not torch.is_tensor(arr) or arr.ndim > 2 or (arr.ndim == 2 and arr.shape[0] != 1):
        shape = tuple(arr.shape) if torch.is_tensor(arr) else type(arr).__name__
        raise DirectionFileError(f"{path}: a direction must be (1, D) or (D,); got {shape}")
    return _finite(arr.reshape(-1).float(), path, "direction")


def _file_error(path, problem: str) -> DirectionFileError:
    return DirectionFileError(f"{path}: {problem}")


def _finite(t: torch.Tensor, path, what: str) -> torch.Tensor:
    if t.numel() == 0 or not bool(torch.isfinite(t).all()):
        raise DirectionFileError(f"{path}: the {what} is empty or holds NaN or infinite values; it would edit "
                                 "nothing or give noise")
    return t


def write_interfacegan(path, direction: torch.Tensor) -> Path:
    """InterFaceGAN boundary.npy: float32 (1, D)."""
    arr = direction.detach().reshape(1, -1).float().numpy()

    def write(tmp):
        with open(tmp, "wb") as fh:
            np.save(fh, arr)
    return atomic_write(path, write)


def write_e4e(path, direction: torch.Tensor) -> Path:
    """e4e-style editing direction: a torch float32 tensor (1, D)."""
    t = direction.detach().reshape(1, -1).float().clone()
    return atomic_write(path, lambda tmp: torch.save(t, tmp))


def read_ganspace(path) -> dict[str, torch.Tensor]:
    """{'mean': (1, D), 'comp': (K, 1, D), 'std': (K,)} from a .pt (e4e's ffhq_pca.pt layout) or .npz
    (GANSpace's lat_mean / lat_comp / lat_stdev)."""
    path = Path(path)
    d = read_array_file(path, error=_file_error)
    if path.suffix == ".npz":
        try:
            d = {"mean": torch.from_numpy(d["lat_mean"]), "comp": torch.from_numpy(d["lat_comp"]),
                 "std": torch.from_numpy(d["lat_stdev"])}
        except (KeyError, TypeError) as exc:
            raise DirectionFileError(f"{path}: expected arrays lat_mean, lat_comp, lat_stdev ({exc})") from None
    if not isinstance(d, dict) or not {"mean", "comp", "std"} <= set(d):
        raise DirectionFileError(f"{path}: expected keys mean, comp, std; got {sorted(d) if isinstance(d, dict) else type(d).__name__}")
    try:
        comp = d["comp"].float()
        dim = comp.shape[-1]
        out = {"mean": d["mean"].float().reshape(1, dim), "comp": comp.reshape(-1, 1, dim),
               "std": d["std"].float().reshape(-1)}
    except (AttributeError, RuntimeError, IndexError, TypeError) as exc:
        raise DirectionFileError(f"{path}: mean, comp and std must be tensors of matching widths ({exc})") from None
    return {k: _finite(v, path, f"GANSpace '{k}'") for k, v in out.items()}


def write_ganspace(path, pca: dict[str, torch.Tensor]) -> Path:
    data = {k: pca[k].detach().float().clone() for k in ("mean", "comp", "std")}
    buf = io.BytesIO()
    torch.save(data, buf)
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(buf.getvalue()))
