"""``latentedit toyfaces``: render contact sheets, write datasets, train and evaluate the toy-faces judges."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from latentedit.cli.json_output import json_option, write_json

JUDGES = ("attributes", "identity", "factors")
MAX_SHEET_PIXELS = 4096 * 128 * 128  # e.g. 4096 faces at 128x128, or 64 faces at 1024x1024


def parse_seeds(text: str) -> list[int]:
    """``"0-15"``, ``"3"``, ``"1,4,10-12"`` → list of ints."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part:
                lo, hi = (int(v) for v in part.split("-", 1))
                if hi < lo:
                    raise ValueError
                seeds.extend(range(lo, hi + 1))
            else:
                seeds.append(int(part))
        except (TypeError, ValueError):
            raise click.ClickException(f"--seeds: cannot read {part!r}; expected non-negative ints and ranges "
                                       "like '0-15' or '1,4,10-12'") from None
    if not seeds or min(seeds) < 0:
        raise click.ClickException(f"--seeds: expected at least one non-negative seed; got {text!r}")
    return seeds


def _save_png(array, path: Path) -> None:
    """Save a uint8 (H, W, 3) tensor/array as PNG, atomically."""
    from PIL import Image

    from latentedit.io.modelfile import atomic_write

    img = Image.fromarray(array.numpy() if hasattr(array, "numpy") else array)
    atomic_write(path, lambda tmp: img.save(tmp, format="PNG"))


# Subcommands that live in other modules (the generator recipe): name -> (module, attribute). Imported only when
# listed or used; a module that is missing or broken simply leaves its commands out.
EXTERNAL_COMMANDS: dict[str, tuple[str, str]] = {
    "train-generator": ("latentedit_toyfaces.cli.generator_cmds", "train_generator"),
    "export-generator": ("latentedit_toyfaces.cli.generator_cmds", "export_generator_cmd"),
    "finetune-generator": ("latentedit_toyfaces.cli.generator_cmds", "finetune_generator"),
    "eval-generator": ("latentedit_toyfaces.cli.generator_cmds", "eval_generator_cmd"),
    "fit-directions": ("latentedit_toyfaces.cli.generator_cmds", "fit_directions_cmd"),
    "latents": ("latentedit_toyfaces.cli.latents_cmd", "latents_cmd"),
    "evaluate": ("latentedit_toyfaces.cli.evaluate_cmd", "evaluate"),
    "export-celeba": ("latentedit_toyfaces.cli.export_celeba_cmd", "export_celeba"),
}


class _ToyfacesGroup(click.Group):
    """Our own commands plus ``EXTERNAL_COMMANDS`` (imported lazily)."""

    def _external(self, name):
        import importlib

        module, attr = EXTERNAL_COMMANDS[name]
        try:
            return getattr(importlib.import_module(module), attr)
        except Exception:  # not installed / broken: leave it out rather than break `toyfaces`
            return None

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(EXTERNAL_COMMANDS))

    def get_command(self, ctx, name):
        cmd = super().get_command(ctx, name)
        if cmd is None and name in EXTERNAL_COMMANDS:
            cmd = self._external(name)
        return cmd

    def format_commands(self, ctx, formatter):
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=70)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=_ToyfacesGroup, context_settings={"help_option_names": ["-h", "--help"]})
def toyfaces():
    """The toy-faces domain: a procedural face renderer with ground-truth factors, and its judges.

    \b
    Examples:
      latentedit toyfaces render --seeds 0-15 --out sheet.png
      latentedit toyfaces dataset --n 50000 --out data/toyfaces
      latentedit toyfaces train-judge attributes --out judge_attributes.safetensors
      latentedit toyfaces eval-judges
    """


@toyfaces.command()
@click.option("--seeds", default="0-15", show_default=True, help="Faces to draw: one per seed, e.g. '0-15' or '1,4'.")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Contact sheet PNG to write.")
@click.option("--resolution", type=click.IntRange(8, 1024), default=64, show_default=True, help="Pixels per face.")
@click.option("--columns", type=click.IntRange(1, 64), default=8, show_default=True, help="Faces per row.")
@click.option("--prior/--no-prior", default=True, show_default=True, help="Sample with the correlation prior.")
@click.option("--edits", is_flag=True,
              help="One row per seed: the face, then each attribute flipped, then new nuisance (same person).")
