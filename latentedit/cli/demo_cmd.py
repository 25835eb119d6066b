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


@torch.no_grad()
def attribute_flip_grid(G, mapper, w_plus: torch.Tensor):
    """Rows: the sampled faces, then each attribute flipped (present <-> absent) by ``mapper``.

    w_plus: (B, num_ws, w_dim). Returns (images (R*B, 3, H, W), row names, flip success per attribute)."""
    from latentedit_toyfaces.judges import load_judge

    judge = load_judge("attributes")
    names = list(mapper.generator_info.attribute_names)
    before = G.synthesis(w_plus, noise_mode="const")
    was = judge(before) > 0
    rows, success = [before], {}
    for a, name in enumerate(names):
        target = torch.full((w_plus.shape[0], len(names)), float("nan"))
        target[:, a] = (~was[:, a]).float()
        img = G.synthesis(mapper(w_plus, target=target), noise_mode="const")
        success[name] = float(((judge(img)[:, a] > 0) != was[:, a]).float().mean())
        rows.append(img)
    return torch.cat(rows), ["sample"] + [f"{n} flipped" for n in names], success


@click.command("demo")
@click.option("--out", type=click.Path(file_okay=False), default="out/demo", show_default=True,
              help="Folder for the demo's images.")
@click.option("--seeds", default="0-7", show_default=True, help="Faces to sample.")
def demo(out, seeds):
    """Sample toy faces from the shipped generator, flip each attribute with the shipped directions, and write
    a before/after grid (rows: samples, then one attribute flipped per row).

    \b
    Example:
      latentedit demo --out out/demo
    """
    from latentedit_toyfaces import assets
    from latentedit.cli.sample_cmd import render_seeds
    from latentedit.images import save_image
    from latentedit.latents import parse_seeds, sample_w_plus

    out = Path(out)
    seed_list = parse_seeds(seeds)
    if not assets.has_asset(assets.DEFAULT_GENERATOR):
        G = random_demo_generator()
        imgs = torch.cat([img for _, _, img in render_seeds(G, seed_list, truncation=1.0, noise_mode="const",
                                                             batch_size=8)])
        path = save_image(imgs, out / "samples.png")
        click.echo(f"sampled {len(seed_list)} images from a small RANDOM generator: no trained toy-faces generator "
                   "is shipped yet, so the grid shows what random StyleGAN2 weights produce, not faces")
        click.echo(f"wrote {path}")
        return
    from latentedit.cli.common import load_generator_or_default
    from latentedit_toyfaces.directions import load_toy_directions

    G, _ = load_generator_or_default(None, torch.device("cpu"))
    mapper = load_toy_directions(G)
    w_plus = sample_w_plus(G, seed_list)
    imgs, rows, success = attribute_flip_grid(G, mapper, w_plus)
    path = save_image(imgs, out / "edits.png", ncol=len(seed_list))
    click.echo(f"sampled {len(seed_list)} toy faces from the shipped generator; rows: {', '.join(rows)}")
    click.echo("attribute flipped (read by the toy attribute classifier): "
               + ", ".join(f"{k} {v:.0%}" for k, v in success.items()))
    click.echo(f"wrote {path}")
