"""``latentedit train``: training commands. ``train mapper --method NAME`` runs the shared mapper trainer.

The same command runs distributed when launched by torchrun (one process per GPU with NCCL, or CPU processes
with gloo)::

    torchrun --nproc_per_node=2 $(which latentedit) train mapper --method isf --config isf.yaml --run-dir runs/isf
"""

from __future__ import annotations

from pathlib import Path

import click

from latentedit.cli.aliases import renamed_argument, renamed_option
from latentedit.cli.domain_options import domain_option

DEFAULT_GENERATOR = "default"


@click.group("train")
def train():
    """Train a mapper (the shared trainer), an encoder or an attribute classifier; every run is resumable."""


def _load_classifier(spec: str | None, G=None, domain: str | None = None):
    """The attribute classifier file ``spec``, else the classifier of ``G``'s domain (read by its domain's reader)."""
    from latentedit.cli.domain_options import load_domain_model_for

    return load_domain_model_for(G, spec, "classifier", "--classifier", domain)


def _load_embedder(spec: str | None, G=None, domain: str | None = None):
    """The identity embedder file ``spec``, else the identity embedder of ``G``'s domain."""
    from latentedit.cli.domain_options import load_domain_model_for

    return load_domain_model_for(G, spec, "identity", "--embedder", domain)


def _merged(base: dict, top: dict) -> dict:
    """``top`` over ``base``, nested dicts merged key by key."""
    out = dict(base)
    for k, v in top.items():
        out[k] = _merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _config_data(config: str | None, out: Path, resume: bool, cls: type) -> tuple[dict, str]:
    """The run's config data: the checkpoint's on --resume without --config; else the plugin's own training recipe
    (``default_trainer_config()``, when it has one) with the --config file over it."""
    from latentedit.training.config import read_config_file
    from latentedit.training.trainer import CHECKPOINT_NAME, load_checkpoint_config

    if config is None and resume and (out / CHECKPOINT_NAME).exists():
        stored = load_checkpoint_config(out)
        return {"mapper": stored["mapper"], "trainer": stored["trainer"]}, f"{out / CHECKPOINT_NAME}"
    from latentedit.plugins.contract import optional_hook

    recipe = optional_hook(cls, "default_trainer_config")
    base = {"trainer": dict(recipe())} if recipe is not None else {}
    if config is not None:
        return _merged(base, read_config_file(config)), str(config)
    return base, "defaults" if not base else f"the '{cls.__name__}' training recipe"


@train.command("mapper")
@click.option("--method", "name", default=None, metavar="NAME",
              help="Mapper plugin to train (an entry point of latentedit.mappers, e.g. isf, sensorium). Required.")
@renamed_argument("NAME", "name", "--method")
@click.option("--config", "config", type=click.Path(dir_okay=False), default=None,
              help="YAML or JSON file with sections 'mapper' (the plugin's config) and 'trainer', read over the "
                   "plugin's own training recipe (its default_trainer_config(), else the trainer's defaults). "
                   "On --resume without --config: the checkpoint's config.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override one field: trainer.steps=100, mapper.hidden=64, trainer.loss_weights.lpips=0, or a bare "
                   "field name found in one section. Repeatable.")
@click.option("--generator", "generator", default=DEFAULT_GENERATOR, show_default=True,
              help="Generator checkpoint (.safetensors, rosinality .pt, NVIDIA .pkl), or 'default' for the "
                   "domain's generator.")
@click.option("--run-dir", "out", type=click.Path(file_okay=False), default=None,
              help="Training folder (checkpoint.pt, log.jsonl, samples, mapper_ema.safetensors). Required.")
@renamed_option("--out", "out", "--run-dir", required=True, type=click.Path(file_okay=False))
@click.option("--resume", is_flag=True, help="Continue the run in --run-dir from its checkpoint.")
@click.option("--classifier", default=None,
              help="Attribute classifier file [default: the classifier of the generator's domain].")
@click.option("--embedder", default=None,
              help="Identity embedder file for the 'identity' loss with trainer.losses.identity=embedder "
                   "[default: the identity embedder of the generator's domain].")
