"""The toy-domain edit benchmark: how well each editing method changes one attribute and nothing else.

For every method (a mapper) and attribute, on held-out latents (generator samples, plus inverted renders when an
encoder is given), each source is edited to the *opposite* of what the factor estimator reads on it (the target
column; every other column NaN = keep, or with ``targets='full'`` the source's labels), ``samples`` times with
different noise or styles (prior draws) for multimodal mappers, through the mapper's own call scaled by
``strength``: ``w + strength * (mapper(w, target=t, z=z or style=s) - w)``. Then:

| column | ISF-GAN name | measured with |
|---|---|---|
| success | Acc | the factor estimator reads the target attribute on the edited image (intensity > 0.5) |
| others unchanged | — | share of the *other* attributes whose estimated label stays the same (disentanglement) |
| identity within noise | — | share of faces whose identity factors moved no more than the renderer's own re-render noise |
| identity change | — | mean |Δ| of the estimated identity factors, edited vs source |
| FRS | FRS | cosine of the identity embedder (the toy stand-in for ArcFace) between edited and source |
| FD | FID | Fréchet distance of the estimator's features, edited vs fresh renders (source vs renders beside it) |
| diversity | LPIPS | mean pairwise LPIPS among the samples of one source and target (pixel L1 when LPIPS weights are missing) |
| LEC | LEC (e4e) | edit, render, re-encode with the encoder, undo (the opposite target), mean per-layer L2 to the source (``consistency``; needs an encoder) |

Re-render noise: for ground-truth renders, flipping only attribute ``a`` in the factors and rendering again moves the
estimated identity factors by some amount although the person is the same; its ``noise_quantile`` quantile is the
tolerance for attribute ``a``. ``success x preservation = success * others unchanged * identity within noise``.
The factor estimator and identity embedder are judges: never used to train a mapper.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

from latentedit.editing import sampling as sm
from latentedit.evaluation.frechet import frechet_distance

#: The issue's bars for the shipped toy ISF mapper.
BARS = {"success": 0.95, "others_unchanged": 0.95, "identity_within_noise": 0.90, "diversity": 0.0}
DIVERSITY_KINDS = ("auto", "lpips", "l1")
TARGET_KINDS = ("keep", "full")


@dataclass(frozen=True)
class EditBenchmarkConfig:
    n: int = field(default=1000, metadata={"doc": "held-out generator samples"})
    inverted: int = field(default=0, metadata={"doc": "held-out renders inverted by the encoder (needs one)"})
    seed: int = field(default=31_337, metadata={"doc": "seed of every held-out stream (never used in training)"})
    samples: int = field(default=4, metadata={"doc": "noise or style draws (the mapper's prior) per source for multimodal mappers"})
    diversity_sources: int = field(default=200, metadata={
        "doc": "the first this many sources get ``samples`` draws (diversity, and every score averaged over the "
               "draws); the rest one draw"})
    strength: float = field(default=1.0, metadata={"doc": "edit scale: w + strength * (mapper(w) - w)"})
    truncation_psi: float = field(default=1.0, metadata={"doc": "truncation of the sampled latents"})
    batch_size: int = field(default=64, metadata={"doc": "sources per chunk"})
    noise_renders: int = field(default=1000, metadata={"doc": "renders measuring the re-render noise"})
    noise_quantile: float = field(default=0.95, metadata={"doc": "quantile of the re-render noise used as tolerance"})
    diversity: str = field(default="auto", metadata={"doc": "auto (LPIPS, else pixel L1) | lpips | l1"})
    lpips_net: str = field(default="alex", metadata={"doc": "LPIPS backbone"})
    lec_sources: int = field(default=200, metadata={
        "doc": "the first this many sources also get the latent editing consistency (needs an encoder; 0 = off)"})
    targets: str = field(default="keep", metadata={
        "doc": "the other attributes in the target: 'keep' (NaN, the contract's 'leave it') or 'full' (the source's "
               "labels as the factor estimator reads them, for mappers trained on full targets only)"})

    def __post_init__(self):
        if self.targets not in TARGET_KINDS:
            raise ValueError(f"targets must be one of {TARGET_KINDS}; got {self.targets!r}")
        if self.diversity not in DIVERSITY_KINDS:
            raise ValueError(f"diversity must be one of {DIVERSITY_KINDS}; got {self.diversity!r}")
        if self.n < 2 or self.samples < 1 or self.batch_size < 1 or self.inverted < 0:
            raise ValueError(f"need n >= 2, samples >= 1, batch_size >= 1, inverted >= 0; got n={self.n}, "
                             f"samples={self.samples}, batch_size={self.batch_size}, inverted={self.inverted}")


@dataclass(frozen=True)
class EditScore:
    """One (method, attribute) row of the table; rates in [0, 1]."""

    method: str
    attribute: str
    n: int
    success: float
    others_unchanged: float
    identity_within_noise: float
    identity_change: float
    frs: float
    fd_edited: float
    fd_source: float
    diversity: float
    lec: float = float("nan")   # latent editing consistency (NaN: no encoder)

    @property
    def success_x_preservation(self) -> float:
        return self.success * self.others_unchanged * self.identity_within_noise


@dataclass(frozen=True)
class EditBenchmark:
    rows: tuple[EditScore, ...]
    diversity_kind: str            # "lpips" or "pixel_l1"
    noise_tolerance: dict          # attribute -> identity-change tolerance
    config: EditBenchmarkConfig
    provenance: dict

    def means(self) -> dict[str, dict[str, float]]:
        """Per method: the mean of every column over its attributes."""
        out = {}
        for method in dict.fromkeys(r.method for r in self.rows):
            rs = [r for r in self.rows if r.method == method]
            keys = [k for k in asdict(rs[0]) if k not in ("method", "attribute", "n")]
            out[method] = {k: sum(getattr(r, k) for r in rs) / len(rs) for k in keys}
            out[method]["success_x_preservation"] = sum(r.success_x_preservation for r in rs) / len(rs)
        return out

    def to_dict(self) -> dict:
        rows = [{**asdict(r), "success_x_preservation": r.success_x_preservation} for r in self.rows]
        return {"rows": rows, "means": self.means(), "diversity_kind": self.diversity_kind,
                "noise_tolerance": self.noise_tolerance, "config": asdict(self.config), "bars": BARS,
                "provenance": self.provenance}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def to_markdown(self) -> str:
        div = "diversity LPIPS ↑" if self.diversity_kind == "lpips" else "diversity pixel-L1 (no LPIPS weights) ↑"
        head = ["method", "attribute", "success (Acc) ↑", "others unchanged ↑", "identity within noise ↑",
                "identity Δ ↓", "FRS ↑", "FD edited / source ↓", div, "success × preservation ↑",
                "LEC ↓"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

        def cells(name, attr, d):
            return [name, attr, f"{d['success']:.3f}", f"{d['others_unchanged']:.3f}",
                    f"{d['identity_within_noise']:.3f}", f"{d['identity_change']:.4f}", f"{d['frs']:.3f}",
                    f"{d['fd_edited']:.2f} / {d['fd_source']:.2f}", f"{d['diversity']:.4f}",
                    f"{d['success_x_preservation']:.3f}", "—" if d["lec"] != d["lec"] else f"{d['lec']:.4f}"]

        means = self.means()
        for method, m in means.items():
            for r in (r for r in self.rows if r.method == method):
                lines.append("| " + " | ".join(cells(method, r.attribute, {
                    **asdict(r), "success_x_preservation": r.success_x_preservation})) + " |")
            lines.append("| " + " | ".join(cells(f"**{method}**", "**mean**", m)) + " |")
        c = self.config
        lines.append("")
        lines.append(f"n = {c.n} samples + {c.inverted} inverted renders per attribute, {c.samples} noise draws "
                     f"(multimodal mappers), strength {c.strength:g}, other attributes in the target: {c.targets}, "
                     f"seed {c.seed}; identity tolerance = "
                     f"{c.noise_quantile:.0%} quantile of the renderer's re-render noise. Bars (shipped ISF): "
                     "success ≥ 0.95, others unchanged ≥ 0.95, identity within noise ≥ 0.90, diversity > 0.")
        return "\n".join(lines)


# ---- pieces ------------------------------------------------------------------------------------------------
@torch.no_grad()
def _batched(fn, x: torch.Tensor, bs: int) -> torch.Tensor:
    return torch.cat([fn(c) for c in x.split(bs)])


@torch.no_grad()
def reference_noise(estimator, attribute_columns: dict[str, int], identity_columns, *, n: int, seed: int,
                    resolution: int, quantile: float, batch: int = 256) -> dict[str, float]:
    """Per attribute: the ``quantile`` of the mean |Δ| of estimated identity factors when only that attribute is
    flipped in the ground-truth factors and the face rendered again."""
    from latentedit_toyfaces.factors import sample_factors
    from latentedit_toyfaces.renderer import render

    device = next(estimator.parameters()).device
    f = sample_factors(n, seed)
    draw = lambda g: _batched(lambda c: render(c, resolution).to(device), g, batch)  # noqa: E731
    base = _batched(estimator, draw(f), batch)[:, identity_columns]
    out = {}
    for name, col in attribute_columns.items():
        g = f.clone()
        g[:, col] = 1.0 - g[:, col]
        moved = _batched(estimator, draw(g), batch)[:, identity_columns]
        out[name] = float(torch.quantile((moved - base).abs().mean(1), quantile))
    return out


def pairwise_distance(images: torch.Tensor, lpips_model=None) -> torch.Tensor:
    """images (K, B, 3, H, W) -> (B,) mean distance over the K(K-1)/2 pairs (LPIPS, else mean |Δ| / 2 in [0, 1])."""
    k = images.shape[0]
    if k < 2:
        return images.new_zeros(images.shape[1])
    total = images.new_zeros(images.shape[1])
    pairs = 0
    for i in range(k):
        for j in range(i + 1, k):
            if lpips_model is not None:
                total += lpips_model(images[i], images[j]).reshape(-1)
            else:
                total += (images[i] - images[j]).abs().mean(dim=(1, 2, 3)) / 2
            pairs += 1
    return total / pairs


def contract_edit(mapper, w_plus: torch.Tensor, target: torch.Tensor, condition: torch.Tensor | None,
                  strength: float) -> torch.Tensor:
    """``w + strength * (mapper(w, target=target[, z or style]) - w)``; shapes (B, L, D), (B, n_attr), and the
    ``condition``: (B, z_dim) noise of a noise mapper or (B, style_dim) style of a style mapper (None: the mapper's
    default)."""
    out = mapper(w_plus, target=target, **sm.condition_kwargs(mapper, condition))
    return out if strength == 1.0 else w_plus + strength * (out - w_plus)


def _diversity_model(kind: str, net: str):
    """(lpips model or None, the column's kind)."""
    if kind == "l1":
        return None, "pixel_l1"
    from latentedit.losses import MissingWeightsError, build_lpips

    try:
        return build_lpips(net), "lpips"
    except MissingWeightsError:
        if kind == "lpips":
            raise
        return None, "pixel_l1"


@torch.no_grad()
def _score_edits(imgs: list[torch.Tensor], src_label, f_src, e_src, estimator, embedder, *, col: int, others: list,
                 ident: list, tolerance: float) -> dict[str, float]:
    """Sums over the b sources of one slice, each averaged over its draws ``imgs`` (each (b, 3, R, R)):
    hit (target read), kept (share of other labels unchanged), within (identity change <= tolerance),
    change (mean |Δ identity factors|), frs (identity-embedding cosine). src_label (b,) bool; f_src (b, F);
    e_src (b, E)."""
    out = {"hit": 0.0, "kept": 0.0, "within": 0.0, "change": 0.0, "frs": 0.0}
    k = len(imgs)
    for x in imgs:
        fe = estimator(x)
        d_id = (fe[:, ident] - f_src[:, ident]).abs().mean(1)
        out["hit"] += float(((fe[:, col] > 0.5) == ~src_label).float().sum()) / k
        out["kept"] += float(((fe[:, others] > 0.5) == (f_src[:, others] > 0.5)).float().mean(1).sum()) / k
        out["within"] += float((d_id <= tolerance).float().sum()) / k
        out["change"] += float(d_id.sum()) / k
        out["frs"] += float(F.cosine_similarity(embedder(x), e_src, dim=1).sum()) / k
    return out


def _lec(G, encoder, mapper, w, target, src_label, column: int, cfg: EditBenchmarkConfig, multimodal: bool) -> float:
    """Mean LEC over the first ``cfg.lec_sources`` sources (one seeded noise/style draw each), or NaN without an
    encoder: the edit to ``target``, then back to the source's label on ``column`` with the same condition."""
    from latentedit_toyfaces.evaluation.consistency import latent_editing_consistency

    m = min(cfg.lec_sources, w.shape[0])
    if encoder is None or m == 0:
        return float("nan")
    device = w.device
    cond = (sm.random_conditions(mapper, m, generator=torch.Generator().manual_seed(cfg.seed + 19)).to(device)
            if multimodal else None)
    there, back = target[:m], target[:m].clone()
    back[:, column] = src_label[:m].to(back.dtype)
    per = latent_editing_consistency(
        G, encoder, lambda x: contract_edit(mapper, x, there, cond, cfg.strength),
        lambda x: contract_edit(mapper, x, back, cond, cfg.strength), w[:m], batch_size=cfg.batch_size)
    return float(per.mean())


# ---- the benchmark ----------------------------------------------------------------------------------------
@torch.no_grad()
def evaluate_edits(G, methods: dict, *, estimator, embedder, config: EditBenchmarkConfig | None = None,
                   encoder=None, provenance: dict | None = None) -> EditBenchmark:
    """Score every mapper in ``methods`` ({name: mapper}) on ``G`` with the toy judges.

    ``estimator``: images -> factors (B, NUM_FACTORS) in [0, 1] with ``.features(x)``; ``embedder``: images ->
    (B, E) unit embeddings; ``encoder`` (with ``invert``) is needed when ``config.inverted > 0``.
    """
    from latentedit_toyfaces.factors import ATTRIBUTE_NAMES, IDENTITY_INDEX, INDEX, sample_factors
    from latentedit_toyfaces.renderer import render

    cfg = config or EditBenchmarkConfig()
    bs, res, device = cfg.batch_size, G.resolution, G.mapping.w_avg.device
    draw = lambda f: _batched(lambda c: render(c, res).to(device), f, bs)  # noqa: E731
    gen = torch.Generator().manual_seed(cfg.seed)
    z = torch.randn(cfg.n, G.z_dim, generator=gen).to(device)
    w = _batched(lambda c: G.mapping(c, truncation_psi=cfg.truncation_psi), z, bs)
    if cfg.inverted:
        if encoder is None:
            raise ValueError(f"config.inverted={cfg.inverted} needs an encoder (pass encoder=...)")
        renders = draw(sample_factors(cfg.inverted, cfg.seed + 1))
        w = torch.cat([w, encoder.invert(renders, batch_size=bs).to(w)])
    n = w.shape[0]
    x_src = _batched(lambda c: G.synthesis(c, noise_mode="const"), w, bs)
    f_src = _batched(estimator, x_src, bs)
    e_src = _batched(embedder, x_src, bs)
    ident = list(IDENTITY_INDEX)
    attr_cols = {a: INDEX[a] for a in ATTRIBUTE_NAMES}
    feats_real = _batched(estimator.features, draw(sample_factors(n, cfg.seed + 3)), bs)
    fd_source = frechet_distance(_batched(estimator.features, x_src, bs), feats_real)
    lpips_model, div_kind = _diversity_model(cfg.diversity, cfg.lpips_net)
    lpips_model = lpips_model.to(device) if lpips_model is not None else None
    rows = []
    names_all = sorted({a for m in methods.values() for a in m.generator_info.attribute_names if a in attr_cols})
    tolerance = reference_noise(estimator, {a: attr_cols[a] for a in names_all}, ident, n=cfg.noise_renders,
                                seed=cfg.seed + 2, resolution=res, quantile=cfg.noise_quantile)
    for method, mapper in methods.items():
        mapper = mapper.eval()
        names = list(mapper.generator_info.attribute_names)
        multimodal = getattr(mapper, "takes_noise", False) or getattr(mapper, "takes_style", False)
        k = cfg.samples if multimodal else 1
        for attr in (a for a in names if a in attr_cols):
            col = attr_cols[attr]
            others = [c for a, c in attr_cols.items() if a != attr]
            src_label = f_src[:, col] > 0.5
            target = torch.full((n, len(names)), float("nan"), device=device)
            if cfg.targets == "full":  # the source's labels for every attribute the estimator reads
                for i, a in enumerate(names):
                    if a in attr_cols:
                        target[:, i] = (f_src[:, attr_cols[a]] > 0.5).float()
            target[:, names.index(attr)] = (~src_label).float()
            sums = {key: 0.0 for key in ("hit", "kept", "within", "change", "frs", "div")}
            feats_edit = []
            zgen = torch.Generator().manual_seed(cfg.seed + 17)
            n_div = min(cfg.diversity_sources, n) if k > 1 else 0
            slices = [slice(a, min(a + bs, n_div)) for a in range(0, n_div, bs)]
            slices += [slice(a, min(a + bs, n)) for a in range(n_div, n, bs)]
            for sl in slices:
                draws = k if sl.start < n_div else 1
                conds = [sm.random_conditions(mapper, sl.stop - sl.start, generator=zgen).to(device)
                         if multimodal else None for _ in range(draws)]
                imgs = [G.synthesis(contract_edit(mapper, w[sl], target[sl], c, cfg.strength), noise_mode="const")
                        for c in conds]
                for key, v in _score_edits(imgs, src_label[sl], f_src[sl], e_src[sl], estimator, embedder, col=col,
                                           others=others, ident=ident, tolerance=tolerance[attr]).items():
                    sums[key] += v
                feats_edit.append(estimator.features(imgs[0]))
                if draws > 1:
                    sums["div"] += float(pairwise_distance(torch.stack(imgs), lpips_model).sum())
            lec = _lec(G, encoder, mapper, w, target, src_label, names.index(attr), cfg, multimodal)
            rows.append(EditScore(method=method, attribute=attr, n=n, success=sums["hit"] / n,
                                  others_unchanged=sums["kept"] / n, identity_within_noise=sums["within"] / n,
                                  identity_change=sums["change"] / n, frs=sums["frs"] / n,
                                  fd_edited=frechet_distance(torch.cat(feats_edit), feats_real), fd_source=fd_source,
                                  diversity=sums["div"] / n_div if n_div else 0.0, lec=lec))
    prov = {"generator_fingerprint": G.fingerprint(), **(provenance or {})}
    return EditBenchmark(rows=tuple(rows), diversity_kind=div_kind, noise_tolerance=tolerance, config=cfg,
                         provenance=prov)
