"""Recipe: a StyleGAN2 generator distilled from the toy-faces renderer.

The target of ``G(z)`` is ``render(factors_from_gaussian(u))`` with ``u = normalize_2nd_moment(z)`` — exactly
the information the mapping network sees — so every factor (identity, attributes, nuisance) is a smooth function
of z and of W. A plain GAN from scratch is impractical on a 2-core CPU (see the planning notes); distillation
learns coarse factors within minutes, and an attribute-aware pixel weight (pixels that change when the attributes
are flipped count ``attr_weight`` times more) pulls the small attributes (glasses, beard, smile) in earlier.

Loss per step: weighted L1 at full, 1/2 and 1/4 resolution plus an image-gradient L1. EMA of G is the result.
Data is a pure function of (seed, step), so ``--resume`` continues exactly.

The weight map: until ``per_attribute_from_step`` the change when *all* attributes flip at once (normalised by
its maximum, so the large changes — hair colour, glasses — dominate and the thin mouth curve gets little weight);
from then on each attribute's change map normalised on its own, the smile's boosted by ``smile_weight /
attr_weight`` from ``smile_boost_from_step``, and the maximum over attributes taken, so the mouth counts as much as
the glasses. The learning rate follows a cosine from ``lr`` down to ``lr * lr_final_ratio`` between
``lr_decay_from_step`` and ``lr_decay_to_step``.

The shipped recipe (the defaults; the second shipped generator, session 5) uses the per-attribute map, the smile
boost and the latent readout (weight 10, all factors) from step 0. The first one (sessions 1-4,
``training_runs/toyfaces-generator``) switched to the per-attribute map at step 14,344, had no smile boost and no
readout, and lost the smile from W. The options (``docs/toyfaces_generator.md`` has the measurements):

* the *latent readout* (``readout_weight``, ``readout_from_step``, ``readout_factors``): a zero-initialised linear
  head regresses the normalised z (or chosen factors of it) from w, so no factor can leave W — the first
  generator's mapping squeezed the small-footprint ones out (R² of the smile coordinate from w: 0.07);
* the *detail phase* (off; ``detail_from_step``): the smile's change map boosted by ``smile_weight / attr_weight``
  (``smile_boost_from_step`` boosts it from any step), the image-gradient term weighted by the map, and a
  learning-rate restart at ``detail_lr`` with a cosine to ``lr * lr_final_ratio`` at ``detail_decay_to_step``.
  ``train(extend_from=...)`` continues a finished run with such a phase (``distill_phases``);
* the *teachers* (off; ``teacher_weight``, ``teacher_from_step``, ``teacher_files``; ``distill_losses.teacher_loss``):
  judges trained with other seeds than the evaluation judges (a factor estimator, an attribute classifier) must
  read in ``G(z)`` what they read in its render, so a mouth drawn too soft to read costs as much as a wrong hair
  colour.

The paired-flip loss and the adversarial term were tried, never shipped, and removed (``RETIRED_FIELDS``).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from latentedit.stylegan2 import Generator
from latentedit.stylegan2.layers import normalize_2nd_moment
from latentedit.training.checkpoint import ema_update
from latentedit.training.loop import RunLoop
from latentedit_toyfaces.recipes.distill_config import DistillConfig  # noqa: F401 (re-exported)
from latentedit_toyfaces.recipes.distill_losses import (  # noqa: F401 (re-exported)
    distill_loss, teacher_loss)


def targets_for(z: torch.Tensor, resolution: int, prior: bool = True, per_attribute: bool = False,
                smile_boost: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Renders of z and the attribute-change weight map: ((B, 3, R, R) in [-1,1], (B, 1, R, R) in [0, max(1, boost)]).

    ``per_attribute=False``: the change when all attributes flip at once, over its per-image maximum.
    ``per_attribute=True``: each attribute's own change map over its own maximum (the smile's times
    ``smile_boost``); the maximum over attributes.
    """
    from latentedit_toyfaces.factors import ATTRIBUTE_INDEX, INDEX, factors_from_gaussian
    from latentedit_toyfaces.renderer import render

    f = factors_from_gaussian(normalize_2nd_moment(z), prior=prior)  # (B, F)
    idx = list(ATTRIBUTE_INDEX)
    groups = [idx] if not per_attribute else [[i] for i in idx]
    variants = [f]
    for g in groups:
        flipped = f.clone()
        flipped[:, g] = 1 - f[:, g]
        variants.append(flipped)
    img, *alts = render(torch.cat(variants), resolution).chunk(len(variants))
    maps = []
    for g, alt in zip(groups, alts):
        change = (img - alt).abs().mean(dim=1, keepdim=True)  # (B, 1, R, R)
        scale = smile_boost if per_attribute and g == [INDEX["smile"]] else 1.0
        maps.append(scale * change / (change.amax(dim=(2, 3), keepdim=True) + 1e-6))
    return img, torch.stack(maps).amax(dim=0)


