"""Fine-tune an exported toy-faces generator's *synthesis* network, the mapping frozen
(``latentedit toyfaces finetune-generator``).

The mapping network, and so W, its ``w_avg`` and the generator's fingerprint, stay exactly as they were: every file
made on W (latents, directions, mappers, the e4e encoder's target space) stays valid. Only how W+ is drawn changes.

Loss per step, on the distillation recipe's own batches (``batch_z`` of the source recipe at steps
``first_step + s``, past every step the source was trained on):

* the recipe's distillation loss (weighted multi-scale L1 + image gradients) against the render of z;
* ``teacher_weight`` x the teachers' loss (``distill_losses.teacher_loss``: judges trained with other seeds than the
  evaluation judges must read in G(z) what they read in the render);
* ``rerender_weight`` x the *re-render* term: the factor teacher reads G(z), the renderer draws what it read, and
  G(z) is pulled towards that render (mean |G(z) - render(T(G(z)))|, the render a stop-gradient target).

The re-render term is the construction of issue #5's realism measure, with another estimator than the evaluation
judge. The distillation target is the render of the *true* factors, and where W does not pin a detail down, the
L1-optimal drawing of it is soft. The re-render target is a sharp render of what the sample already shows, a target
the synthesis can reach. It trades fidelity to the true render (held-out L1) for renders that look like renders;
docs/toyfaces_generator.md has the measurements.

The result is the EMA of the synthesis (``ema_beta``); live and EMA both start from the source's weights, with a
fresh Adam at a constant ``lr``. Checkpoints hold both, Adam and the RNG, so ``--resume`` continues exactly.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from latentedit.config import FrozenConfig
from latentedit.io.modelfile import file_sha256
from latentedit.training.checkpoint import ema_update
from latentedit_toyfaces.assets import ASSETS_DIR

TEACHER_DIR = str(ASSETS_DIR)  # the generator's teachers ship with the plugin (other seeds than the evaluation judges)
FACTOR_TEACHER = f"{TEACHER_DIR}/judge_factors_seed101.safetensors"
ATTRIBUTE_TEACHER = f"{TEACHER_DIR}/judge_attributes_seed102.safetensors"


@dataclass(frozen=True)
class SynthesisFinetuneConfig(FrozenConfig):
    """The fine-tune's recipe; stored in its checkpoint and in the exported generator (``synthesis_finetune``)."""

    lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.99)
    ema_beta: float = 0.995
    teacher_weight: float = 1.0
    teacher_files: tuple[str, ...] = (FACTOR_TEACHER, ATTRIBUTE_TEACHER)
    rerender_weight: float = 5.0
    rerender_judge: str = FACTOR_TEACHER  # a 'factors' judge file, not an evaluation judge
    first_step: int = 40_000  # batches of the source recipe from this step on (the source saw steps < 33,000)
    seed: int = 0  # the synthesis noise of training renders

    def __post_init__(self):
        if not self.lr > 0 or not 0 <= self.ema_beta < 1:
            raise ValueError(f"finetune: lr must be > 0 and ema_beta in [0, 1); got lr={self.lr}, "
                             f"ema_beta={self.ema_beta}")
        if self.teacher_weight < 0 or self.rerender_weight < 0:
            raise ValueError(f"finetune: weights must be >= 0; got teacher_weight={self.teacher_weight}, "
                             f"rerender_weight={self.rerender_weight}")
        if self.teacher_weight > 0 and not self.teacher_files:
            raise ValueError("finetune: teacher_weight > 0 needs teacher_files")


def saved_finetune_config(path) -> SynthesisFinetuneConfig:
    """The recipe stored in a fine-tune checkpoint (what ``--resume`` continues)."""
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    return SynthesisFinetuneConfig.from_dict(json.loads(state["config"])["finetune"], source=f"{path} config")


def rerender_loss(fake: torch.Tensor, judge: torch.nn.Module) -> torch.Tensor:
    """mean |fake - render(judge(fake))| over (B, 3, R, R) images in [-1, 1]; the render is a constant target."""
    from latentedit_toyfaces.renderer import render

    with torch.no_grad():
        target = render(judge(fake).clamp(0, 1), fake.shape[-1])
    return (fake - target).abs().mean()


