"""Edit evaluation on any domain, without ground truth: what the domain's judges read on the edited images.

For every method (a mapper) and every attribute it edits that the classifier reads, each source latent is edited to
the *opposite* of what the classifier reads on its image (every other target column NaN = keep), ``samples`` times
with different noise or styles for multimodal mappers, through ``w + strength * (mapper(w, target) - w)``. Then:

| column | measured with |
|---|---|
| success (Acc) | the classifier reads the target attribute on the edited image (logit > 0 as wanted) |
| others kept | share of the classifier's other attributes whose label stays the same |
| identity cos (FRS) | cosine of the identity embedder between edited and source images (FaceNet for real faces) |
| LPIPS to source | LPIPS between edited and source images (skipped when no LPIPS weights are given) |
| FD edited / source | Fréchet distance of the classifier's penultimate features, edited (resp. source) images vs fresh generator samples |
| diversity | mean pairwise LPIPS among the draws of one source (pixel L1 without LPIPS weights); multimodal mappers only |

The toy-faces domain adds ground-truth columns in ``latentedit toyfaces evaluate``; this table needs none.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

import torch

from latentedit.editing import sampling as sm
from latentedit.evaluation import metrics as mt
from latentedit.evaluation.frechet import frechet_distance

COLUMNS = ("success", "others_kept", "identity_cos", "lpips_to_source", "fd_edited", "fd_source", "diversity")


class EvaluationError(ValueError):
    """The methods, judges or inputs of an evaluation do not fit together."""


@dataclass(frozen=True)
class EvalConfig:
    n: int = field(default=200, metadata={"doc": "generator samples (sources) at ``seed``; 0 with inputs only"})
    seed: int = field(default=31_337, metadata={"doc": "seed of the sources, the draws and the FD reference"})
    samples: int = field(default=4, metadata={"doc": "noise/style draws per source for multimodal mappers"})
    diversity_sources: int = field(default=50, metadata={"doc": "the first this many sources get ``samples`` draws"})
    strength: float = field(default=1.0, metadata={"doc": "edit scale: w + strength * (mapper(w) - w)"})
    truncation_psi: float = field(default=1.0, metadata={"doc": "truncation of the sampled latents"})
    batch_size: int = field(default=16, metadata={"doc": "sources per chunk"})

    def __post_init__(self):
        if self.n < 0 or self.samples < 1 or self.batch_size < 1 or self.diversity_sources < 0:
            raise EvaluationError(f"need n >= 0, samples >= 1, batch_size >= 1, diversity_sources >= 0; got "
                                  f"n={self.n}, samples={self.samples}, batch_size={self.batch_size}, "
                                  f"diversity_sources={self.diversity_sources}")


@dataclass(frozen=True)
class EvalScore:
    """One (method, attribute) row; rates in [0, 1]; NaN where a column was not measured."""

    method: str
    attribute: str
    n: int
    success: float
    others_kept: float
    identity_cos: float
    lpips_to_source: float
    fd_edited: float
    fd_source: float
    diversity: float


def _cell(v: float, fmt: str) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def _json_safe(v):
    return None if isinstance(v, float) and math.isnan(v) else v


@dataclass(frozen=True)
class Evaluation:
    rows: tuple[EvalScore, ...]
    config: EvalConfig
    lpips_kind: str         # "lpips" or "none" (column skipped)
    diversity_kind: str     # "lpips" or "pixel_l1"
    feature_kind: str       # "penultimate" or "logits" (FD features)
    notes: tuple[str, ...] = ()
    provenance: dict = field(default_factory=dict)

    def means(self) -> dict[str, dict[str, float]]:
        """Per method: the mean of every column over its attributes (NaN stays NaN)."""
        out = {}
        for method in dict.fromkeys(r.method for r in self.rows):
            rs = [r for r in self.rows if r.method == method]
            out[method] = {k: sum(getattr(r, k) for r in rs) / len(rs) for k in COLUMNS}
        return out

    def to_dict(self) -> dict:
        rows = [{k: _json_safe(v) for k, v in asdict(r).items()} for r in self.rows]
        means = {m: {k: _json_safe(v) for k, v in d.items()} for m, d in self.means().items()}
        return {"rows": rows, "means": means, "columns": list(COLUMNS), "lpips_kind": self.lpips_kind,
                "diversity_kind": self.diversity_kind, "feature_kind": self.feature_kind, "notes": list(self.notes),
                "config": asdict(self.config), "provenance": self.provenance}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def to_markdown(self) -> str:
        div = "diversity LPIPS ↑" if self.diversity_kind == "lpips" else "diversity pixel-L1 (no LPIPS weights) ↑"
        fd = "FD edited / source ↓" + ("" if self.feature_kind == "penultimate" else " (classifier logits)")
        head = ["method", "attribute", "success (Acc) ↑", "others kept ↑", "identity cos (FRS) ↑",
                "LPIPS to source ↓", fd, div]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

        def cells(name, attr, d):
            return [name, attr, _cell(d["success"], ".3f"), _cell(d["others_kept"], ".3f"),
                    _cell(d["identity_cos"], ".3f"), _cell(d["lpips_to_source"], ".4f"),
                    f"{_cell(d['fd_edited'], '.2f')} / {_cell(d['fd_source'], '.2f')}", _cell(d["diversity"], ".4f")]

        for method, m in self.means().items():
            for r in (r for r in self.rows if r.method == method):
                lines.append("| " + " | ".join(cells(method, r.attribute, asdict(r))) + " |")
            lines.append("| " + " | ".join(cells(f"**{method}**", "**mean**", m)) + " |")
        c = self.config
        n = self.rows[0].n if self.rows else c.n
        lines += ["", f"n = {n} sources per attribute, {c.samples} draws (multimodal mappers), strength "
                      f"{c.strength:g}, seed {c.seed}; judged by the classifier and identity embedder, no ground "
                      "truth. — = not measured."]
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)


# ---- the evaluation ----------------------------------------------------------------------------------------
@torch.no_grad()
def _batched(fn, x: torch.Tensor, bs: int) -> torch.Tensor:
    return torch.cat([fn(c) for c in x.split(bs)])


def _contract_edit(mapper, w, target, condition, strength: float) -> torch.Tensor:
    out = mapper(w, target=target, **sm.condition_kwargs(mapper, condition))
    return out if strength == 1.0 else w + strength * (out - w)


def source_latents(G, config: EvalConfig, inputs: torch.Tensor | None = None) -> torch.Tensor:
    """(N, num_ws, w_dim): ``config.n`` generator samples at ``config.seed``, then the given ``inputs``."""
    device = G.mapping.w_avg.device
    parts = []
    if config.n:
        z = torch.randn(config.n, G.z_dim, generator=torch.Generator().manual_seed(config.seed)).to(device)
        parts.append(_batched(lambda c: G.mapping(c, truncation_psi=config.truncation_psi), z, config.batch_size))
    if inputs is not None and len(inputs):
        parts.append(inputs.to(device))
    if not parts:
        raise EvaluationError("nothing to evaluate: n = 0 and no input latents")
    w = torch.cat(parts)
    if w.shape[0] < 2:
        raise EvaluationError(f"need at least 2 sources for a Fréchet distance; got {w.shape[0]}")
    return w


def _attribute_columns(methods: dict, classifier) -> tuple[dict[str, int], list[str]]:
    names = tuple(getattr(classifier, "output_names", ()) or ())
    if not names:
        raise EvaluationError("the classifier has no named outputs (output_names); pass a classifier file "
                              "written by `latentedit train classifier` or a domain's classifier")
    wanted = list(dict.fromkeys(a for m in methods.values() for a in m.generator_info.attribute_names))
    read = [a for a in wanted if a in names]
    if not read:
        raise EvaluationError(f"the classifier reads {', '.join(names)}; the mappers edit {', '.join(wanted)}: "
                              "none in common; pass a classifier for these attributes (--classifier FILE)")
    notes = [f"not scored (the classifier does not read it): {a}" for a in wanted if a not in names]
    return {a: names.index(a) for a in names}, notes


@torch.no_grad()
def evaluate_without_ground_truth(G, methods: dict, *, classifier, embedder=None, lpips_model=None,
                                  config: EvalConfig | None = None, inputs: torch.Tensor | None = None,
                                  notes=(), provenance: dict | None = None) -> Evaluation:
    """Score every mapper in ``methods`` ({label: mapper}) on ``G`` with ``classifier`` (logits with
    ``output_names``), ``embedder`` (identity embeddings; None: column not measured) and ``lpips_model`` (None:
    LPIPS column not measured, diversity in pixel L1). ``inputs``: extra source latents (B, num_ws, w_dim)."""
    cfg = config or EvalConfig()
    bs = cfg.batch_size
    w = source_latents(G, cfg, inputs)
    n, device = w.shape[0], w.device
    cols, col_notes = _attribute_columns(methods, classifier)
    synth = lambda c: G.synthesis(c, noise_mode="const")  # noqa: E731
    x_src = _batched(synth, w, bs)
    l_src = _batched(classifier, x_src, bs)
    e_src = _batched(embedder, x_src, bs) if embedder is not None else None
    feats = lambda x: mt.classifier_features(classifier, x)[0]  # noqa: E731
    feature_kind = mt.classifier_features(classifier, x_src[:1])[1]
    z_ref = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(cfg.seed + 3)).to(device)
    w_ref = _batched(lambda c: G.mapping(c, truncation_psi=cfg.truncation_psi), z_ref, bs)
    feats_ref = _batched(lambda c: feats(synth(c)), w_ref, bs)
    fd_source = frechet_distance(_batched(feats, x_src, bs), feats_ref)
    rows = []
    for method, mapper in methods.items():
        mapper = mapper.eval()
        names = list(mapper.generator_info.attribute_names)
        multimodal = bool(getattr(mapper, "takes_noise", False) or getattr(mapper, "takes_style", False))
        k = cfg.samples if multimodal else 1
        n_div = min(cfg.diversity_sources, n) if k > 1 else 0
        for attr in (a for a in names if a in cols):
            col = cols[attr]
            others = [c for a, c in cols.items() if a != attr]
            wanted = ~(l_src[:, col] > 0)
            target = torch.full((n, len(names)), float("nan"), device=device)
            target[:, names.index(attr)] = wanted.float()
            sums = dict.fromkeys(("hit", "kept", "id", "lp", "div"), 0.0)
            feats_edit = []
            zgen = torch.Generator().manual_seed(cfg.seed + 17)
            slices = [slice(a, min(a + bs, n_div)) for a in range(0, n_div, bs)]
            slices += [slice(a, min(a + bs, n)) for a in range(n_div, n, bs)]
            for sl in slices:
                draws = k if sl.start < n_div else 1
                conds = [sm.random_conditions(mapper, sl.stop - sl.start, generator=zgen).to(device)
                         if multimodal else None for _ in range(draws)]
                imgs = [synth(_contract_edit(mapper, w[sl], target[sl], c, cfg.strength)) for c in conds]
                for x in imgs:
                    logits = classifier(x)
                    sums["hit"] += float(mt.target_hit(logits, col, wanted[sl]).sum()) / draws
                    sums["kept"] += float(mt.others_kept(logits, l_src[sl], others).sum()) / draws
                    if e_src is not None:
                        sums["id"] += float(mt.identity_cosine(embedder(x), e_src[sl]).sum()) / draws
                    if lpips_model is not None:
                        sums["lp"] += float(mt.image_distance(x, x_src[sl], lpips_model).sum()) / draws
                feats_edit.append(feats(imgs[0]))
                if draws > 1:
                    sums["div"] += float(mt.pairwise_distance(torch.stack(imgs), lpips_model).sum())
            nan = float("nan")
            rows.append(EvalScore(
                method=method, attribute=attr, n=n, success=sums["hit"] / n, others_kept=sums["kept"] / n,
                identity_cos=sums["id"] / n if e_src is not None else nan,
                lpips_to_source=sums["lp"] / n if lpips_model is not None else nan,
                fd_edited=frechet_distance(torch.cat(feats_edit), feats_ref), fd_source=fd_source,
                diversity=sums["div"] / n_div if n_div else nan))
    return Evaluation(rows=tuple(rows), config=cfg, lpips_kind="lpips" if lpips_model is not None else "none",
                      diversity_kind="lpips" if lpips_model is not None else "pixel_l1", feature_kind=feature_kind,
                      notes=tuple(notes) + tuple(col_notes),
                      provenance={"generator_fingerprint": G.fingerprint(), **(provenance or {})})
