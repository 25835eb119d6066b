"""``latentedit toyfaces export-celeba``: toy renders as a CelebA-format labelled photo folder."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("export-celeba")
@click.option("--n", type=click.IntRange(1), required=True, help="Photos to write.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write (photos/ and list_attr_celeba.txt).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--resolution", type=click.IntRange(16), default=128, show_default=True, help="Face side in pixels.")
@click.option("--crops", is_flag=True, help="Write the face crops alone (train with --no-align) instead of faces "
                                            "on a larger background.")
def export_celeba(n, out, seed, resolution, crops):
    """Write toy renders as CelebA: JPEG photos and list_attr_celeba.txt with the true labels.

    \b
    Example:
      latentedit toyfaces export-celeba --n 3000 --out toy_celeba/
      latentedit train classifier --labels toy_celeba/list_attr_celeba.txt --photos toy_celeba/photos ...
    """
    from latentedit_toyfaces.celeba_export import write_toy_celeba

    labels = write_toy_celeba(out, n, seed=seed, resolution=resolution, crops=crops)
    click.echo(f"wrote {n} photos in {out / 'photos'} and {labels}")
