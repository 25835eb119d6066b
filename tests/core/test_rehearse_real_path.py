"""A small rehearsal of the real-face path, all through the CLI: toy renders written as a CelebA-format folder,
`train classifier` on it, `train mapper` with that classifier file, `edit` a photo with paste-back, `evaluate`
without ground truth. Only the generator and encoder files come from the toy domain."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from PIL import Image

from latentedit.cli.main import cli
from latentedit.evaluation import COLUMNS


def _run(args):
    res = CliRunner().invoke(cli, [str(a) for a in args])
    assert res.exit_code == 0, f"latentedit {' '.join(map(str, args))}\n{res.output}"
    return res


@pytest.fixture(scope="module")
def toy_files():
    from latentedit.domains import load_domain

    d = load_domain("toyfaces")
    return d.generator.path, d.encoder.path


def test_the_real_path_on_toy_photos(tmp_path, toy_files):
    gen, enc = toy_files
    celeba = tmp_path / "celeba"
    _run(["toyfaces", "export-celeba", "--n", 200, "--out", celeba, "--resolution", 64, "--crops"])
    photos = sorted((celeba / "photos").glob("*.jpg"))
    assert len(photos) == 200 and (celeba / "list_attr_celeba.txt").read_text().splitlines()[0].strip() == "200"

    clf = tmp_path / "clf.safetensors"
    _run(["train", "classifier", "--labels", celeba / "list_attr_celeba.txt", "--photos", celeba / "photos",
          "--no-align", "--input-size", 32, "--steps", 3, "--batch-size", 8, "--run-dir", tmp_path / "clf_run",
          "--out", clf])
    from latentedit.classifiers import load_classifier
    from latentedit_toyfaces.factors import ATTRIBUTE_NAMES

    model = load_classifier(clf)
    assert tuple(model.output_names) == tuple(ATTRIBUTE_NAMES) and model.meta.input_size == 32
    report = json.loads((tmp_path / "clf_run" / "report.json").read_text())
    assert set(report["attributes"]) == set(ATTRIBUTE_NAMES)

    run = tmp_path / "isf_run"
    _run(["train", "mapper", "isf", "--generator", gen, "--classifier", clf, "--out", run,
          "--set", "trainer.steps=2", "--set", "trainer.batch=2", "--set", "trainer.loss_weights.lpips=0",
          "--set", "trainer.loss_weights.lpips_cycle=0", "--device", "cpu"])
    mapper = run / "mapper_ema.safetensors"
    assert mapper.is_file()

    shot = tmp_path / "shot"  # a face on a background, as a photo: detected, aligned, edited, pasted back
    _run(["toyfaces", "export-celeba", "--n", 1, "--seed", 5, "--out", shot, "--resolution", 128])
    photo = shot / "photos" / "000000.jpg"
    size = Image.open(photo).size
    out = tmp_path / "edit"
    _run(["edit", photo, "--attr", "smile=1", "--mapper", mapper, "--generator", gen, "--encoder", enc,
          "--samples", 1, "--out", out])
    pasted = [p for p in out.rglob("*.png") if Image.open(p).size == size]
    assert pasted, f"no pasted-back photo of the input size in {sorted(out.rglob('*'))}"

    ev = tmp_path / "eval"
    _run(["evaluate", "--generator", gen, "--classifier", clf, "--method", f"isf={mapper}", "--n", 6,
          "--inputs", photo, "--encoder", enc, "--samples", 2, "--diversity-sources", 2,
          "--out", ev, "--json", tmp_path / "eval.json", "--device", "cpu"])
    data = json.loads((ev / "evaluation.json").read_text())
    assert data == json.loads((tmp_path / "eval.json").read_text())
    assert {r["attribute"] for r in data["rows"]} == set(ATTRIBUTE_NAMES)
    for row in data["rows"]:
        assert set(COLUMNS) <= set(row) and row["n"] == 7  # 6 samples + the photo
        assert 0.0 <= row["success"] <= 1.0 and 0.0 <= row["others_kept"] <= 1.0
        assert -1.0 <= row["identity_cos"] <= 1.0 and row["fd_edited"] >= 0 and row["diversity"] >= 0
    assert data["feature_kind"] == "penultimate"
    assert "| **isf** | **mean** |" in (ev / "evaluation.md").read_text()
