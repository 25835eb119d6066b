"""Identity loss: ``1 - cos(E(x_edit), E(x_src))`` with any face embedder ``E`` plugged in (or, with
``distance='l1'``, the mean ``|E(x_edit) - E(x_src)|`` for embedders whose outputs are measured quantities).

``IdentityLoss(embedder)`` takes any ``nn.Module`` mapping ``(B, 3, H, W)`` images in [-1, 1] to ``(B, D)``
embeddings (the toy-faces identity embedder, a test stub, ...). ``IdentityLoss.facenet()`` uses facenet-pytorch's
``InceptionResnetV1`` (VGGFace2 or CASIA-WebFace weights) on 160-px face crops, its weights read from facenet's
cache (``$TORCH_HOME/checkpoints``) or a given file; it never downloads. facenet standardises pixels as
``(p - 127.5) / 128``, which is our [-1, 1] convention up to 0.4 %.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from latentedit.io.modelfile import load_state_dict_strict
from latentedit.losses.pretrained import facenet_checkpoints_dir, freeze, load_state_dict_file, resolve_weights

_RELEASE = "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/"
#: facenet-pytorch dataset name -> cached file name
FACENET_FILES = {
    "vggface2": "20180402-114759-vggface2.pt",
    "casia-webface": "20180408-102900-casia-webface.pt",
}
FACENET_INPUT_SIZE = 160
#: how IdentityLoss compares two embeddings
IDENTITY_DISTANCES = ("cosine", "l1")


def identity_loss(emb_edit: torch.Tensor, emb_src: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """``1 - cos`` between embeddings ``(B, D)``: 0 for the same direction, 2 for opposite ones."""
    _check_pair("identity_loss", emb_edit, emb_src)
    return _reduce(1.0 - F.cosine_similarity(emb_edit, emb_src, dim=1, eps=1e-8), reduction)


def identity_l1(emb_edit: torch.Tensor, emb_src: torch.Tensor, *, reduction: str = "mean") -> torch.Tensor:
    """Mean ``|emb_edit - emb_src|`` over the D dimensions of ``(B, D)`` embeddings: 0 for equal ones."""
    _check_pair("identity_l1", emb_edit, emb_src)
    return _reduce((emb_edit - emb_src).abs().mean(dim=1), reduction)


def _check_pair(name: str, a: torch.Tensor, b: torch.Tensor) -> None:
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"{name}: expected two (B, D) embeddings of equal shape; got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")


def _reduce(d: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return d.mean()
    if reduction == "none":
        return d
    raise ValueError(f"reduction must be 'mean' or 'none'; got {reduction!r}")


def crop_and_resize(x: torch.Tensor, size: int, crop: tuple[float, float, float, float] | None = None) -> torch.Tensor:
    """Crop ``(B, 3, H, W)`` to the fractional box ``(top, bottom, left, right)`` then resize to ``size``×``size``
    (area pooling when shrinking, bilinear when growing)."""
    if crop is not None:
        top, bottom, left, right = crop
        if not (0 <= top < bottom <= 1 and 0 <= left < right <= 1):
            raise ValueError(f"crop must be fractions (top, bottom, left, right) with 0 <= top < bottom <= 1 and "
                             f"0 <= left < right <= 1; got {crop}")
        h, w = x.shape[-2:]
        x = x[..., round(top * h):max(round(bottom * h), round(top * h) + 1),
              round(left * w):max(round(right * w), round(left * w) + 1)]
    if tuple(x.shape[-2:]) == (size, size):
        return x
    if min(x.shape[-2:]) >= size:
        return F.adaptive_avg_pool2d(x, (size, size))
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def facenet_weights_path(dataset: str = "vggface2", weights_path: str | os.PathLike | None = None):
    """The InceptionResnetV1 weights file to read (explicit, or facenet's cache); MissingWeightsError if absent."""
    if dataset not in FACENET_FILES:
        raise ValueError(f"facenet weights must be one of {', '.join(FACENET_FILES)}; got {dataset!r}")
    filename = FACENET_FILES[dataset]
    return resolve_weights(what=f"the facenet InceptionResnetV1 ({dataset}) identity loss", filename=filename,
                           cache_dir=facenet_checkpoints_dir(), url=_RELEASE + filename, explicit=weights_path,
                           option_hint="IdentityLoss.facenet(weights_path=...) / FaceNetEmbedder(weights_path=...)",
                           test_hint="FaceNetEmbedder(pretrained=False) has random weights, or plug any embedder "
                                     "into IdentityLoss(embedder)")


class FaceNetEmbedder(nn.Module):
    """facenet-pytorch ``InceptionResnetV1``: ``(B, 3, H, W)`` in [-1, 1] -> ``(B, 512)`` unit embeddings.

    ``crop`` (fractions ``(top, bottom, left, right)``) selects the face in an aligned crop before resizing to
    160 px; ``pretrained=False`` keeps random weights (tests).
    """

    def __init__(self, dataset: str = "vggface2", *, weights_path: str | os.PathLike | None = None,
                 pretrained: bool = True, crop: tuple[float, float, float, float] | None = None):
        super().__init__()
        path = facenet_weights_path(dataset, weights_path) if pretrained or weights_path is not None else None
        from facenet_pytorch.models.inception_resnet_v1 import InceptionResnetV1

        self.crop = crop
        self.net = InceptionResnetV1(pretrained=None, classify=False)
        if path is not None:
            state = {k: v for k, v in load_state_dict_file(path).items() if not k.startswith("logits.")}
            load_state_dict_strict(self.net, state, source=str(path))
        freeze(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"FaceNetEmbedder: expected (B, 3, H, W) images in [-1, 1]; got {tuple(x.shape)}")
        return self.net(crop_and_resize(x, FACENET_INPUT_SIZE, self.crop))


class IdentityLoss(nn.Module):
    """``weight * mean(1 - cos(E(x_edit), E(x_src)))`` for a frozen embedder ``E`` (``distance='l1'``: ``weight *
    mean |E(x_edit) - E(x_src)|``); ``E(x_src)`` is not differentiated."""

    def __init__(self, embedder: nn.Module, *, weight: float = 1.0, distance: str = "cosine"):
        super().__init__()
        if not isinstance(embedder, nn.Module):
            raise TypeError(f"IdentityLoss needs an nn.Module embedder mapping (B, 3, H, W) to (B, D); "
                            f"got {type(embedder).__name__}")
        if distance not in IDENTITY_DISTANCES:
            raise ValueError(f"IdentityLoss: distance must be one of {IDENTITY_DISTANCES}; got {distance!r}")
        self.embedder = freeze(embedder)
        self.weight = float(weight)
        self.distance = distance

    @classmethod
    def facenet(cls, dataset: str = "vggface2", *, weights_path: str | os.PathLike | None = None,
                pretrained: bool = True, crop: tuple[float, float, float, float] | None = None,
                weight: float = 1.0) -> IdentityLoss:
        """The identity loss on real faces with facenet-pytorch's InceptionResnetV1."""
        return cls(FaceNetEmbedder(dataset, weights_path=weights_path, pretrained=pretrained, crop=crop), weight=weight)

    def train(self, mode: bool = True):
        super().train(mode)
        self.embedder.eval()
        return self

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        e = self.embedder(x)
        if not isinstance(e, torch.Tensor) or e.ndim != 2 or e.shape[0] != x.shape[0]:
            raise ValueError(f"IdentityLoss: the embedder must return (B={x.shape[0]}, D); returned "
                             f"{tuple(e.shape) if isinstance(e, torch.Tensor) else type(e).__name__}")
        return e

    def forward(self, x_edit: torch.Tensor, x_src: torch.Tensor) -> torch.Tensor:
        """``x_edit``, ``x_src``: ``(B, 3, H, W)`` in [-1, 1] -> scalar."""
        if x_edit.shape != x_src.shape:
            raise ValueError(f"IdentityLoss: images must have equal shapes; got {tuple(x_edit.shape)} and "
                             f"{tuple(x_src.shape)}")
        with torch.no_grad():
            e_src = self.embed(x_src)
        compare = identity_loss if self.distance == "cosine" else identity_l1
        return self.weight * compare(self.embed(x_edit), e_src)
