"""``latentedit evaluate``: score editing methods on any domain without ground truth
(``latentedit.evaluation.evaluate_without_ground_truth``).

Writes ``evaluation.md`` and ``evaluation.json`` into ``--out`` (and the JSON also to ``--json FILE``). The judges
are the generator's domain's classifier and identity embedder, or the files given; a generator with no domain and
no ``--classifier`` is a one-line error naming the flag. The toy-faces domain's ground-truth benchmark is
``latentedit toyfaces evaluate``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import torch

from latentedit.cli.common import click_error, device_option, load_generator_or_default, resolve_device
from latentedit.cli.domain_options import domain_option
from latentedit.cli.params import FINITE


def _embedder(path, G, domain):
    """The identity embedder: ``--embedder FILE`` (our file or FaceNet weights), else the domain's."""
    from latentedit.cli.domain_options import load_domain_model_for

    if path is None:
        return load_domain_model_for(G, None, "identity", "--embedder", domain)
    from latentedit.evaluation.judges import load_embedder

    try:
        return load_embedder(path)
    except (ValueError, OSError) as exc:
        raise click_error(exc, "--embedder ") from None


def _input_latents(inputs, G, encoder_path, align, domain, device):
    """(B, num_ws, w_dim) from W/W+ files and photos (inverted by the encoder), or None."""
    if not inputs:
        return None
    from latentedit.editing import (EditingError, PhotoError, align_faces, expand_photo_paths, invert,
                                    is_latent_file, latents_from_files)
    from latentedit.faces import load_photo

    paths = expand_photo_paths(inputs)
    latent_paths = [p for p in paths if is_latent_file(p)]
    photos = [p for p in paths if not is_latent_file(p)]
    ws = []
    try:
        ws += [w for _, w, _ in latents_from_files(latent_paths, G)]
        if photos:
            from latentedit.cli.common import load_encoder

            encoder = load_encoder(encoder_path, G, device, domain)
            for p in photos:
                crop = align_faces(load_photo(p), G.resolution, align=align, source=p)[0].crop
                ws.append(invert(encoder, crop.to(device), generator=G))
    except (EditingError, PhotoError, ValueError, OSError) as exc:
        raise click_error(exc, "--inputs ") from None
    if not ws:
        raise click.BadParameter(f"no W+ files or photos in {', '.join(map(str, inputs))}", param_hint="--inputs")
    return torch.cat([w.to(device) for w in ws])


@click.command("evaluate")
@click.option("--method", "methods", multiple=True, metavar="NAME[=FILE]",
              help="A mapper to score: NAME (the domain's shipped file) or LABEL=FILE; repeat. "
                   "Default: every mapper the generator's domain ships.")
@click.option("--generator", "generator_path", type=click.Path(dir_okay=False), default=None,
              help="Generator (default: the domain's).")
@click.option("--classifier", "classifier_path", type=click.Path(dir_okay=False), default=None,
              help="Attribute classifier file (e.g. from `latentedit train classifier`) [default: the domain's].")
@click.option("--embedder", "embedder_path", type=click.Path(dir_okay=False), default=None,
              help="Identity embedder: one of our model files or FaceNet (InceptionResnetV1) weights "
                   "[default: the domain's].")
@click.option("--lpips-backbone", type=click.Path(dir_okay=False), default=None,
              help="torchvision ImageNet weights of the LPIPS backbone (default: the torch hub cache; without "
                   "them the LPIPS column is skipped with a note and diversity is pixel L1).")
@click.option("--lpips-net", type=click.Choice(["alex", "vgg", "squeeze"]), default="alex", show_default=True)
@click.option("--inputs", multiple=True, type=click.Path(exists=True),
              help="Also score these sources: W/W+ files, photos or folders of them (photos are inverted by "
                   "--encoder); repeat.")
@click.option("--encoder", "encoder_path", type=click.Path(dir_okay=False), default=None,
              help="Encoder for photos in --inputs [default: the domain's].")
@click.option("--align/--no-align", default=True, show_default=True,
              help="Detect and align the face of each input photo (else its central square).")
@click.option("--n", type=click.IntRange(0), default=200, show_default=True,
              help="Generator samples used as sources (0: --inputs only).")
@click.option("--samples", type=click.IntRange(1, 32), default=4, show_default=True,
              help="Noise or style draws per source (multimodal mappers) for diversity.")
@click.option("--diversity-sources", type=click.IntRange(0), default=50, show_default=True,
              help="Sources that get --samples draws; the rest get one.")
@click.option("--strength", type=FINITE, default=1.0, show_default=True, help="Edit scale.")
@click.option("--seed", type=int, default=31_337, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=16, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("evaluation"),
              show_default=True, help="Folder for evaluation.md and evaluation.json.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the JSON here.")
@domain_option
@device_option
def evaluate(methods, generator_path, classifier_path, embedder_path, lpips_backbone, lpips_net, inputs,
             encoder_path, align, n, samples, diversity_sources, strength, seed, batch_size, out_dir, json_path,
             domain, device):
    """Score editing methods without ground truth: success and kept attributes (classifier), identity cosine
    (embedder), LPIPS to the source, a Fréchet distance on the classifier's features, diversity.

    \b
    Examples:
      latentedit evaluate --generator ffhq.pkl --classifier celeba.safetensors --embedder facenet.pt \\
          --method isf=runs/isf/mapper_ema.safetensors --n 500 --out eval/
      latentedit evaluate --domain ffhq.yaml --inputs photos/ --n 0
    """
    from latentedit.cli.domain_options import load_domain_model_for
    from latentedit.cli.eval_methods import load_methods
    from latentedit.evaluation import EvalConfig, EvaluationError, evaluate_without_ground_truth
    from latentedit.evaluation.judges import load_lpips
    from latentedit.io.modelfile import atomic_write

    dev = resolve_device(device)
    G, _ = load_generator_or_default(generator_path, dev, domain)
    classifier = load_domain_model_for(G, classifier_path, "classifier", "--classifier", domain)
    embedder = _embedder(embedder_path, G, domain)
    mappers, files = load_methods(methods, G, domain)
    try:
        cfg = EvalConfig(n=n, seed=seed, samples=samples, diversity_sources=diversity_sources, strength=strength,
                         batch_size=batch_size)
        lpips_model, note = load_lpips(lpips_backbone, lpips_net)
    except (ValueError, OSError) as exc:
        raise click_error(exc) from None
    w_in = _input_latents(inputs, G, encoder_path, align, domain, dev)
    params = {k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v)
              for k, v in click.get_current_context().params.items()}
    prov = {"methods": files, "options": params, "torch": torch.__version__}
    try:
        result = evaluate_without_ground_truth(
            G, {k: m.to(dev) for k, m in mappers.items()}, classifier=classifier.to(dev),
            embedder=embedder.to(dev), lpips_model=lpips_model.to(dev) if lpips_model is not None else None,
            config=cfg, inputs=w_in, notes=[note] if note else [], provenance=prov)
    except (EvaluationError, ValueError) as exc:
        raise click_error(exc) from None
    text, data = result.to_markdown(), json.dumps(result.to_dict(), indent=2, sort_keys=True) + "\n"
    md, js = out_dir / "evaluation.md", out_dir / "evaluation.json"
    written = [md, js] + ([json_path] if json_path is not None else [])
    atomic_write(md, lambda tmp: Path(tmp).write_text(text + "\n"))
    for path in written[1:]:
        atomic_write(path, lambda tmp: Path(tmp).write_text(data))
    click.echo(text)
    click.echo("wrote " + ", ".join(map(str, written)))
