"""MTCNN face detection (Zhang et al. 2016) with the P-, R- and O-net weights shipped in facenet-pytorch's wheel.

facenet-pytorch is not imported: its package imports torchvision (for one NMS call), and torchvision imports
``torch._dynamo``, which cost 1-3 s of every ``latentedit edit`` on a photo. This module runs the same cascade
with the same weights and the same arithmetic as facenet-pytorch 2.5's ``MTCNN.detect`` (a test compares the two
on real photos):

1. P-net on an image pyramid (scales ``12 / min_face_size * factor**k`` while the short side stays >= 12 px):
   every 12x12 window (stride 2) scoring >= ``thresholds[0]`` is a candidate; NMS per scale (IoU 0.5), then over
   all scales (IoU 0.7); the boxes are moved by the regression and made square.
2. R-net on each candidate resized to 24x24: score > ``thresholds[1]``, NMS (IoU 0.7), regression, square.
3. O-net on 48x48 crops: score > ``thresholds[2]``, five landmarks, regression, NMS over the smaller box (0.7).

    boxes, points = detect_mtcnn(image)   # image (H, W, 3) uint8 -> (N, 5) x0, y0, x1, y1, score; (N, 5, 2) x, y
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

THRESHOLDS = (0.6, 0.7, 0.7)
FACTOR = 0.709
CHUNK = 512  # R-/O-net crops per forward, as facenet-pytorch


class _Net(nn.Module):
    """conv (+ PReLU) layers, optional max-pools after some, then dense layers; heads are named by the caller.

    ``layers``: (conv name, in, out, kernel, pool kernel or 0). Module names follow facenet-pytorch's weight
    files (``conv1``, ``prelu1``, ``dense4``, ...), so they load strictly."""

    def __init__(self, layers, dense=(), heads=()):
        super().__init__()
        self.plan = []
        for k, (cin, cout, kernel, pool) in enumerate(layers, start=1):
            self.add_module(f"conv{k}", nn.Conv2d(cin, cout, kernel))
            self.add_module(f"prelu{k}", nn.PReLU(cout))
            self.plan.append((f"conv{k}", f"prelu{k}", pool))
        self.dense = [(name, f"prelu{name[5:]}") for name, _, _ in dense]
        for name, din, dout in dense:
            self.add_module(name, nn.Linear(din, dout))
            self.add_module(f"prelu{name[5:]}", nn.PReLU(dout))
        self.heads = [name for name, _, _ in heads]  # the class heads (names ending in _1) end in a softmax
        for name, din, dout in heads:
            self.add_module(name, nn.Linear(din, dout) if self.dense else nn.Conv2d(din, dout, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x (B, 3, H, W) normalised -> the heads in the order given: (B, C) after dense layers (R-, O-net), else
        (B, C, H', W') maps (P-net); class heads softmaxed over C."""
        for conv, prelu, pool in self.plan:
            x = getattr(self, prelu)(getattr(self, conv)(x))
            if pool:
                x = F.max_pool2d(x, pool, 2, ceil_mode=True)
        if self.dense:  # the weights were converted from Caffe: features flattened in (W, H, C) order
            x = x.permute(0, 3, 2, 1).contiguous().flatten(1)
            for dense, prelu in self.dense:
                x = getattr(self, prelu)(getattr(self, dense)(x))
        return [getattr(self, h)(x).softmax(dim=1) if h.endswith("_1") else getattr(self, h)(x) for h in self.heads]


def weights_dir() -> Path:
    """facenet-pytorch's ``data`` folder (found without importing the package); ImportError if not installed."""
    spec = importlib.util.find_spec("facenet_pytorch")
    folder = Path(next(iter(spec.submodule_search_locations or ())), "data") if spec else None
    if folder is None or not (folder / "pnet.pt").is_file():
        raise ImportError("face detection reads the MTCNN weights shipped with facenet-pytorch, which is not "
                          "installed here; install it (pip install facenet-pytorch==2.5.3) or pass --no-align "
                          "with already aligned crops")
    return folder


