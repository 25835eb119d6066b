"""Latent editing consistency (LEC, from the e4e paper): does an edit survive a trip through the image?

For sources ``w`` (B, L, D): edit, synthesise, re-encode with the domain's encoder, undo the edit on the re-encoded
code, and measure how far that lands from ``w``::

    w_edit = edit(w)                       the benchmark's edit (target = the opposite of the source's label)
    w_re   = E(G(w_edit))                  re-encoded
    w_back = undo(w_re)                    the inverse edit: the opposite target (the source's label), with the
                                           same noise / style and strength (for linear directions: -amount)
    LEC    = mean over sources and layers of ||w_back[l] - w[l]||_2

0 for a mapper that does nothing and a perfect encoder; it grows with the encoder's error and with edits that the
inverse edit does not undo (the mapper is not consistent with itself on encoder outputs).
"""

from __future__ import annotations

import torch


def layer_l2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a, b (B, L, D) -> (B,): the mean over layers of the per-layer L2 distance."""
    return (a - b).norm(dim=2).mean(dim=1)


@torch.no_grad()
def latent_editing_consistency(G, encoder, edit, undo, w_plus: torch.Tensor, *, batch_size: int = 64) -> torch.Tensor:
    """Per-source LEC (B,) for ``w_plus (B, L, D)``.

    ``edit(w) -> w'`` and ``undo(w) -> w'`` map (b, L, D) latents (closures over targets and conditions of the
    same rows); ``encoder.invert(images, batch_size=)`` maps (b, 3, R, R) images to (b, L, D)."""
    w_edit = edit(w_plus)
    images = torch.cat([G.synthesis(c, noise_mode="const") for c in w_edit.split(batch_size)])
    w_re = encoder.invert(images, batch_size=batch_size).to(w_plus)
    return layer_l2(undo(w_re), w_plus)
