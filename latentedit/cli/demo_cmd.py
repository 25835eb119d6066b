"""``latentedit demo``: the main job on the default domain (the embedded toy faces), on a CPU, with no downloads.

Everything comes from the domain: its generator, its ``directions`` mapper and its attribute classifier.
"""

from __future__ import annotations

from pathlib import Path

import click
import torch

from latentedit.cli.domain_options import domain_option


@torch.no_grad()
def attribute_flip_grid(G, mapper, w_plus: torch.Tensor, classifier):
    """Rows: the sampled faces, then each attribute flipped (present <-> absent) by ``mapper``, read by
    ``classifier`` (images -> logits in ``mapper.generator_info.attribute_names`` order).

    w_plus: (B, num_ws, w_dim). Returns (images (R*B, 3, H, W), row names, flip success per attribute)."""
    names = list(mapper.generator_info.attribute_names)
    before = G.synthesis(w_plus, noise_mode="const")
    was = classifier(before) > 0
    rows, success = [before], {}
    for a, name in enumerate(names):
        target = torch.full((w_plus.shape[0], len(names)), float("nan"))
        target[:, a] = (~was[:, a]).float()
        img = G.synthesis(mapper(w_plus, target=target), noise_mode="const")
        success[name] = float(((classifier(img)[:, a] > 0) != was[:, a]).float().mean())
        rows.append(img)
    return torch.cat(rows), ["sample"] + [f"{n} flipped" for n in names], success


@click.command("demo")
@click.option("--out", type=click.Path(file_okay=False), default="out/demo", show_default=True,
              help="Folder for the demo's images.")
@click.option("--seeds", default="0-7", show_default=True, help="Faces to sample.")
@domain_option
def demo(out, seeds, domain):
    """Sample faces from the domain's generator, flip each attribute with the domain's directions mapper, and
    write a before/after grid (rows: samples, then one attribute flipped per row).

    \b
    Example:
      latentedit demo --out out/demo
    """
    from latentedit.cli.common import load_generator_or_default
    from latentedit.cli.domain_options import load_domain_model_for
    from latentedit.cli.common import load_mapper_for_edit
    from latentedit.images import save_image
    from latentedit.latents import parse_seeds, sample_w_plus

    out = Path(out)
    seed_list = parse_seeds(seeds)
    G, _ = load_generator_or_default(None, torch.device("cpu"), domain)
    mapper = load_mapper_for_edit("directions", None, G, domain)[0]
    names = list(mapper.generator_info.attribute_names)
    clf = load_domain_model_for(G, None, "classifier", "--classifier", domain)
    found = list(getattr(clf, "output_names", ()) or ())
    missing = [n for n in names if n not in found]
    if missing:
        raise click.ClickException(f"the domain's classifier reads {found} but its directions edit {missing}")
    cols = [found.index(n) for n in names]
    w_plus = sample_w_plus(G, seed_list)
    imgs, rows, success = attribute_flip_grid(G, mapper, w_plus, lambda x: clf(x)[:, cols])
    path = save_image(imgs, out / "edits.png", ncol=len(seed_list))
    from latentedit.domains import domain_of

    where = getattr(domain_of(G, domain), "name", "?")
    click.echo(f"sampled {len(seed_list)} faces from the shipped generator of the '{where}' domain; rows: "
               f"{', '.join(rows)}")
    click.echo("attribute flipped (read by the domain's attribute classifier): "
               + ", ".join(f"{k} {v:.0%}" for k, v in success.items()))
    click.echo(f"wrote {path}")
