"""Reference-transfer training: the loop for the losses the shared trainer cannot compute (it has no reference
labels): ``train_reference_transfer(mapper, G, classifier, ReferenceTrainConfig(...))``.

Per step (batch of b): sources ``w`` and references ``w_ref`` from ``G.mapping`` (truncation ``psi``), rendered;
the frozen ``classifier`` labels the references; the style encoder's Gaussian for the reference is sampled
(reparameterised) and the mapper edits the sources with it (``target=None``: transfer every group). Terms:

- ``reference_attribute``: the classifier reads the reference's labels on the edited image;
- ``self_reconstruction``: the source edited with its *own* style (mean) stays where it is;
- ``latent_cycle``: the edit, edited back with the source's own style, returns to the source;
- ``neighbourhood``: ``||w' - w||`` per sample (small edits);
- ``kl``: the encoder's posterior stays near N(0, I) (so styles can be sampled);
- ``lpips`` / ``identity``: only when an ``lpips`` module / ``embedder`` is passed (content held by pretrained nets).

Gradients flow through the frozen generator and classifier into the mapper and its style encoder. The loop is the
core ``RunLoop``: with a ``run_dir`` it checkpoints every ``checkpoint_every`` steps and ``resume`` continues exactly
(mapper, optimiser, the latent/noise stream); a non-finite step is rolled back and skipped (5 in a row stop the run).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from torch import nn

from latentedit.config import FrozenConfig
from latentedit.losses import identity_loss, latent_cycle_loss, neighbourhood_loss
from latentedit.training.loop import GeneratorState, NonFiniteStep, RunLoop
from latentedit_sensorium.losses import kl_to_standard_normal, reference_attribute_loss, self_reconstruction_loss
from latentedit_sensorium.style_encoder import reparameterise


@dataclass(frozen=True)
class ReferenceTrainConfig(FrozenConfig):
    """Hyperparameters of ``train_reference_transfer`` (weights: 0 switches a term off)."""

    steps: int = field(default=2000, metadata={"doc": "optimiser steps"})
    batch: int = field(default=16, metadata={"doc": "sources (and references) per step"})
    lr: float = field(default=1e-3, metadata={"doc": "Adam learning rate"})
    betas: tuple[float, float] = field(default=(0.5, 0.99), metadata={"doc": "Adam betas"})
    seed: int = field(default=0, metadata={"doc": "seed of the latents and the reparameterisation noise"})
    truncation_psi: float = field(default=0.7, metadata={"doc": "truncation of sampled sources/references"})
    grad_clip: float = field(default=1.0, metadata={"doc": "gradient-norm clip (0 = off)"})
    reference_attribute: float = field(default=2.0, metadata={"doc": "weight of reference_attribute"})
    self_reconstruction: float = field(default=1.0, metadata={"doc": "weight of self_reconstruction"})
    latent_cycle: float = field(default=1.0, metadata={"doc": "weight of latent_cycle"})
    neighbourhood: float = field(default=0.01, metadata={"doc": "weight of neighbourhood"})
    kl: float = field(default=-1.0, metadata={"doc": "weight of kl (< 0: the mapper's config.kl_weight)"})
    lpips: float = field(default=1.0, metadata={"doc": "weight of lpips (used only when an lpips module is given)"})
    identity: float = field(default=0.1, metadata={"doc": "weight of identity (only with an embedder)"})

    def __post_init__(self):
        bad = [f"{k}={getattr(self, k)!r}" for k in ("steps", "batch") if not isinstance(getattr(self, k), int)
               or getattr(self, k) < 1]
        if bad:
            raise ValueError(f"ReferenceTrainConfig: expected positive ints; got {', '.join(bad)}")


def reference_transfer_terms(mapper, G, classifier: nn.Module, w_src: torch.Tensor, w_ref: torch.Tensor,
                             cfg: ReferenceTrainConfig, *, lpips: nn.Module | None = None,
                             embedder: nn.Module | None = None,
                             generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Weighted scalar terms for sources ``w_src`` and references ``w_ref`` (both (b, num_ws, w_dim))."""
    with torch.no_grad():
        x_src, x_ref = G.synthesis(torch.cat([w_src, w_ref]), noise_mode="const").chunk(2)
        ref_labels = (classifier(x_ref) > 0).float()
    mu, logvar = mapper.encode(x_ref)
    style = reparameterise(mu, logvar, generator=generator)
    w_edit = mapper(w_src, style=style)
    kl_w = mapper.config.kl_weight if cfg.kl < 0 else cfg.kl
    own = mapper.encode(x_src)[0]
    terms: dict[str, torch.Tensor] = {}
    if cfg.self_reconstruction:
        terms["self_reconstruction"] = cfg.self_reconstruction * self_reconstruction_loss(mapper(w_src, style=own),
                                                                                          w_src)
    if cfg.latent_cycle:
        terms["latent_cycle"] = cfg.latent_cycle * latent_cycle_loss(mapper(w_edit, style=own), w_src)
    if cfg.neighbourhood:
        terms["neighbourhood"] = cfg.neighbourhood * neighbourhood_loss(w_edit, w_src)
    if kl_w:
        terms["kl"] = kl_w * kl_to_standard_normal(mu, logvar)
    need_image = cfg.reference_attribute or (lpips is not None and cfg.lpips) or (embedder is not None
                                                                                   and cfg.identity)
    if need_image:
        x_edit = G.synthesis(w_edit, noise_mode="const")
        if cfg.reference_attribute:
            terms["reference_attribute"] = cfg.reference_attribute * reference_attribute_loss(classifier(x_edit),
                                                                                              ref_labels)
        if lpips is not None and cfg.lpips:
            terms["lpips"] = cfg.lpips * lpips(x_edit, x_src)
        if embedder is not None and cfg.identity:
            terms["identity"] = cfg.identity * identity_loss(embedder(x_edit), embedder(x_src))
    return terms