@functools.lru_cache(maxsize=1)
def nets() -> tuple[nn.Module, nn.Module, nn.Module]:
    """(P-net, R-net, O-net) in eval mode, weights from facenet-pytorch's wheel (read once per process)."""
    pnet = _Net([(3, 10, 3, 2), (10, 16, 3, 0), (16, 32, 3, 0)], heads=[("conv4_2", 32, 4), ("conv4_1", 32, 2)])
    rnet = _Net([(3, 28, 3, 3), (28, 48, 3, 3), (48, 64, 2, 0)], dense=[("dense4", 576, 128)],
                heads=[("dense5_2", 128, 4), ("dense5_1", 128, 2)])
    onet = _Net([(3, 32, 3, 3), (32, 64, 3, 3), (64, 64, 3, 2), (64, 128, 2, 0)], dense=[("dense5", 1152, 256)],
                heads=[("dense6_2", 256, 4), ("dense6_3", 256, 10), ("dense6_1", 256, 2)])
    folder = weights_dir()
    for net, name in ((pnet, "pnet"), (rnet, "rnet"), (onet, "onet")):
        net.load_state_dict(torch.load(folder / f"{name}.pt", map_location="cpu", weights_only=True))
        net.eval().requires_grad_(False)
    return pnet, rnet, onet


def _normalise(x: torch.Tensor) -> torch.Tensor:
    return (x - 127.5) * 0.0078125


def nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float, *, over_min: bool = False,
        plus_one: bool = False) -> torch.Tensor:
    """Indices of the boxes (N, 4) kept by greedy non-maximum suppression, highest score first: a box goes when
    its overlap with a kept box is above ``threshold``. Overlap: intersection over union, or over the smaller
    box (``over_min``); ``plus_one``: sides measured as x1 - x0 + 1 (the MATLAB convention of the last stage)."""
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long)
    if over_min:  # the last stage ranks as NumPy's argsort(score) read from the end
        order = torch.from_numpy(np.argsort(scores.numpy())[::-1].copy())
    else:
        order = torch.sort(scores, descending=True, stable=True).indices
    b = boxes[order]
    one = 1.0 if plus_one else 0.0
    area = (b[:, 2] - b[:, 0] + one) * (b[:, 3] - b[:, 1] + one)
    alive = torch.ones(len(order), dtype=torch.bool)
    keep = []
    for i in range(len(order)):
        if not alive[i]:
            continue
        keep.append(i)
        rest = alive.clone()
        rest[: i + 1] = False
        idx = rest.nonzero().flatten()
        if idx.numel() == 0:
            break
        w = (torch.minimum(b[i, 2], b[idx, 2]) - torch.maximum(b[i, 0], b[idx, 0]) + one).clamp(min=0)
        h = (torch.minimum(b[i, 3], b[idx, 3]) - torch.maximum(b[i, 1], b[idx, 1]) + one).clamp(min=0)
        inter = w * h
        overlap = inter / (torch.minimum(area[i], area[idx]) if over_min else area[i] + area[idx] - inter)
        alive[idx[overlap > threshold]] = False
    return order[torch.as_tensor(keep, dtype=torch.long)]


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Boxes (N, >=4) made square around their centres (side = the longer side), in place."""
    h, w = boxes[:, 3] - boxes[:, 1], boxes[:, 2] - boxes[:, 0]
    side = torch.maximum(w, h)
    boxes[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    boxes[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    boxes[:, 2:4] = boxes[:, :2] + side.unsqueeze(1)
    return boxes


def _regress(boxes: torch.Tensor, reg: torch.Tensor) -> torch.Tensor:
    """Move the corners by the regression (N, 4), in units of the box side (+1, as the reference), in place."""
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    boxes[:, :4] = boxes[:, :4] + reg * torch.stack([w, h, w, h], dim=1)
    return boxes


def _crops(image: torch.Tensor, boxes: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The boxes' pixels (1-based corners, clipped to the image), each area-resized to size x size -> (crops
    (M, 3, size, size) normalised, kept (N,) bool: boxes with an empty clipped region are dropped)."""
    h, w = image.shape[-2:]
    b = boxes[:, :4].trunc().int().numpy()
    x0, y0 = np.maximum(b[:, 0], 1), np.maximum(b[:, 1], 1)
    x1, y1 = np.minimum(b[:, 2], w), np.minimum(b[:, 3], h)
    kept = (y1 > y0 - 1) & (x1 > x0 - 1)
    out = [F.interpolate(image[:, :, y0[k] - 1:y1[k], x0[k] - 1:x1[k]], size=(size, size), mode="area")
           for k in np.flatnonzero(kept)]
    crops = torch.cat(out) if out else image.new_zeros(0, 3, size, size)
    return _normalise(crops), torch.from_numpy(kept)


