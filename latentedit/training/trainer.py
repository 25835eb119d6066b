"""The shared trainer of trainable mapper plugins: ``MapperTrainer(run_config, G, run_dir, ...).train()``.

A run folder holds ``config.json`` (the full run config), ``checkpoint.pt`` (everything needed to resume
exactly: mapper, EMA, optimisers, discriminator, step, counters), ``mapper_ema.safetensors`` (the result, a
normal mapper file: ``latentedit.plugins.load_mapper_file``), ``log.jsonl`` and ``samples/step*.png``.

The run is a ``RunLoop`` (``loop.py``: checkpoint, resume, rollback, log, progress, DDP rank 0). Per step (see
``step.py``): draw the step's batch slice, compute the mapper's losses, step the mapper (gradient clipping, EMA),
step the joint discriminator if any. A NaN/inf anywhere restores the loop's snapshot, logs a ``nonfinite`` event and
skips the batch; ``max_nonfinite`` in a row stop the run with ``TrainingDivergedError`` (the checkpoint on disk is
always a good state).

Exact resume: the global RNG is reseeded from (seed, step, rank) at every step and every batch is a pure function
of (seed, step), so N steps equal N/2 + resume + N/2 bit for bit on CPU.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
from pathlib import Path

import torch
from torch import nn

from latentedit.losses import build_loss_modules
from latentedit.plugins.config import ConfigError, GeneratorInfo
from latentedit.plugins.contract import optional_hook
from latentedit.plugins.registry import load_mapper
from latentedit.training.checkpoint import CheckpointStateError, read_training_state
from latentedit.training.config import RunConfig, TrainerConfig
from latentedit.training.data import FileLatents, GeneratorLatents
from latentedit.training.discriminator import DiscriminatorObjective, build_joint_discriminator
from latentedit.training.distributed import DistContext
from latentedit.training.latent_probe import fit_run_probe
from latentedit.training.objective import MapperObjective
from latentedit.training.loop import RunLoop
from latentedit.training.samples import edit_grid, fixed_sample_inputs, write_grid
from latentedit.training.step import StepRunner, TrainingDivergedError

CHECKPOINT_NAME = "checkpoint.pt"
RESULT_NAME = "mapper_ema.safetensors"

__all__ = ["MapperTrainer", "TrainingDivergedError", "CHECKPOINT_NAME", "RESULT_NAME"]


def _attribute_names(run: RunConfig, classifier: nn.Module | None) -> tuple[str, ...]:
    names = tuple(run.trainer.attributes)
    found = tuple(getattr(classifier, "output_names", ()) or ())
    if names and found and len(names) != len(found):
        raise ConfigError(f"trainer.attributes lists {len(names)} attributes {names} but the classifier has "
                          f"{len(found)} outputs {found}; list one name per classifier output (or leave it empty)")
    names = names or found
    if not names:
        raise ConfigError("no attribute names: set trainer.attributes (one per classifier output, in column order) "
                          "or use a classifier with output_names")
    return names


def parameter_groups(mapper: nn.Module, lr: float) -> list[dict]:
    """The optimiser's parameter groups: one at ``lr``, plus one per learning-rate multiplier the mapper asks for
    through an optional ``lr_multipliers() -> {parameter-name prefix: multiplier}`` (e.g. a style encoder that
    must learn faster than the edit it drives). Empty groups are dropped; the order is deterministic (resume)."""
    hook = optional_hook(mapper, "lr_multipliers")
    muls = dict(hook()) if hook is not None else {}
    bad = {k: v for k, v in muls.items() if not (isinstance(v, (int, float)) and v > 0)}
    if bad:
        raise ConfigError(f"{type(mapper).__name__}.lr_multipliers() must give positive numbers; got {bad}")
    groups: dict[float, list] = {}
    for name, param in mapper.named_parameters():
        if param.requires_grad:
            mul = next((float(v) for k, v in muls.items() if name.startswith(k)), 1.0)
            groups.setdefault(mul, []).append(param)
    return [{"params": ps, "lr": lr * mul} for mul, ps in groups.items()]


class MapperTrainer:
    """Train mapper ``run.mapper_name`` (or ``mapper_class``) against generator ``G`` into ``run_dir``.

    ``classifier``: frozen attribute classifier ``(B, 3, H, W) -> logits (B, n_attr)``; it labels the sources
    (logit > 0) and, in ``frozen`` mode, is the attribute loss's judge. ``embedder``: identity embedder for the
    ``identity`` loss (``trainer.losses.identity='embedder'``). ``ctx``: the distributed context (default: from
    the environment; a single process unless launched by torchrun). Seeds the global RNG with ``trainer.seed``
    before building the mapper, so every rank (and every resume) starts from the same weights.
    """

    def __init__(self, run: RunConfig, G: nn.Module, run_dir: str | Path, *, mapper_class: type | None = None,
                 classifier: nn.Module | None = None, embedder: nn.Module | None = None, resume: bool = False,
                 ctx: DistContext | None = None):
        self.run, self.tc = run, run.trainer
        self.ctx = ctx or DistContext.from_env()
        self.dir = Path(run_dir)
        dev = self.ctx.device
        self.G = G.eval().requires_grad_(False).to(dev)
        if classifier is None:
            raise ConfigError("the trainer needs an attribute classifier to label source images (and, in 'frozen' "
                              "mode, to judge edits); pass classifier= (e.g. the toy-faces 'attributes' judge)")
        self.classifier = classifier.eval().requires_grad_(False).to(dev)
        self.attribute_names = _attribute_names(run, classifier)
        self.info = GeneratorInfo.from_generator(G, self.attribute_names)
        cls = mapper_class or load_mapper(run.mapper_name)
        torch.manual_seed(self.tc.seed)
        self.mapper = cls(run.mapper, self.info).to(dev).train()
        if self.tc.init_mapper and not resume:
            start_from_mapper_file(self.mapper, self.tc.init_mapper, self.info)
        self.ema = copy.deepcopy(self.mapper).eval().requires_grad_(False)
        self.weights = self.tc.resolved_loss_weights(cls.default_loss_weights())
        joint = self.tc.discriminator == "joint"
        d_judges = joint and self.tc.joint_attribute_judge == "discriminator"  # D's head scores 'attribute'
        module_weights = {k: v for k, v in self.weights.items() if not (d_judges and k == "attribute")}
        self.source = (FileLatents(self.tc.latents, self.G, seed=self.tc.seed) if self.tc.latents else
                       GeneratorLatents(self.G, truncation_psi=self.tc.truncation_psi,
                                        mixing_prob=self.tc.mixing_prob))
        self.probe = None
        if module_weights.get("latent_attribute"):
            self.probe = self._fit_probe()
        self.losses = build_loss_modules(
            module_weights, self.tc.losses, classifier=self.classifier, embedder=embedder,
            latent_probe=None if self.probe is None else (self.probe["weight"], self.probe["bias"])).to(dev)
        params = parameter_groups(self.mapper, self.tc.lr)
        if not params:
            raise ConfigError(f"mapper '{run.mapper_name}' has no trainable parameters")
        self.opt = torch.optim.AdamW(params, lr=self.tc.lr, betas=tuple(self.tc.betas),
                                     weight_decay=self.tc.weight_decay)
        self.modules: dict[str, nn.Module] = {"mapper": self.mapper, "ema": self.ema}
        self.optimizers: dict[str, torch.optim.Optimizer] = {"mapper": self.opt}
        self.D = self.d_objective = None
        if joint:
            self.D = build_joint_discriminator(self.tc, len(self.attribute_names), self.G.resolution).to(dev)
            self.opt_d = torch.optim.Adam(self.D.parameters(), lr=self.tc.d_lr, betas=tuple(self.tc.d_betas))
            self.d_objective = DiscriminatorObjective(self.D, adv_weight=1.0, cls_weight=self.tc.d_cls_weight,
                                                      r1_weight=self.weights.get("r1", 1.0))
            self.modules["D"], self.optimizers["D"] = self.D, self.opt_d
        self.objective = MapperObjective(self.mapper, G=self.G, weights=self.weights, losses=self.losses, D=self.D,
                                         d_judges_attributes=d_judges,
                                         noise_mode=self.tc.noise_mode,
                                         reference_targets=self.tc.targets != "flips",
                                         feature_matching=self.tc.d_feature_matching
                                         if joint and self.tc.joint_discriminator == "multiscale" else 0.0)
        tc = self.tc
        self.loop = RunLoop(
            self.dir, config=self._checkpoint_config(), total_steps=tc.steps, checkpoint_every=tc.checkpoint_interval,
            log_every=tc.log_interval, resume=resume, ctx=self.ctx, progress=tc.progress,
            max_nonfinite=tc.max_nonfinite, max_nonfinite_name="trainer.max_nonfinite", check_weights=False,
            normalise=lambda saved: self._read_checkpoint_config(saved, cls), meta={"run": self.run.to_dict()},
            exists_hint="choose another --out",
            diverged_hint="lower trainer.lr, raise trainer.grad_clip protection (e.g. 1.0), or check the loss "
                          "weights, then resume")
        self.loop.track(modules=self.modules, optimizers=self.optimizers)
        self.loop.restore()
        self.runner = StepRunner(self)
        self.loop.on_rollback.append(self.runner.zero_grads)
        self.loop.after_save.append(self._save_result)
        self.loop.every(tc.sample_interval, lambda step: self.write_samples())

    @property
    def step(self) -> int:
        return self.loop.step

    @property
    def counters(self) -> dict[str, int]:
        return self.loop.counters

    @property
    def resumed_from(self) -> int | None:
        return self.loop.resumed_from

    @property
    def log(self):
        return self.loop.log

    # ---- persistence ---------------------------------------------------------------------------------------

    def _fit_probe(self) -> dict:
        """The ``latent_attribute`` probe: fitted on rank 0 only (a minute of rendering and a fit) and broadcast, so
        every rank holds rank 0's tensors; the other ranks' dict has no accuracy figures (only rank 0 logs)."""
        tc = self.tc
        if self.ctx.is_main:
            probe = fit_run_probe(self.G, self.classifier, self.source, n=tc.losses.latent_probe_samples, seed=tc.seed,
                                  truncation_psi=tc.truncation_psi, c=tc.losses.latent_probe_c,
                                  noise_mode=tc.noise_mode)
        else:
            n_attr, w_dim = len(self.attribute_names), self.G.w_dim
            probe = {"weight": torch.zeros(n_attr, w_dim), "bias": torch.zeros(n_attr)}
        for key in ("weight", "bias"):  # gloo and NCCL both broadcast from the context's device
            probe[key] = self.ctx.broadcast_from_main(probe[key].to(self.ctx.device)).cpu()
        return probe
    def _checkpoint_config(self) -> dict:
        """What a checkpoint must match to be resumed: trajectory fields, generator and attributes."""
        if not hasattr(self, "_fingerprint"):
            self._fingerprint = self.G.fingerprint()
        return {"run": self.run.trajectory_dict(), "generator": self._fingerprint,
                "attributes": list(self.attribute_names)}

    def _read_checkpoint_config(self, saved: dict, mapper_class: type) -> dict:
        """A checkpoint's stored ``_checkpoint_config`` as this version reads it: its run config rebuilt through
        today's dataclasses (fields added since take their defaults)."""
        run = saved["run"]
        cfg = RunConfig(run["mapper_name"], mapper_class.config_class.from_dict(run["mapper"], source="checkpoint"),
                        TrainerConfig.from_dict(run["trainer"], source="checkpoint"))
        return {**saved, "run": cfg.trajectory_dict()}

    def save_checkpoint(self) -> Path | None:
        """Rank 0: atomic ``checkpoint.pt`` with the full state, then the EMA mapper file. Returns its path."""
        return self.loop.save()

    def _save_result(self, step: int) -> None:
        self.ema.save(self.dir / RESULT_NAME, extra={"trainer": self.tc.to_dict(), "step": step,
                                                     "weights": self.weights,
                                                     "generator_fingerprint": self.G.fingerprint()})

    def write_samples(self) -> Path | None:
        """Rank 0: ``samples/step{step:07d}.png`` from the EMA mapper."""
        if not self.ctx.is_main or self.tc.sample_count == 0:
            return None
        if not hasattr(self, "_sample_inputs"):
            self._sample_inputs = fixed_sample_inputs(self.source, seed=self.tc.seed, count=self.tc.sample_count,
                                                      mapper_z_dim=self.mapper.z_dim, style_dim=self.mapper.style_dim)
        grid = edit_grid(self.ema, self.G, self._sample_inputs, self.runner.labeller, noise_mode="const")
        path = write_grid(grid, self.tc.sample_count, self.dir / "samples" / f"step{self.step:07d}.png")
        self.log.event(self.step, "samples", path=str(path))
        return path

    # ---- the loop ------------------------------------------------------------------------------------------
    def train(self) -> dict:
        """Run up to ``trainer.steps``; returns a summary (step, skipped steps, last losses, run dir)."""
        self.loop.write_json("config.json", self.run.to_dict())

        def announce(loop: RunLoop) -> None:
            if self.probe is not None and self.ctx.is_main:  # only rank 0 has the accuracy figures
                loop.log.event(self.step, "latent_probe", accuracy=self.probe["accuracy"],
                               positives=self.probe["positives"])

        self.runner.wrap_ddp()
        out = self.loop.run(self.runner.run, advances=True, on_start=announce,
                            start_fields={"weights": self.weights, "attributes": list(self.attribute_names)})
        last = out.pop("last")
        return {**out, "losses": last.get("losses", {}), "grad_norm": last.get("grad_norm", math.nan)}


