"""``latentedit toyfaces evaluate``: the toy-domain edit benchmark (``latentedit_toyfaces.evaluation.edit_quality``)
as one command.

Writes ``edit_quality.md`` and ``edit_quality.json`` into ``--out``; the same arguments give the same table.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import torch

from latentedit.cli.common import device_option, load_generator_or_default, resolve_device
from latentedit.cli.domain_options import domain_option
from latentedit.cli.params import FINITE
from latentedit.cli.eval_methods import load_methods as _methods
from latentedit_toyfaces.cli.toy_guard import require_toy_generator


@click.command("evaluate")
@click.option("--method", "methods", multiple=True, metavar="NAME[=FILE]",
              help="A mapper to score: NAME (its shipped toy file) or LABEL=FILE; repeat. Default: every shipped one.")
@click.option("--generator", "generator_path", type=click.Path(dir_okay=False), default=None,
              help="Generator (default: the shipped toy-faces generator).")
@click.option("--factors", "factors_path", type=click.Path(dir_okay=False), default=None,
              help="Factor-estimator judge file (default: the shipped one).")
@click.option("--identity", "identity_path", type=click.Path(dir_okay=False), default=None,
              help="Identity-embedder judge file (default: the shipped one).")
@click.option("--encoder", "encoder_path", type=click.Path(dir_okay=False), default=None,
              help="Encoder for the inverted-render latents (default: the shipped toy e4e, when --inverted > 0).")
@click.option("--n", type=click.IntRange(2), default=1000, show_default=True, help="Held-out generator samples.")
@click.option("--inverted", type=click.IntRange(0), default=None,
              help="Also this many held-out renders, inverted by the encoder. Default: as many as --n when an "
                   "encoder is available (--encoder or the shipped toy e4e), else 0.")
@click.option("--samples", type=click.IntRange(1, 32), default=4, show_default=True,
              help="Noise or style draws per source (multimodal mappers) for diversity.")
@click.option("--diversity-sources", type=click.IntRange(0), default=200, show_default=True,
              help="Sources that get --samples draws (diversity); the rest get one.")
@click.option("--strength", type=FINITE, default=1.0, show_default=True, help="Edit scale.")
@click.option("--seed", type=int, default=31_337, show_default=True, help="Seed of the held-out streams.")
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True)
@click.option("--diversity", type=click.Choice(["auto", "lpips", "l1"]), default="auto", show_default=True,
              help="Diversity distance; auto falls back to pixel L1 when the LPIPS backbone weights are missing.")
@click.option("--targets", type=click.Choice(["keep", "full"]), default="keep", show_default=True,
              help="Other attributes in each target: keep (NaN) or full (the source's labels, for mappers trained "
                   "on full targets only).")
@click.option("--reference-pairs", type=click.IntRange(0), default=500, show_default=True,
              help="Held-out (source, reference) pairs for the reference-transfer table (mappers with a style "
                   "encoder); 0 = skip.")
@click.option("--coverage-sources", type=click.IntRange(0), default=30, show_default=True,
              help="Sources per attribute for the mode-coverage table (multimodal mappers: random vs clusters); "
                   "0 = skip.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("edit_quality"),
              show_default=True)
@domain_option
@device_option
def evaluate(methods, generator_path, factors_path, identity_path, encoder_path, n, inverted, samples,
             diversity_sources, strength, seed, batch_size, diversity, targets, reference_pairs, coverage_sources,
             out_dir, domain, device):
    """Score editing methods on the toy-faces domain: success, identity, disentanglement, realism, diversity.

    \b
    Examples:
      latentedit toyfaces evaluate                                   # every shipped toy mapper, 1000 held-out latents
      latentedit toyfaces evaluate --method isf=run/isf.safetensors --method directions --n 200 --out eval/
    """
    from latentedit_toyfaces.evaluation.edit_quality import EditBenchmarkConfig, evaluate_edits
    from latentedit.io.modelfile import atomic_write
    from latentedit_toyfaces.judges import JudgeError, load_judge

    dev = resolve_device(device)
    G, g_info = load_generator_or_default(generator_path, dev, domain)
    mappers, files = _methods(methods, G, domain)
    if factors_path is None or identity_path is None:
        flag = "--factors" if factors_path is None else "--identity"
        require_toy_generator(G, None, domain, instead=f"{flag} FILE")
    try:
        estimator, embedder = load_judge("factors", factors_path), load_judge("identity", identity_path)
    except (JudgeError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    from latentedit.cli.common import load_encoder

    encoder = None
    if inverted is None:  # use the encoder when there is one; say so when there is none
        try:
            encoder, inverted = load_encoder(encoder_path, G, dev, domain), n
        except click.ClickException as exc:
            if encoder_path is not None:
                raise
            inverted = 0
            click.echo(f"note: generator samples only, no inverted renders ({exc.message})", err=True)
    elif inverted:
        encoder = load_encoder(encoder_path, G, dev, domain)
    cfg = EditBenchmarkConfig(n=n, inverted=inverted, seed=seed, samples=samples,
                              diversity_sources=diversity_sources, strength=strength,
                              batch_size=batch_size, diversity=diversity, targets=targets)
    params = {k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v)
              for k, v in click.get_current_context().params.items()}
    prov = {"methods": files, "options": params, "torch": torch.__version__}
    try:
        result = evaluate_edits(G, {k: m.to(dev) for k, m in mappers.items()}, estimator=estimator.to(dev),
                                embedder=embedder.to(dev), config=cfg, encoder=encoder, provenance=prov)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    text, data = result.to_markdown(), result.to_dict()
    extra_md, extra = _multimodal_tables(G, mappers, estimator, embedder, reference_pairs, coverage_sources,
                                         samples, seed, batch_size)
    text += extra_md
    data.update(extra)
    ceiling_md, ceiling = _ceiling_tables(G, g_info, estimator, embedder, result, n, seed, batch_size)
    text += ceiling_md
    data.update(ceiling)
    md, js = out_dir / "edit_quality.md", out_dir / "edit_quality.json"
    atomic_write(md, lambda tmp: Path(tmp).write_text(text + "\n"))
    atomic_write(js, lambda tmp: Path(tmp).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n"))
    click.echo(text)
    click.echo(f"wrote {md} and {js}")


def _multimodal_tables(G, mappers, estimator, embedder, pairs, sources, samples, seed, batch_size):
    """Markdown sections + JSON keys: reference transfer (style encoders) and mode coverage (multimodal)."""
    from latentedit_toyfaces.evaluation import reference_quality as rq

    ref_scores, cov_scores = [], []
    for label, m in mappers.items():
        if pairs and callable(getattr(m, "encode_style", None)):
            ref_scores.append(rq.evaluate_reference_transfer(G, m, estimator=estimator, embedder=embedder, n=pairs,
                                                             seed=seed + 101, batch_size=batch_size, method=label))
        if sources and (getattr(m, "takes_noise", False) or getattr(m, "takes_style", False)):
            cov_scores += rq.evaluate_mode_coverage(G, m, estimator=estimator, n=max(samples, 2), sources=sources,
                                                    seed=seed + 202, batch_size=batch_size, method=label)
    md = ""
    if ref_scores:
        md += "\n\n### Reference transfer\n\n" + rq.reference_markdown(ref_scores)
    if cov_scores:
        md += "\n\n### Mode coverage (random vs clusters)\n\n" + rq.coverage_markdown(cov_scores)
    return md, {"reference_transfer": rq.to_dicts(ref_scores), "mode_coverage": rq.to_dicts(cov_scores)}


def _ceiling_tables(G, g_info, estimator, embedder, result, n, seed, batch_size):
    """Markdown sections + JSON keys of the generator ceiling and of every method against it (distilled toy-faces
    generators only; else no section and an empty ceiling)."""
    from latentedit_toyfaces.evaluation import generator_ceiling as gf
    from latentedit.io.modelfile import read_model_metadata

    extra = read_model_metadata(g_info.path)[2] if g_info.format == "latentedit" else {}
    if not gf.is_distilled_toy_generator(G, extra):
        return "", {"generator_ceiling": []}
    rows = gf.evaluate_generator_ceiling(G, estimator=estimator, embedder=embedder, tolerance=result.noise_tolerance,
                                       n=n, seed=seed + 303, batch_size=batch_size, prior=gf.distilled_prior(extra))
    relative = gf.ceiling_relative_scores(result.rows, rows)
    md = ("\n\n### Generator ceiling (ground-truth edits through the generator)\n\n" + gf.ceiling_markdown(rows)
          + "\n\n### Against the ceiling\n\n" + gf.ceiling_relative_markdown(relative))
    return md, {"generator_ceiling": gf.to_dicts(rows), "against_ceiling": relative}