def render(seeds, out, resolution, columns, prior, edits):
    """Render one face per seed into a contact sheet.

    Face SEED is ``sample_factors(1, SEED)``: the same seed always draws the same person.

    \b
    Examples:
      latentedit toyfaces render --seeds 0-15 --out sheet.png
      latentedit toyfaces render --seeds 0-63 --resolution 128 --columns 8 --out big.png
      latentedit toyfaces render --seeds 0-3 --edits --out edits.png
    """
    import torch

    from latentedit_toyfaces.factors import ATTRIBUTE_NAMES, INDEX, resample_nuisance, sample_factors
    from latentedit_toyfaces.renderer import contact_sheet
    from latentedit_toyfaces.renderer import render as render_faces

    seed_list = parse_seeds(seeds)
    faces = len(seed_list) * (len(ATTRIBUTE_NAMES) + 2 if edits else 1)
    if faces * resolution * resolution > MAX_SHEET_PIXELS:
        raise click.ClickException(f"a sheet of {faces} faces at {resolution}x{resolution} is too large (at most "
                                   f"{MAX_SHEET_PIXELS:,} pixels); use fewer --seeds or a lower --resolution")
    f = torch.cat([sample_factors(1, s, prior=prior) for s in seed_list])
    if edits:
        rows = []
        for s, person in zip(seed_list, f):
            row = [person]
            for name in ATTRIBUTE_NAMES:
                flipped = person.clone()
                flipped[INDEX[name]] = 1.0 - flipped[INDEX[name]].round()
                row.append(flipped)
            row.append(resample_nuisance(person[None], s + 1)[0])
            rows.append(torch.stack(row))
        f, columns = torch.cat(rows), len(ATTRIBUTE_NAMES) + 2
    try:
        _save_png(contact_sheet(render_faces(f, resolution), columns=columns), Path(out))
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}; choose another --out") from None
    click.echo(f"wrote {out} ({len(f)} faces at {resolution}x{resolution})")


