"""Attribute classifiers from labelled photos: label readers, skips, metrics, training, file format, resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from latentedit.classifiers import (AttributeClassifier, ClassifierError, ClassifierTrainConfig, LabelFileError,
                                    build_backbone,
                                    balanced_accuracy, load_classifier, load_labelled_photos, read_label_file,
                                    roc_auc, train_classifier)



@pytest.fixture(scope="module")
def toy_celeba(tmp_path_factory):
    """300 toy renders (64 px face crops, JPEG) in CelebA layout."""
    folder = tmp_path_factory.mktemp("celeba")
    from latentedit_toyfaces.celeba_export import write_toy_celeba

    labels = write_toy_celeba(folder, 300, seed=3, resolution=64, crops=True)
    return labels, folder / "photos"


def test_celeba_file_reads_chosen_attributes_in_asked_order(toy_celeba):
    labels, photos = toy_celeba
    s = read_label_file(labels, ["Beard", "smile"])          # case-insensitive match, asked order
    assert s.attributes == ("beard", "smile") and len(s) == 300 and s.labels.shape == (300, 2)
    lines = labels.read_text().splitlines()
    first = lines[2].split()
    assert s.files[0] == first[0]
    header = lines[1].split()
    assert s.labels[0].tolist() == [float(first[1 + header.index(a)] == "1") for a in ("beard", "smile")]


def test_celebahq_zero_one_and_csv_layouts(tmp_path):
    hq = tmp_path / "CelebAMask-HQ-attribute-anno.txt"
    hq.write_text("2\nSmiling Eyeglasses\n0.jpg 1 0\n1.jpg 0 1\n")
    s = read_label_file(hq)
    assert s.attributes == ("Smiling", "Eyeglasses") and s.labels.tolist() == [[1, 0], [0, 1]]
    csv = tmp_path / "labels.csv"
    csv.write_text("file,smile,beard\na.png,1,0\nb.png,0,0\n")
    s = read_label_file(csv, ["beard"])
    assert s.files == ("a.png", "b.png") and s.labels.tolist() == [[0], [0]]


@pytest.mark.parametrize("text,match", [
    ("2\nSmiling\n0.jpg 1\n", r"count line says 2 photos but 1 lines follow"),
    ("1\nSmiling\n0.jpg 7\n", r"label '7' is not -1, 0 or 1"),
    ("x\nSmiling\n0.jpg 1\n", r"first line should be the number of photos"),
])
def test_malformed_label_files_are_one_line_errors(tmp_path, text, match):
    p = tmp_path / "attr.txt"
    p.write_text(text)
    with pytest.raises(LabelFileError, match=match) as exc:
        read_label_file(p)
    assert "\n" not in str(exc.value)


def test_an_unknown_attribute_names_what_the_file_has(toy_celeba):
    with pytest.raises(LabelFileError, match=r"no attribute 'Eyeglass' \(close: eyeglasses\); the file has smile, "
                                             r"eyeglasses, age, hair_color, beard$"):
        read_label_file(toy_celeba[0], ["Eyeglass"])


def test_missing_photos_are_a_counted_skip(tmp_path, toy_celeba):
    labels, photos = toy_celeba
    few = tmp_path / "attr.txt"
    lines = labels.read_text().splitlines()
    few.write_text("\n".join(["5", lines[1], *lines[2:5], "gone1.jpg" + lines[5][10:], "gone2.jpg" + lines[6][10:]]))
    out = load_labelled_photos(few, photos, size=16, align=False)
    assert out.images.shape == (3, 3, 16, 16) and out.images.dtype == torch.uint8
    assert out.notes == [f"skipped 2 of 5 labelled photos not found in {photos} (first: gone1.jpg)"]


def test_photos_without_a_face_are_a_counted_skip_and_cached(tmp_path):
    photos = tmp_path / "p"
    photos.mkdir()
    for i in range(2):
        Image.fromarray(np.full((120, 100, 3), 60 + 90 * i, np.uint8)).save(photos / f"{i}.png")
    (tmp_path / "l.csv").write_text("file,smile\n0.png,1\n1.png,0\n")
    with pytest.raises(LabelFileError, match=r"none of its 2 photos is usable .*skipped 2 of 2 photos: no face found"):
        load_labelled_photos(tmp_path / "l.csv", photos, size=32, align=True, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.noface"))) == 2


def test_balanced_accuracy_and_auc_match_a_hand_computation():
    labels = torch.tensor([[1, 0], [1, 0], [1, 1], [0, 1], [0, 0], [0, 0]], dtype=torch.float32)
    logits = torch.tensor([[2.0, -1], [-1, -2], [3, 1], [-2, -3], [0.5, -1], [-1, -1]])
    # attribute 0: TPR 2/3, TNR 2/3 -> 2/3; attribute 1: TPR 1/2, TNR 4/4 -> 3/4
    assert balanced_accuracy(logits, labels) == pytest.approx([2 / 3, 3 / 4])
    # attribute 0 AUC: positive scores {2, -1, 3} vs negative {-2, .5, -1}: 7.5 wins of 9 pairs (a tie counts 1/2)
    assert roc_auc(logits, labels)[0] == pytest.approx(7.5 / 9)


def _cfg(**kw):
    base = dict(attributes=("smile", "eyeglasses", "age", "hair_color", "beard"), input_size=16, steps=2,
                batch_size=8, warmup_steps=1, checkpoint_every=1, seed=1)
    return ClassifierTrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def toy_tensors(toy_celeba):
    return load_labelled_photos(toy_celeba[0], toy_celeba[1], size=16, align=False)


def test_trained_file_round_trips_with_its_metadata(tmp_path, toy_tensors):
    out = tmp_path / "clf.safetensors"
    report = train_classifier(toy_tensors.images, toy_tensors.labels, _cfg(), tmp_path / "run", out, progress=False)
    assert report["n_held_out"] == 60 and report["n_train"] == 240
    assert set(report["attributes"]) == set(_cfg().attributes)
    clf = load_classifier(out)
    assert clf.output_names == _cfg().attributes and clf.meta.input_size == 16 and clf.meta.backbone == "resnet18"
    x = torch.rand(3, 3, 40, 40) * 2 - 1                     # any size: resized to the file's input size
    again = load_classifier(out)
    assert clf(x).shape == (3, 5) and torch.equal(clf(x), again(x))
    sub = load_classifier(out, attributes=["beard", "smile"])
    assert sub.output_names == ("beard", "smile") and torch.equal(sub(x), clf(x)[:, [4, 0]])
    with pytest.raises(ClassifierError, match=r"^the classifier has no attribute 'bald'; it reads smile, eyeglasses"):
        load_classifier(out, attributes=["smile", "bald"])


def test_resume_continues_exactly_where_an_unbroken_run_goes(tmp_path, toy_tensors):
    imgs, labels = toy_tensors.images, toy_tensors.labels
    train_classifier(imgs, labels, _cfg(steps=4), tmp_path / "a", tmp_path / "a.safetensors", progress=False)
    train_classifier(imgs, labels, _cfg(steps=2), tmp_path / "b", None, progress=False)
    with pytest.raises(ClassifierError, match="already holds a run"):
        train_classifier(imgs, labels, _cfg(steps=4), tmp_path / "b", None, progress=False)
    r = train_classifier(imgs, labels, _cfg(steps=4), tmp_path / "b", tmp_path / "b.safetensors", resume=True,
                         progress=False)
    assert r["steps"] == 4
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    unbroken, resumed = load_classifier(tmp_path / "a.safetensors"), load_classifier(tmp_path / "b.safetensors")
    assert torch.allclose(unbroken(x), resumed(x), atol=1e-5)


def test_a_users_own_module_plugs_in():
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
    clf = AttributeClassifier(module, ["smile", "glasses"], input_size=8, mean=(0.5,) * 3, std=(0.5,) * 3)
    x = torch.rand(4, 3, 8, 8) * 2 - 1
    assert torch.allclose(clf(x), module(x), atol=1e-6)      # mean/std 0.5 on [0, 1] pixels is the identity on [-1, 1]
    with pytest.raises(ClassifierError, match=r"expected images of shape \(B, 3, H, W\)"):
        clf(torch.zeros(3, 8, 8))


def test_a_toy_judge_file_still_loads_through_the_fallback():
    from latentedit_toyfaces.judges import default_path, load_judge

    clf = load_classifier(default_path("attributes"), fallback=lambda p: load_judge("attributes", p))
    assert clf.output_names == ("smile", "eyeglasses", "age", "hair_color", "beard")
    with pytest.raises(ClassifierError, match=r"expected an 'attribute-classifier' file; this one holds a "
                                              r"'toyfaces-judge-attributes'"):
        load_classifier(default_path("attributes"))


def test_train_classifier_command(tmp_path, toy_celeba):
    from click.testing import CliRunner

    from latentedit.cli.main import cli

    labels, photos = toy_celeba
    args = ["train", "classifier", "--labels", str(labels), "--photos", str(photos), "--attributes", "smile,beard",
            "--no-align", "--input-size", "16", "--steps", "1", "--batch-size", "4", "--run-dir", str(tmp_path / "r"),
            "--out", str(tmp_path / "c.safetensors")]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "smile: balanced accuracy" in res.output and "beard: balanced accuracy" in res.output
    assert load_classifier(tmp_path / "c.safetensors").output_names == ("smile", "beard")
    res = CliRunner().invoke(cli, [*args[:7], "smile,bald", *args[8:]])
    assert res.exit_code == 1 and "no attribute 'bald'" in res.output and "Traceback" not in res.output


def test_backbone_weights_load_except_the_head_and_foreign_files_are_refused(tmp_path):
    from latentedit.classifiers.model import load_backbone_weights

    torch.manual_seed(1)
    imagenet = build_backbone("resnet18", 1000)
    torch.save(imagenet.state_dict(), tmp_path / "resnet18.pth")
    torch.manual_seed(2)
    net = build_backbone("resnet18", 5)
    head = net.fc.weight.clone()
    left = load_backbone_weights(net, tmp_path / "resnet18.pth")
    assert left == ["fc.bias", "fc.weight"]
    assert torch.equal(net.conv1.weight, imagenet.conv1.weight) and torch.equal(net.fc.weight, head)
    torch.save({"a": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(ClassifierError, match=r"only 0 of \d+ tensors fit this backbone"):
        load_backbone_weights(net, tmp_path / "other.pth")
    (tmp_path / "junk.pth").write_text("junk")
    with pytest.raises(ClassifierError, match=r"not a readable torch state dict"):
        load_backbone_weights(net, tmp_path / "junk.pth")


def test_aligned_crops_are_cached_by_content(tmp_path):
    """The astronaut (a real photo) is detected and aligned once; the second read comes from the cache."""
    skimage_data = pytest.importorskip("skimage.data")
    photos = tmp_path / "p"
    photos.mkdir()
    Image.fromarray(skimage_data.astronaut()).save(photos / "a.png")
    (tmp_path / "l.csv").write_text("file,smile\na.png,1\n")
    first = load_labelled_photos(tmp_path / "l.csv", photos, size=32, align=True, cache_dir=tmp_path / "cache")
    cached = list((tmp_path / "cache").glob("*.png"))
    assert first.images.shape == (1, 3, 32, 32) and first.notes == [] and len(cached) == 1
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(cached[0])     # a marked entry proves the cache is read
    again = load_labelled_photos(tmp_path / "l.csv", photos, size=32, align=True, cache_dir=tmp_path / "cache")
    assert again.images.sum() == 0