@torch.no_grad()
def reference_agreement(mapper, G, classifier: nn.Module, *, count: int = 64, seed: int = 12345,
                        truncation_psi: float = 0.7) -> dict[str, float]:
    """On ``count`` fresh (source, reference) pairs: the fraction of (pair, attribute) where the classifier reads
    the reference's label on the edit (``agreement``), and on the unedited source (``chance``: the baseline)."""
    was = mapper.training
    mapper.eval()
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(2 * count, G.z_dim, generator=g).to(G.mapping.w_avg.device)
    w = G.mapping(z, truncation_psi=truncation_psi)
    w_src = w[:count]
    x_src, x_ref = G.synthesis(w, noise_mode="const").chunk(2)
    ref = classifier(x_ref) > 0
    edit = G.synthesis(mapper(w_src, style=mapper.encode_style(x_ref)), noise_mode="const")
    mapper.train(was)
    return {"agreement": float(((classifier(edit) > 0) == ref).float().mean()),
            "chance": float(((classifier(x_src) > 0) == ref).float().mean())}


def train_reference_transfer(mapper, G, classifier: nn.Module, cfg: ReferenceTrainConfig | None = None, *,
                             lpips: nn.Module | None = None, embedder: nn.Module | None = None,
                             log_every: int = 0, run_dir=None, resume: bool = False, checkpoint_every: int = 0,
                             progress: bool = False) -> list[dict[str, float]]:
    """Train ``mapper`` (in place) with ``reference_transfer_terms``; returns the per-step logged terms
    (every ``log_every`` steps, and the last one, of this call). ``G`` and ``classifier`` stay frozen.
    ``run_dir``: the run folder (``checkpoint.pt``, ``log.jsonl``; None: nothing written); ``resume`` continues it."""
    cfg = cfg or ReferenceTrainConfig()
    G.eval().requires_grad_(False)
    classifier.eval().requires_grad_(False)
    dev = G.mapping.w_avg.device
    mapper.to(dev).train()
    opt = torch.optim.Adam([p for p in mapper.parameters() if p.requires_grad], lr=cfg.lr, betas=cfg.betas)
    g = torch.Generator().manual_seed(cfg.seed)
    trajectory = {k: v for k, v in dataclasses.asdict(cfg).items() if k != "steps"}  # steps may grow on resume
    loop = RunLoop(run_dir, config={"reference_training": trajectory, "mapper": mapper.config.to_dict()},
                   total_steps=cfg.steps, checkpoint_every=checkpoint_every, resume=resume, progress=progress,
                   max_nonfinite=5, diverged_hint=f"lower train.lr (now {cfg.lr})")
    loop.track(modules={"mapper": mapper}, optimizers={"mapper": opt}, latents=GeneratorState(g))
    loop.restore()
    log: list[dict[str, float]] = []

    def step_fn(step: int) -> dict:
        with torch.no_grad():
            z = torch.randn(2 * cfg.batch, G.z_dim, generator=g).to(dev)
            w_src, w_ref = G.mapping(z, truncation_psi=cfg.truncation_psi).chunk(2)
        terms = reference_transfer_terms(mapper, G, classifier, w_src, w_ref, cfg, lpips=lpips, embedder=embedder,
                                         generator=g)
        total = sum(terms.values())
        values = {k: float(v.detach()) for k, v in terms.items()}
        if not torch.isfinite(total):
            raise NonFiniteStep("loss terms", values)
        opt.zero_grad(set_to_none=True)
        total.backward()
        if cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_(mapper.parameters(), cfg.grad_clip)
        opt.step()
        if (log_every and step % log_every == 0) or step == cfg.steps - 1:
            log.append({"step": step, **values})
        return {"losses": values}

    loop.on_rollback.append(lambda: opt.zero_grad(set_to_none=True))
    loop.run(step_fn)
    mapper.eval()
    return log
