"""``latentedit toyfaces train-generator`` / ``export-generator``: the embedded default's generator recipe."""

from __future__ import annotations

import click

from latentedit.cli.json_output import json_option, write_json
from latentedit.cli.domain_options import domain_option
from latentedit_toyfaces.cli.toy_guard import require_toy_generator


@click.command("train-generator")
@click.option("--run-dir", type=click.Path(file_okay=False), default="runs/toyfaces-generator", show_default=True,
              help="Folder for checkpoint.pt, log.jsonl and sample grids.")
@click.option("--steps", type=click.IntRange(1), default=30_000, show_default=True,
              help="Total steps to reach (the recipe's learning-rate schedule ends at 30,000).")
@click.option("--resume", is_flag=True,
              help="Continue the run in --run-dir from its last checkpoint (exactly), with the recipe stored in it.")
@click.option("--checkpoint-minutes", type=float, default=5.0, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=None, help="[default: the recipe's, 16]")
@click.option("--seed", type=int, default=None, help="[default: the recipe's, 0]")
@click.option("--threads", type=click.IntRange(1), default=None, help="torch threads (default: torch's choice).")
@click.option("--readout-weight", type=click.FloatRange(0), default=None,
              help="Weight of the latent readout (w -> z regression that keeps every factor in W) [default: the "
                   "recipe's, 0 = off].")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a DistillConfig field, e.g. --set per_attribute_from_step=0 (repeatable; stored in "
                   "the checkpoint; on --resume they must agree with it).")
