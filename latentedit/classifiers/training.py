"""Training an attribute classifier on labelled photos: one small loop with a seeded held-out split, multi-label
BCE with per-attribute positive weights, exact resume from the run folder, and a report per attribute.

Run folder (``latentedit.training.loop.RunLoop``): ``checkpoint.pt``, ``log.jsonl``, ``report.json``.
Batches are drawn from a generator seeded by (seed, step), so a resumed run sees the batches an unbroken run
would have seen.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from latentedit.classifiers.metrics import attribute_report, positive_weights
from latentedit.classifiers.model import BACKBONES, IMAGENET_MEAN, IMAGENET_STD, AttributeClassifier, \
    ClassifierError, build_backbone, load_backbone_weights, save_classifier

CHECKPOINT = "checkpoint.pt"
REPORT = "report.json"


@dataclass(frozen=True)
class ClassifierTrainConfig:
    """How a classifier is trained (recorded in its file and checked on resume; ``steps`` may grow)."""

    attributes: tuple[str, ...]
    backbone: str = "resnet18"
    input_size: int = 128
    steps: int = 2000
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    held_out: float = 0.2
    seed: int = 0
    flip: bool = True
    checkpoint_every: int = 200
    pretrained: bool = False

    def __post_init__(self):
        if self.backbone not in BACKBONES:
            raise ClassifierError(f"backbone must be one of {', '.join(BACKBONES)}; got {self.backbone!r}")
        if not 0 < self.held_out < 1:
            raise ClassifierError(f"held_out must lie in (0, 1); got {self.held_out}")
        for name in ("steps", "batch_size", "input_size", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ClassifierError(f"{name} must be >= 1; got {getattr(self, name)}")


def held_out_split(n: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, held-out indices): a seeded permutation, ``round(n * fraction)`` (>= 1) held out."""
    if n < 2:
        raise ClassifierError(f"need at least 2 labelled photos to hold some out; got {n}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    k = min(max(1, round(n * fraction)), n - 1)
    return perm[k:].sort().values, perm[:k].sort().values


def lr_at(step: int, cfg: ClassifierTrainConfig) -> float:
    """Linear warm-up, then cosine decay to 5 % of ``lr`` at ``steps``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 3, S, S) -> float in [-1, 1]."""
    return images.float() / 127.5 - 1


@torch.no_grad()
def predict(model, images: torch.Tensor, batch: int = 128) -> torch.Tensor:
    """Logits (N, A) of uint8 images (N, 3, S, S), in eval mode."""
    was = model.training
    model.eval()
    out = torch.cat([model(to_unit(chunk)) for chunk in images.split(batch)]) if len(images) else torch.zeros(0)
    model.train(was)
    return out


def train_classifier(images: torch.Tensor, labels: torch.Tensor, cfg: ClassifierTrainConfig, run_dir, out=None, *,
                     resume: bool = False, backbone_weights=None, data_info: dict | None = None,
                     progress: bool = True) -> dict:
    """Train on ``images`` (N, 3, S, S) uint8 with ``labels`` (N, A) 0/1; write the classifier file ``out`` and
    ``run_dir/report.json``; returns the report ({attribute: figures} on the held-out photos, plus run facts)."""
    from latentedit.training.loop import RunLoop

    if labels.shape != (len(images), len(cfg.attributes)):
        raise ClassifierError(f"labels must be (N={len(images)}, {len(cfg.attributes)}); got {tuple(labels.shape)}")
    run_dir = Path(run_dir)
    ckpt = run_dir / CHECKPOINT
    if ckpt.exists() and not resume:
        raise ClassifierError(f"{run_dir} already holds a run ({CHECKPOINT}); pass --resume to continue it or "
                              "choose a new --run-dir")
    if resume and not ckpt.exists():
        raise ClassifierError(f"--resume: {ckpt} does not exist; start without --resume")
    train_idx, held_idx = held_out_split(len(images), cfg.held_out, cfg.seed)
    torch.manual_seed(cfg.seed)
    net = build_backbone(cfg.backbone, len(cfg.attributes))
    if backbone_weights is not None and not resume:
        load_backbone_weights(net, backbone_weights)
    mean, std = (IMAGENET_MEAN, IMAGENET_STD)
    model = AttributeClassifier(net, cfg.attributes, cfg.input_size, mean, std, backbone=cfg.backbone,
                                train_info=dataclasses.asdict(cfg))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    pos_weight = positive_weights(labels[train_idx])
    recorded = {**{k: v for k, v in dataclasses.asdict(cfg).items() if k != "steps"}, "n_photos": len(images),
                **(data_info or {})}
    # rollback off: a non-finite loss stops the run at once, the last checkpoint intact
    loop = RunLoop(run_dir, config=recorded, total_steps=cfg.steps, checkpoint_every=cfg.checkpoint_every,
                   resume=resume, progress=progress, tensorboard=False, rollback=False,
                   exists_hint="choose a new --run-dir", diverged_hint="lower --set lr=... and resume")
    loop.track(modules={"model": model}, optimizers={"opt": opt})
    loop.restore()

    def train_step(step: int) -> dict:
        g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
        pick = train_idx[torch.randint(len(train_idx), (cfg.batch_size,), generator=g)]
        x = to_unit(images[pick])
        if cfg.flip:
            flip = torch.rand(len(x), generator=g) < 0.5
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        loss = F.binary_cross_entropy_with_logits(model(x), labels[pick], pos_weight=pos_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"losses": {"bce": float(loss.detach())}, "lr": lr_at(step, cfg)}

    held: dict = {}

    def held_out_report(step: int) -> None:  # at the end, before the log closes
        held.update(attribute_report(predict(model, images[held_idx]), labels[held_idx], cfg.attributes))
        loop.log.event(step, "report", report=held)

    loop.every(0, held_out_report)
    model.train()
    loop.run(train_step, start_fields={"n_train": len(train_idx), "n_held_out": len(held_idx),
                                       "pos_weight": pos_weight.tolist()})
    step = loop.step
    report = {"attributes": held, "steps": step, "n_train": len(train_idx), "n_held_out": len(held_idx),
              "pos_weight": dict(zip(cfg.attributes, pos_weight.tolist())), **(data_info or {})}
    from latentedit.io.modelfile import atomic_write

    atomic_write(run_dir / REPORT, lambda tmp: Path(tmp).write_text(json.dumps(report, indent=2, sort_keys=True)))
    if out is not None:
        save_classifier(model.eval(), out, extra={"held_out": held, "steps": step, "n_train": len(train_idx),
                                                  "n_held_out": len(held_idx)})
    return report
