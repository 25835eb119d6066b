#!/usr/bin/env python
"""Rehearse the real-face path on toy renders, exactly as a user with CelebA would, all through the CLI:

1. ``latentedit toyfaces export-celeba``: toy renders as a CelebA-format labelled folder (``photos/*.jpg``, a face
   on a larger background, or the crop alone with ``--crops``, and ``list_attr_celeba.txt``);
2. ``latentedit train classifier`` on that folder (aligned with MTCNN, or ``--no-align`` for crops); the held-out
   balanced accuracy per attribute is printed against the bar (>= 0.95 each);
3. ``latentedit train mapper --method isf`` with that classifier file (identity: the generator's domain's embedder);
4. ``latentedit edit`` a held-out photo (detected, aligned, pasted back);
5. ``latentedit evaluate`` without ground truth (the classifier from step 2).

Only the generator and encoder files come from the toy domain after step 1.

    python scripts/rehearse_real_path.py --work runs/rehearsal                  # the full run (hours on CPU)
    python scripts/rehearse_real_path.py --work /tmp/r --quick                  # a smoke run (about a minute)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

BAR = 0.95


def _call(cmd) -> int:
    cmd = [str(c) for c in cmd]
    print("$", " ".join(cmd), flush=True)
    return subprocess.call(cmd)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True, help="work folder (photos, run, classifier)")
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--input-size", type=int, default=96)
    ap.add_argument("--resolution", type=int, default=128, help="toy render side")
    ap.add_argument("--crops", action="store_true", help="write face crops and train with --no-align")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mapper-steps", type=int, default=3000, help="ISF training steps")
    ap.add_argument("--eval-n", type=int, default=500, help="generator samples in the evaluation")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 200 crops, a few steps per stage")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.steps, args.batch_size, args.input_size, args.resolution = 200, 3, 8, 32, 64
        args.crops, args.mapper_steps, args.eval_n = True, 2, 6
    work = Path(args.work)
    labels = work / "celeba" / "list_attr_celeba.txt"
    if not labels.is_file():
        rc = _call(["latentedit", "toyfaces", "export-celeba", "--n", args.n, "--seed", args.seed, "--resolution",
                    args.resolution, "--out", work / "celeba"] + (["--crops"] if args.crops else []))
        if rc:
            return rc
    cmd = ["latentedit", "train", "classifier", "--labels", str(labels), "--photos", str(work / "celeba" / "photos"),
           "--backbone", "resnet18", "--input-size", str(args.input_size), "--steps", str(args.steps),
           "--batch-size", str(args.batch_size), "--seed", str(args.seed), "--run-dir", str(work / "run"),
           "--out", str(work / "classifier.safetensors")]
    cmd += ["--no-align"] if args.crops else []
    cmd += ["--resume"] if (work / "run" / "checkpoint.pt").exists() else []
    rc = _call(cmd)
    if rc:
        return rc
    report = json.loads((work / "run" / "report.json").read_text())
    ok = True
    for name, r in report["attributes"].items():
        passed = r["balanced_accuracy"] >= BAR
        ok &= passed
        print(f"{name:>12}: held-out balanced accuracy {r['balanced_accuracy']:.4f} "
              f"({'meets' if passed else 'MISSES'} the {BAR} bar)")
    rc = _rest_of_path(args, work)
    return rc or (0 if ok or args.quick else 1)


def _rest_of_path(args, work: Path) -> int:
    """Steps 3-5: train an ISF mapper with the classifier, edit a held-out photo, evaluate without ground truth."""
    from latentedit.domains import load_domain

    toy = load_domain("toyfaces")
    gen, enc, clf = toy.generator.path, toy.encoder.path, work / "classifier.safetensors"
    run = work / "isf"
    steps = [["latentedit", "train", "mapper", "--method", "isf", "--generator", gen, "--classifier", clf,
              "--run-dir", run,
              "--set", f"trainer.steps={args.mapper_steps}"]
             + (["--set", "trainer.batch=2", "--set", "trainer.loss_weights.lpips=0",
                 "--set", "trainer.loss_weights.lpips_cycle=0"] if args.quick else [])
             + (["--resume"] if (run / "checkpoint.pt").exists() else [])]
    photo_dir = work / "held_out"
    steps.append(["latentedit", "toyfaces", "export-celeba", "--n", 1, "--seed", args.seed + 1, "--resolution",
                  128, "--out", photo_dir])
    photo = photo_dir / "photos" / "000000.jpg"
    steps.append(["latentedit", "edit", photo, "--attr", "smile=1", "--mapper", run / "mapper_ema.safetensors",
                  "--generator", gen, "--encoder", enc, "--samples", 1, "--out", work / "edit"])
    steps.append(["latentedit", "evaluate", "--generator", gen, "--classifier", clf, "--method",
                  f"isf={run / 'mapper_ema.safetensors'}", "--n", args.eval_n, "--inputs", photo, "--encoder", enc,
                  "--out", work / "evaluation"] + (["--samples", 2, "--diversity-sources", 2] if args.quick else []))
    for cmd in steps:
        rc = _call(cmd)
        if rc:
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
