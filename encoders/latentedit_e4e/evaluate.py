"""Held-out quality of an encoder in the toy-faces domain (figures for the README and the closing note).

    python -m latentedit_e4e.evaluate ENCODER.safetensors [--generator G] [--n 256]

Reported (all on renders the encoder never saw, plus the generator's own samples as the easy case):

- ``l2`` (MSE in [-1, 1] units) and ``lpips`` (when its weights are available) of G(E(x)) against x;
- ``id_cos_median``: toy identity judge, cosine between x and G(E(x)) (target >= 0.9);
- ``attr_agree_truth`` / ``attr_agree_self``: the factor estimator's attribute labels on G(E(x)) against the true
  labels of x / against its own labels on x (target >= 95 %), also per attribute; ``estimator_accuracy``: the
  estimator's own labels on x against the truth (the ceiling of ``attr_agree_truth``);
- ``refined_*`` (``refine`` > 0): the same figures after ``refine`` steps of ``refine_w_plus`` (L2 + LPIPS) from the
  encoder's codes, with the time they took; ``refined_from_w_avg_*``: the same steps from w_avg (with ``baseline``);
- editability: ``offset_norm`` (mean ||w_i - w_0||, i >= 1) and ``dist_to_w_avg`` (mean ||w_0 - w_avg||);
- ``easy_l2`` / ``easy_latent_err``: on G's own samples (W+ known), image MSE and ||w_hat - w|| / ||w - w_avg||;
- ``baseline_l2``: plain optimisation from w_avg (L2 + LPIPS when available) given the encoder's wall time.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

HELD_OUT_SEED = 2_000_000_011


def _batched(fn, x: torch.Tensor, batch: int) -> torch.Tensor:
    return torch.cat([fn(c) for c in x.split(batch)])


@torch.no_grad()
def _render_held_out(n: int, resolution: int):
    from latentedit_toyfaces import attribute_labels, render, sample_factors

    f = sample_factors(n, HELD_OUT_SEED)
    return render(f, resolution), attribute_labels(f)


def evaluate_encoder(encoder, G, *, n: int = 256, batch: int = 32, identity=None, factors=None, lpips_model=None,
                     baseline: bool = True, refine: int = 0) -> dict[str, float]:
    """Figures above for ``encoder`` (contract: ``invert``) and generator ``G``. ``identity`` / ``factors``
    default to the shipped toy judges (skipped when absent); ``lpips_model`` to LPIPS(alex) if available."""
    from latentedit.losses import MissingWeightsError, build_lpips
    from latentedit_toyfaces.judges import load_judge

    out: dict[str, float] = {"n": n}
    if lpips_model is None:
        try:
            lpips_model = build_lpips("alex")
        except MissingWeightsError:
            lpips_model = None
    for name, model in (("identity", identity), ("factors", factors)):
        if model is None:
            try:
                model = load_judge(name)
            except (ValueError, OSError):
                model = None
        if name == "identity":
            identity = model
        else:
            factors = model
    x, labels = _render_held_out(n, G.resolution)
    t0 = time.perf_counter()
    w = encoder.invert(x, batch_size=batch)
    enc_seconds = time.perf_counter() - t0
    out["encode_seconds_per_image"] = enc_seconds / n
    ref = _reference_readings(x, batch=batch, identity=identity, factors=factors)  # the judges read x once
    out.update(_fidelity(G, w, x, labels, ref, batch=batch, identity=identity, factors=factors,
                         lpips_model=lpips_model))
    if refine > 0:
        from latentedit_e4e.refine import refine_w_plus

        t0 = time.perf_counter()
        w_ref = torch.cat([refine_w_plus(wc, xc, G, steps=refine, lpips_model=lpips_model,
                                         lpips_weight=1.0 if lpips_model else 0.0)
                           for wc, xc in zip(w.split(batch), x.split(batch))])
        out["refined_steps"] = refine
        out["refined_seconds_per_image"] = (time.perf_counter() - t0) / n
        fid = _fidelity(G, w_ref, x, labels, ref, batch=batch, identity=identity, factors=factors,
                        lpips_model=lpips_model)
        out.update({f"refined_{k}": v for k, v in fid.items()})
        out["refined_offset_norm"] = float((w_ref[:, 1:] - w_ref[:, :1]).norm(dim=2).mean())
        if baseline:  # the same refinement from w_avg instead of the encoder's codes: what the encoder adds
            w_avg_all = G.mapping.w_avg.reshape(1, 1, -1).expand(n, G.num_ws, -1)
            w_opt = torch.cat([refine_w_plus(wc.clone(), xc, G, steps=refine, lpips_model=lpips_model,
                                             lpips_weight=1.0 if lpips_model else 0.0)
                               for wc, xc in zip(w_avg_all.split(batch), x.split(batch))])
            fid = _fidelity(G, w_opt, x, labels, ref, batch=batch, identity=identity, factors=factors,
                            lpips_model=lpips_model)
            out.update({f"refined_from_w_avg_{k}": v for k, v in fid.items()})
    w_avg = G.mapping.w_avg.reshape(1, 1, -1)
    out["offset_norm"] = float((w[:, 1:] - w[:, :1]).norm(dim=2).mean())
    out["dist_to_w_avg"] = float((w[:, 0] - w_avg[:, 0]).norm(dim=1).mean())
    with torch.no_grad():
        z = torch.randn(min(n, 64), G.z_dim, generator=torch.Generator().manual_seed(HELD_OUT_SEED))
        w_true = G.mapping(z)
        x_easy = G.synthesis(w_true, noise_mode="const").clamp(-1, 1)
        w_hat = encoder.invert(x_easy, batch_size=batch)
        out["easy_l2"] = float(F.mse_loss(G.synthesis(w_hat, noise_mode="const").clamp(-1, 1), x_easy))
        out["easy_latent_err"] = float(((w_hat - w_true).norm(dim=2) / (w_true - w_avg).norm(dim=2)).mean())
    if baseline:
        out.update(_baseline(G, x, enc_seconds, lpips_model))
    return out


@torch.no_grad()
def _reference_readings(x, *, batch, identity, factors) -> dict:
    """What the judges read on the renders ``x`` (n, 3, R, R): identity embeddings and attribute labels (n, n_attr)."""
    from latentedit_toyfaces.factors import ATTRIBUTE_INDEX

    return {"embedding": None if identity is None else _batched(identity, x, batch),
            "labels": None if factors is None else _batched(factors, x, batch)[:, list(ATTRIBUTE_INDEX)] > 0.5}


def _fidelity(G, w, x, labels, ref, *, batch, identity, factors, lpips_model) -> dict:
    """Reconstruction figures of codes ``w`` (n, num_ws, w_dim) for renders ``x`` with true ``labels`` (n, n_attr);
    ``ref``: the judges' readings of ``x`` (``_reference_readings``)."""
    from latentedit.losses import lpips_loss
    from latentedit_toyfaces.factors import ATTRIBUTE_INDEX, ATTRIBUTE_NAMES

    out: dict = {}
    with torch.no_grad():
        recon = _batched(lambda c: G.synthesis(c, noise_mode="const"), w, batch).clamp(-1, 1)
    out["l2"] = float(F.mse_loss(recon, x))
    if lpips_model is not None:
        with torch.no_grad():
            out["lpips"] = float(lpips_loss(recon, x, lpips_model))
    if identity is not None:
        with torch.no_grad():
            cos = F.cosine_similarity(_batched(identity, recon, batch), ref["embedding"], dim=1)
        out["id_cos_median"] = float(cos.median())
    if factors is not None:
        with torch.no_grad():
            est_r = _batched(factors, recon, batch)[:, list(ATTRIBUTE_INDEX)] > 0.5
            est_x = ref["labels"]
        out["attr_agree_truth"] = float((est_r == labels).float().mean())
        out["attr_agree_self"] = float((est_r == est_x).float().mean())
        out["estimator_accuracy"] = float((est_x == labels).float().mean())
        out["attr_agree_truth_per_attribute"] = {
            name: float((est_r[:, i] == labels[:, i]).float().mean()) for i, name in enumerate(ATTRIBUTE_NAMES)}
    return out