@domain_option
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
def mapper(name, config, overrides, generator, out, resume, classifier, embedder, domain, device):
    """Train a mapper plugin (--method NAME) with the shared trainer in a training folder (--run-dir).

    \b
    Examples:
      latentedit train mapper --method isf --config isf.yaml --run-dir runs/isf
      latentedit train mapper --method isf --config isf.json --set trainer.steps=200 --set mapper.hidden=64 \\
          --run-dir runs/a
      latentedit train mapper --method isf --run-dir runs/isf --resume --set trainer.steps=4000
      torchrun --nproc_per_node=2 $(which latentedit) train mapper --method isf --config isf.yaml \\
          --run-dir runs/ddp
    """
    from latentedit.cli.common import load_generator_or_default
    from latentedit.losses import LossWeightError, MissingWeightsError
    from latentedit.plugins import ConfigError, PluginError, load_mapper
    from latentedit.training.checkpoint import CheckpointStateError
    from latentedit.training.config import build_run_config
    from latentedit.training.distributed import DistContext, DistributedSetupError
    from latentedit.training.trainer import MapperTrainer, TrainingDivergedError

    out_dir = Path(out)
    try:
        cls = load_mapper(name)
    except PluginError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        data, source = _config_data(config, out_dir, resume, cls)
        run = build_run_config(name, cls, data, overrides, source=source)
    except (ConfigError, LossWeightError, CheckpointStateError) as exc:
        raise click.UsageError(str(exc)) from None
    try:
        ctx = DistContext.from_env(None if device == "auto" else device)
    except DistributedSetupError as exc:
        raise click.ClickException(str(exc)) from None
    G, _ = load_generator_or_default(None if generator == DEFAULT_GENERATOR else generator, ctx.device, domain)
    judge = _load_classifier(classifier, G, domain)
    tc = run.trainer
    if tc.attributes and set(tc.attributes) <= set(getattr(judge, "output_names", ()) or ()):
        from latentedit.classifiers import select_attributes

        judge = select_attributes(judge, tuple(tc.attributes))  # named columns of a wider classifier
    needs_embedder = tc.resolved_loss_weights(cls.default_loss_weights()).get("identity", 0) > 0 and \
        tc.losses.identity == "embedder"
    emb = _load_embedder(embedder, G, domain) if needs_embedder else None
    try:
        trainer = MapperTrainer(run, G, out_dir, mapper_class=cls, classifier=judge, embedder=emb, resume=resume,
                                ctx=ctx)
        summary = trainer.train()
    except (ConfigError, CheckpointStateError, FileExistsError, MissingWeightsError, DistributedSetupError) as exc:
        raise click.ClickException(str(exc)) from None
    except TrainingDivergedError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        ctx.close()
    if ctx.is_main:
        click.echo(f"trained {name} to step {summary['step']} ({summary['skipped_steps']} steps skipped as "
                   f"non-finite); result: {out_dir / 'mapper_ema.safetensors'}")


def _add_encoder_subcommand() -> None:
    """``latentedit train encoder``: an encoder plugin's trainer (``train-encoder`` is its deprecated alias)."""
    try:
        from latentedit.cli.train_encoder_cmd import train_encoder
    except Exception as exc:  # a broken encoder command must not take `train mapper` down
        from latentedit.cli.main import _broken_command

        train.add_command(_broken_command("encoder", "latentedit.cli.train_encoder_cmd", exc), "encoder")
        return
    train.add_command(train_encoder, "encoder")


_add_encoder_subcommand()


def _add_classifier_subcommand() -> None:
    """``latentedit train classifier``: an attribute classifier from labelled photos."""
    try:
        from latentedit.cli.train_classifier_cmd import classifier
    except Exception as exc:  # a broken command must not take `train mapper` down
        from latentedit.cli.main import _broken_command

        train.add_command(_broken_command("classifier", "latentedit.cli.train_classifier_cmd", exc), "classifier")
        return
    train.add_command(classifier, "classifier")


_add_classifier_subcommand()
