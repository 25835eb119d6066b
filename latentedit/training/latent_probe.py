"""Fit the ``latent_attribute`` loss's linear probe on W for a training run.

The probe sees the run's own kind of sources (the generator's samples at the run's truncation, or the rows of its
latent file), labelled by the run's image classifier (logit > 0), so it is the image judge's view restated as a
linear function of W. The draw depends only on the run's seed, so a resumed run refits the same probe.
"""

from __future__ import annotations

import torch

from latentedit.latents import score_latents
from latentedit.losses.latent_attribute import fit_linear_probe
from latentedit.training.data import FileLatents, step_generator

PROBE_STREAM = 2  # step_generator stream of the probe's latents (the batches use streams 0, 1 and 3)


@torch.no_grad()
def fit_run_probe(G, classifier, source, *, n: int, seed: int, truncation_psi: float, c: float = 1.0,
                  chunk: int = 64, noise_mode: str = "const") -> dict:
    """Sample ``n`` source latents, label their renders with ``classifier`` and fit the probe.

    Returns {"weight": (n_attr, w_dim) float32, "bias": (n_attr,) float32, "accuracy": [n_attr floats] (training
    accuracy), "positives": [n_attr floats] (share of label 1)}.
    """
    dev = G.mapping.w_avg.device
    if isinstance(source, FileLatents):
        rows = torch.randperm(len(source), generator=step_generator(seed, 0, PROBE_STREAM))[:n]
        w_all = source.w[rows]
    else:
        z = torch.randn(n, G.z_dim, generator=step_generator(seed, 0, PROBE_STREAM))
        w_all = torch.cat([G.mapping(part.to(dev), truncation_psi=truncation_psi) for part in z.split(chunk)])
    labels = (score_latents(G, w_all, classifier, batch=chunk, noise_mode=noise_mode) > 0).float()
    w_mean = w_all.mean(1).double().cpu().numpy()
    weight, bias, acc = fit_linear_probe(w_mean, labels.numpy(), c=c)
    return {"weight": torch.from_numpy(weight).float(), "bias": torch.from_numpy(bias).float(),
            "accuracy": [float(a) for a in acc], "positives": labels.mean(0).tolist()}
