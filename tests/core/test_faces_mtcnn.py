"""MTCNN without facenet-pytorch's import: the same boxes and landmarks, no torchvision, the smallest face looked for."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from latentedit.faces import align_face, detect_faces
from latentedit.faces.detect import default_min_face_size
from latentedit.faces.mtcnn import detect_mtcnn, nms

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def astronaut():
    return np.ascontiguousarray(skimage_data.astronaut())


def _rotated(photo, degrees):
    return np.asarray(Image.fromarray(photo).rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True))


@pytest.mark.parametrize("degrees", [0, 25])
def test_same_boxes_and_landmarks_as_facenet_pytorch(astronaut, degrees):
    import facenet_pytorch as facenet  # a dependency (its weights are the ones read): never skipped
    photo = _rotated(astronaut, degrees)
    ref = facenet.MTCNN(keep_all=True, min_face_size=20, post_process=False, device="cpu")
    ref_boxes, ref_probs, ref_points = ref.detect(Image.fromarray(photo), landmarks=True)
    boxes, points = detect_mtcnn(photo, min_face_size=20)
    assert len(boxes) == len(ref_boxes) >= 1
    order = np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))  # facenet: largest first
    assert np.abs(boxes[order, :4] - ref_boxes).max() < 1e-3
    assert np.abs(boxes[order, 4] - ref_probs.astype(np.float64)).max() < 1e-5
    assert np.abs(points[order] - ref_points).max() < 1e-3


def _two_faces(astronaut):
    """A 1024 x 768 canvas with two faces: the astronaut at 420 px (left) and mirrored, turned 15 degrees, 250 px."""
    canvas = np.full((768, 1024, 3), 90, np.uint8)
    canvas[40:460, 20:440] = np.asarray(Image.fromarray(astronaut).resize((420, 420), Image.Resampling.BICUBIC))
    turned = Image.fromarray(astronaut[:, ::-1].copy()).rotate(-15, resample=Image.Resampling.BICUBIC)
    canvas[400:650, 650:900] = np.asarray(turned.resize((250, 250), Image.Resampling.BICUBIC))
    return canvas


def test_two_faces_at_1024_px_as_facenet_pytorch_finds_them_and_as_detect_faces_reports_them(astronaut):
    import facenet_pytorch as facenet  # a dependency (its weights are the ones read): never skipped
    canvas = _two_faces(astronaut)
    size = default_min_face_size(canvas.shape)                      # 40 px: what detect_faces uses here
    ref = facenet.MTCNN(keep_all=True, min_face_size=size, post_process=False, device="cpu")
    ref_boxes, ref_probs, ref_points = ref.detect(Image.fromarray(canvas), landmarks=True)
    assert size == 40 and len(ref_boxes) == 2
    faces = detect_faces(canvas)                                    # left to right; facenet: largest first
    assert len(faces) == 2 and faces[0].area > faces[1].area
    for face, box, prob, points in zip(faces, ref_boxes, ref_probs, ref_points, strict=True):
        assert np.abs(np.asarray(face.box) - box).max() < 1e-3
        assert abs(face.score - float(prob)) < 1e-5
        assert np.abs(face.landmarks - points).max() < 1e-3
    blank = np.full((256, 256, 3), 90, np.uint8)                    # no face: none from either
    assert ref.detect(Image.fromarray(blank))[0] is None and len(detect_mtcnn(blank)[0]) == 0


def test_bad_arguments_say_what_was_expected(astronaut):
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8 RGB array; got \(512, 512, 3\) float64"):
        detect_mtcnn(astronaut / 255.0)
    with pytest.raises(ValueError, match="min_face_size must be a positive number of pixels; got 0"):
        detect_mtcnn(astronaut, min_face_size=0)
    with pytest.raises(ValueError, match="between 0 and 1 .*got 1.0"):      # would never end the pyramid
        detect_mtcnn(astronaut, factor=1.0)


def test_detection_does_not_import_torchvision():
    code = ("import sys, numpy as np; from latentedit.faces import detect_faces; "
            "detect_faces(np.full((64, 64, 3), 128, np.uint8)); "
            "print('torchvision' in sys.modules, 'torch._dynamo' in sys.modules, 'facenet_pytorch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.stdout.split() == ["False", "False", "False"]


def test_nms_keeps_the_best_of_overlapping_boxes():
    import torch

    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 4, 4]])
    scores = torch.tensor([0.8, 0.9, 0.7, 0.95])
    assert nms(boxes, scores, 0.5).tolist() == [3, 1, 2]            # IoU(0, 1) = 0.68; box 3 is inside 0 (0.16)
    assert nms(boxes, scores, 0.5, over_min=True).tolist() == [3, 2]               # over the smaller box: 9/16 for 3 and 1
    assert nms(boxes, scores, 0.9, over_min=True, plus_one=True).tolist() == [3, 1, 2]  # 16/25 with +1 sides
    assert nms(boxes[:0], scores[:0], 0.5).tolist() == []


def test_default_smallest_face_scales_with_the_photo(astronaut):
    assert default_min_face_size((512, 300, 3)) == 20 and default_min_face_size((1024, 768, 3)) == 40
    assert default_min_face_size((200, 100, 3)) == 20
    big = np.asarray(Image.fromarray(astronaut).resize((1024, 1024), Image.Resampling.BICUBIC))
    faces, full = detect_faces(big), detect_faces(big, min_face_size=20)   # 40 px vs 20 px pyramids
    assert len(faces) == len(full) == 1
    assert np.abs(faces[0].landmarks - full[0].landmarks).max() < 3     # MTCNN's own jitter: 2-3 px at 1024
    crop, _ = align_face(big, faces[0].landmarks, 128)
    crop_full, _ = align_face(big, full[0].landmarks, 128)
    assert (crop - crop_full).abs().mean() < 0.1


def test_a_photo_whose_only_face_is_small_is_searched_again(astronaut):
    canvas = np.full((1024, 1024, 3), 120, np.uint8)
    canvas[300:420, 600:720] = np.asarray(Image.fromarray(astronaut).resize((120, 120), Image.Resampling.BICUBIC))
    assert detect_faces(canvas, min_face_size=40) == []
    faces = detect_faces(canvas)                                           # 40 px finds none, 20 px finds it
    assert len(faces) == 1
    x0, y0, x1, y1 = faces[0].box
    assert 600 < x0 < x1 < 720 and 300 < y0 < y1 < 420 and x1 - x0 < 40
