#!/usr/bin/env bash
# Reproduce every shipped toy-faces model from a fresh clone, in order (run after `make venv`).
#
#   bash scripts/train_toy_models.sh [RUNS_DIR]      # default RUNS_DIR=runs/toy-models
#
# Each stage is resumable (re-running the script continues the stage it was in) and writes into RUNS_DIR;
# the files it ships are copied into plugins/latentedit_toyfaces/assets/ at the end of each stage. Times measured on the 2-core
# development machine are in docs/toyfaces_generator.md and the README.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-runs/toy-models}
LE=.venv/bin/latentedit
PY=.venv/bin/python
ASSETS=plugins/latentedit_toyfaces/assets
mkdir -p "$RUNS"
# glibc malloc tuned for the training loops (no page-fault storms from freed activations)
export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=1073741824

resume_flag() { [ -e "$1" ] && echo --resume || true; }

# 1. The generator: distillation from the renderer, 30,000 steps with DistillConfig's defaults, then 3,000 steps
#    in which two teachers -- judges trained with other seeds than the evaluation judges -- must read
#    in G(z) what they read in the render, at a restarted learning rate (5e-4, cosine to 1e-4). The teachers are
#    shipped in plugins/latentedit_toyfaces/assets/; they were made by the two train-judge commands below.
TEACHERS=plugins/latentedit_toyfaces/assets
[ -e "$TEACHERS/judge_factors_seed101.safetensors" ] || \
    $LE toyfaces train-judge factors --seed 101 --eval-n 500 --out "$TEACHERS/judge_factors_seed101.safetensors"
[ -e "$TEACHERS/judge_attributes_seed102.safetensors" ] || \
    $LE toyfaces train-judge attributes --seed 102 --eval-n 500 --out "$TEACHERS/judge_attributes_seed102.safetensors"
$LE toyfaces train-generator --run-dir "$RUNS/generator" --steps 33000 --threads 2 \
    --set teacher_weight=1 --set teacher_from_step=30000 \
    --set 'teacher_files=["plugins/latentedit_toyfaces/assets/judge_factors_seed101.safetensors","plugins/latentedit_toyfaces/assets/judge_attributes_seed102.safetensors"]' \
    --set detail_from_step=30000 --set detail_lr=5e-4 --set detail_decay_to_step=33000 \
    $(resume_flag "$RUNS/generator/checkpoint.pt")
$LE toyfaces export-generator --run-dir "$RUNS/generator" --out "$ASSETS/toyfaces_generator.safetensors"
cp "$ASSETS/toyfaces_generator.safetensors" "$RUNS/generator/generator_v3.safetensors"  # the source of stage 5

# 2. InterFaceGAN directions in W, scored by the toy attribute judge; a full edit goes 3 standard deviations of the
#    samples' signed distance past each boundary (distance_unit std).
$LE toyfaces fit-directions --n 4000 --out "$ASSETS/toyfaces_directions.safetensors"

# 3. The e4e encoder (3,000 steps, 12 min on one thread, as the shipped one was made), then the mappers' training sources: 6,000 generator samples + 6,000
#    renders inverted by that encoder (the mappers meet inverted photos at use; configs/toyfaces_*.json
#    read runs/toyfaces_latents.safetensors).
OMP_NUM_THREADS=1 $LE train encoder --run-dir "$RUNS/e4e" --steps 3000 --threads 1 --set lpips_lambda=0 \
    --out "$ASSETS/toyfaces_e4e.safetensors" $(resume_flag "$RUNS/e4e/checkpoint.pt")
[ -e runs/toyfaces_latents.safetensors ] || $LE toyfaces latents --out runs/toyfaces_latents.safetensors

# 4. The ISF mapper (2,000 steps) and the sensorium style mapper (target edits and reference transfer on alternating
#    steps, 3,000 steps), side by side (one thread each: the small nets scale poorly).
OMP_NUM_THREADS=1 $LE train mapper --method isf --config configs/toyfaces_isf.json --run-dir "$RUNS/isf" \
    $(resume_flag "$RUNS/isf/checkpoint.pt") &
