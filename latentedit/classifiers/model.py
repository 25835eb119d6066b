"""Attribute classifiers for any domain: a module over images in [-1, 1] that knows its attribute names, its input
size and its normalisation, saved as one ``.safetensors`` file.

``AttributeClassifier(module, attributes, input_size, mean, std)`` wraps any ``nn.Module`` (a user's own, or a
torchvision backbone from ``build_backbone``) in the interface the rest of latentedit uses: images
``(B, 3, H, W)`` in [-1, 1] of any size -> logits ``(B, n_attr)`` in ``output_names`` order. Inputs are resized to
``input_size`` and normalised with ``mean``/``std`` (on [0, 1] pixels) inside ``forward``.

The file (kind ``attribute-classifier``) carries ``{backbone, attributes, input_size, mean, std, train}`` as JSON
metadata; only torchvision backbones are saved (a custom module is the user's to save).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

CLASSIFIER_KIND = "attribute-classifier"
BACKBONES = ("resnet18", "resnet50")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ClassifierError(ValueError):
    """A classifier, its file or its attributes are not what was asked (one line)."""


@dataclass(frozen=True)
class ClassifierMeta:
    """What a classifier file says about its model."""

    backbone: str
    attributes: tuple[str, ...]
    input_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    train: dict = field(default_factory=dict)

    @staticmethod
    def from_dict(d: dict, source: str) -> "ClassifierMeta":
        try:
            meta = ClassifierMeta(backbone=str(d["backbone"]), attributes=tuple(d["attributes"]),
                                  input_size=int(d["input_size"]), mean=tuple(float(v) for v in d["mean"]),
                                  std=tuple(float(v) for v in d["std"]), train=dict(d.get("train", {})))
        except (KeyError, TypeError, ValueError) as exc:
            raise ClassifierError(f"{source}: classifier metadata is incomplete ({type(exc).__name__}: {exc}); "
                                  "expected backbone, attributes, input_size, mean, std") from None
        if meta.backbone not in BACKBONES:
            raise ClassifierError(f"{source}: backbone {meta.backbone!r} is not one of {', '.join(BACKBONES)}")
        return meta


def build_backbone(name: str, n_out: int) -> nn.Module:
    """A torchvision ResNet with its last layer replaced by ``n_out`` logits (random init)."""
    import torchvision

    if name not in BACKBONES:
        raise ClassifierError(f"unknown backbone {name!r}; expected one of {', '.join(BACKBONES)}")
    net = getattr(torchvision.models, name)(weights=None)
    net.fc = nn.Linear(net.fc.in_features, n_out)
    return net


def load_backbone_weights(net: nn.Module, path) -> list[str]:
    """Load ImageNet weights (a torchvision ``.pth`` state dict, read with ``weights_only=True``) into ``net``
    except its last layer; returns the names of the layers left at their initial values."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises several types for foreign files
        raise ClassifierError(f"--backbone-weights {path}: not a readable torch state dict "
                              f"({type(exc).__name__}: {exc})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ClassifierError(f"--backbone-weights {path}: expected a state dict; got {type(state).__name__}")
    own = net.state_dict()
    usable = {k: v for k, v in state.items() if k in own and not k.startswith("fc.") and v.shape == own[k].shape}
    if len(usable) < len([k for k in own if not k.startswith("fc.")]) // 2:
        raise ClassifierError(f"--backbone-weights {path}: only {len(usable)} of {len(own)} tensors fit this "
                              "backbone; pass the torchvision ImageNet weights of the same --backbone")
    net.load_state_dict(usable, strict=False)
    return sorted(set(own) - set(usable))


class AttributeClassifier(nn.Module):
    """images (B, 3, H, W) in [-1, 1] -> logits (B, n_attr), columns named by ``output_names``."""

    def __init__(self, module: nn.Module, attributes, input_size: int, mean=IMAGENET_MEAN, std=IMAGENET_STD, *,
                 backbone: str = "custom", train_info: dict | None = None):
        super().__init__()
        attributes = tuple(attributes)
        if not attributes or len(set(attributes)) != len(attributes) or not all(isinstance(a, str) for a in attributes):
            raise ClassifierError(f"attributes must be distinct names; got {attributes!r}")
        if not isinstance(input_size, int) or input_size < 8:
            raise ClassifierError(f"input_size must be an int >= 8; got {input_size!r}")
        if len(tuple(mean)) != 3 or len(tuple(std)) != 3 or min(std) <= 0:
            raise ClassifierError(f"mean and std must be 3 numbers each (std > 0); got {mean!r}, {std!r}")
        self.net = module
        self.meta = ClassifierMeta(backbone, attributes, input_size, tuple(map(float, mean)),
                                   tuple(map(float, std)), dict(train_info or {}))
        self.register_buffer("_mean", torch.tensor(self.meta.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(self.meta.std).view(1, 3, 1, 1), persistent=False)

    @property
    def output_names(self) -> tuple[str, ...]:
        return self.meta.attributes

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) in [-1, 1] -> (B, 3, S, S) normalised network input."""
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ClassifierError(f"expected images of shape (B, 3, H, W) in [-1, 1]; got {got}")
        s = self.meta.input_size
        x = x.float()
        if x.shape[-2:] != (s, s):
            x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=x.shape[-1] > s)
        return ((x + 1) / 2 - self._mean) / self._std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(self.prepare(x))
        if out.ndim != 2 or out.shape[1] != len(self.output_names):
            raise ClassifierError(f"the classifier module returned {tuple(out.shape)}; expected (B, "
                                  f"{len(self.output_names)}) logits for {', '.join(self.output_names)}")
        return out

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (B, F) of a torchvision ResNet backbone (for a Fréchet distance)."""
        n = self.net
        if not all(hasattr(n, a) for a in ("conv1", "layer4", "avgpool")):
            raise ClassifierError("features() needs a torchvision ResNet backbone; this classifier wraps "
                                  f"{type(n).__name__}")
        y = n.maxpool(n.relu(n.bn1(n.conv1(self.prepare(x)))))
        y = n.layer4(n.layer3(n.layer2(n.layer1(y))))
        return torch.flatten(n.avgpool(y), 1)


class AttributeColumns(nn.Module):
    """The columns ``attributes`` (in that order) of a classifier with ``output_names``."""

    def __init__(self, classifier: nn.Module, attributes):
        super().__init__()
        have = tuple(getattr(classifier, "output_names", ()) or ())
        missing = [a for a in attributes if a not in have]
        if missing:
            raise ClassifierError(f"the classifier has no attribute {', '.join(map(repr, missing))}; it reads "
                                  f"{', '.join(have) or '(no named outputs)'}")
        self.classifier = classifier
        self.cols = [have.index(a) for a in attributes]
        self.output_names = tuple(attributes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x)[:, self.cols]


def select_attributes(classifier: nn.Module, attributes=None) -> nn.Module:
    """``classifier`` itself when ``attributes`` is None or all of its outputs in order; else its columns
    ``attributes``; a one-line ClassifierError naming what it has when one is missing."""
    if attributes is None or tuple(attributes) == tuple(getattr(classifier, "output_names", ()) or ()):
        return classifier
    return AttributeColumns(classifier, tuple(attributes))


def save_classifier(model: AttributeClassifier, path, extra: dict | None = None) -> Path:
    """Write a torchvision-backbone classifier with its metadata, atomically."""
    from latentedit.io.modelfile import save_model_file

    if model.meta.backbone not in BACKBONES:
        raise ClassifierError(f"only torchvision backbones ({', '.join(BACKBONES)}) are saved in the classifier "
                              f"format; this one wraps a {model.meta.backbone!r} module")
    return save_model_file(path, model.net.state_dict(), kind=CLASSIFIER_KIND, config=model.meta, extra=extra)


def is_classifier_file(path) -> bool:
    """True when ``path`` is one of our files holding an attribute classifier (header read only)."""
    from latentedit.io.modelfile import ModelFileError, read_model_metadata

    try:
        return Path(path).is_file() and read_model_metadata(path)[0] == CLASSIFIER_KIND
    except ModelFileError:
        return False


def load_classifier_file(path, attributes=None) -> nn.Module:
    """The classifier in ``path`` (eval mode, frozen), reduced to ``attributes`` when given."""
    from latentedit.io.modelfile import load_state_dict_strict, read_model_file

    tensors, _, config, _ = read_model_file(path, expect_kind=CLASSIFIER_KIND)
    meta = ClassifierMeta.from_dict(config, str(path))
    net = build_backbone(meta.backbone, len(meta.attributes))
    load_state_dict_strict(net, tensors, source=str(path))
    model = AttributeClassifier(net, meta.attributes, meta.input_size, meta.mean, meta.std, backbone=meta.backbone,
                                train_info=meta.train)
    return select_attributes(model.eval().requires_grad_(False), attributes)


def load_classifier(path, *, attributes=None, fallback=None) -> nn.Module:
    """Any attribute classifier file: our ``attribute-classifier`` format, else ``fallback(path)`` (a loader for
    another kind, e.g. a domain's own judge); reduced to ``attributes`` when given."""
    if path is not None and is_classifier_file(path):
        return load_classifier_file(path, attributes)
    if fallback is None:
        from latentedit.io.modelfile import read_model_metadata

        if path is None:
            raise ClassifierError("no classifier file given; pass one made by `latentedit train classifier`")

        kind = read_model_metadata(path)[0]
        raise ClassifierError(f"{path}: expected an '{CLASSIFIER_KIND}' file; this one holds a '{kind}'")
    return select_attributes(fallback(path), attributes)
