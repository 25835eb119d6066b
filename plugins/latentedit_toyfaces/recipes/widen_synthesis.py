"""Widen a trained generator's synthesis network without changing what it draws (Net2Net-style growth).

``widen_generator(G, channels)`` returns a generator with the wider channel table whose output equals ``G``'s for
every W+ and noise (up to float rounding), so a fine-tune can start from the trained function with more capacity:

* a layer's new *input* channels get zero weights. In a demodulated convolution a zero column adds nothing to the
  demodulation norm either, so the old outputs are unchanged; the new channels' style affines get the usual
  initialisation (weight N(0, 1), bias 1);
* a layer's new *output* channels get the usual N(0, 1) weights and zero bias: they compute new features, which
  the next layer reads through zero weights until training moves them;
* ToRGB has no demodulation and scales its styles by 1/sqrt(in_channels): its old weights are multiplied by
  sqrt(new_in / old_in) to undo the changed gain.

The mapping network is copied as it is, so W (and every file made on it: latents, directions, mappers) keeps its
meaning; only ``GeneratorConfig.channels`` and the synthesis weights change.
"""

from __future__ import annotations

import dataclasses
import math

import torch

from latentedit.stylegan2 import Generator


def _grow(old: torch.Tensor, new: torch.Tensor, fill_new_inputs: float | None = 0.0) -> torch.Tensor:
    """``new`` (O', I', ...) with ``old`` (O, I, ...) in its leading corner; columns I..I' of the first O rows set
    to ``fill_new_inputs`` (None: keep ``new``'s values)."""
    out = new.clone()
    o, i = old.shape[0], old.shape[1] if old.ndim > 1 else None
    if i is None:
        out[:o] = old
        return out
    out[:o, :i] = old
    if fill_new_inputs is not None:
        out[:o, i:] = fill_new_inputs
    return out


@torch.no_grad()
def widen_generator(G: Generator, channels: tuple[int, ...], *, seed: int = 0) -> Generator:
    """A copy of ``G`` with ``channels`` (one width per resolution 4..R, each >= G's) that draws the same images.

    ``seed`` seeds the initialisation of the new weights. ValueError when a width shrinks or the table's length is
    wrong.
    """
    old_cfg = G.config
    channels = tuple(int(c) for c in channels)
    if len(channels) != len(old_cfg.channels):
        raise ValueError(f"channels must hold {len(old_cfg.channels)} widths (one per resolution 4..{old_cfg.resolution});"
                         f" got {channels}")
    narrower = [(r, o, n) for r, o, n in zip(old_cfg.resolutions, old_cfg.channels, channels) if n < o]
    if narrower:
        raise ValueError("widen_generator only adds channels; these resolutions would shrink (resolution, now, "
                         f"asked): {narrower}")
    torch.manual_seed(seed)
    ref = G.mapping.w_avg
    wide = Generator(dataclasses.replace(old_cfg, channels=channels)).to(device=ref.device, dtype=ref.dtype)
    wide.mapping.load_state_dict(G.mapping.state_dict())
    for old_b, new_b in zip(G.synthesis.blocks, wide.synthesis.blocks):
        if old_b.resolution == 4:
            new_b.const.copy_(_grow(old_b.const, new_b.const, None))
        for name in ("conv1",) if old_b.resolution == 4 else ("conv0", "conv1"):
            o, n = getattr(old_b, name), getattr(new_b, name)
            n.weight.copy_(_grow(o.weight, n.weight))
            n.bias.copy_(_grow(o.bias, n.bias))
            n.affine.weight.copy_(_grow(o.affine.weight, n.affine.weight, None))
            n.affine.bias.copy_(_grow(o.affine.bias, n.affine.bias))
            n.noise_strength.copy_(o.noise_strength)
            n.noise_const.copy_(o.noise_const)
        o, n = old_b.torgb, new_b.torgb
        gain = math.sqrt(n.weight.shape[1] / o.weight.shape[1])
        n.weight.zero_()
        n.weight[:, : o.weight.shape[1]] = o.weight * gain
        n.bias.copy_(o.bias)
        n.affine.weight.copy_(_grow(o.affine.weight, n.affine.weight, None))
        n.affine.bias.copy_(_grow(o.affine.bias, n.affine.bias))
    return wide
