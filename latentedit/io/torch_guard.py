"""Checks a ``torch.save`` file (zip or legacy) *before* ``torch.load`` reads it: bounded sizes and work.

``torch.load(weights_only=True)`` refuses code, but trusts sizes: a compressed zip member inflates to whatever its
header says, a legacy file's storage allocates the element count its pickle declares, and its unpickler hashes
dict keys however costly. Here:

- zip archives: at most :data:`MAX_MEMBERS` members; each member stored (torch never compresses) or, if
  compressed, at most :data:`MAX_INFLATION` times its packed size; declared sizes within :data:`MAX_TOTAL_BYTES`;
- the pickle (``*/data.pkl``, or the leading pickles of a legacy file) passes
  :func:`latentedit.io.hardened_pickle.scan_pickle` (caps on work, memo, containers, depth, tuple keys);
- every storage it names fits the bytes the file holds for it.

Each problem is a :class:`GuardRefused` with a one-line reason (callers prefix the file).
"""

from __future__ import annotations

import io
import warnings
import zipfile
from typing import Any, BinaryIO

from latentedit.io.hardened_pickle import CappedUnpickler, Opaque, PickleLimits, PickleRefused

MAX_MEMBERS = 100_000
MAX_INFLATION = 20
MAX_TOTAL_BYTES = 64 << 30
LEGACY_PICKLES = 5  # magic number, protocol, sys info, the object, the storage keys


class GuardRefused(ValueError):
    """A torch file failed a check before loading (message: one line, no file name)."""


class ScanUnpickler(CappedUnpickler):
    """Checks a pickle against the limits without resolving any global: names become placeholders.

    ``persistent_ids`` collects what the pickle's persistent ids were (torch storages), for the caller to check.
    """

    def __init__(self, file: BinaryIO, **kw):
        super().__init__(file, **kw)
        self.persistent_ids: list[Any] = []
        self.globals: list[str] = []

    def find_class(self, module: str, name: str):
        self.globals.append(f"{module}.{name}")
        return Opaque(f"{module}.{name}")

    def persistent_load(self, pid):
        if len(self.persistent_ids) >= self.limits.max_memo:
            self.refuse("too many persistent ids")
        self.persistent_ids.append(pid)
        return Opaque("persistent")


def scan_pickle(file: BinaryIO, *, size: int | None = None, limits: PickleLimits = PickleLimits()) -> ScanUnpickler:
    """Run one pickle from ``file`` through the checks (no global resolved, nothing called); returns the scanner
    (``.persistent_ids``, ``.globals``). Raises PickleRefused, UnpicklingError or EOFError."""
    scanner = ScanUnpickler(file, size=size, limits=limits)
    scanner.load()
    return scanner


def _element_size(storage_type: Any) -> int:
    """Bytes per element of a storage class named by a pickle (1 when it cannot be told: a lower bound)."""
    name = getattr(storage_type, "name", "")
    import torch

    cls = getattr(torch, name.rsplit(".", 1)[-1], None) if name.startswith("torch.") else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TypedStorage classes warn that they are deprecated
            return max(1, int(torch.empty((), dtype=cls.dtype).element_size())) if cls is not None else 1
    except (AttributeError, TypeError, RuntimeError):
        return 1


def _check_storages(pids: list, sizes: dict[str, int] | None, total: int) -> None:
    for pid in pids:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise GuardRefused(f"a persistent id that is not a tensor storage: {type(pid).__name__}")
        key, numel = str(pid[2]), pid[4]
        if type(numel) is not int or numel < 0:
            raise GuardRefused(f"storage '{key[:40]}' declares {numel!r:.40} elements")
        nbytes = numel * _element_size(pid[1])
        room = total if sizes is None else sizes.get(key)
        if room is not None and nbytes > room:
            raise GuardRefused(f"storage '{key[:40]}' declares {nbytes:,} bytes but the file holds {room:,} for it")


def check_zip(path_or_file) -> None:
    """Member count, compression, sizes and the scanned ``data.pkl`` of a torch zip archive."""
    try:
        with zipfile.ZipFile(path_or_file) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                raise GuardRefused(f"a zip of {len(infos):,} members (a torch file has one per tensor storage; at most "
                                   f"{MAX_MEMBERS:,})")
            total = 0
            for info in infos:
                total += info.file_size
                if info.compress_type != zipfile.ZIP_STORED and \
                        info.file_size > MAX_INFLATION * max(info.compress_size, 1):
                    raise GuardRefused(f"zip member '{info.filename[:60]}' inflates {info.compress_size:,} bytes to "
                                       f"{info.file_size:,} (more than {MAX_INFLATION}x; torch never compresses)")
            if total > MAX_TOTAL_BYTES:
                raise GuardRefused(f"the zip declares {total:,} bytes of members (at most {MAX_TOTAL_BYTES:,})")
            pkls = [i for i in infos if i.filename.endswith("data.pkl")]
            if len(pkls) != 1:
                raise GuardRefused(f"a torch zip holds one data.pkl; this one holds {len(pkls)}")
            prefix = pkls[0].filename[: -len("data.pkl")]
            sizes = {i.filename[len(prefix) + len("data/"):]: i.file_size for i in infos
                     if i.filename.startswith(prefix + "data/")}
            data = zf.read(pkls[0])
    except zipfile.BadZipFile as exc:
        raise GuardRefused(f"truncated or damaged torch file (zip: {exc})") from None
    except GuardRefused:
        raise
    except Exception as exc:  # noqa: BLE001 - zlib, unsupported methods, undecodable names, bad headers
        raise GuardRefused(f"truncated or damaged torch file (zip: {type(exc).__name__}: "
                           f"{' '.join(str(exc).split())[:160]})") from None
    _check_storages(_scan(io.BytesIO(data), len(data)).persistent_ids, sizes, 0)


def _scan(f, size: int):
    try:
        return scan_pickle(f, size=size)
    except PickleRefused as exc:
        raise GuardRefused(f"refused pickle: {exc}") from None
    except EOFError:
        raise GuardRefused("truncated or damaged torch file (the pickle ends early)") from None
    except Exception as exc:  # noqa: BLE001 - nothing ran (names are never resolved): any failure is a refusal
        raise GuardRefused(f"not a readable torch file ({type(exc).__name__}: "
                           f"{' '.join(str(exc).split())[:160]})") from None


def check_legacy(f, size: int) -> None:
    """The leading pickles of a legacy (non-zip) torch file; storages must fit in the file's size."""
    pids: list = []
    for _ in range(LEGACY_PICKLES):
        pids += _scan(f, size).persistent_ids
    _check_storages(pids, None, size)


def check_torch_bytes(data: bytes) -> None:
    """:func:`check_zip` or :func:`check_legacy` for an in-memory torch file."""
    if data[:4] == b"PK\x03\x04":
        check_zip(io.BytesIO(data))
    else:
        check_legacy(io.BytesIO(data), len(data))


def check_torch_path(path) -> None:
    """:func:`check_zip` or :func:`check_legacy` for a torch file on disk."""
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(0)
        if head == b"PK\x03\x04":
            check_zip(f)
        else:
            f.seek(0, io.SEEK_END)
            size = f.tell()
            f.seek(0)
            check_legacy(f, size)
