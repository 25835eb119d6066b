"""``latentedit train classifier``: an attribute classifier from a labelled photo folder (CelebA, CelebA-HQ, CSV)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("classifier")
@click.option("--labels", "label_file", required=True, type=click.Path(dir_okay=False),
              help="CelebA list_attr_celeba.txt, CelebA-HQ CelebAMask-HQ-attribute-anno.txt, or a CSV "
                   "'file,attr1,attr2,...' (0/1).")
@click.option("--photos", "photos_dir", required=True, type=click.Path(file_okay=False),
              help="Folder the label file's photo names are relative to.")
@click.option("--attributes", default=None, help="Comma-separated attribute names to learn (default: all in the file).")
@click.option("--backbone", type=click.Choice(["resnet18", "resnet50"]), default="resnet18", show_default=True)
@click.option("--backbone-weights", type=click.Path(dir_okay=False), default=None,
              help="torchvision ImageNet weights (.pth state dict, read weights_only) of --backbone; default: "
                   "train from scratch.")
@click.option("--input-size", type=click.IntRange(16), default=128, show_default=True,
              help="Side of the classifier's input (aligned crops are made at this size).")
@click.option("--no-align", is_flag=True, help="Photos are already aligned crops: resize them as they are.")
@click.option("--align-cache", type=click.Path(file_okay=False), default=None,
              help="Where aligned crops are cached by content hash (default: RUN_DIR/align_cache).")
@click.option("--steps", type=click.IntRange(1), default=2000, show_default=True)
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=1e-3, show_default=True)
@click.option("--held-out", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.2,
              show_default=True, help="Fraction of the photos held out (seeded) for the report.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--run-dir", required=True, type=click.Path(file_okay=False), help="Checkpoints, log and report.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="The classifier file to write.")
@click.option("--resume", is_flag=True, help="Continue the run in --run-dir (--steps may be raised).")
def classifier(label_file, photos_dir, attributes, backbone, backbone_weights, input_size, no_align, align_cache,
               steps, batch_size, lr, held_out, seed, run_dir, out, resume):
    """Train an attribute classifier on labelled photos; it is accepted wherever a --classifier is.

    \b
    Examples:
      latentedit train classifier --labels list_attr_celeba.txt --photos img_celeba --attributes Smiling,Eyeglasses \\
          --backbone resnet18 --backbone-weights resnet18-f37072fd.pth --run-dir runs/clf --out celeba.safetensors
      latentedit train classifier --labels labels.csv --photos crops --no-align --steps 500 --run-dir runs/c --out c.st
    """
    from latentedit.classifiers import (ClassifierError, ClassifierTrainConfig, LabelFileError,
                                        load_labelled_photos, train_classifier)
    from latentedit.training.checkpoint import CheckpointStateError

    wanted = [a.strip() for a in attributes.split(",") if a.strip()] if attributes else None
    cache = Path(align_cache) if align_cache else Path(run_dir) / "align_cache"
    try:
        photos = load_labelled_photos(label_file, photos_dir, attributes=wanted, size=input_size, align=not no_align,
                                      cache_dir=cache, progress=True)
        for note in photos.notes:
            click.echo(note)
        cfg = ClassifierTrainConfig(attributes=photos.attributes, backbone=backbone, input_size=input_size,
                                    steps=steps, batch_size=batch_size, lr=lr, held_out=held_out, seed=seed,
                                    pretrained=backbone_weights is not None)
        report = train_classifier(photos.images, photos.labels, cfg, run_dir, out, resume=resume,
                                  backbone_weights=backbone_weights, data_info={"aligned": not no_align})
    except (ClassifierError, LabelFileError, CheckpointStateError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"held-out photos: {report['n_held_out']} (trained on {report['n_train']}, {report['steps']} steps)")
    for name, r in report["attributes"].items():
        auc = "n/a" if r["roc_auc"] is None else f"{r['roc_auc']:.4f}"
        click.echo(f"  {name}: balanced accuracy {r['balanced_accuracy']:.4f}, ROC-AUC {auc} "
                   f"({r['positives']} positives)")
    click.echo(f"classifier: {out}")
