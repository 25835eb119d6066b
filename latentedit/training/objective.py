"""The mapper's training objective for one batch: edit, synthesise, and evaluate every active loss.

``MapperObjective`` is an ``nn.Module`` whose only registered child is the mapper, so ``DDP(objective)`` syncs
the mapper's gradients and nothing else: the frozen generator, loss networks and the (separately trained)
discriminator are held as plain references. One forward per optimiser step, however many times the mapper is
called inside it (edit, edit-back for cycles, a second noise for diversity).

Reference styles (mappers with ``takes_style``): if the mapper has the optional hook

    encode_style(*, images: (B, 3, H, W), w_plus: (B, num_ws, w_dim)) -> (B, style_dim)

the style of a reference sample (another latent, and its image) is encoded with it, and gradients reach the
encoder; otherwise the style is Gaussian noise (latent-guided, as in StarGAN v2).

``style_reconstruction`` (StarGAN v2's style reconstruction): the edited image is encoded again with the same hook
(its mean, when the hook takes ``sample=``) and must give back the style it was edited with, L1 over the style
columns the edit used (the mapper's optional ``style_mask(w_plus, target=, style=) -> (B, style_dim)`` of 0/1;
every column without it). An edit that ignores its style cannot meet it, so different styles give different edits.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass
from types import SimpleNamespace

import torch
from torch import nn

from latentedit.losses import attribute_loss, generator_adversarial_loss, intensity_loss
from latentedit.plugins.contract import optional_hook

IMAGE_LOSSES = ("attribute", "adversarial", "lpips", "identity", "image_cycle", "lpips_cycle", "diversity",
                "style_reconstruction", "reference_intensity")
CYCLE_LOSSES = ("latent_cycle", "image_cycle", "lpips_cycle")


@dataclass
class Batch:
    """One rank's slice of a step's batch (b rows).

    w_plus (b, num_ws, w_dim) sources; images (b, 3, R, R) their renders; source/target (b, n_attr) in {0, 1};
    noise/noise2 (b, z_dim) or None; style/style2 (b, style_dim) or None (style2: a second style, for diversity);
    back_style (b, style_dim) or None: the sources' own style (for the edit back); synth_noise: per-layer noise
    maps (b, 1, r, r) or None (noise_mode 'random': shared by every render of a row); ref_w_plus
    (b, num_ws, w_dim) and ref_images (b, 3, R, R): a reference sample, for mappers with ``encode_style`` (the
    objective then replaces style/style2 by the reference's encoded style and back_style by the sources' own).
    reference_targets: reference transfer — target holds the reference's labels and the mapper is called with
    target=None (the reference's style decides every attribute); the edit back also uses target=None.
    source_prob (b, n_attr) or None: the classifier's probabilities on the source images (``attribute_keep``).
    ref_labels (b, n_attr) in {0, 1} or None: the classifier's labels of the references (given to an
    ``encode_style`` hook that takes ``labels``).
    call_target (b, n_attr) or None: what the mapper is called with when it differs from ``target`` (a mapper's
    ``condition_target`` hook gave some unchanged attributes as NaN = keep); the losses still use ``target``, and
    the edit back asks for the source's labels on the same columns.
    ref_logits (b, n_attr) or None: the classifier's logits on the references (``reference_intensity``).
    """

    w_plus: torch.Tensor
    images: torch.Tensor
    source: torch.Tensor
    target: torch.Tensor
    noise: torch.Tensor | None = None
    noise2: torch.Tensor | None = None
    style: torch.Tensor | None = None
    style2: torch.Tensor | None = None
    back_style: torch.Tensor | None = None
    synth_noise: list[torch.Tensor] | None = None
    ref_w_plus: torch.Tensor | None = None
    ref_images: torch.Tensor | None = None
    reference_targets: bool = False
    source_prob: torch.Tensor | None = None
    ref_labels: torch.Tensor | None = None
    call_target: torch.Tensor | None = None
    ref_logits: torch.Tensor | None = None


def intensity_terms(b: "Batch") -> torch.Tensor:
    """(b, n_attr) bool: where ``reference_intensity`` judges the edit — the attributes the edit changes (target
    differs from source) to the label the reference has, so the reference shows how strong the change should be.
    In a reference transfer that is every changed attribute; in a target edit made with a reference's style, the
    changes the reference agrees with (adding glasses with the style of a face that wears them)."""
    ref = b.ref_logits > 0
    return (b.target != b.source) & (b.target == ref.to(b.target.dtype))


def attribute_loss_target(b: "Batch") -> torch.Tensor:
    """What the attribute loss compares the edit with (b, n_attr): the target, except that attributes the target
    leaves unchanged get the source's own probability when the batch carries it (``losses.attribute_keep=
    'source_prob'``), so keeping them means keeping them where they were, not pushing them to 0 or 1."""
    if b.source_prob is None or b.reference_targets:
        return b.target
    return torch.where(b.target == b.source, b.source_prob.to(b.target.dtype), b.target)


def style_hook(mapper: nn.Module):
    """The mapper's ``encode_style`` hook, or None."""
    return optional_hook(mapper, "encode_style")


