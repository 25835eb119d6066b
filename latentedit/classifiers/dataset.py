"""A labelled photo folder as training tensors: labels read, missing photos and photos without a face skipped and
counted (one line per reason), images aligned (cached) or resized."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from latentedit.classifiers.labels import LabelFileError, read_label_file
from latentedit.classifiers.photos import prepare_photos


@dataclass
class LabelledPhotos:
    """``images`` (N, 3, S, S) uint8, ``labels`` (N, A) 0/1, ``attributes`` (A,), ``notes``: the skip lines."""

    images: torch.Tensor
    labels: torch.Tensor
    attributes: tuple[str, ...]
    notes: list[str] = field(default_factory=list)


def load_labelled_photos(label_file, photos_dir, *, attributes=None, size: int = 128, align: bool = True,
                         cache_dir=None, progress: bool = False) -> LabelledPhotos:
    """Read ``label_file`` (CelebA / CelebA-HQ / CSV), keep ``attributes``, load the photos under ``photos_dir``."""
    photos_dir = Path(photos_dir)
    if not photos_dir.is_dir():
        raise LabelFileError(f"--photos {photos_dir}: no such folder")
    labelled = read_label_file(label_file, attributes)
    total = len(labelled)
    labelled, missing = labelled.keep_existing(photos_dir)
    notes = [f"skipped {len(missing)} of {total} labelled photos not found in {photos_dir} (first: {missing[0]})"] \
        if missing else []
    prepared = prepare_photos(labelled.files, photos_dir, size, align=align, cache_dir=cache_dir, progress=progress)
    notes += prepared.skip_lines(total)
    if not prepared.kept:
        raise LabelFileError(f"{label_file}: none of its {total} photos is usable under {photos_dir}; "
                             + "; ".join(notes))
    return LabelledPhotos(prepared.images, labelled.labels[prepared.kept], labelled.attributes, notes)
