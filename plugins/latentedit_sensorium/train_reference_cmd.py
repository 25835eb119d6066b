"""``python -m latentedit_sensorium.train_reference_cmd``: the reference-transfer loop from the command line.

    python -m latentedit_sensorium.train_reference_cmd --generator G.safetensors --out sensorium.safetensors \
        [--init runs/sensorium/mapper_ema.safetensors] [--classifier toyfaces] [--steps 2000] [--batch 16] \
        [--set mapper.style_dim=32] [--set train.lr=1e-3]

Trains (or, with ``--init``, fine-tunes) a sensorium mapper so that ``m(w, style=encode_style(reference))`` shows
the reference's attributes (see ``training.py``), writes it as a normal mapper file and prints the reference
agreement before and after on held-out pairs. LPIPS is off here (offline-safe); the identity term is on with
``--embedder``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import torch


def _overrides(pairs) -> tuple[list[str], dict]:
    """``mapper.KEY=V`` -> config overrides; ``train.KEY=V`` -> ReferenceTrainConfig fields (JSON values)."""
    mapper, train = [], {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        section, dot, field = key.partition(".")
        if not sep or not dot or section not in ("mapper", "train"):
            raise click.BadParameter(f"expected mapper.KEY=VALUE or train.KEY=VALUE; got {pair!r}", param_hint="--set")
        if section == "mapper":
            mapper.append(f"{field}={raw}")
        else:
            try:
                train[field] = json.loads(raw)
            except ValueError:
                train[field] = raw
    return mapper, train


@click.command("train-reference")
@click.option("--generator", "generator_path", type=click.Path(dir_okay=False), default=None,
              help="Generator file (default: the domain's generator).")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Mapper file to write (.safetensors).")
@click.option("--init", "init", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Start from this sensorium mapper file (e.g. a shared-trainer result).")
@click.option("--classifier", default=None,
              help="Attribute classifier file [default: the classifier of the generator's domain].")
@click.option("--embedder", default="none", show_default=True,
              help="Identity embedder for the identity term: 'domain' (the generator's domain's), a file, or 'none'.")
@click.option("--steps", type=click.IntRange(1), default=2000, show_default=True)
@click.option("--batch", type=click.IntRange(1), default=16, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="mapper.FIELD=VALUE (new mappers only) or train.FIELD=VALUE (ReferenceTrainConfig). Repeatable.")
@click.option("--run-dir", type=click.Path(file_okay=False), default=None,
              help="Training folder (checkpoint.pt every --checkpoint-every steps, log.jsonl); default: none.")
@click.option("--checkpoint-every", type=click.IntRange(0), default=500, show_default=True)
@click.option("--resume", is_flag=True, help="Continue the run in --run-dir from its last checkpoint (exactly).")
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
def train_reference(generator_path, out, init, classifier, embedder, steps, batch, seed, overrides, run_dir,
                    checkpoint_every, resume, device):
    """Train a sensorium mapper for reference transfer (reference attributes onto the source)."""
    from latentedit.cli.common import load_generator_or_default, resolve_device
    from latentedit.cli.domain_options import load_domain_model_for
    from latentedit.plugins import ConfigError, GeneratorInfo, PluginError, load_mapper_file
    from latentedit_sensorium import SensoriumConfig, SensoriumMapper
    from latentedit_sensorium.training import ReferenceTrainConfig, reference_agreement, train_reference_transfer

    mapper_sets, train_sets = _overrides(overrides)
    dev = resolve_device(device)
    G, _ = load_generator_or_default(generator_path, dev)
    judge = load_domain_model_for(G, classifier, "classifier", "--classifier").to(dev)
    emb = None if embedder == "none" else load_domain_model_for(
        G, None if embedder == "domain" else embedder, "identity", "--embedder").to(dev).eval().requires_grad_(False)
    try:
        cfg = ReferenceTrainConfig(**{"steps": steps, "batch": batch, "seed": seed, **train_sets})
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(f"train.*: {exc}", param_hint="--set") from None
    try:
        if init is not None:
            if mapper_sets:
                raise click.UsageError("--set mapper.* cannot change a mapper loaded with --init")
            mapper = load_mapper_file(init)
            if not isinstance(mapper, SensoriumMapper):
                raise click.ClickException(f"--init {init}: holds a {type(mapper).__name__}, not a sensorium mapper")
        else:
            torch.manual_seed(seed)
            mapper = SensoriumMapper(SensoriumConfig().with_overrides(mapper_sets, source="--set mapper.*"),
                                     GeneratorInfo.from_generator(G, tuple(judge.output_names)))
    except (ConfigError, PluginError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from None
    gi = mapper.generator_info
    if (gi.num_ws, gi.w_dim) != (G.num_ws, G.w_dim) or tuple(gi.attribute_names) != tuple(judge.output_names):
        raise click.ClickException(f"the mapper edits {gi.num_ws}x{gi.w_dim} W+ with attributes {gi.attribute_names}; "
                                   f"the generator has {G.num_ws}x{G.w_dim} and the judge reads "
                                   f"{tuple(judge.output_names)}; pass the matching --generator/--classifier")
    before = reference_agreement(mapper, G, judge)
    if resume and run_dir is None:
        raise click.UsageError("--resume needs the --run-dir of the run to continue")
    try:
        log = train_reference_transfer(mapper, G, judge, cfg, embedder=emb, log_every=max(1, steps // 10),
                                       run_dir=run_dir, resume=resume, checkpoint_every=checkpoint_every)
    except (FileExistsError, ValueError) as exc:
        raise click.ClickException(" ".join(str(exc).split())) from None
    for row in log:
        click.echo(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    after = reference_agreement(mapper, G, judge)
    path = mapper.save(out, extra={"generator_fingerprint": G.fingerprint(), "reference_training": {
        "config": cfg.to_dict(), "embedder": embedder,
        "agreement_before": before,
        "agreement_after": after}})
    click.echo(f"reference agreement {before['agreement']:.3f} -> {after['agreement']:.3f} (unedited source: "
               f"{after['chance']:.3f}); wrote {path}")


if __name__ == "__main__":  # pragma: no cover
    train_reference()