def _baseline(G, x: torch.Tensor, seconds: float, lpips_model) -> dict[str, float]:
    """Optimisation from w_avg for the same wall time the encoder took on all of ``x``."""
    from latentedit_e4e.refine import refine_w_plus

    w0 = G.mapping.w_avg.reshape(1, 1, -1).expand(x.shape[0], G.num_ws, -1).clone()
    t0 = time.perf_counter()
    w = refine_w_plus(w0, x, G, steps=1, lpips_model=lpips_model, lpips_weight=1.0 if lpips_model else 0.0)
    per_step = time.perf_counter() - t0
    steps = max(1, int(seconds / max(per_step, 1e-6)) - 1)
    w = refine_w_plus(w, x, G, steps=steps, lpips_model=lpips_model, lpips_weight=1.0 if lpips_model else 0.0)
    with torch.no_grad():
        recon = G.synthesis(w, noise_mode="const").clamp(-1, 1)
    return {"baseline_steps": steps + 1, "baseline_l2": float(F.mse_loss(recon, x))}


def main(argv=None) -> None:
    import argparse
    import json

    from latentedit.io.checkpoints import load_generator
    from latentedit_e4e.encoder import E4EEncoder

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("encoder")
    ap.add_argument("--generator", default=None, help="default: the generator bundled with the encoder")
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--refine", type=int, default=0, help="also report the figures after N refinement steps")
    args = ap.parse_args(argv)
    enc = E4EEncoder.load(args.encoder)
    G = load_generator(args.generator)[0] if args.generator else enc.generator
    if G is None:
        ap.error("the encoder file bundles no generator; pass --generator")
    print(json.dumps(evaluate_encoder(enc, G.eval(), n=args.n, refine=args.refine), indent=2))


if __name__ == "__main__":
    main()
