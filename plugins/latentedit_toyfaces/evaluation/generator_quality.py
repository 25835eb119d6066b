"""Quality bars of a toy-faces generator, measured with the toy judges (never used to train the generator).

* realism: the factor estimator reads a sample's factors; re-rendering them should reproduce the sample. The
  median pixel L1 (in [0, 1] units) of sample vs re-render is compared with the same figure on real renders
  (ratio bar: <= 1.5). Plus a Fréchet distance in the estimator's penultimate features, samples vs renders,
  beside the renders-vs-renders baseline.
* coverage: each attribute's frequency among samples (attribute classifier) vs among renders (ground truth).
* editability: a linear classifier on W predicts each attribute (labels from the attribute classifier);
  held-out *balanced* accuracy (mean of the per-class recalls; bar: >= 0.9). Plain accuracy would pass an
  attribute the generator hardly draws: with 11% of samples read as smiling, predicting "no smile" everywhere
  scores 0.89 — the shipped generator's 0.91 "smile probe" was that.
* faithfulness (distilled generators only, ``truth=True``): a distilled sample's z *is* its factors, so the
  attribute classifier's label on the sample can be checked against the true label of its z. Reported, no bar:
  it says directly whether the generator draws an attribute the way the renderer does (coverage can be right
  by accident, with wrong faces read as smiling and right ones as not).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch

from latentedit.evaluation.frechet import frechet_distance


@dataclass(frozen=True)
class GeneratorQuality:
    n: int
    realism_l1_samples: float
    realism_l1_renders: float
    realism_ratio: float
    fd_samples_vs_renders: float
    fd_renders_vs_renders: float
    attr_freq_samples: dict
    attr_freq_renders: dict
    linear_probe_balanced_accuracy_w: dict
    label_agreement_with_truth: dict = field(default_factory=dict)  # {attribute: share}; empty unless truth=True

    def to_dict(self) -> dict:
        return asdict(self)

    def bars(self) -> dict[str, bool]:
        """Each bar of the generator issue: {name: met}."""
        out = {"realism ratio <= 1.5": self.realism_ratio <= 1.5}
        for a in self.attr_freq_samples:
            out[f"{a} coverage within 0.05"] = abs(self.attr_freq_samples[a] - self.attr_freq_renders[a]) <= 0.05
        for a, acc in self.linear_probe_balanced_accuracy_w.items():
            out[f"{a} W probe >= 0.90"] = acc >= 0.9
        return out

    def to_markdown(self) -> str:
        lines = ["| measure | value | bar |", "|---|---|---|",
                 f"| realism: median re-render L1, samples | {self.realism_l1_samples:.4f} | |",
                 f"| realism: median re-render L1, real renders | {self.realism_l1_renders:.4f} | |",
                 f"| realism ratio (samples / renders) | {self.realism_ratio:.2f} | <= 1.5 |",
                 f"| Fréchet distance, samples vs renders | {self.fd_samples_vs_renders:.3f} | |",
                 f"| Fréchet distance, renders vs renders (baseline) | {self.fd_renders_vs_renders:.3f} | |"]
        for name in self.attr_freq_samples:
            lines.append(f"| {name}: frequency samples / renders | {self.attr_freq_samples[name]:.3f} / "
                         f"{self.attr_freq_renders[name]:.3f} | within ±0.05 |")
        for name, acc in self.linear_probe_balanced_accuracy_w.items():
            lines.append(f"| {name}: linear probe on W, held-out balanced accuracy | {acc:.3f} | >= 0.90 |")
        for name, agree in self.label_agreement_with_truth.items():
            lines.append(f"| {name}: judge's label on a sample = true label of its z | {agree:.3f} | (reported) |")
        return "\n".join(lines)


@torch.no_grad()
def _batched(fn, x: torch.Tensor, bs: int = 256) -> torch.Tensor:
    return torch.cat([fn(c) for c in x.split(bs)])


def linear_probe(w: torch.Tensor, labels: torch.Tensor) -> float:
    """Held-out balanced accuracy of a logistic regression from ``w`` (n, w_dim) to bool ``labels`` (n,), fitted
    on the first half and scored on the second (NaN when the first half has one class only)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score

    x, y = w.numpy(), labels.numpy()
    half = len(y) // 2
    if y[:half].min() == y[:half].max():
        return float("nan")
    clf = LogisticRegression(max_iter=2000, class_weight="balanced").fit(x[:half], y[:half])
    return float(balanced_accuracy_score(y[half:], clf.predict(x[half:])))