def batch_z(cfg: DistillConfig, step: int, z_dim: int) -> torch.Tensor:
    """The z of training step ``step``: (batch_size, z_dim), a pure function of (seed, step)."""
    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
    return torch.randn(cfg.batch_size, z_dim, generator=g)


def validation_z(n: int, z_dim: int) -> torch.Tensor:
    """Held-out z (never used in training: drawn from a disjoint seed stream)."""
    return torch.randn(n, z_dim, generator=torch.Generator().manual_seed(987_654_321))


@torch.no_grad()
def heldout_l1(G: Generator, z: torch.Tensor, cfg: DistillConfig) -> float:
    """Mean |G(z) - render(z)| in [0, 1] pixel units, noise off."""
    real, _ = targets_for(z, cfg.resolution, cfg.prior)
    fake = torch.cat([G(c, noise_mode="none") for c in z.split(64)])
    return float((fake - real).abs().mean() / 2)


class DistillRun:
    """One run folder: ``checkpoint.pt`` (resumable), ``log.jsonl``, ``samples/step*.png``."""

    def __init__(self, cfg: DistillConfig, run_dir, *, resume: bool, extend_from=None):
        self.cfg, self.dir = cfg, Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(cfg.seed)
        self.G = Generator(cfg.generator_config())
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.opt = torch.optim.Adam(self.G.parameters(), lr=cfg.lr, betas=tuple(cfg.betas))
        # w -> normalised z (detail phase); skip_init + zeros: no draw from the global RNG, so runs replay the
        # earlier phases exactly as before the readout existed
        self.readout = torch.nn.utils.skip_init(torch.nn.Linear, self.G.w_dim, self.G.z_dim)
        with torch.no_grad():
            self.readout.weight.zero_()
            self.readout.bias.zero_()
        self.readout_opt = torch.optim.Adam(self.readout.parameters(), lr=cfg.readout_lr)
        from latentedit_toyfaces.factors import INDEX

        self._readout_columns = [INDEX[f] for f in cfg.readout_factors] or list(range(self.G.z_dim))
        self.teachers = []
        if cfg.teacher_weight > 0:
            from latentedit_toyfaces.recipes.distill_losses import load_teacher

            with torch.random.fork_rng():  # building a net draws initial weights: keep the run's random stream
                self.teachers = [load_teacher(f) for f in cfg.teacher_files]  # eval mode, frozen
        self.loop = RunLoop(self.dir, config=cfg, total_steps=0, resume=resume, rollback=False, check_weights=False,
                            exists_hint="choose another --run-dir",
                            diverged_hint="resume from the last checkpoint with a lower lr")
        self.ckpt = self.loop.checkpoint_path
        self.loop.track(modules=self._modules(), optimizers=self._optimizers())
        self.loop.restore()
        if self.loop.resumed_from is None and extend_from is not None:
            from latentedit_toyfaces.recipes.distill_phases import load_for_extension

            self.loop.step = load_for_extension(extend_from, config=cfg, modules=self._modules(),
                                                optimizers=self._optimizers())

    @property
    def step(self) -> int:
        return self.loop.step

    def _modules(self):
        return {"G": self.G, "G_ema": self.G_ema, "readout": self.readout}

    def save(self) -> None:
        self.loop.save()

    def _optimizers(self):
        return {"opt": self.opt, "readout_opt": self.readout_opt}

    def train_step(self) -> float:
        """One step; its loss (a non-finite one stops the run, the last checkpoint intact)."""
        return self.loop.advance(lambda step: {"loss": self._step()})["loss"]

    def _step(self) -> float:
        z = batch_z(self.cfg, self.step, self.G.z_dim)
        per_attr = self.step >= self.cfg.per_attribute_from_step
        real, wmap = targets_for(z, self.cfg.resolution, self.cfg.prior, per_attribute=per_attr,
                                 smile_boost=self.cfg.smile_boost(self.step))
        for group in self.opt.param_groups:
            group["lr"] = self.cfg.lr_at(self.step)
        ws = self.G.mapping(z)
        fake = self.G.synthesis(ws, noise_mode="random")
        detail = self.cfg.in_detail_phase(self.step)
        loss = distill_loss(fake, real, wmap, self.cfg, weighted_gradient=detail)
        readout_on = self.cfg.readout_on(self.step)
        if readout_on:
            cols = self._readout_columns
            readout = F.mse_loss(self.readout(ws[:, 0])[:, cols], normalize_2nd_moment(z)[:, cols])
            loss = loss + self.cfg.readout_weight * readout
        if self.cfg.teacher_on(self.step):
            taught = [teacher_loss(t, fake, real, self.cfg.teacher_attribute_weight) for t in self.teachers]
            loss = loss + self.cfg.teacher_weight * sum(taught) / len(taught)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss at step {self.step}; resume from the last checkpoint")
        self.opt.zero_grad(set_to_none=True)
        self.readout_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        if readout_on:
            self.readout_opt.step()
        self.G.mapping.update_w_avg(ws[:, 0])
        beta = min(self.cfg.ema_beta, (1 + self.step) / (10 + self.step))
        ema_update(self.G_ema, self.G, beta)
        return float(loss.detach())

    def sample_grid(self) -> Path:
        from latentedit.images import save_image

        z = validation_z(16, self.G.z_dim)
        real, _ = targets_for(z, self.cfg.resolution, self.cfg.prior)
        with torch.no_grad():
            fake = self.G_ema(z, noise_mode="none")
        rows = torch.stack([real.view(2, 8, *real.shape[1:]), fake.view(2, 8, *fake.shape[1:])], 1)
        return save_image(rows.reshape(-1, *real.shape[1:]), self.dir / "samples" / f"step{self.step:07d}.png",
                          ncol=8)


