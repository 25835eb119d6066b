"""The generator ceiling: ground-truth edits pushed through the generator, scored like any editing method.

A toy-faces generator distilled from the renderer (recipe ``toyfaces-distill``) maps ``z`` to the render of
``factors_from_gaussian(normalize_2nd_moment(z))``, so for a sample ``z`` the *perfect* edit is known:
``flip_attribute_gaussian(u, a)`` changes attribute ``a`` and nothing else. ``G`` of that latent is what an ideal
latent editor would produce on this generator; its scores (target read, other labels kept, identity factors within
the renderer's re-render noise) are the ceiling of every method in the edit benchmark, and show which misses belong
to the generator rather than to the editor (a faint mouth fails the smile for every method).

The edited ``u'`` enters the mapping layers as it is (``z_to_w(u', normalize=False)``): renormalising it would
rescale every factor by a few per cent whenever the mirrored coordinate's magnitude changes. Truncation 1, noise
constant. Samples only: an inverted render has no ``z``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from latentedit_toyfaces.evaluation.edit_quality import _batched, _score_edits


@dataclass(frozen=True)
class CeilingScore:
    attribute: str
    n: int
    success: float
    others_unchanged: float
    identity_within_noise: float
    identity_change: float
    frs: float


def is_distilled_toy_generator(G, extra: dict | None) -> bool:
    """Whether ``G`` is a toy-faces generator distilled from the renderer (its z is the factors' Gaussian)."""
    from latentedit_toyfaces.factors import NUM_FACTORS

    return G.z_dim == NUM_FACTORS and (extra or {}).get("recipe") == "toyfaces-distill"


def distilled_prior(extra: dict | None) -> bool:
    """The correlation prior a distilled generator was trained with (its recipe's ``prior``; True when absent,
    as in every shipped recipe): the map from z to the factors, and so to the true labels, depends on it."""
    return bool(((extra or {}).get("recipe_config") or {}).get("prior", True))


@torch.no_grad()
def evaluate_generator_ceiling(G, *, estimator, embedder, tolerance: dict, n: int, seed: int, batch_size: int = 128,
                             prior: bool = True) -> list[CeilingScore]:
    """Score ground-truth flips of every attribute in ``tolerance`` ({attribute: identity tolerance}) on ``n``
    samples (truncation 1). Same scoring as ``evaluate_edits``: success, others unchanged, identity within noise,
    identity change (mean |Δ| of estimated identity factors), FRS (embedder cosine)."""
    from latentedit.stylegan2.layers import normalize_2nd_moment
    from latentedit_toyfaces.factors import ATTRIBUTE_NAMES, IDENTITY_INDEX, INDEX, flip_attribute_gaussian

    device = G.mapping.w_avg.device
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
    u = normalize_2nd_moment(z)
    def synth(u_batch):  # (b, z_dim) normalised already -> (b, 3, R, R)
        w = G.mapping.z_to_w(u_batch.to(device), normalize=False)
        return G.synthesis(w.unsqueeze(1).repeat(1, G.mapping.num_ws, 1), noise_mode="const")

    x_src = _batched(synth, u, batch_size)
    f_src, e_src = _batched(estimator, x_src, batch_size), _batched(embedder, x_src, batch_size)
    ident = list(IDENTITY_INDEX)
    rows = []
    for attr in (a for a in ATTRIBUTE_NAMES if a in tolerance):
        col = INDEX[attr]
        others = [INDEX[a] for a in ATTRIBUTE_NAMES if a != attr]
        x_edit = _batched(synth, flip_attribute_gaussian(u, attr, prior), batch_size)
        sums = {"hit": 0.0, "kept": 0.0, "within": 0.0, "change": 0.0, "frs": 0.0}
        for a in range(0, n, batch_size):
            sl = slice(a, min(a + batch_size, n))
            for key, v in _score_edits([x_edit[sl]], f_src[sl, col] > 0.5, f_src[sl], e_src[sl], estimator, embedder,
                                       col=col, others=others, ident=ident, tolerance=tolerance[attr]).items():
                sums[key] += v
        rows.append(CeilingScore(attribute=attr, n=n, success=sums["hit"] / n, others_unchanged=sums["kept"] / n,
                               identity_within_noise=sums["within"] / n, identity_change=sums["change"] / n,
                               frs=sums["frs"] / n))
    return rows


def ceiling_markdown(rows: list[CeilingScore]) -> str:
    head = ["attribute", "success ↑", "others unchanged ↑", "identity within noise ↑", "identity Δ ↓", "FRS ↑"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append(f"| {r.attribute} | {r.success:.3f} | {r.others_unchanged:.3f} | {r.identity_within_noise:.3f} "
                     f"| {r.identity_change:.4f} | {r.frs:.3f} |")
    n = rows[0].n if rows else 0
    lines.append("")
    lines.append(f"Ground-truth edits (`flip_attribute_gaussian`) of {n} samples pushed through the generator: the "
                 "best any latent editor can score on this generator, with the same judges and tolerances.")
    return "\n".join(lines)


def to_dicts(rows: list[CeilingScore]) -> list[dict]:
    return [asdict(r) for r in rows]


def ceiling_relative_scores(rows, ceiling: list[CeilingScore]) -> list[dict]:
    """Per method and attribute (``rows``: ``EditScore``-like objects with method, attribute, success,
    others_unchanged, identity_change): identity Δ as a multiple of the ceiling's, and the score
    ``success × others unchanged × (ceiling identity Δ / identity Δ)`` (1 = the ceiling's identity at full success
    and preservation; higher is better). Attributes without a ceiling row are left out."""
    by_attr = {c.attribute: c for c in ceiling}
    out = []
    for r in rows:
        c = by_attr.get(r.attribute)
        if c is None:
            continue
        ratio = r.identity_change / c.identity_change if c.identity_change > 0 else float("inf")
        out.append({"method": r.method, "attribute": r.attribute, "identity_x_ceiling": ratio,
                    "score": r.success * r.others_unchanged / ratio if ratio > 0 else float("inf")})
    return out


def ceiling_relative_markdown(scores: list[dict]) -> str:
    """One row per method, one column per attribute: ``score (identity Δ × ceiling)``, and their mean."""
    if not scores:
        return ""
    attrs = list(dict.fromkeys(s["attribute"] for s in scores))
    head = ["method"] + attrs + ["mean"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for method in dict.fromkeys(s["method"] for s in scores):
        mine = {s["attribute"]: s for s in scores if s["method"] == method}
        cells = [f"{mine[a]['score']:.3f} ({mine[a]['identity_x_ceiling']:.1f}×)" if a in mine else "—"
                 for a in attrs]
        vals = list(mine.values())
        mean = (sum(v["score"] for v in vals) / len(vals), sum(v["identity_x_ceiling"] for v in vals) / len(vals))
        lines.append("| " + " | ".join([method] + cells + [f"{mean[0]:.3f} ({mean[1]:.1f}×)"]) + " |")
    lines.append("")
    lines.append("Score = success × others unchanged × (ceiling identity Δ / identity Δ), higher is better; in "
                 "brackets the method's identity Δ as a multiple of the ceiling's.")
    return "\n".join(lines)
