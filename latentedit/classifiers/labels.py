"""Labelled photo sets: CelebA ``list_attr_celeba.txt``, CelebA-HQ ``CelebAMask-HQ-attribute-anno.txt`` and a plain
CSV ``file,attr1,attr2,...``.

CelebA and CelebA-HQ share one layout: a count line, a header line of attribute names, then one line per photo,
``file  v1 v2 ...`` separated by any whitespace, with values -1/1 (or 0/1). The CSV has a header ``file,<names>`` and
0/1 values. A value > 0 is a positive label.

    labels = read_label_file("list_attr_celeba.txt", attributes=["Smiling", "Eyeglasses"])
    labels, missing = labels.keep_existing("img_align_celeba/")     # photos not on disk: a counted skip
"""

from __future__ import annotations

import csv
import difflib
from dataclasses import dataclass
from pathlib import Path

import torch


class LabelFileError(ValueError):
    """A label file is unreadable, malformed, or lacks an asked attribute (one line, names the file)."""


@dataclass(frozen=True)
class LabelledSet:
    """``files`` (N,) photo names relative to the photo folder; ``labels`` (N, A) float 0/1, columns in
    ``attributes`` order."""

    files: tuple[str, ...]
    labels: torch.Tensor
    attributes: tuple[str, ...]
    source: str

    def __len__(self) -> int:
        return len(self.files)

    def subset(self, index) -> "LabelledSet":
        index = list(index)
        return LabelledSet(tuple(self.files[i] for i in index), self.labels[index], self.attributes, self.source)

    def keep_existing(self, photos_dir) -> tuple["LabelledSet", list[str]]:
        """(the rows whose photo exists under ``photos_dir``, the names of the missing ones)."""
        root = Path(photos_dir)
        present = [i for i, f in enumerate(self.files) if (root / f).is_file()]
        missing = [self.files[i] for i in sorted(set(range(len(self.files))) - set(present))]
        return self.subset(present), missing


def choose_attributes(available: list[str], wanted, source: str) -> list[int]:
    """Column indices of ``wanted`` names (matched exactly, else ignoring case) among ``available``."""
    lower = {a.lower(): i for i, a in enumerate(available)}
    out = []
    for name in wanted:
        if name in available:
            out.append(available.index(name))
        elif name.lower() in lower:
            out.append(lower[name.lower()])
        else:
            close = difflib.get_close_matches(name, available, n=3, cutoff=0.5)
            hint = f" (close: {', '.join(close)})" if close else ""
            raise LabelFileError(f"{source}: no attribute {name!r}{hint}; the file has {', '.join(available)}")
    if len(set(out)) != len(out):
        raise LabelFileError(f"{source}: an attribute is asked twice in {list(wanted)}")
    return out


def _value(text: str, source: str, line: int) -> float:
    try:
        v = float(text)
    except ValueError:
        raise LabelFileError(f"{source}:{line}: label {text!r} is not a number (expected -1/1 or 0/1)") from None
    if v not in (-1.0, 0.0, 1.0):
        raise LabelFileError(f"{source}:{line}: label {text!r} is not -1, 0 or 1")
    return 1.0 if v > 0 else 0.0


def _read_celeba(path: Path) -> tuple[list[str], list[str], list[list[str]]]:
    lines = [ln for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    if len(lines) < 2:
        raise LabelFileError(f"{path}: expected a count line, a header line of attribute names, then one line per "
                             "photo (CelebA layout); the file is too short")
    try:
        declared = int(lines[0].split()[0])
    except ValueError:
        raise LabelFileError(f"{path}: the first line should be the number of photos (CelebA layout); got "
                             f"{lines[0][:40]!r}. A CSV needs the .csv suffix") from None
    names = lines[1].split()
    rows = [ln.split() for ln in lines[2:]]
    if len(rows) != declared:
        raise LabelFileError(f"{path}: the count line says {declared} photos but {len(rows)} lines follow")
    return names, [r[0] for r in rows], [r[1:] for r in rows]


def _read_csv(path: Path) -> tuple[list[str], list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header or len(header) < 2:
            raise LabelFileError(f"{path}: expected a header 'file,attr1,attr2,...'; got {header!r}")
        rows = [r for r in reader if r]
    return [h.strip() for h in header[1:]], [r[0].strip() for r in rows], [[v.strip() for v in r[1:]] for r in rows]


def read_label_file(path, attributes=None) -> LabelledSet:
    """Read a CelebA / CelebA-HQ attribute file or a CSV; ``attributes``: names to keep (all when None)."""
    path = Path(path)
    if not path.is_file():
        raise LabelFileError(f"{path}: no such label file")
    names, files, values = (_read_csv if path.suffix.lower() == ".csv" else _read_celeba)(path)
    cols = choose_attributes(names, list(attributes) if attributes else names, str(path))
    labels = []
    for k, (f, row) in enumerate(zip(files, values)):
        if len(row) != len(names):
            raise LabelFileError(f"{path}: the line of {f!r} has {len(row)} labels; the header names {len(names)}")
        labels.append([_value(row[c], str(path), k + 3) for c in cols])
    if not files:
        raise LabelFileError(f"{path}: no photos listed")
    if len(set(files)) != len(files):
        raise LabelFileError(f"{path}: some photos are listed twice")
    return LabelledSet(tuple(files), torch.tensor(labels, dtype=torch.float32).reshape(len(files), len(cols)),
                       tuple(names[c] for c in cols), str(path))


def write_celeba_labels(path, files, labels: torch.Tensor, attributes) -> Path:
    """Write a CelebA-layout attribute file (values -1/1): ``labels`` (N, A) of 0/1 or bool."""
    from latentedit.io.modelfile import atomic_write

    lines = [str(len(files)), " ".join(attributes)]
    lines += [f"{f} " + " ".join(" 1" if v else "-1" for v in row) for f, row in zip(files, labels.bool().tolist())]
    return atomic_write(path, lambda tmp: Path(tmp).write_text("\n".join(lines) + "\n", encoding="utf-8"))