def hook_takes(hook, name: str) -> bool:
    """Whether a hook accepts the keyword ``name`` (e.g. ``labels=``: the judge's labels of the images it encodes)."""
    try:
        params = inspect.signature(hook).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def hook_takes_labels(hook) -> bool:
    """Whether an ``encode_style`` hook accepts ``labels=``."""
    return hook_takes(hook, "labels")


def style_reconstruction_loss(style_hat: torch.Tensor, style: torch.Tensor,
                              mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean |style_hat - style| over the kept entries; style_hat, style (B, S); mask (B, S) of 0/1 or None (all).
    0 when nothing is kept."""
    diff = (style_hat - style).abs()
    if mask is None:
        return diff.mean()
    mask = mask.to(diff.dtype)
    return (diff * mask).sum() / mask.sum().clamp_min(1.0)


def synthesize(G, ws: list[torch.Tensor], *, noise_mode: str, synth_noise=None) -> list[torch.Tensor]:
    """Render several W+ batches ``(b, num_ws, w_dim)`` in one synthesis call; returns (b, 3, R, R) each."""
    n = len(ws)
    noise = None if synth_noise is None else [t.repeat(n, 1, 1, 1) for t in synth_noise]
    out = G.synthesis(torch.cat(ws), noise_mode=noise_mode, noise=noise)
    return list(out.chunk(n))


class MapperObjective(nn.Module):
    """Weighted loss terms of the mapper on one batch.

    ``weights``: resolved loss weights (name -> weight, 0 = off); ``losses``: ``build_loss_modules`` output (the
    weights are inside those modules); ``D``: the joint ``AttributeDiscriminator`` or None (frozen mode);
    ``d_judges_attributes``: with a joint ``D``, whether its attribute head scores the 'attribute' loss (True) or
    the frozen classifier in ``losses`` does (False: D then only judges realism through 'adversarial');
    ``step`` is set by the trainer before each forward (the diversity weight decays with it).
    """

    def __init__(self, mapper: nn.Module, *, G, weights: dict[str, float], losses: nn.ModuleDict,
                 D: nn.Module | None = None, noise_mode: str = "const", reference_targets: bool = False,
                 feature_matching: float = 0.0, d_judges_attributes: bool = True):
        super().__init__()
        if reference_targets and not (getattr(mapper, "takes_style", False) and style_hook(mapper) is not None):
            raise ValueError(f"trainer.targets='reference' needs a style mapper with encode_style(images); "
                             f"{type(mapper).__name__} has none: use trainer.targets='flips'")
        self.mapper = mapper
        # not registered: DDP must not see them
        self.ext = SimpleNamespace(G=G, losses=losses, D=D)
        self.weights = {k: v for k, v in weights.items() if v != 0.0}
        self.noise_mode = noise_mode
        self.feature_matching = float(feature_matching)  # pix2pixHD feature matching (a multi-scale joint D)
        self.d_judges = D is not None and bool(d_judges_attributes)  # D's head, not the frozen classifier
        if D is not None and not self.d_judges and weights.get("attribute") and "attribute" not in losses:
            raise ValueError("joint_attribute_judge='classifier' needs the frozen classifier's 'attribute' loss "
                             "module; build the losses with the 'attribute' weight on")
        if self.feature_matching and not callable(getattr(D, "feature_matching_loss", None)):
            raise ValueError("feature matching needs the multi-scale joint discriminator: set "
                             "trainer.discriminator=joint and trainer.joint_discriminator=multiscale")
        hook = style_hook(mapper) if getattr(mapper, "takes_style", False) else None
        self.hook_labels = hook is not None and hook_takes_labels(hook)  # once: the hook is fixed per mapper
        self.hook_sample = hook is not None and hook_takes(hook, "sample")
        self.wants_ref_logits = bool(weights.get("reference_intensity")) and hook is not None
        self.step = 0
        self.last_edit: torch.Tensor | None = None
        w = self.weights
        if w.get("diversity") and not (mapper.takes_noise or mapper.takes_style):
            raise ValueError(f"the 'diversity' loss is on (weight {w['diversity']:g}) but {type(mapper).__name__} "
                             "takes neither noise nor style; set trainer.loss_weights.diversity=0")
        if w.get("style_reconstruction") and hook is None:
            raise ValueError(f"the 'style_reconstruction' loss is on (weight {w['style_reconstruction']:g}) but "
                             f"{type(mapper).__name__} has no encode_style hook to read the edited image's style; "
                             "set trainer.loss_weights.style_reconstruction=0")
        if w.get("reference_intensity") and (hook is None or "attribute" not in w or self.d_judges):
            raise ValueError(f"the 'reference_intensity' loss is on (weight {w['reference_intensity']:g}); it needs a "
                             "style mapper with an encode_style hook (references), the 'attribute' loss and "
                             "the frozen classifier as judge (trainer.discriminator=frozen, or joint with "
                             "joint_attribute_judge=classifier); "
                             f"{type(mapper).__name__}: hook {'yes' if hook is not None else 'no'}, attribute "
                             f"{'on' if 'attribute' in w else 'off'}, judge "
                             f"{'joint D head' if self.d_judges else 'frozen classifier'}"
                             "; set trainer.loss_weights.reference_intensity=0 to train without it")
        if w.get("adversarial") and D is None:
            raise ValueError("the 'adversarial' loss needs the jointly trained discriminator: set "
                             "trainer.discriminator=joint or trainer.loss_weights.adversarial=0")

    def _kw(self, *, target, z, style) -> dict:
        kw = {"target": target}
        if self.mapper.takes_noise and z is not None:
            kw["z"] = z
        if self.mapper.takes_style and style is not None:
            kw["style"] = style
        return kw

    def forward(self, b: Batch) -> dict[str, torch.Tensor]:
        """Returns the weighted scalar terms (sum them without re-weighting)."""
        w, L, mapper = self.weights, self.ext.losses, self.mapper
        G, D = self.ext.G, self.ext.D
        self.last_edit = None  # the edited images (detached), for the discriminator's step
        hook = style_hook(mapper) if mapper.takes_style else None
        terms: dict[str, torch.Tensor] = {}
        if hook is not None and b.ref_w_plus is not None:  # inside forward: DDP sees the encoder's gradients
            ref_kw = {"labels": b.ref_labels} if self.hook_labels and b.ref_labels is not None else {}
            src_kw = {"labels": b.source} if self.hook_labels else {}
            style = hook(images=b.ref_images, w_plus=b.ref_w_plus, **ref_kw)
            b = dataclasses.replace(b, style=style, style2=style,
                                    back_style=hook(images=b.images, w_plus=b.w_plus, **src_kw))
            pop = optional_hook(mapper, "pop_style_terms")  # terms the hook queued (e.g. an attribute head's)
            if pop is not None:
                terms.update(pop())
        call_target = None if b.reference_targets else b.target if b.call_target is None else b.call_target
        w_edit = mapper(b.w_plus, **self._kw(target=call_target, z=b.noise, style=b.style))
        if "latent_l2" in w:
            terms["latent_l2"] = L["latent_l2"](w_edit, b.w_plus)
        if "neighbourhood" in w:
            terms["neighbourhood"] = L["neighbourhood"](w_edit, b.w_plus)
        if "latent_attribute" in w:
            terms["latent_attribute"] = L["latent_attribute"](w_edit, b.w_plus, b.target, b.source)
        to_render = {"edit": w_edit} if any(n in w for n in IMAGE_LOSSES) or self.feature_matching else {}
        if any(n in w for n in CYCLE_LOSSES):
            back_target = None if b.reference_targets else b.source
            if back_target is not None and b.call_target is not None:  # back on the columns the edit was asked
                back_target = torch.where(torch.isnan(b.call_target), b.call_target, b.source)
            w_back = mapper(w_edit, **self._kw(target=back_target, z=b.noise2, style=b.back_style))
            if "latent_cycle" in w:
                terms["latent_cycle"] = L["latent_cycle"](w_back, b.w_plus)
            if "image_cycle" in w or "lpips_cycle" in w:
                to_render["back"] = w_back
        if "diversity" in w:
            style2 = b.style2 if b.style2 is not None else b.style
            to_render["edit2"] = mapper(b.w_plus, **self._kw(target=call_target, z=b.noise2, style=style2))
        if not to_render:
            return terms
        imgs = dict(zip(to_render, synthesize(G, list(to_render.values()), noise_mode=self.noise_mode,
                                              synth_noise=b.synth_noise)))
        x_edit, x_src = imgs.get("edit"), b.images
        self.last_edit = None if x_edit is None else x_edit.detach()
        d_attribute = self.d_judges and "attribute" in w
        if D is not None and (d_attribute or "adversarial" in w):
            rf, cls = D(x_edit)
            if d_attribute:
                terms["attribute"] = w["attribute"] * attribute_loss(cls, attribute_loss_target(b))
            if "adversarial" in w:
                terms["adversarial"] = w["adversarial"] * generator_adversarial_loss(rf)
        if "attribute" in w and not d_attribute:
            changed = b.target != b.source
            if "reference_intensity" in w and b.ref_logits is not None:
                logits, matched = L["attribute"].judge(x_edit), intensity_terms(b)
                terms["attribute"] = L["attribute"](None, attribute_loss_target(b), changed=changed, logits=logits,
                                                    no_margin=matched)
                terms["reference_intensity"] = w["reference_intensity"] * intensity_loss(logits, b.ref_logits,
                                                                                           matched)
            else:
                terms["attribute"] = L["attribute"](x_edit, attribute_loss_target(b), changed=changed)
        if D is not None and self.feature_matching:
            terms["feature_matching"] = self.feature_matching * D.feature_matching_loss(x_edit, x_src)
        if "lpips" in w:
            terms["lpips"] = L["lpips"](x_edit, x_src)
        if "identity" in w:
            terms["identity"] = L["identity"](x_edit, x_src)
        if "image_cycle" in w:
            terms["image_cycle"] = L["image_cycle"](imgs["back"], x_src)
        if "lpips_cycle" in w:
            terms["lpips_cycle"] = L["lpips_cycle"](imgs["back"], x_src)
        if "diversity" in w:
            terms["diversity"] = L["diversity"](x_edit, imgs["edit2"], step=self.step)
        if "style_reconstruction" in w and b.style is not None:
            terms["style_reconstruction"] = w["style_reconstruction"] * self._style_reconstruction(
                hook, x_edit, b, call_target)
        return terms

    def _style_reconstruction(self, hook, x_edit: torch.Tensor, b: Batch, call_target) -> torch.Tensor:
        """L1 between the style read back from the edited images (B, 3, R, R) and the style they were made with."""
        style_hat = hook(images=x_edit, **({"sample": False} if self.hook_sample else {}))
        mask_fn = optional_hook(self.mapper, "style_mask")
        mask = None
        if mask_fn is not None:
            with torch.no_grad():
                mask = mask_fn(b.w_plus, target=call_target, style=b.style.detach())
        return style_reconstruction_loss(style_hat, b.style, mask)
