"""One training step of the mapper trainer, with DDP agreement; the trainer's ``RunLoop`` rolls a non-finite step
back (``NonFiniteStep``).

Every decision that could differ between ranks (is a loss non-finite?) is all-reduced first, so all ranks skip
or step together; gradients are identical after DDP's all-reduce, so checks on them agree without talking.
"""

from __future__ import annotations

import contextlib
import warnings

import torch
from torch import nn

from latentedit.plugins.contract import optional_hook
from latentedit.training.checkpoint import ema_update
from latentedit.training.data import draw_randoms, flip_targets, step_generator
from latentedit.training.loop import NonFiniteStep
from latentedit.training.loop import TrainingDivergedError
from latentedit.training.objective import Batch, style_hook, synthesize
from latentedit.training.snapshot import all_finite

__all__ = ["StepRunner", "TrainingDivergedError"]


class StepRunner:
    """Runs step ``t`` of a ``MapperTrainer`` (``trainer``) through its ``RunLoop`` (which undoes a non-finite
    step)."""

    def __init__(self, trainer):
        self.t = trainer
        self.objective: nn.Module = trainer.objective
        self.d_objective: nn.Module | None = trainer.d_objective
        dev = trainer.ctx.device
        self.amp = trainer.tc.amp == "bf16" or (trainer.tc.amp == "auto" and dev.type == "cuda")
        if self.amp:
            from latentedit.stylegan2.precision import slow_bf16_warning

            slow = slow_bf16_warning(dev)
            if slow:
                warnings.warn(f"trainer.amp=bf16: {slow}", RuntimeWarning, stacklevel=2)

    # ---- helpers -------------------------------------------------------------------------------------------
    @torch.no_grad()
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """The classifier's logits (B, n_attr), checked."""
        logits = self.t.classifier(images)
        n = len(self.t.attribute_names)
        if logits.ndim != 2 or logits.shape[1] != n:
            raise ValueError(f"the classifier must return logits (B, {n}) for attributes {self.t.attribute_names};"
                             f" it returned {tuple(logits.shape)}")
        return logits

    def labeller(self, images: torch.Tensor) -> torch.Tensor:
        """Source labels (B, n_attr) in {0, 1}: the classifier's logits > 0."""
        return (self.logits(images) > 0).float()

    def wrap_ddp(self) -> None:
        """Under DDP, wrap the objectives (not the mapper itself) so one forward per step syncs the gradients."""
        if not self.t.ctx.distributed or isinstance(self.objective, nn.parallel.DistributedDataParallel):
            return
        dev = self.t.ctx.device
        ids = [dev.index] if dev.type == "cuda" else None
        unused = self._unused_parameters()
        self.objective = nn.parallel.DistributedDataParallel(self.objective, device_ids=ids,
                                                             find_unused_parameters=unused)
        if self.d_objective is not None:
            self.d_objective = nn.parallel.DistributedDataParallel(self.d_objective, device_ids=ids)

    def _unused_parameters(self) -> bool:
        """Probe one local batch: does the mapper leave parameters without gradient (DDP must then look for them)?"""
        batch = self.make_batch(0)
        self.t.objective.step = 0
        if self.t.D is not None:
            self.t.D.requires_grad_(False)
        terms = self.t.objective(batch)
        if terms:
            sum(terms.values()).backward()
        unused = any(p.grad is None for p in self.t.mapper.parameters() if p.requires_grad)
        flag = self.t.ctx.all_reduce_max(torch.tensor([float(unused)], device=self.t.ctx.device))
        unused = bool(flag.item() > 0)  # every rank must build DDP the same way
        self.t.opt.zero_grad(set_to_none=True)
        if self.t.D is not None:
            self.t.D.requires_grad_(True)
        return unused

    def make_batch(self, step: int) -> Batch:
        """This rank's slice of step ``step``'s batch (see ``data.py``)."""
        t, tc = self.t, self.t.tc
        lo, hi = t.ctx.batch_slice(tc.batch)
        m = t.mapper
        r = draw_randoms(seed=tc.seed, step=step, batch=tc.batch, lo=lo, hi=hi, z_dim=t.G.z_dim,
                         num_ws=t.G.num_ws, n_attr=len(t.attribute_names), max_flips=tc.max_flips,
                         mapper_z_dim=m.z_dim, style_dim=m.style_dim)
        dev = t.ctx.device
        w = t.source(r, step=step, batch=tc.batch, lo=lo, hi=hi).to(dev)
        synth_noise = None
        if tc.noise_mode == "random":
            synth_noise = [n.to(dev) for n in t.G.synthesis.make_noise(hi - lo, step_generator(tc.seed, step, 3),
                                                                       device="cpu")]
        with torch.no_grad(), self._autocast():
            images = synthesize(t.G, [w], noise_mode=tc.noise_mode, synth_noise=synth_noise)[0]
        source_logits = self.logits(images.float())
        source = (source_logits > 0).float()
        source_prob = source_logits.float().sigmoid() if tc.losses.attribute_keep == "source_prob" else None
        target = flip_targets(source, r.flip_keys.to(dev), r.n_flips.to(dev))
        call_target = None  # what the mapper is asked (NaN = keep), when it has a condition_target hook
        condition_target = optional_hook(m, "condition_target")
        if condition_target is not None:
            call_target = condition_target(target, source, keep_u=r.keep_u.to(dev))
        mv = (lambda x: None if x is None else x.to(dev))  # noqa: E731
        style, style2, back_style = mv(r.style_noise), mv(r.style_noise2), mv(r.style_noise2)
        ref_w = ref_img = None
        if m.takes_style and style_hook(m) is not None:  # the objective encodes the reference inside its forward
            ref_w = t.source.reference(r, step=step, batch=tc.batch, lo=lo, hi=hi).to(dev)
            with torch.no_grad(), self._autocast():
                ref_img = synthesize(t.G, [ref_w], noise_mode=tc.noise_mode, synth_noise=synth_noise)[0]
        reference = tc.targets == "reference" or (tc.targets == "alternate" and step % 2 == 1)
        wanted = ref_img is not None and (reference or t.objective.hook_labels or t.objective.wants_ref_logits)
        ref_logits = self.logits(ref_img.float()).float() if wanted else None  # the target, labels, logits
        ref_labels = None if ref_logits is None else (ref_logits > 0).float()
        if reference:  # reconstruct the reference's attributes (its labels are the target)
            target, call_target = ref_labels, None
        return Batch(w_plus=w, images=images, source=source, target=target, noise=mv(r.noise), noise2=mv(r.noise2),
                     style=style, style2=style2, back_style=back_style, synth_noise=synth_noise,
                     ref_w_plus=ref_w, ref_images=ref_img, reference_targets=reference, source_prob=source_prob,
                     ref_labels=ref_labels, call_target=call_target,
                     ref_logits=ref_logits if t.objective.wants_ref_logits else None)

    def _autocast(self):
        dev = self.t.ctx.device
        return torch.autocast(device_type=dev.type, dtype=torch.bfloat16) if self.amp else contextlib.nullcontext()

    def _agree(self, terms: dict[str, torch.Tensor], where: str) -> dict[str, float]:
        """All-reduce the terms' values (mean over ranks) and raise NonFiniteStep if any rank has a NaN/inf."""
        names = list(terms)
        dev = self.t.ctx.device
        vals = torch.stack([terms[n].detach().float().reshape(()) for n in names]) if names else torch.zeros(0)
        vals = vals.to(dev)
        bad = (~torch.isfinite(vals)).any().float().reshape(1)
        packed = torch.cat([torch.nan_to_num(vals, nan=0.0, posinf=0.0, neginf=0.0), bad])
        self.t.ctx.all_reduce_mean(packed)
        if float(packed[-1]) > 0:
            raise NonFiniteStep(where, {n: float(terms[n].detach()) for n in names})
        return {n: float(v) for n, v in zip(names, packed[:-1].tolist())}

    # ---- the step ------------------------------------------------------------------------------------------
    @property
    def snapshot(self):
        return self.t.loop.snapshot

    def run(self, step: int) -> dict | None:
        """Do step ``step``; returns the log values, or None when the step was rolled back and skipped."""
        return self.t.loop.advance(self._seeded_step, step=step)

    def _seeded_step(self, step: int) -> dict:
        t = self.t
        torch.manual_seed((t.tc.seed * 1_000_003 + step) * 64 + t.ctx.rank)
        return self._step(step)

    def zero_grads(self) -> None:
        """After a rollback: no gradient of the undone step survives."""
        self.t.opt.zero_grad(set_to_none=True)
        if self.t.D is not None:
            self.t.opt_d.zero_grad(set_to_none=True)

    def _step(self, step: int) -> dict:
        t, tc = self.t, self.t.tc
        batch = self.make_batch(step)
        t.objective.step = step
        if t.D is not None:
            t.D.requires_grad_(False)
        with self._autocast():
            terms = self.objective(batch)
        if not terms:
            raise ValueError("no active loss: every loss weight is 0 (check trainer.loss_weights)")
        log = self._agree(terms, "loss")
        t.opt.zero_grad(set_to_none=True)
        sum(terms.values()).backward()
        params = [p for p in t.mapper.parameters() if p.requires_grad]
        clip = tc.grad_clip if tc.grad_clip > 0 else float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, clip))
        if not all_finite(p.grad for p in params):
            raise NonFiniteStep("mapper gradient", {"grad_norm": grad_norm})
        t.opt.step()
        out = {"losses": log, "grad_norm": grad_norm}
        if t.D is not None:
            out["d_losses"] = self._d_step(batch)
        if not all_finite(p for m in t.modules.values() for p in m.parameters()):
            raise NonFiniteStep("weights after the update", {"grad_norm": grad_norm})
        ema_update(t.ema, t.mapper, tc.ema_beta)
        return out

    def _d_step(self, batch: Batch) -> dict[str, float]:
        t = self.t
        t.D.requires_grad_(True)
        fake = t.objective.last_edit if hasattr(t.objective, "last_edit") else None
        if fake is None:
            raise RuntimeError("the joint discriminator needs the edited images of this step")
        terms = self.d_objective(batch.images.float(), fake.float(), batch.source)
        log = self._agree(terms, "discriminator loss")
        t.opt_d.zero_grad(set_to_none=True)
        sum(terms.values()).backward()
        if not all_finite(p.grad for p in t.D.parameters()):
            raise NonFiniteStep("discriminator gradient", log)
        t.opt_d.step()
        return log
