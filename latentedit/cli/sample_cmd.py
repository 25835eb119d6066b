"""``latentedit sample``: a grid (and optionally one PNG + one W+ file per seed) from a generator."""

from __future__ import annotations

from pathlib import Path

import click
import torch

from latentedit.cli.common import device_option, load_generator_or_default, resolve_device
from latentedit.cli.params import FINITE


def render_seeds(G, seeds, *, truncation: float, noise_mode: str, batch_size: int, progress: bool = True,
                 precision: str = "fp32"):
    """Yield (seed, w_plus (1, num_ws, w_dim), image (1, 3, R, R)) per seed, deterministic per seed.

    Random noise (``noise_mode='random'``) is drawn from a generator seeded by the seed, so results never
    depend on the batch a seed falls in.
    """
    from tqdm import tqdm

    from latentedit.latents import z_from_seeds

    device = G.mapping.w_avg.device
    bar = tqdm(total=len(seeds), desc="sampling", unit="img", disable=not progress or len(seeds) < 8)
    for start in range(0, len(seeds), batch_size):
        chunk = seeds[start: start + batch_size]
        z = z_from_seeds(chunk, G.z_dim).to(device)
        noise = None
        if noise_mode == "random":
            per_seed = [G.synthesis.make_noise(1, torch.Generator().manual_seed(s + 1_000_003), device="cpu")
                        for s in chunk]
            noise = [torch.cat(maps).to(device) for maps in zip(*per_seed)]
        with torch.no_grad():
            ws = G.mapping(z, truncation_psi=truncation)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                img = G.synthesis(ws, noise_mode=noise_mode, noise=noise).float()
        for i, s in enumerate(chunk):
            yield s, ws[i: i + 1], img[i: i + 1]
        bar.update(len(chunk))
    bar.close()


@click.command("sample")
@click.option("--generator", "generator_path", type=click.Path(dir_okay=False), default=None,
              help="Generator checkpoint (.safetensors, rosinality .pt, NVIDIA .pkl). Default: the shipped toy-faces one.")
@click.option("--seeds", default="0-7", show_default=True, help="Seeds, e.g. '0-7,12'.")
@click.option("--truncation", type=FINITE, default=1.0, show_default=True, help="Truncation psi toward w_avg.")
@click.option("--noise-mode", type=click.Choice(["const", "random", "none"]), default="const", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), default="grid.png", show_default=True,
              help="Where to write the grid image.")
@click.option("--save-latents", type=click.Path(file_okay=False), default=None,
              help="Also write seedNNNN.png and seedNNNN.wplus.safetensors per seed into this folder.")
@click.option("--batch-size", type=click.IntRange(1, 256), default=8, show_default=True)
@click.option("--precision", type=click.Choice(["fp32", "bf16"]), default="fp32", show_default=True,
              help="bf16 runs synthesis under bfloat16 autocast (faster on GPUs and CPUs with AVX-512 BF16, "
                   "far slower on other CPUs: a warning says so; see benchmarks/peak.py --bf16 for its PSNR).")
@device_option
def sample(generator_path, seeds, truncation, noise_mode, out, save_latents, batch_size, precision, device):
    """Sample images from a generator; deterministic per seed.

    \b
    Examples:
      latentedit sample --seeds 0-7 --truncation 0.7 --out grid.png
      latentedit sample --generator ffhq.pkl --seeds 0-3 --out g.png --save-latents latents/
    """
    from latentedit.images import save_image
    from latentedit.io.paths import check_output_file, check_output_folder
    from latentedit.latents import parse_seeds, save_latents as write_latents

    try:
        seed_list = parse_seeds(seeds)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--seeds") from None
    check_output_file(out)
    if save_latents:
        check_output_folder(save_latents, flag="--save-latents")
    G, _ = load_generator_or_default(generator_path, resolve_device(device))
    if precision == "bf16":
        from latentedit.stylegan2.precision import slow_bf16_warning

        slow = slow_bf16_warning(G.mapping.w_avg.device)
        if slow:
            click.echo(f"warning: {slow}", err=True)
    images = []
    for s, ws, img in render_seeds(G, seed_list, truncation=truncation, noise_mode=noise_mode,
                                   batch_size=batch_size, precision=precision):
        images.append(img.cpu())
        if save_latents:
            d = Path(save_latents)
            save_image(img, d / f"seed{s:04d}.png")
            write_latents(d / f"seed{s:04d}.wplus.safetensors", ws, space="w_plus", generator=G,
                          extra={"seed": s, "truncation_psi": truncation, "noise_mode": noise_mode})
    save_image(torch.cat(images), out)
    click.echo(f"wrote {out} ({len(images)} images)" + (f" and per-seed files in {save_latents}" if save_latents
                                                        else ""))