class FinetuneRun:
    """One run folder (``checkpoint.pt``, resumable, and ``log.jsonl``), driven by ``RunLoop``."""

    def __init__(self, cfg: SynthesisFinetuneConfig, source, run_dir, *, resume: bool, steps: int = 0,
                 checkpoint_minutes: float | None = 5.0, eval_every: int = 250, progress: bool = True):
        from latentedit.io.modelfile import read_model_metadata
        from latentedit.io.ours import load_generator_file
        from latentedit.training.loop import RunLoop
        from latentedit_toyfaces.recipes.distill_config import DistillConfig, without_retired
        from latentedit_toyfaces.recipes.distill_losses import load_teacher

        self.cfg, self.source, self.dir = cfg, Path(source), Path(run_dir)
        G, _ = load_generator_file(self.source)
        self.source_extra = read_model_metadata(self.source)[2]
        if self.source_extra.get("recipe") != "toyfaces-distill":
            raise ValueError(f"{self.source}: not a distilled toy-faces generator (its metadata has no "
                             "'toyfaces-distill' recipe), so there is no renderer target to fine-tune towards")
        recipe = without_retired(self.source_extra["recipe_config"], source="recipe_config")
        self.recipe = DistillConfig.from_dict(recipe, source="recipe_config")
        self.G = G.train()
        self.G.mapping.requires_grad_(False)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.opt = torch.optim.Adam(self.G.synthesis.parameters(), lr=cfg.lr, betas=tuple(cfg.betas))
        files = (tuple(cfg.teacher_files) if cfg.teacher_weight > 0 else ()) + (
            (cfg.rerender_judge,) if cfg.rerender_weight > 0 else ())
        loaded = {f: load_teacher(f) for f in dict.fromkeys(files)}  # the default judge is also a teacher: once
        self.teachers = [loaded[f] for f in cfg.teacher_files] if cfg.teacher_weight > 0 else []
        self.judge = loaded[cfg.rerender_judge] if cfg.rerender_weight > 0 else None
        if self.judge is not None and self.judge.config.name != "factors":
            raise ValueError(f"rerender_judge must be a 'factors' judge file; {cfg.rerender_judge} holds "
                             f"'{self.judge.config.name}'")
        self.fingerprint = self.G.fingerprint()
        self.source_sha256 = file_sha256(self.source)  # once: every save and the export record it
        self.eval_every, self._val_z = max(1, int(eval_every)), None
        self.dir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(cfg.seed)
        # rollback off: a non-finite loss stops the run at once (TrainingDivergedError), the checkpoint intact
        self.loop = RunLoop(self.dir, config=self._checkpoint_config(), total_steps=steps,
                            checkpoint_minutes=checkpoint_minutes, resume=resume, progress=progress,
                            tensorboard=False, rollback=False, exists_hint="choose another --run-dir",
                            diverged_hint="resume from the last checkpoint with a lower lr")
        self.loop.track(modules=self._modules(), optimizers={"opt": self.opt})
        self.loop.restore()
        self.ckpt = self.loop.checkpoint_path

    @property
    def step(self) -> int:
        return self.loop.step

    def _checkpoint_config(self) -> dict:
        return {"finetune": dataclasses.asdict(self.cfg), "source_fingerprint": self.fingerprint,
                "source_sha256": self.source_sha256}

    def _modules(self) -> dict:
        return {"synthesis": self.G.synthesis, "synthesis_ema": self.G_ema.synthesis}

    def save(self) -> None:
        self.loop.save()

    def train_step(self, step: int) -> dict:
        """One update on the source recipe's batch ``first_step + step``; ``{"losses": ...}`` plus
        ``heldout_l1_ema`` every ``eval_every`` steps and at the last."""
        from latentedit.training.loop import NonFiniteStep
        from latentedit_toyfaces.recipes.distill import batch_z, heldout_l1, targets_for, validation_z
        from latentedit_toyfaces.recipes.distill_losses import distill_loss, teacher_loss

        r, cfg = self.recipe, self.cfg
        data_step = cfg.first_step + step
        z = batch_z(r, data_step, self.G.z_dim)
        real, wmap = targets_for(z, r.resolution, r.prior, per_attribute=True, smile_boost=r.smile_boost(data_step))
        with torch.no_grad():
            ws = self.G.mapping(z)
        fake = self.G.synthesis(ws, noise_mode="random")
        terms = {"distill": distill_loss(fake, real, wmap, r, weighted_gradient=False)}
        if self.teachers:
            taught = sum(teacher_loss(t, fake, real, r.teacher_attribute_weight) for t in self.teachers)
            terms["teachers"] = cfg.teacher_weight * taught / len(self.teachers)
        if self.judge is not None:
            terms["rerender"] = cfg.rerender_weight * rerender_loss(fake, self.judge)
        loss = sum(terms.values())
        losses = {k: float(v.detach()) for k, v in terms.items()}
        if not torch.isfinite(loss):
            raise NonFiniteStep("loss", losses)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        ema_update(self.G_ema.synthesis, self.G.synthesis, cfg.ema_beta)
        record = {"losses": losses}
        done = step + 1
        if done % self.eval_every == 0 or done == self.loop.total_steps:
            if self._val_z is None:
                self._val_z = validation_z(256, self.G.z_dim)
            record["heldout_l1_ema"] = heldout_l1(self.G_ema, self._val_z, self.recipe)
        return record

    def export(self, out, *, quality: dict | None = None) -> Path:
        """Write the EMA generator: the source's metadata (recipe, steps) plus ``synthesis_finetune`` (this recipe,
        its steps, the source's fingerprint and sha256); ``quality`` replaces the source's figures when given (the
        source's are dropped otherwise: they describe other weights)."""
        from latentedit.io.ours import save_generator

        extra = {k: v for k, v in self.source_extra.items() if k != "quality"}
        extra["synthesis_finetune"] = {**dataclasses.asdict(self.cfg), "steps": self.step, "source": self.source.name,
                                       "source_fingerprint": self.fingerprint, "source_sha256": self.source_sha256}
        if quality is not None:
            extra["quality"] = quality
        return save_generator(self.G_ema.eval(), out, extra=extra)


def finetune(cfg: SynthesisFinetuneConfig, source, run_dir, *, steps: int, resume: bool = False,
             checkpoint_minutes: float = 5.0, eval_every: int = 250, progress: bool = True) -> FinetuneRun:
    """Run until ``steps`` steps; checkpoint every ``checkpoint_minutes`` and at the end."""
    run = FinetuneRun(cfg, source, run_dir, resume=resume, steps=steps, checkpoint_minutes=checkpoint_minutes,
                      eval_every=eval_every, progress=progress)
    run.loop.run(run.train_step)
    return run
