"""Attribute directions for the embedded toy-faces generator: fitted with the toy attribute judge.

The directions come from the ``directions`` plugin, found through the registry like any third-party plugin
(the core never imports a plugin package by name). ``fit_toy_directions`` samples latents, scores their images
with the attribute classifier and fits InterFaceGAN boundaries in W; the result is shipped as
``plugins/latentedit_toyfaces/assets/toyfaces_directions.safetensors`` so the demo needs no fitting.
"""

from __future__ import annotations

import torch

from latentedit_toyfaces import assets

DIRECTIONS_ASSET = "toyfaces_directions.safetensors"


@torch.no_grad()
def score_samples(G, n: int, *, seed: int = 0, batch: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample ``n`` latents and score their images with the toy attribute judge.

    Returns (w_plus (n, num_ws, w_dim), logits (n, n_attr))."""
    from latentedit.latents import score_latents
    from latentedit_toyfaces.judges import load_judge

    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
    w = torch.cat([G.mapping(chunk) for chunk in z.split(batch)])
    return w, score_latents(G, w, load_judge("attributes"), batch=batch)


def fit_toy_directions(G, *, n: int = 4000, seed: int = 0, ratio: float = 0.25, edit_distance: float = 3.0):
    """A fitted ``directions`` mapper (InterFaceGAN, W space) for the toy attributes of generator ``G``; a full
    edit goes ``edit_distance`` standard deviations of the samples' signed distance past each boundary."""
    from latentedit.plugins import GeneratorInfo, build_mapper
    from latentedit_toyfaces.factors import ATTRIBUTE_NAMES

    info = GeneratorInfo(num_ws=G.num_ws, w_dim=G.w_dim, attribute_names=ATTRIBUTE_NAMES, resolution=G.resolution)
    mapper = build_mapper("directions", info, {"method": "interfacegan", "space": "w", "ratio": ratio, "seed": seed,
                                              "distance_unit": "std", "edit_distance": edit_distance})
    w_plus, logits = score_samples(G, n, seed=seed)
    return mapper.fit(w_plus=w_plus, labels=logits)


def load_toy_directions(G, *, fit_if_missing: bool = True, n: int = 1500):
    """The shipped directions for the shipped generator, or freshly fitted ones (n samples) when absent."""
    if assets.has_asset(DIRECTIONS_ASSET):
        from latentedit.plugins import load_mapper_file

        return load_mapper_file(assets.asset_path(DIRECTIONS_ASSET))
    if not fit_if_missing:
        raise FileNotFoundError(f"{DIRECTIONS_ASSET} is not shipped; fit it with latentedit_toyfaces.directions."
                                "fit_toy_directions(G)")
    return fit_toy_directions(G, n=n)
