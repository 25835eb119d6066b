"""Toy-faces data: streaming in-memory batches for training (no disk), and the on-disk dataset format.

Streaming: ``FaceStream(seed)`` yields ``FaceBatch(images, factors)`` forever, rendered on the fly (thousands of
images per second, so data costs nothing). ``PairStream(seed)`` yields the same persons twice, with attributes and
nuisance drawn afresh for the second view: what identity training needs.

On disk (written by ``latentedit toyfaces dataset --n N --out DIR``)::

    DIR/meta.json          {"format": "latentedit-toyfaces-dataset", "version": 1, "n", "seed", "prior",
                            "resolution", "factor_names", "attribute_names", "columns"}
    DIR/labels.csv         header ``file,<FACTOR_NAMES...>,<attr>_label...``; one row per image; factor values
                           with 6 decimals, labels 0/1 (intensity > 0.5)
    DIR/images/000000.png  RGB PNGs, resolution × resolution

Row ``i`` is ``render(sample_factors(n, seed, prior))[i]``; ``read_labels(DIR)`` reads the factors back.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch

from latentedit_toyfaces.factors import (ATTRIBUTE_NAMES, FACTOR_NAMES, NUM_FACTORS, attribute_labels,
                                         resample_attributes, resample_nuisance, sample_factors)
from latentedit_toyfaces.renderer import render

DATASET_FORMAT = "latentedit-toyfaces-dataset"
DATASET_VERSION = 1

#: Seed of the held-out evaluation streams. Training streams use ``recipe.seed`` (small ints), so held-out
#: renders come from a random stream that training never draws from.
HELD_OUT_SEED = 2_000_000_011


@dataclass(frozen=True)
class FaceBatch:
    """``images`` (B, 3, R, R) in [-1, 1]; ``factors`` (B, NUM_FACTORS) in [0, 1]."""

    images: torch.Tensor
    factors: torch.Tensor

    @property
    def labels(self) -> torch.Tensor:
        """(B, n_attr) bool attribute labels."""
        return attribute_labels(self.factors)


@dataclass(frozen=True)
class PairBatch:
    """Two views of the same ``P`` persons: ``images_a``/``images_b`` (P, 3, R, R), ``factors_a``/``factors_b``."""

    images_a: torch.Tensor
    images_b: torch.Tensor
    factors_a: torch.Tensor
    factors_b: torch.Tensor


def _check_positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive int; got {value!r}")


def person_views(f: torch.Tensor, generator: torch.Generator, prior: bool = True) -> torch.Tensor:
    """Another view of the persons ``f`` (B, NUM_FACTORS): same identity, fresh attributes and nuisance."""
    return resample_nuisance(resample_attributes(f, generator, prior=prior), generator)


class FaceStream:
    """An endless stream of random faces: ``next(stream)`` → ``FaceBatch`` of ``batch_size`` renders.

    Deterministic for ``seed``: the k-th batch is always the same.
    """

    def __init__(self, seed: int, batch_size: int = 64, resolution: int = 64, prior: bool = True):
        _check_positive("batch_size", batch_size)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.batch_size, self.resolution, self.prior = batch_size, resolution, prior

    def __iter__(self) -> Iterator[FaceBatch]:
        return self

    def __next__(self) -> FaceBatch:
        f = sample_factors(self.batch_size, self.generator, prior=self.prior)
        return FaceBatch(render(f, self.resolution), f)


class PairStream:
    """An endless stream of ``persons`` new persons per batch, each rendered twice (see ``person_views``)."""

    def __init__(self, seed: int, persons: int = 64, resolution: int = 64, prior: bool = True):
        _check_positive("persons", persons)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.persons, self.resolution, self.prior = persons, resolution, prior

    def __iter__(self) -> Iterator[PairBatch]:
        return self

    def __next__(self) -> PairBatch:
        fa = sample_factors(self.persons, self.generator, prior=self.prior)
        fb = person_views(fa, self.generator, prior=self.prior)
        return PairBatch(render(fa, self.resolution), render(fb, self.resolution), fa, fb)


# ---------------------------------------------------------------------------------------------- on disk


def dataset_meta(n: int, seed: int, prior: bool, resolution: int) -> dict:
    """The ``meta.json`` content of a dataset."""
    return {"format": DATASET_FORMAT, "version": DATASET_VERSION, "n": n, "seed": seed, "prior": prior,
            "resolution": resolution, "factor_names": list(FACTOR_NAMES), "attribute_names": list(ATTRIBUTE_NAMES),
            "columns": label_columns()}


def label_columns() -> list[str]:
    """Header of ``labels.csv``."""
    return ["file", *FACTOR_NAMES, *(f"{a}_label" for a in ATTRIBUTE_NAMES)]


def image_name(i: int) -> str:
    """File name (relative to DIR) of image ``i``."""
    return f"images/{i:06d}.png"


def label_rows(factors: torch.Tensor, start: int) -> list[list]:
    """CSV rows for ``factors`` (B, NUM_FACTORS) numbered from ``start``."""
    labels = attribute_labels(factors).int().tolist()
    return [[image_name(start + i), *(f"{v:.6f}" for v in row), *lab]
            for i, (row, lab) in enumerate(zip(factors.tolist(), labels))]


def dataset_batches(n: int, seed: int, prior: bool = True, resolution: int = 64,
                    chunk: int = 512) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """``(start, images (b, 3, R, R), factors (b, NUM_FACTORS))`` chunks of dataset ``(n, seed, prior)``.

    The factors of the whole dataset are drawn at once, so row ``i`` does not depend on ``chunk``.
    """
    f = sample_factors(n, seed, prior=prior)
    for start in range(0, n, chunk):
        part = f[start:start + chunk]
        yield start, render(part, resolution), part


def read_meta(directory) -> dict:
    """Read and check ``DIR/meta.json``."""
    path = Path(directory) / "meta.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; expected a dataset written by `latentedit toyfaces dataset`")
    meta = json.loads(path.read_text())
    if meta.get("format") != DATASET_FORMAT or int(meta.get("version", 0)) > DATASET_VERSION:
        raise ValueError(f"{path}: expected format {DATASET_FORMAT!r} version <= {DATASET_VERSION}; got "
                         f"{meta.get('format')!r} version {meta.get('version')!r}")
    return meta


def read_labels(directory) -> tuple[list[str], torch.Tensor]:
    """``(files, factors (N, NUM_FACTORS))`` from ``DIR/labels.csv``."""
    read_meta(directory)
    files, rows = [], []
    with open(Path(directory) / "labels.csv", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        if header != label_columns():
            raise ValueError(f"{directory}/labels.csv: unexpected header; expected {label_columns()[:4]}...")
        for row in reader:
            files.append(row[0])
            rows.append([float(v) for v in row[1:1 + NUM_FACTORS]])
    return files, torch.tensor(rows, dtype=torch.float32).reshape(-1, NUM_FACTORS)