def load_checkpoint_config(run_dir: str | Path) -> dict:
    """The full run config stored in ``run_dir/checkpoint.pt`` (to resume without the original config file)."""
    path = Path(run_dir) / CHECKPOINT_NAME
    state = read_training_state(path)
    try:
        return json.loads(state["extra"])["run"]
    except (KeyError, ValueError, TypeError, RecursionError) as exc:
        raise CheckpointStateError(f"{path}: cannot read the run config stored in it ({exc})") from None


def start_from_mapper_file(mapper: nn.Module, path, generator_info) -> None:
    """Copy the weights of the saved mapper at ``path`` into ``mapper`` (``trainer.init_mapper``). The file is read
    by the mapper class's own ``load`` (class, format version and generator checked there) and must hold the same
    mapper config as the run."""
    from latentedit.io.modelfile import ModelFileError

    try:
        saved = type(mapper).load(path, generator_info=generator_info)
    except ModelFileError as exc:
        raise ConfigError(f"trainer.init_mapper: {exc}") from None
    if saved.config != mapper.config:
        a, b = saved.config.to_dict(), mapper.config.to_dict()
        diff = [f"{k} {a.get(k)!r} vs {b.get(k)!r}" for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)]
        raise ConfigError(f"trainer.init_mapper: {path} has another architecture or mapper config than this run's "
                          f"(file vs run: {'; '.join(diff[:4])}); set the mapper section to the file's config")
    mapper.load_state_dict(saved.state_dict())
