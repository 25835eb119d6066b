"""``latentedit directions``: community direction files (InterFaceGAN, e4e, GANSpace) as directions files, and
directions fitted with any attribute classifier (InterFaceGAN, GANSpace, SeFa).

The ``directions`` plugin is found through the registry (entry point ``latentedit.mappers`` -> ``directions``);
this module only calls its public class (``import_file``, ``fit``).
"""

from __future__ import annotations


import click

def _plugin():
    from latentedit.plugins import PluginError, load_mapper

    try:
        return load_mapper("directions")
    except PluginError as exc:
        raise click.ClickException(str(exc)) from None


def import_community_file(path, *, num_ws: int, w_dim: int | None = None, name=None, presets=(), strength=None):
    """A fitted directions mapper from a community file; a one-line ClickException for a bad one."""
    try:
        return _plugin().import_file(path, num_ws=num_ws, w_dim=w_dim, name=name, presets=tuple(presets),
                                     strength=strength)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None


@click.group("directions")
def directions():
    """Import community direction files or fit directions with an attribute classifier."""


@directions.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Directions file (.safetensors) to write.")
@click.option("--name", default=None, help="Attribute name of a single direction (default: from the file name).")
@click.option("--preset", "presets", multiple=True,
              help="GANSpace: a built-in preset (eye_openness, smile, trimmed_beard, white_hair, lipstick) or "
                   "NAME=COMPONENT,START,END,STRENGTH[,set|add] (layers [START, END)). Repeatable; default: every "
                   "built-in preset that fits.")
@click.option("--strength", type=float, default=None,
              help="Single direction: the size of step 1 (default: the file's own norm).")
@click.option("--generator", "generator_path", type=click.Path(dir_okay=False), default=None,
              help="Generator the directions are for (its W+ shape and fingerprint are recorded).")
@click.option("--num-ws", type=click.IntRange(2), default=18, show_default=True,
              help="W+ layers when no --generator is given (18 at 1024 px).")
def import_cmd(file, out, name, presets, strength, generator_path, num_ws):
    """Turn an InterFaceGAN .npy, e4e .pt or GANSpace .npz file into one directions file.

    \b
    Examples:
      latentedit directions import stylegan_ffhq_smile_w_boundary.npy --out smile.safetensors
      latentedit directions import ffhq_pca.npz --preset smile --preset white_hair --out ganspace.safetensors
      latentedit directions import age.pt --name age --out age.safetensors
      latentedit edit photo.png --mapper smile.safetensors --attr smile=+2
    """
    w_dim, extra = None, {}
    if generator_path is not None:
        from latentedit.cli.common import load_generator_or_default

        G, _ = load_generator_or_default(generator_path, "cpu")
        num_ws, w_dim, extra = G.num_ws, G.w_dim, {"generator_fingerprint": G.fingerprint()}
    mapper = import_community_file(file, num_ws=num_ws, w_dim=w_dim, name=name, presets=presets, strength=strength)
    path = mapper.save(out, extra={**extra, "imported": mapper.source_info})
    click.echo(f"wrote {path}: {', '.join(mapper.generator_info.attribute_names)} "
               f"({mapper.source_info['format']}, W+ {num_ws}x{mapper.generator_info.w_dim})")


@directions.command("fit")
@click.option("--method", type=click.Choice(["interfacegan", "ganspace", "sefa"]), default="interfacegan",
              show_default=True)
@click.option("--generator", "generator_path", required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--classifier", required=True,
              help="Attribute classifier that scores the samples (a `train classifier` file or a toy-faces judge).")
@click.option("--attributes", default=None, help="Comma-separated attributes (default: all the classifier reads).")
@click.option("--n", type=click.IntRange(10), default=4000, show_default=True, help="Samples scored.")
@click.option("--ratio", type=click.FloatRange(0.01, 0.5), default=0.25, show_default=True,
              help="InterFaceGAN: top/bottom fraction of scores used per boundary.")
@click.option("--edit-distance", type=click.FloatRange(0, min_open=True), default=3.0, show_default=True,
              help="A full edit: this many standard deviations of the samples' signed distance.")
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
@click.option("--out", required=True, type=click.Path(dir_okay=False))
def fit_cmd(method, generator_path, classifier, attributes, n, ratio, edit_distance, batch_size, seed, device, out):
    """Fit directions in W for a generator, scoring its samples with an attribute classifier.

    \b
    Example:
      latentedit directions fit --method interfacegan --generator ffhq.pkl --classifier celeba.safetensors \\
          --attributes Smiling,Eyeglasses --n 20000 --out ffhq_directions.safetensors
    """
    import torch

    from latentedit.classifiers import ClassifierError, select_attributes
    from latentedit.cli.common import load_generator_or_default, resolve_device
    from latentedit.cli.train_cmd import _load_classifier
    from latentedit.latents import score_latents
    from latentedit.plugins import GeneratorInfo

    dev = resolve_device(device)
    G, _ = load_generator_or_default(generator_path, dev)
    try:
        clf = select_attributes(_load_classifier(classifier, G), [a.strip() for a in attributes.split(",")]
                                if attributes else None).to(dev)
    except ClassifierError as exc:
        raise click.ClickException(f"--classifier {classifier}: {exc}") from None
    names = tuple(clf.output_names)
    with torch.no_grad():
        z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed)).to(dev)
        w = torch.cat([G.mapping(chunk) for chunk in z.split(batch_size)])
        scores = score_latents(G, w, clf, batch=batch_size)
    info = GeneratorInfo.from_generator(G, names)
    cls = _plugin()
    try:
        mapper = cls(cls.config_class(method=method, space="w", ratio=ratio, seed=seed, distance_unit="std",
                                      edit_distance=edit_distance), info)
        mapper.fit(w_plus=w.cpu(), labels=scores, generator=G.cpu())
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    path = mapper.save(out, extra={"generator_fingerprint": G.fingerprint(),
                                   "fit": {"method": method, "n": n, "ratio": ratio, "seed": seed,
                                           "classifier": str(classifier), "edit_distance_std": edit_distance}})
    click.echo(f"wrote {path}: {method} directions for {', '.join(names)}")