def _run(net: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """``net`` on crops (M, 3, S, S) in chunks of ``CHUNK`` -> its heads, each (M, C); M may be 0."""
    outs = [net(x[k:k + CHUNK]) for k in range(0, max(len(x), 1), CHUNK)]
    return [torch.cat(parts) for parts in zip(*outs, strict=True)]


def _candidates(image: torch.Tensor, min_face_size: float, threshold: float, factor: float) -> torch.Tensor:
    """Stage 1: P-net over the pyramid -> (N, 9) boxes x0, y0, x1, y1, score and the 4 regression offsets."""
    pnet = nets()[0]
    h, w = image.shape[-2:]
    scale = 12.0 / min_face_size
    short = min(h, w) * scale
    found = []
    while short >= 12:
        x = _normalise(F.interpolate(image, size=(int(h * scale + 1), int(w * scale + 1)), mode="area"))
        reg, prob = pnet(x)
        prob, reg = prob[0, 1], reg[0]
        mask = prob >= threshold
        yx = mask.nonzero()
        cell = yx.flip(1).to(reg.dtype)
        boxes = torch.cat([((2 * cell + 1) / scale).floor(), ((2 * cell + 12) / scale).floor(),
                           prob[mask].unsqueeze(1), reg[:, mask].t()], dim=1)
        found.append(boxes[nms(boxes[:, :4], boxes[:, 4], 0.5)])
        scale, short = scale * factor, short * factor
    boxes = torch.cat(found) if found else torch.zeros(0, 9)
    return boxes[nms(boxes[:, :4], boxes[:, 4], 0.7)]


@torch.no_grad()
def detect_mtcnn(photo: np.ndarray, *, min_face_size: float = 20, thresholds=THRESHOLDS, factor: float = FACTOR
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Faces in an (H, W, 3) uint8 photo -> (boxes (N, 5): x0, y0, x1, y1, score; landmarks (N, 5, 2): x, y),
    in the order of the last NMS (highest score first). ``min_face_size`` (px) > 0 sets the pyramid's first scale
    (12 / min_face_size), ``factor`` in (0, 1) the step between scales."""
    if not (isinstance(photo, np.ndarray) and photo.ndim == 3 and photo.shape[2] == 3 and photo.dtype == np.uint8):
        got = f"{photo.shape} {photo.dtype}" if isinstance(photo, np.ndarray) else type(photo).__name__
        raise ValueError(f"detect_mtcnn expects an (H, W, 3) uint8 RGB array; got {got}")
    if not min_face_size > 0:
        raise ValueError(f"min_face_size must be a positive number of pixels; got {min_face_size!r}")
    if not 0 < factor < 1:
        raise ValueError(f"factor (the pyramid's scale step) must be between 0 and 1 (MTCNN uses {FACTOR}); "
                         f"got {factor!r}")
    image = torch.from_numpy(np.array(photo, dtype=np.uint8)).unsqueeze(0).permute(0, 3, 1, 2).float()
    _, rnet, onet = nets()
    boxes = _candidates(image, min_face_size, thresholds[0], factor)
    if len(boxes):
        size = boxes[:, 2:4] - boxes[:, 0:2]
        boxes = _square(torch.cat([boxes[:, 0:4] + boxes[:, 5:9] * size.repeat(1, 2), boxes[:, 4:5]], dim=1))
        crops, kept = _crops(image, boxes, 24)
        boxes = boxes[kept]
        reg, prob = _run(rnet, crops)
        ok = prob[:, 1] > thresholds[1]
        boxes, reg = torch.cat([boxes[ok, :4], prob[ok, 1:2]], dim=1), reg[ok]
        pick = nms(boxes[:, :4], boxes[:, 4], 0.7)
        boxes = _square(_regress(boxes[pick], reg[pick]))
    points = torch.zeros(0, 5, 2)
    if len(boxes):
        crops, kept = _crops(image, boxes, 48)
        boxes = boxes[kept]
        reg, marks, prob = _run(onet, crops)
        ok = prob[:, 1] > thresholds[2]
        boxes, reg, marks = torch.cat([boxes[ok, :4], prob[ok, 1:2]], dim=1), reg[ok], marks[ok]
        w, h = boxes[:, 2:3] - boxes[:, 0:1] + 1, boxes[:, 3:4] - boxes[:, 1:2] + 1
        points = torch.stack([w * marks[:, :5] + boxes[:, 0:1] - 1, h * marks[:, 5:] + boxes[:, 1:2] - 1], dim=2)
        boxes = _regress(boxes, reg)
        pick = nms(boxes[:, :4], boxes[:, 4], 0.7, over_min=True, plus_one=True)
        boxes, points = boxes[pick], points[pick]
    return boxes[:, :5].numpy().astype(np.float64), points.numpy().astype(np.float64)
