"""Training recipes for the three toy-faces judges: renders streamed in memory, no disk, CPU-friendly.

One loop serves all three (``train_judge``); they differ in batches and loss:

* attributes — ``FaceStream`` batches, binary cross-entropy on ``intensity > 0.5`` labels;
* factors    — ``FaceStream`` batches, mean squared error of the sigmoid outputs against every factor;
* identity   — ``PairStream`` batches of ``batch_size // 2`` persons × 2 views (attributes and nuisance redrawn);
  an ArcFace-style loss: the cosine between the two views of a person gets an additive angular margin ``m``
  (``cos(θ + m)``), every other person in the batch is a negative, logits scaled by ``s``; cross-entropy both
  ways. Persons are new every step, so the embedder learns identity in general rather than a fixed class table.

All use AdamW with a linear warm-up then cosine decay (pulled forward if the CPU-time cap would come first), light augmentation (random blur and noise on half the
batch, so that judges also read slightly soft generator outputs), a cap on CPU time (``max_minutes`` per thread, so a shared, busy machine does not cut training short), and a final held-out evaluation
stored with the weights (``extra["heldout"]``). The loop is the core ``RunLoop``: every ``checkpoint_every`` steps
a resumable ``checkpoint.pt`` in the run folder (default ``OUT.run/``; ``resume=True`` continues it exactly: model,
optimiser, data and augmentation streams, CPU time used; bit for bit unless the CPU-time cap, a clock reading, moves
the schedule) and the judge so far to the output file
(``extra["complete"] = False``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from latentedit_toyfaces.datasets import FaceStream, PairStream
from latentedit_toyfaces.judge_evaluation import evaluate
from latentedit_toyfaces.factors import attribute_labels
from latentedit.training.loop import GeneratorState, RunLoop
from latentedit_toyfaces.judges import JUDGE_NAMES, JudgeError, JudgeNet, TrainRecipe, default_config, save_judge

#: The recipes the shipped judges were trained with (``latentedit toyfaces train-judge NAME`` defaults).
RECIPES: dict[str, TrainRecipe] = {
    "attributes": TrainRecipe(seed=1, steps=1500, batch_size=64, lr=3e-3),
    "identity": TrainRecipe(seed=2, steps=1500, batch_size=64, lr=3e-3, margin=0.3, scale=16.0),
    "factors": TrainRecipe(seed=3, steps=2000, batch_size=64, lr=3e-3),
}


def lr_factor(step: int, recipe: TrainRecipe, cpu_fraction: float = 0.0) -> float:
    """Linear warm-up over ``warmup_steps`` then cosine decay to 2% at ``steps``.

    ``cpu_fraction`` (CPU time used / the ``max_minutes`` cap) can move the decay forward: if the cap would
    arrive before ``steps``, the schedule still ends annealed.
    """
    if step < recipe.warmup_steps:
        return (step + 1) / recipe.warmup_steps
    t = (step - recipe.warmup_steps) / max(1, recipe.steps - recipe.warmup_steps)
    t = max(t, cpu_fraction)
    return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Blur (random strength) and add noise (σ ≤ 0.03) to a random half of the images (B, 3, H, W)."""
    b = x.shape[0]
    pick = (torch.rand(b, 1, 1, 1, generator=generator) < 0.5).float()
    w = torch.rand(b, 1, 1, 1, generator=generator) * pick
    blurred = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    noise = torch.randn(x.shape, generator=generator) * (0.03 * torch.rand(b, 1, 1, 1, generator=generator) * pick)
    return torch.lerp(x, blurred, w) + noise


def arcface_pair_loss(ea: torch.Tensor, eb: torch.Tensor, margin: float, scale: float) -> torch.Tensor:
    """ArcFace-style loss over in-batch persons. ``ea``, ``eb`` (P, D) unit embeddings of two views of P persons."""
    cos = (ea @ eb.T).clamp(-1 + 1e-6, 1 - 1e-6)
    eye = torch.eye(cos.shape[0], dtype=torch.bool)
    with_margin = torch.cos(torch.acos(cos) + margin)
    logits = scale * torch.where(eye, with_margin, cos)
    target = torch.arange(cos.shape[0])
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def _step_loss(name: str, model: JudgeNet, batch, recipe: TrainRecipe, aug: torch.Generator) -> torch.Tensor:
    if name == "identity":
        x = augment(torch.cat([batch.images_a, batch.images_b]), aug)
        e = model(x)
        p = batch.images_a.shape[0]
        return arcface_pair_loss(e[:p], e[p:], recipe.margin, recipe.scale)
    x = augment(batch.images, aug)
    if name == "attributes":
        return F.binary_cross_entropy_with_logits(model(x), attribute_labels(batch.factors).float())
    return F.mse_loss(model(x), batch.factors)