@click.option("--extend-from", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Start from this checkpoint of an earlier recipe (e.g. training_runs/toyfaces-generator/"
                   "checkpoint.pt) and continue with the later phases given by --set; refused if the recipes "
                   "differ before its step.")
def train_generator(run_dir, steps, resume, checkpoint_minutes, batch_size, seed, threads, readout_weight, overrides,
                    extend_from):
    """Distil a 64x64 StyleGAN2 generator from the toy-faces renderer (resumable; SIGKILL-safe checkpoints).

    \b
    Examples:
      latentedit toyfaces train-generator --run-dir runs/g --steps 20000
      latentedit toyfaces train-generator --run-dir runs/g --steps 30000 --resume
      latentedit toyfaces train-generator --run-dir runs/g2 --readout-weight 10 --set per_attribute_from_step=0
    """
    import dataclasses
    from pathlib import Path

    import torch

    from latentedit_toyfaces.recipes.distill import DistillConfig, train

    if threads:
        torch.set_num_threads(threads)
    from latentedit.training.config import ConfigError

    named = {k: v for k, v in (("batch_size", batch_size), ("seed", seed), ("readout_weight", readout_weight))
             if v is not None}
    ckpt = Path(run_dir) / "checkpoint.pt"
    try:
        if resume and ckpt.exists():
            from latentedit_toyfaces.recipes.distill_phases import checkpoint_config

            base = checkpoint_config(ckpt, DistillConfig)
        else:
            base = DistillConfig()
        cfg = dataclasses.replace(base, **named).with_overrides(overrides)
    except (ConfigError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    try:
        run = train(cfg, run_dir, steps=steps, resume=resume, checkpoint_minutes=checkpoint_minutes,
                    extend_from=extend_from)
    except (FileExistsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"reached step {run.step}; checkpoint {run.ckpt}")


@click.command("finetune-generator")
@click.option("--generator", "generator_path", type=click.Path(dir_okay=False, exists=True), required=True,
              help="The distilled toy-faces generator file to start from (e.g. the third generator's export).")
@click.option("--run-dir", type=click.Path(file_okay=False), required=True,
              help="Folder for checkpoint.pt and log.jsonl.")
@click.option("--steps", type=click.IntRange(1), default=2000, show_default=True, help="Total steps to reach.")
@click.option("--resume", is_flag=True, help="Continue the run in --run-dir from its last checkpoint (exactly).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a SynthesisFinetuneConfig field, e.g. --set rerender_weight=5 (repeatable).")
@click.option("--threads", type=click.IntRange(1), default=None, help="torch threads (default: torch's choice).")
@click.option("--checkpoint-minutes", type=float, default=5.0, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Also export the EMA generator here when the run reaches --steps.")
@click.option("--quality-json", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Figures from `eval-generator --json` to store in the export (with --out).")
def finetune_generator(generator_path, run_dir, steps, resume, overrides, threads, checkpoint_minutes, out,
                       quality_json):
    """Fine-tune a distilled generator's synthesis network, its mapping (W, the fingerprint) frozen.

    Distillation + teachers + a re-render term (latentedit_toyfaces.recipes.finetune_synthesis). Every file made on the
    generator's W stays valid.

    \b
    Example:
      latentedit toyfaces finetune-generator --generator runs/g/generator.safetensors --run-dir runs/g-ft \\
          --steps 2000 --out runs/g-ft/generator.safetensors
    """
    import json
    from pathlib import Path

    import torch

    from latentedit.training.config import ConfigError
    from latentedit_toyfaces.recipes.finetune_synthesis import SynthesisFinetuneConfig, finetune, saved_finetune_config

    if quality_json and not out:
        raise click.UsageError("--quality-json is stored in the export: give --out as well")
    if threads:
        torch.set_num_threads(threads)
    try:
        ckpt = Path(run_dir) / "checkpoint.pt"
        base = saved_finetune_config(ckpt) if resume and ckpt.exists() else SynthesisFinetuneConfig()
        cfg = base.with_overrides(overrides)
        run = finetune(cfg, generator_path, run_dir, steps=steps, resume=resume,
                       checkpoint_minutes=checkpoint_minutes)
    except (ConfigError, FileExistsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"reached step {run.step}; checkpoint {run.ckpt}")
    if out:
        quality = json.loads(Path(quality_json).read_text()) if quality_json else None
        click.echo(f"wrote {run.export(out, quality=quality)}")


@click.command("export-generator")
@click.option("--run-dir", type=click.Path(file_okay=False, exists=True), required=True)
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Output .safetensors file.")
@click.option("--quality-json", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Figures from `eval-generator --json` to store in the file (shown by `latentedit info`).")
def export_generator_cmd(run_dir, out, quality_json):
    """Export a distillation run's EMA generator to latentedit's .safetensors format.

    \b
    Example:
      latentedit toyfaces export-generator --run-dir runs/g --out g.safetensors
    """
    import json
    from pathlib import Path

    from latentedit_toyfaces.recipes.distill import export_generator

    quality = json.loads(Path(quality_json).read_text()) if quality_json else None
    click.echo(f"wrote {export_generator(run_dir, out, quality=quality)}")


@click.command("eval-generator")
@click.option("--generator", "generator_path", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Generator file (default: the shipped toy-faces generator).")
@click.option("--run-dir", type=click.Path(file_okay=False, exists=True), default=None,
              help="Evaluate a train-generator run's current EMA checkpoint instead (no export needed).")
@click.option("--n", type=click.IntRange(100), default=2000, show_default=True, help="Samples (and renders).")
@json_option("the figures as well")
@domain_option
def eval_generator_cmd(generator_path, run_dir, n, json_out, domain):
    """Measure a toy-faces generator against the quality bars (realism, coverage, editability) with the judges.

    \b
    Example:
      latentedit toyfaces eval-generator --generator runs/g.safetensors --n 2000 --json quality.json
      latentedit toyfaces eval-generator --run-dir runs/g --n 500      # a run in progress
    """
    from latentedit.cli.common import load_generator_or_default
    from latentedit_toyfaces.evaluation.generator_ceiling import distilled_prior, is_distilled_toy_generator
    from latentedit_toyfaces.evaluation.generator_quality import evaluate_generator

    if generator_path and run_dir:
        raise click.UsageError("give --generator or --run-dir, not both")
    if run_dir:
        from latentedit_toyfaces.recipes.distill import generator_from_run

        try:
            G, extra = generator_from_run(run_dir)
        except (FileNotFoundError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"{run_dir}: EMA generator at step {extra['steps']}")
    else:
        from latentedit.io.modelfile import read_model_metadata

        G, info = load_generator_or_default(generator_path, "cpu")
        extra = read_model_metadata(info.path)[2] if info.format == "latentedit" else {}
        require_toy_generator(G, extra, domain, instead="`latentedit evaluate --classifier FILE`")
    q = evaluate_generator(G, n=n, truth=is_distilled_toy_generator(G, extra), prior=distilled_prior(extra))
    click.echo(q.to_markdown())
    bars = q.bars()
    missed = [k for k, ok in bars.items() if not ok]
    click.echo("all bars met" if not missed else "bars missed: " + ", ".join(missed))
    if json_out:
        write_json({**q.to_dict(), "bars": bars, "generator": G.fingerprint()}, json_out, indent=1)
        if json_out != "-":
            click.echo(f"wrote {json_out}")


@click.command("fit-directions")
@click.option("--generator", "generator_path", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Generator file (default: the shipped toy-faces generator).")
@click.option("--n", type=click.IntRange(100), default=4000, show_default=True, help="Samples scored by the judge.")
@click.option("--ratio", type=click.FloatRange(0.01, 0.5), default=0.25, show_default=True,
              help="InterFaceGAN: the top and bottom fraction of scores used to fit each boundary.")
@click.option("--edit-distance", type=click.FloatRange(min=0, min_open=True), default=3.0, show_default=True,
              help="A full edit moves to this many standard deviations of the samples' signed distance, on the "
                   "target side of each boundary.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Directions mapper file to write.")
@domain_option
def fit_directions_cmd(generator_path, n, ratio, edit_distance, seed, out, domain):
    """Fit InterFaceGAN directions in W for the toy attributes (scores from the toy attribute judge).

    \b
    Example:
      latentedit toyfaces fit-directions --out plugins/latentedit_toyfaces/assets/toyfaces_directions.safetensors
    """
    from latentedit.cli.common import load_generator_or_default
    from latentedit_toyfaces.directions import fit_toy_directions

    from latentedit.io.modelfile import read_model_metadata

    G, info = load_generator_or_default(generator_path, "cpu")
    extra = read_model_metadata(info.path)[2] if info.format == "latentedit" else {}
    require_toy_generator(G, extra, domain, instead="`latentedit directions fit --classifier FILE`")
    mapper = fit_toy_directions(G, n=n, seed=seed, ratio=ratio, edit_distance=edit_distance)
    path = mapper.save(out, extra={"generator_fingerprint": G.fingerprint(),
                                   "fit": {"n": n, "ratio": ratio, "seed": seed, "judge": "toyfaces attributes",
                                           "edit_distance_std": edit_distance}})
    click.echo(f"wrote {path}")