@torch.no_grad()
def evaluate_generator(G, *, n: int = 2000, seed: int = 12345, truncation_psi: float = 1.0,
                       truth: bool = False, prior: bool = True) -> GeneratorQuality:
    """Measure the bars above on ``n`` samples (and ``n`` + ``n`` fresh renders for the baselines); ``truth``: G is
    distilled from the renderer (z = the factors' Gaussian), so faithfulness is measured too, with the recipe's
    correlation ``prior`` (``generator_ceiling.distilled_prior``)."""
    from latentedit.stylegan2.layers import normalize_2nd_moment
    from latentedit_toyfaces.factors import ATTRIBUTE_NAMES, attribute_labels, factors_from_gaussian, sample_factors
    from latentedit_toyfaces.judges import load_judge
    from latentedit_toyfaces.renderer import render

    estimator, classifier = load_judge("factors"), load_judge("attributes")
    res = G.resolution
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, G.z_dim, generator=g)
    w = _batched(G.mapping.z_to_w, z)
    ws = w.unsqueeze(1).repeat(1, G.num_ws, 1)
    ws = G.mapping.w_avg.lerp(ws, truncation_psi) if truncation_psi != 1 else ws
    samples = _batched(lambda c: G.synthesis(c, noise_mode="const"), ws, 128)

    f_real = sample_factors(n, seed + 1)
    renders = _batched(lambda f: render(f, res), f_real)
    renders_b = _batched(lambda f: render(f, res), sample_factors(n, seed + 2))

    def rerender_l1(imgs):
        est = _batched(estimator, imgs).clamp(0, 1)
        back = _batched(lambda f: render(f, res), est)
        return (imgs - back).abs().mean(dim=(1, 2, 3)).div(2).median().item()

    l1_s, l1_r = rerender_l1(samples), rerender_l1(renders)
    feats = lambda imgs: _batched(estimator.features, imgs)  # noqa: E731
    f_s, f_r, f_rb = feats(samples), feats(renders), feats(renders_b)

    labels_s = _batched(classifier, samples) > 0
    labels_r = attribute_labels(f_real)
    probe = {name: linear_probe(w, labels_s[:, i]) for i, name in enumerate(ATTRIBUTE_NAMES)}
    agreement = {}
    if truth:
        labels_z = attribute_labels(factors_from_gaussian(normalize_2nd_moment(z), prior=prior))
        agreement = {a: float((labels_s[:, i] == labels_z[:, i]).float().mean()) for i, a in enumerate(ATTRIBUTE_NAMES)}
    return GeneratorQuality(
        n=n, realism_l1_samples=l1_s, realism_l1_renders=l1_r, realism_ratio=l1_s / max(l1_r, 1e-8),
        fd_samples_vs_renders=frechet_distance(f_s, f_r), fd_renders_vs_renders=frechet_distance(f_rb, f_r),
        attr_freq_samples={a: float(labels_s[:, i].float().mean()) for i, a in enumerate(ATTRIBUTE_NAMES)},
        attr_freq_renders={a: float(labels_r[:, i].float().mean()) for i, a in enumerate(ATTRIBUTE_NAMES)},
        linear_probe_balanced_accuracy_w=probe, label_agreement_with_truth=agreement)