def train_judge(name: str, out, recipe: TrainRecipe | None = None, *, eval_n: int = 2000,
                checkpoint_every: int = 250, log: Callable[[str], None] = print, run_dir=None,
                resume: bool = False) -> dict:
    """Train judge ``name`` with ``recipe`` (default ``RECIPES[name]``), save it to ``out``; return its figures.

    ``run_dir`` (default ``OUT.run``) holds ``checkpoint.pt`` and ``log.jsonl``; ``resume`` continues it.
    The returned dict (also stored as the file's ``extra``) holds ``steps_done``, ``train_seconds``,
    ``stopped_early`` and ``heldout`` (see ``evaluation.evaluate``).
    """
    if name not in JUDGE_NAMES:
        raise JudgeError(f"unknown judge {name!r}; expected one of {', '.join(JUDGE_NAMES)}")
    recipe = recipe or RECIPES[name]
    torch.set_num_threads(max(1, recipe.threads))
    torch.manual_seed(recipe.seed)
    config = default_config(name, **dataclasses.asdict(recipe))
    model = JudgeNet(config).train()
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    if name == "identity":
        stream = PairStream(recipe.seed, persons=max(2, recipe.batch_size // 2), prior=recipe.prior)
    else:
        stream = FaceStream(recipe.seed, batch_size=recipe.batch_size, prior=recipe.prior)
    aug = torch.Generator().manual_seed(recipe.seed + 7919)
    out = Path(out)
    loop = RunLoop(run_dir or out.with_name(out.name + ".run"), config={"judge": name, "config": dataclasses.asdict(config)},
                   total_steps=recipe.steps, checkpoint_every=checkpoint_every, resume=resume, progress=False,
                   rollback=False, exists_hint="choose another --out")
    used = {"cpu_seconds": 0.0, "wall_seconds": 0.0, "running": None}
    loop.track(modules={"judge": model}, optimizers={"judge": opt}, data=GeneratorState(stream.generator),
               augment=GeneratorState(aug), used=used)
    loop.restore()
    loop.after_save.append(lambda step: save_judge(model, out, extra={"complete": False, "steps_done": step})
                           if step < recipe.steps else None)
    start, cpu0 = time.time() - used["wall_seconds"], time.process_time() - used["cpu_seconds"]
    cap = recipe.max_minutes * 60 * max(1, recipe.threads)
    log(f"training judge '{name}': {sum(p.numel() for p in model.parameters()):,} parameters, "
        f"{recipe.steps} steps of {recipe.batch_size} images, seed {recipe.seed}"
        + (f", resumed at step {loop.step}" if loop.resumed_from is not None else ""))

    def over_cap(step: int) -> bool:
        if (time.process_time() - cpu0) / cap < 1:
            return False
        log(f"time cap of {recipe.max_minutes} CPU-minutes per thread reached at step {step}; stopping")
        return True

    def step_fn(step: int) -> dict:
        for group in opt.param_groups:
            group["lr"] = recipe.lr * lr_factor(step, recipe, (time.process_time() - cpu0) / cap)
        loss = _step_loss(name, model, next(stream), recipe, aug)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        lv = float(loss.detach())
        used["running"] = lv if used["running"] is None else 0.95 * used["running"] + 0.05 * lv
        used["cpu_seconds"], used["wall_seconds"] = time.process_time() - cpu0, time.time() - start
        if (step + 1) % 50 == 0 or step + 1 == recipe.steps:
            el = time.time() - start
            log(f"step {step + 1}/{recipe.steps} loss {used['running']:.4f} elapsed {el:.0f}s wall, "
                f"{time.process_time() - cpu0:.0f}s CPU ({(step + 1) * recipe.batch_size / el:.0f} images/s)")
        return {"loss": lv}

    loop.run(step_fn, stop_when=over_cap)
    step, stopped_early = loop.step, loop.step < recipe.steps
    train_seconds, cpu_seconds = time.time() - start, time.process_time() - cpu0
    model.eval()
    heldout = evaluate(name, model, n=eval_n)
    figures = {"complete": True, "steps_done": step, "train_seconds": round(train_seconds, 1),
               "train_cpu_seconds": round(cpu_seconds, 1), "threads": recipe.threads,
               "stopped_early": stopped_early, "heldout": heldout}
    save_judge(model, out, extra=figures)
    log(f"done in {train_seconds / 60:.1f} min wall ({cpu_seconds / 60:.1f} CPU-min); held-out: {heldout}")
    return figures
