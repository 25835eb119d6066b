"""Sample grids written during training: one column per fixed source, rows = source, then one edit per
attribute (that attribute flipped, the others kept), rendered with the EMA mapper.
"""

from __future__ import annotations

from pathlib import Path

import torch

from latentedit.training.data import step_generator
from latentedit.training.objective import style_hook

SAMPLE_STREAM = 2  # a seed stream disjoint from the training batches


def fixed_sample_inputs(source, *, seed: int, count: int, mapper_z_dim: int, style_dim: int) -> dict:
    """The sources shown in every grid of a run: ``w_plus (count, num_ws, w_dim)``, plus fixed noise/style."""
    from latentedit.training.data import draw_randoms

    G = getattr(source, "G", None)
    z_dim = G.z_dim if G is not None else 1
    r = draw_randoms(seed=seed + 10_007, step=0, batch=count, lo=0, hi=count, z_dim=z_dim,
                     num_ws=source_num_ws(source), n_attr=0, max_flips=1, mapper_z_dim=mapper_z_dim,
                     style_dim=style_dim)
    w = source(r, step=10**9, batch=count, lo=0, hi=count)
    g = step_generator(seed, 0, SAMPLE_STREAM)
    return {"w_plus": w, "noise": torch.randn(count, mapper_z_dim, generator=g) if mapper_z_dim else None,
            "style": torch.randn(count, style_dim, generator=g) if style_dim else None}


def source_num_ws(source) -> int:
    G = getattr(source, "G", None)
    return G.num_ws if G is not None else source.w.shape[1]


@torch.no_grad()
def edit_grid(mapper, G, inputs: dict, labeller, *, noise_mode: str = "const") -> torch.Tensor:
    """Images ``((1 + n_attr) * count, 3, R, R)``: row 0 the sources, row 1 + a the edit flipping attribute a
    (style mappers with ``encode_style``: in the style of the next column's source)."""
    w = inputs["w_plus"]
    x_src = G.synthesis(w, noise_mode=noise_mode)
    labels = labeller(x_src)
    rows = [x_src]
    n_attr = labels.shape[1]
    for a in range(n_attr):
        target = labels.clone()
        target[:, a] = 1 - target[:, a]
        kw = {"target": target}
        dev = w.device
        if mapper.takes_noise and inputs.get("noise") is not None:
            kw["z"] = inputs["noise"].to(dev)
        if mapper.takes_style and style_hook(mapper) is not None:  # the style of the next column's source
            kw["style"] = style_hook(mapper)(images=x_src.roll(1, 0), w_plus=w.roll(1, 0))
        elif mapper.takes_style and inputs.get("style") is not None:
            kw["style"] = inputs["style"].to(dev)
        rows.append(G.synthesis(mapper(w, **kw), noise_mode=noise_mode))
    return torch.cat(rows)


def write_grid(images: torch.Tensor, count: int, path: str | Path) -> Path:
    """Save ``images`` (rows of ``count``) as a PNG grid, atomically."""
    from latentedit.images import save_image

    return save_image(images.float().cpu(), path, ncol=count)