def train(cfg: DistillConfig, run_dir, *, steps: int, resume: bool = False, checkpoint_minutes: float = 5.0,
          sample_every: int = 1000, eval_every: int = 500, progress: bool = True, extend_from=None) -> DistillRun:
    """Train until ``steps`` total steps; checkpoint every ``checkpoint_minutes`` and at the end.

    ``extend_from``: a checkpoint of an earlier recipe (e.g. the shipped run) to continue with ``cfg``'s later
    phases, used when ``run_dir`` has no checkpoint yet (see ``distill_phases``)."""
    run = DistillRun(cfg, run_dir, resume=resume, extend_from=extend_from)
    val_z = validation_z(256, run.G.z_dim)
    loop = run.loop
    loop.total_steps, loop.progress, loop.checkpoint_minutes = steps, progress, checkpoint_minutes

    def step_fn(_: int) -> dict:
        loss = run.train_step()
        record = {"loss": loss, "lr": cfg.lr_at(run.step - 1)}
        if run.step % eval_every == 0 or run.step == steps:
            record["heldout_l1_ema"] = heldout_l1(run.G_ema, val_z, cfg)
        return record

    loop.every(sample_every, lambda _: run.sample_grid())
    loop.run(step_fn, advances=True)
    return run


def generator_from_run(run_dir) -> tuple[Generator, dict]:
    """The run's EMA generator (w_avg = mean of 10k mapped z) and the metadata an export stores with it."""
    from latentedit.io.checkpoints import compute_w_avg
    from latentedit_toyfaces.recipes.distill_phases import read_checkpoint

    ckpt = Path(run_dir) / "checkpoint.pt"
    if not ckpt.is_file():
        raise FileNotFoundError(f"{ckpt} does not exist: --run-dir must be a train-generator run folder")
    state, cfg = read_checkpoint(ckpt, DistillConfig)
    G = Generator(cfg.generator_config())
    G.load_state_dict(state["modules"]["G_ema"])
    G.mapping.w_avg.copy_(compute_w_avg(G))
    cfg_dict = json.loads(state["config"])
    return G.eval(), {"recipe": "toyfaces-distill", "recipe_config": cfg_dict, "steps": int(state["step"])}


def export_generator(run_dir, out, *, quality: dict | None = None) -> Path:
    """Write the run's EMA generator to our .safetensors format; ``quality`` (figures of ``evaluate_generator``)
    is stored beside the recipe when given."""
    from latentedit.io.ours import save_generator

    G, extra = generator_from_run(run_dir)
    if quality is not None:
        extra["quality"] = quality
    return save_generator(G, out, extra=extra)
