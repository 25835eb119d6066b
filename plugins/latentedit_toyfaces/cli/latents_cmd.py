"""``latentedit toyfaces latents``: a W+ file of training sources, generator samples plus inverted renders.

A mapper trained on generator samples only meets inverted photos (e4e's W+: every layer its own code) for the
first time at use, and edits them worse. This writes the toy analogue of inverting a photo collection with
``latentedit invert``: ``--samples`` latents drawn through the mapping network and ``--inverted`` fresh renders
inverted by the encoder, in one file the shared trainer reads (``trainer.latents``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

#: renders are drawn and inverted in chunks of this many (chunk k from factor seed ``seed + 1 + k``)
CHUNK = 500


@click.command("latents")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="W+ file to write (.safetensors).")
@click.option("--samples", type=click.IntRange(0), default=6000, show_default=True,
              help="Latents sampled through the mapping network (truncation 1).")
@click.option("--inverted", type=click.IntRange(0), default=6000, show_default=True,
              help=f"Fresh renders inverted by the encoder (a multiple of {CHUNK} is drawn exactly).")
@click.option("--seed", type=click.IntRange(0), default=776, show_default=True,
              help="z seed of the samples; renders use factor seeds SEED+1, SEED+2, ... per chunk (the evaluation's "
                   "held-out streams start at 31337).")
@click.option("--generator", "generator_path", type=click.Path(dir_okay=False), default=None,
              help="Generator file (default: the shipped toy-faces generator).")
@click.option("--encoder", "encoder_path", type=click.Path(dir_okay=False), default=None,
              help="Encoder file (default: the shipped toy-faces e4e).")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
def latents_cmd(out, samples, inverted, seed, generator_path, encoder_path, overwrite):
    """Write training sources for a mapper: generator samples plus e4e inversions of fresh renders.

    \b
    Examples:
      latentedit toyfaces latents --out data/toyfaces_latents.safetensors
      latentedit train mapper --method isf --config configs/toyfaces_isf.json --run-dir runs/isf
    """
    import torch

    from latentedit.cli.common import load_generator_or_default
    from latentedit.cli.common import load_encoder
    from latentedit.latents import save_latents
    from latentedit_toyfaces.factors import sample_factors
    from latentedit_toyfaces.renderer import render

    out = Path(out)
    if out.exists() and not overwrite:
        raise click.ClickException(f"{out} already exists; choose another --out or pass --overwrite")
    if samples + inverted == 0:
        raise click.ClickException("--samples and --inverted are both 0: nothing to write")
    start = time.time()
    device = torch.device("cpu")
    G, _ = load_generator_or_default(generator_path, device)
    parts = []
    with torch.no_grad():
        if samples:
            w = G.mapping(torch.randn(samples, G.z_dim, generator=torch.Generator().manual_seed(seed)))
            parts.append(w[:, None].repeat(1, G.num_ws, 1) if w.ndim == 2 else w)   # (samples, L, D)
        if inverted:
            encoder = load_encoder(encoder_path, G, device)
            sizes = [CHUNK] * (inverted // CHUNK) + ([inverted % CHUNK] if inverted % CHUNK else [])
            with click.progressbar(sizes, label="inverting renders", file=sys.stderr) as bar:
                for k, size in enumerate(bar):
                    renders = render(sample_factors(size, seed + 1 + k), G.resolution)    # (size, 3, R, R)
                    parts.append(encoder.invert(renders, batch_size=100))
    w_plus = torch.cat(parts)
    try:
        save_latents(out, w_plus, space="w_plus", generator=G,
                     extra={"samples": samples, "inverted": inverted, "seed": seed, "chunk": CHUNK})
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}; choose another --out") from None
    click.echo(f"wrote {tuple(w_plus.shape)} W+ ({samples} samples + {inverted} inverted renders) to {out} "
               f"in {time.time() - start:.1f}s")
