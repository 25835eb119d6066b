"""Faces: MTCNN detection on a real photo (scikit-image's astronaut), 'no face', FFHQ alignment, paste-back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentedit.faces import (AlignTransform, Face, PhotoError, align_face, detect_faces, parse_face_choice,
                              paste_back, select_faces)



skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def astronaut():
    return np.ascontiguousarray(skimage_data.astronaut())


@pytest.fixture(scope="module")
def astronaut_face(astronaut):
    faces = detect_faces(astronaut)
    assert len(faces) == 1
    return faces[0]


def test_detects_the_astronaut_with_plausible_landmarks(astronaut_face):
    f = astronaut_face
    x0, y0, x1, y1 = f.box
    assert f.score > 0.99 and 150 < x0 < x1 < 300 and 30 < y0 < y1 < 200
    lm = f.landmarks
    assert lm.shape == (5, 2)
    assert lm[0, 0] < lm[1, 0] and lm[3, 0] < lm[4, 0]          # left/right as seen in the image
    assert lm[:2, 1].max() < lm[2, 1] < lm[3:, 1].min()         # eyes above nose above mouth
    assert ((lm[:, 0] > x0) & (lm[:, 0] < x1) & (lm[:, 1] > y0) & (lm[:, 1] < y1)).all()


def test_no_face_is_a_one_line_error_naming_the_file():
    flat = np.full((200, 300, 3), 128, np.uint8)
    faces = detect_faces(flat)
    assert faces == []
    with pytest.raises(PhotoError, match=r"^wall\.png: no face found") as exc:
        select_faces(faces, "largest", "wall.png")
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("size", [256, 512])
def test_align_then_paste_back_leaves_the_photo_unchanged(astronaut, astronaut_face, size):
    crop, t = align_face(astronaut, astronaut_face.landmarks, size)
    assert crop.shape == (1, 3, size, size) and crop.min() >= -1 and crop.max() <= 1
    back = paste_back(astronaut, crop, t)
    diff = np.abs(back.astype(int) - astronaut.astype(int)).max(axis=2)
    q = t.quad()
    inside = np.zeros(diff.shape, bool)
    inside[int(q[:, 1].min()):int(q[:, 1].max()) + 1, int(q[:, 0].min()):int(q[:, 0].max()) + 1] = True
    assert diff[~inside].max() == 0                     # outside the crop: untouched, bit for bit
    assert diff[inside].mean() < 0.5 and diff[inside].max() <= 12   # inside: resampling error only (uint8 units)


def test_alignment_follows_a_rotated_photo(astronaut, astronaut_face):
    crop, t = align_face(astronaut, astronaut_face.landmarks, 128)
    from PIL import Image

    rotated = np.asarray(Image.fromarray(astronaut).rotate(25, resample=Image.Resampling.BICUBIC, expand=True))
    faces = detect_faces(rotated)
    assert len(faces) == 1
    crop_r, t_r = align_face(rotated, faces[0].landmarks, 128)
    assert (crop - crop_r).abs().mean() < 0.1            # the same upright face, whatever the photo's rotation
    turn = np.degrees(np.arctan2(t_r.m[1, 0], t_r.m[0, 0]) - np.arctan2(t.m[1, 0], t.m[0, 0]))
    assert abs(abs(turn) - 25) < 4                       # the transform undoes the photo's rotation


def test_paste_back_blends_an_edit_smoothly(astronaut, astronaut_face):
    crop, t = align_face(astronaut, astronaut_face.landmarks, 256)
    edited = crop.clone()
    edited[:, :, 96:160, 96:160] = 1.0                     # a white square in the middle of the face
    out = paste_back(astronaut, edited, t)
    cx, cy = (t.m @ np.array([128, 128, 1.0])).round().astype(int)
    assert (out[cy, cx] > 250).all()                      # the edit shows
    lit = paste_back(astronaut, (crop + 0.3).clamp(-1, 1), t)  # a global lighting change from the "edit"
    seam = t.m @ np.array([2.0, 128, 1.0])                # a point just inside the crop's left border
    sx, sy = seam.round().astype(int)
    assert np.abs(lit[sy, sx].astype(int) - astronaut[sy, sx].astype(int)).max() <= 6  # no visible seam


def test_transform_round_trips_through_json(astronaut, astronaut_face):
    _, t = align_face(astronaut, astronaut_face.landmarks, 64)
    t2 = AlignTransform.from_dict(t.to_dict())
    assert t2 == t
    uv = np.array([10.0, 20.0, 1.0])
    xy = t.m @ uv
    assert np.allclose(t.inverse() @ np.append(xy, 1.0), uv[:2])


def test_face_choice():
    def face(x, size):
        return Face((x, 0.0, x + size, size), 0.99, np.zeros((5, 2)))

    faces = [face(0, 10), face(50, 30), face(100, 20)]
    assert parse_face_choice("ALL") == "all" and parse_face_choice("2") == 2
    assert select_faces(faces, "largest", "p.jpg") == [faces[1]]
    assert select_faces(faces, 3, "p.jpg") == [faces[2]] and len(select_faces(faces, "all", "p.jpg")) == 3
    with pytest.raises(PhotoError, match="--face 4 asked for face 4 but only 3 found"):
        select_faces(faces, 4, "p.jpg")
    with pytest.raises(ValueError, match="'all', 'largest' or a face number"):
        parse_face_choice("0")


def test_paste_back_checks_its_inputs(astronaut, astronaut_face):
    crop, t = align_face(astronaut, astronaut_face.landmarks, 64)
    with pytest.raises(ValueError, match="made for a 512x512 photo; this one is 10x10"):
        paste_back(np.zeros((10, 10, 3), np.uint8), crop, t)
    with pytest.raises(ValueError, match="crop must be \\(1, 3, S, S\\)"):
        paste_back(astronaut, torch.zeros(3, 64, 64), t)


def test_align_face_detects_when_no_landmarks_are_given(astronaut, astronaut_face):
    from PIL import Image

    crop, t = align_face(Image.fromarray(astronaut), size=64)
    ref, t_ref = align_face(astronaut, astronaut_face.landmarks, 64)
    assert np.allclose(t.m, t_ref.m, atol=1e-3) and torch.allclose(crop, ref, atol=1e-3)
    with pytest.raises(PhotoError, match="no face found"):
        align_face(np.full((64, 64, 3), 200, np.uint8), size=32)
