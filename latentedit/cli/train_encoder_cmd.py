"""``latentedit train encoder``: train (or resume) an image -> W+ encoder for a frozen generator.

The recipe belongs to the encoder plugin (``--method``, found through the ``latentedit.encoders`` entry points);
this command only needs the plugin class to provide ``make_training_config(preset, overrides)``,
``run_training(config, generator, run_dir, steps=, resume=, checkpoint_minutes=, progress=)`` and the returned
run's ``export(path)``. The recipe's frozen config is stored in every checkpoint and in the exported encoder.
"""

from __future__ import annotations

import click

from latentedit.cli.aliases import renamed_option


@click.command("encoder")
@click.option("--method", "encoder_type", default="e4e", show_default=True,
              help="Encoder plugin to train (an entry point of latentedit.encoders).")
@renamed_option("--type", "encoder_type", "--method", unset="e4e")
@click.option("--generator", "generator_path", type=click.Path(dir_okay=False), default=None,
              help="The frozen generator (any supported format); default: the shipped toy-faces generator.")
@click.option("--run-dir", type=click.Path(file_okay=False), default="runs/encoder", show_default=True,
              help="Folder for checkpoint.pt, log.jsonl and sample grids.")
@click.option("--steps", type=click.IntRange(1), default=5000, show_default=True, help="Total steps to reach.")
@click.option("--resume", is_flag=True, help="Continue the run in --run-dir from its last checkpoint (exactly).")
@click.option("--preset", default=None, help="Recipe preset (e4e: 'e4e' = the paper's defaults, 'toy' = toy-faces "
                                             "schedule); default: 'toy' for the toy generator, else 'e4e'.")
@click.option("--data", type=click.Choice(["toy", "folder", "generator"]), default=None,
              help="Training images: toy renders, a folder (--data-path), or the generator's own samples.")
@click.option("--data-path", type=click.Path(file_okay=False, exists=True), default=None,
              help="Folder of aligned face images (implies --data folder).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe field, e.g. --set lpips_lambda=0 --set identity=facenet (repeatable).")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Also export the trained encoder (.safetensors, generator bundled) here.")
@click.option("--checkpoint-minutes", type=float, default=5.0, show_default=True)
@click.option("--threads", type=click.IntRange(1), default=None,
              help="torch threads (default: torch's choice; 1 is fastest for the small toy nets on a busy CPU).")
@click.option("--device", default="auto", show_default=True, type=click.Choice(["auto", "cpu", "cuda"]))
def train_encoder(encoder_type, generator_path, run_dir, steps, resume, preset, data, data_path, overrides, out,
                  checkpoint_minutes, threads, device):
    """Train an encoder (e4e by default) that maps images to W+ of a frozen generator.

    \b
    Examples:
      latentedit train encoder --run-dir runs/toy-e4e --steps 6000 --out toyfaces_e4e.safetensors
      latentedit train encoder --generator ffhq.pt --data-path ffhq_aligned/ --preset e4e --set id_lambda=0.1
      latentedit train encoder --run-dir runs/toy-e4e --steps 9000 --resume
    """
    import torch

    from latentedit.cli.common import load_generator_or_default, resolve_device
    from latentedit.plugins import PluginError, load_encoder

    if threads:
        torch.set_num_threads(threads)
    try:
        cls = load_encoder(encoder_type)
    except PluginError as exc:
        raise click.ClickException(str(exc)) from None
    from latentedit.plugins.contract import optional_hook

    hooks = {"make_training_config": optional_hook(cls, "make_training_config"),
             "run_training": optional_hook(cls, "run_training")}
    missing = [name for name, hook in hooks.items() if hook is None]
    if missing:
        raise click.ClickException(f"encoder plugin {encoder_type!r} cannot be trained from the CLI (it lacks "
                                   f"{', '.join(missing)})")
    G, _ = load_generator_or_default(generator_path, resolve_device(device))
    preset = preset or ("toy" if generator_path is None else "e4e")
    sets = list(overrides)
    if data_path is not None:
        sets += ["data=folder", f"data_path={data_path}"]
    elif data is not None:
        sets.append(f"data={data}")
    try:
        cfg = cls.make_training_config(preset, sets)
        run = cls.run_training(cfg, G, run_dir, steps=steps, resume=resume, checkpoint_minutes=checkpoint_minutes)
    except (FileExistsError, FileNotFoundError, ValueError) as exc:
        raise click.ClickException(" ".join(str(exc).split())) from None
    click.echo(f"reached step {run.step}; checkpoint {run.ckpt}")
    if out:
        click.echo(f"exported {run.export(out)}")