@toyfaces.command()
@click.option("--n", "n", type=click.IntRange(1, 10_000_000), required=True, help="Number of images.")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Dataset folder to create.")
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True, help="Dataset seed.")
@click.option("--resolution", type=click.IntRange(8, 1024), default=64, show_default=True, help="Pixels per image.")
@click.option("--prior/--no-prior", default=True, show_default=True, help="Sample with the correlation prior.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
def dataset(n, out, seed, resolution, prior, overwrite):
    """Write N renders with their factors and labels to a folder (see docs/toyfaces.md for the format).

    OUT/images/NNNNNN.png, OUT/labels.csv (file, every factor, every attribute label) and OUT/meta.json.
    The folder appears only when complete (written next to OUT, then renamed).

    \b
    Examples:
      latentedit toyfaces dataset --n 50000 --out data/toyfaces
      latentedit toyfaces dataset --n 1000 --seed 7 --resolution 128 --out data/small128
    """
    import csv

    from PIL import Image

    from latentedit_toyfaces.datasets import dataset_batches, dataset_meta, image_name, label_columns, label_rows
    from latentedit_toyfaces.renderer import to_uint8

    out = Path(out)
    if out.exists() and not overwrite:
        raise click.ClickException(f"{out} already exists; choose another --out or pass --overwrite")
    from latentedit.io.modelfile import atomic_folder

    start = time.time()
    try:
        with atomic_folder(out) as tmp:
            (tmp / "images").mkdir()
            with open(tmp / "labels.csv", "w", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(label_columns())
                batches = dataset_batches(n, seed, prior=prior, resolution=resolution)
                with click.progressbar(length=n, label="rendering", file=sys.stderr) as bar:
                    for first, images, factors in batches:
                        for i, arr in enumerate(to_uint8(images).numpy()):
                            Image.fromarray(arr).save(tmp / image_name(first + i), format="PNG", compress_level=1)
                        writer.writerows(label_rows(factors, first))
                        bar.update(len(factors))
            (tmp / "meta.json").write_text(json.dumps(dataset_meta(n, seed, prior, resolution), indent=1))
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}; choose another --out") from None
    click.echo(f"wrote {n} images to {out} in {time.time() - start:.1f}s")


@toyfaces.command("train-judge")
@click.argument("name", type=click.Choice(JUDGES))
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Judge file (.safetensors) to write.")
@click.option("--steps", type=click.IntRange(1), default=None, help="Training steps [default: the shipped recipe].")
@click.option("--minutes", type=click.FloatRange(0.05), default=None, help="Time cap in minutes [default: 20].")
@click.option("--seed", type=click.IntRange(0), default=None, help="Seed [default: the shipped recipe's].")
@click.option("--batch-size", type=click.IntRange(2), default=None, help="Images per step [default: 64].")
@click.option("--threads", type=click.IntRange(1), default=None, help="CPU threads [default: 1, be kind].")
@click.option("--eval-n", type=click.IntRange(20), default=2000, show_default=True, help="Held-out renders.")
@click.option("--run-dir", type=click.Path(file_okay=False), default=None,
              help="Training folder (checkpoint.pt, log.jsonl) [default: OUT.run].")
@click.option("--resume", is_flag=True, help="Continue the run in --run-dir from its last checkpoint (exactly).")
def train_judge(name, out, steps, minutes, seed, batch_size, threads, eval_n, run_dir, resume):
    """Train judge NAME (attributes | identity | factors) on streamed renders and save it to OUT.

    Resumable checkpoints go to the run folder (--run-dir, default OUT.run) and the judge so far to OUT while
    training; the final file stores the recipe (config) and the
    held-out figures (metadata). The shipped judges came from the defaults.

    \b
    Examples:
      latentedit toyfaces train-judge attributes --out judge_attributes.safetensors
      latentedit toyfaces train-judge identity --out judge_identity.safetensors --minutes 10 --threads 2
      latentedit toyfaces train-judge factors --out /tmp/quick.safetensors --steps 200 --eval-n 200
    """
    import dataclasses

    from latentedit_toyfaces.judge_training import RECIPES
    from latentedit_toyfaces.judge_training import train_judge as run

    overrides = {k: v for k, v in {"steps": steps, "max_minutes": minutes, "seed": seed, "batch_size": batch_size,
                                    "threads": threads}.items() if v is not None}
    recipe = dataclasses.replace(RECIPES[name], **overrides)
    if recipe.warmup_steps >= recipe.steps:
        recipe = dataclasses.replace(recipe, warmup_steps=max(1, recipe.steps // 10))
    from latentedit.io.modelfile import ModelFileError
    from latentedit_toyfaces.judges import JudgeError

    try:
        figures = run(name, out, recipe, eval_n=eval_n, log=click.echo, run_dir=run_dir, resume=resume)
    except (JudgeError, ModelFileError, FileExistsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}; choose another --out") from None
    click.echo(json.dumps(figures["heldout"]))


@toyfaces.command("eval-judges")
@click.option("--judge", "names", type=click.Choice(JUDGES), multiple=True,
              help="Judge to evaluate (repeatable) [default: all three].")
@click.option("--path", "paths", multiple=True, metavar="NAME=FILE",
              help="Evaluate FILE instead of the shipped judge NAME, e.g. identity=my.safetensors.")
@click.option("--n", "n", type=click.IntRange(20), default=2000, show_default=True,
              help="Held-out renders (identity: n/2 persons, two views each).")
@json_option("the figures instead of text")
def eval_judges(names, paths, n, json_out):
    """Print the judges' figures on fresh held-out renders (never seen in training) against the issue's bars.

    \b
    Examples:
      latentedit toyfaces eval-judges
      latentedit toyfaces eval-judges --judge identity --path identity=judge_identity.safetensors --n 500
    """
    from latentedit.io.modelfile import ModelFileError
    from latentedit_toyfaces.judge_evaluation import BARS, evaluate
    from latentedit_toyfaces.judges import JudgeError, load_judge

    chosen = {}
    for item in paths:
        key, sep, value = item.partition("=")
        if not sep or key not in JUDGES:
            raise click.ClickException(f"--path: expected NAME=FILE with NAME one of {', '.join(JUDGES)}; got {item!r}")
        chosen[key] = value
    results = {}
    for name in names or JUDGES:
        try:
            model = load_judge(name, chosen.get(name))
        except (JudgeError, ModelFileError) as exc:
            raise click.ClickException(str(exc)) from None
        results[name] = evaluate(name, model, n=n)
    if json_out:
        write_json(results, json_out)
        return
    for name, r in results.items():
        verdict = "meets" if r["passes"] else "MISSES"
        if name == "attributes":
            detail = ", ".join(f"{k} {v:.2%}" for k, v in r["accuracy"].items())
            click.echo(f"attributes: accuracy {detail} (n={r['n']}; bar {BARS[name]:.0%} each: {verdict})")
        elif name == "identity":
            click.echo(f"identity: verification ROC-AUC {r['roc_auc']:.4f} ({r['persons']} persons, "
                       f"{r['pairs_neg']} impostor pairs; bar {BARS[name]}: {verdict})")
        else:
            detail = ", ".join(f"{k} {v:.3f}" for k, v in r["r2"].items())
            click.echo(f"factors: R² {detail} (n={r['n']}; bar {BARS[name]} each: {verdict})")
