"""``latentedit demo``: the main job on the embedded default, on a CPU, with no downloads."""

from __future__ import annotations

from pathlib import Path

import click
import torch


def random_demo_generator(seed: int = 0):
    """A small random-weight 64x64 generator, used only while no trained default is shipped."""
    from latentedit.stylegan2 import Generator, GeneratorConfig

    torch.manual_seed(seed)
    return Generator(GeneratorConfig(resolution=64, z_dim=64, w_dim=64, mapping_layers=2,
                                     channels=(64, 64, 64, 32, 16))).eval().requires_grad_(False)


@click.command("demo")
@click.option("--out", type=click.Path(file_okay=False), default="out/demo", show_default=True,
              help="Folder for the demo's images.")
@click.option("--seeds", default="0-15", show_default=True, help="Faces to sample.")
def demo(out, seeds):
    """Sample faces from the shipped toy-faces generator and write a grid.

    \b
    Example:
      latentedit demo --out out/demo
    """
    from latentedit import assets
    from latentedit.cli.sample_cmd import render_seeds
    from latentedit.images import save_image
    from latentedit.latents import parse_seeds

    out = Path(out)
    seed_list = parse_seeds(seeds)
    if assets.has_asset(assets.DEFAULT_GENERATOR):
        from latentedit.cli.common import load_generator_or_default

        G, _ = load_generator_or_default(None, torch.device("cpu"))
        what = "the shipped toy-faces generator"
    else:
        G = random_demo_generator()
        what = ("a small RANDOM generator (no trained toy-faces generator is shipped yet): "
                "the grid shows what random StyleGAN2 weights produce, not faces")
    imgs = torch.cat([img for _, _, img in render_seeds(G, seed_list, truncation=1.0, noise_mode="const",
                                                         batch_size=8)])
    path = save_image(imgs, out / "samples.png")
    click.echo(f"sampled {len(seed_list)} images from {what}")
    click.echo(f"wrote {path}")