isf=$!
OMP_NUM_THREADS=1 $LE train mapper --method sensorium --config configs/toyfaces_sensorium.json \
    --run-dir "$RUNS/sensorium" \
    $(resume_flag "$RUNS/sensorium/checkpoint.pt") &
sens=$!
wait $isf
cp "$RUNS/isf/mapper_ema.safetensors" "$ASSETS/toyfaces_isf.safetensors.tmp"
mv "$ASSETS/toyfaces_isf.safetensors.tmp" "$ASSETS/toyfaces_isf.safetensors"
wait $sens
cp "$RUNS/sensorium/mapper_ema.safetensors" "$ASSETS/toyfaces_sensorium.safetensors.tmp"
mv "$ASSETS/toyfaces_sensorium.safetensors.tmp" "$ASSETS/toyfaces_sensorium.safetensors"

# 5. The fourth generator: the third one's synthesis alone fine-tuned, the mapping frozen, so W and the
#    fingerprint are unchanged and every model above stays valid: 6,000 steps of distillation + teachers + the
#    re-render term (finetune_synthesis.py's defaults; about 30 minutes on 2 threads). The shipped e4e file bundles no
#    generator: `latentedit invert` decodes with the toy domain's generator (same fingerprint), so the copy is dropped.
$LE toyfaces finetune-generator --generator "$RUNS/generator/generator_v3.safetensors" --run-dir "$RUNS/generator-ft" \
    --steps 6000 --threads 2 --out "$RUNS/generator-ft/generator.safetensors" \
    $(resume_flag "$RUNS/generator-ft/checkpoint.pt")
$LE toyfaces eval-generator --generator "$RUNS/generator-ft/generator.safetensors" --n 2000 \
    --json "$RUNS/generator-ft/quality.json"
$LE toyfaces finetune-generator --generator "$RUNS/generator/generator_v3.safetensors" --run-dir "$RUNS/generator-ft" \
    --steps 6000 --resume --out "$ASSETS/toyfaces_generator.safetensors" --quality-json "$RUNS/generator-ft/quality.json"
$PY -m latentedit_e4e.rebundle "$ASSETS/toyfaces_e4e.safetensors" none

# 6. The edit-quality table of the README.
$LE toyfaces evaluate --out "$RUNS/edit_quality"

# 6. The identity fine-tune of both mappers on the fourth generator: 800 steps each from stage 4's results, the
#    identity term read by a teacher factor estimator (another seed than the evaluation's judge) as the mean |delta|
#    of its identity factors, weight 20 (docs/notes/2026-12-07-teacher-identity.md; about 40 minutes each on one
#    core shared with the other).
TEACHER="$ASSETS/judge_factors_seed101.safetensors"
ID="--set trainer.steps=800 --set trainer.loss_weights.identity=20 --set trainer.losses.identity_distance=l1"
OMP_NUM_THREADS=1 $LE train mapper --method isf --config configs/toyfaces_isf.json --run-dir "$RUNS/isf-identity" \
    --set trainer.init_mapper="$RUNS/isf/mapper_ema.safetensors" $ID \
    --embedder "$TEACHER" $(resume_flag "$RUNS/isf-identity/checkpoint.pt") &
isf=$!
OMP_NUM_THREADS=1 $LE train mapper --method sensorium --config configs/toyfaces_sensorium.json \
    --run-dir "$RUNS/sensorium-identity" --set trainer.init_mapper="$RUNS/sensorium/mapper_ema.safetensors" $ID \
    --embedder "$TEACHER" $(resume_flag "$RUNS/sensorium-identity/checkpoint.pt") &
sens=$!
wait $isf
cp "$RUNS/isf-identity/mapper_ema.safetensors" "$ASSETS/toyfaces_isf.safetensors.tmp"
mv "$ASSETS/toyfaces_isf.safetensors.tmp" "$ASSETS/toyfaces_isf.safetensors"
wait $sens
cp "$RUNS/sensorium-identity/mapper_ema.safetensors" "$ASSETS/toyfaces_sensorium.safetensors.tmp"
mv "$ASSETS/toyfaces_sensorium.safetensors.tmp" "$ASSETS/toyfaces_sensorium.safetensors"
