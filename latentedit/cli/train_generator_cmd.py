"""``latentedit toyfaces train-generator`` / ``export-generator``: the embedded default's generator recipe."""

from __future__ import annotations

import click


@click.command("train-generator")
@click.option("--run-dir", type=click.Path(file_okay=False), default="runs/toyfaces-generator", show_default=True,
              help="Folder for checkpoint.pt, log.jsonl and sample grids.")
@click.option("--steps", type=click.IntRange(1), default=30_000, show_default=True,
              help="Total steps to reach (the recipe's learning-rate schedule ends at 30,000).")
@click.option("--resume", is_flag=True, help="Continue the run in --run-dir from its last checkpoint (exactly).")
@click.option("--checkpoint-minutes", type=float, default=5.0, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=16, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=click.IntRange(1), default=None, help="torch threads (default: torch's choice).")
def train_generator(run_dir, steps, resume, checkpoint_minutes, batch_size, seed, threads):
    """Distil a 64x64 StyleGAN2 generator from the toy-faces renderer (resumable; SIGKILL-safe checkpoints).

    \b
    Examples:
      latentedit toyfaces train-generator --run-dir runs/g --steps 20000
      latentedit toyfaces train-generator --run-dir runs/g --steps 30000 --resume
    """
    import torch

    from latentedit.training.distill_toyfaces import DistillConfig, train

    if threads:
        torch.set_num_threads(threads)
    cfg = DistillConfig(batch_size=batch_size, seed=seed)
    try:
        run = train(cfg, run_dir, steps=steps, resume=resume, checkpoint_minutes=checkpoint_minutes)
    except (FileExistsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"reached step {run.step}; checkpoint {run.ckpt}")


@click.command("export-generator")
@click.option("--run-dir", type=click.Path(file_okay=False, exists=True), required=True)
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Output .safetensors file.")
def export_generator_cmd(run_dir, out):
    """Export a distillation run's EMA generator to latentedit's .safetensors format.

    \b
    Example:
      latentedit toyfaces export-generator --run-dir runs/g --out latentedit/assets/toyfaces_generator.safetensors
    """
    from latentedit.training.distill_toyfaces import export_generator

    click.echo(f"wrote {export_generator(run_dir, out)}")
