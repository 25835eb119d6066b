"""Our model file format: one ``.safetensors`` file whose metadata carries the config and format version.

Every model we ship or save (generator, judges, encoders, mappers) goes through these two functions, so that a
file always says what it is (``kind``), which config built it (JSON of a frozen dataclass) and which format
version wrote it. Writes are atomic (temp file + rename): a crash never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Mapping

import torch

from latentedit.io.errors import LatenteditInputError

FORMAT_VERSION = 1


class ModelFileError(LatenteditInputError):
    """A model file is missing, unreadable, of the wrong kind, or does not match its model."""


def published_mode(dest: str | os.PathLike, directory: bool = False) -> int:
    """Permission bits a file (or folder) written at ``dest`` should get: those of the file it replaces, else
    what ``open()`` / ``mkdir()`` would give under the umask (``tempfile`` creates its files 0600 and folders
    0700, which would leave an exported model unreadable to the rest of a shared machine)."""
    dest = Path(dest)
    if dest.exists():
        return dest.stat().st_mode & 0o7777
    return (0o777 if directory else 0o666) & ~current_umask()


def current_umask() -> int:
    """The process umask, read from ``/proc/self/status`` where there is one (``os.umask`` can only be read by
    setting it, which races with other threads creating files); elsewhere set-and-restore."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


@contextlib.contextmanager
def atomic_folder(dest: str | os.PathLike, *,
                  remove_existing: Callable[[Path], None] = shutil.rmtree) -> Iterator[Path]:
    """Fill a hidden temp folder beside ``dest`` inside the ``with`` block; on success it gets the permission bits
    of ``published_mode``, ``remove_existing(dest)`` clears whatever is at ``dest`` and the folder is renamed onto
    it. On any error the temp folder is removed and ``dest`` is untouched."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        yield tmp
        os.chmod(tmp, published_mode(dest, directory=True))
        if dest.exists():
            remove_existing(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


STALE_TEMP_S = 3600  # a temp file of an atomic write untouched this long was left by a killed writer


def remove_stale_temps(path: Path) -> list[Path]:
    """Remove the temp files earlier atomic writes of ``path`` left behind when they were killed (SIGKILL, power
    loss: no cleanup could run) and that nobody has written for :data:`STALE_TEMP_S` seconds."""
    import glob
    import time

    removed = []
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        try:
            if time.time() - tmp.stat().st_mtime > STALE_TEMP_S:
                tmp.unlink()
                removed.append(tmp)
        except OSError:
            pass
    return removed


def atomic_write(path: str | os.PathLike, write_fn) -> Path:
    """Call ``write_fn(tmp_path)`` then atomically rename the temp file onto ``path`` (with the permission bits
    of ``published_mode``). The temp file is removed on any error (and, under the CLI, on SIGTERM); temp files
    of earlier writes of ``path`` that were killed outright are removed once stale (:func:`remove_stale_temps`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write_fn(tmp)
        os.chmod(tmp, published_mode(path))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB chunks): provenance records name the exact file used."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def config_to_json(config: Any) -> str:
    """A frozen dataclass (possibly nested, with tuples) to JSON."""
    if dataclasses.is_dataclass(config):
        config = dataclasses.asdict(config)
    return json.dumps(config, sort_keys=True)


def save_model_file(
    path: str | os.PathLike,
    state_dict: Mapping[str, torch.Tensor],
    *,
    kind: str,
    config: Any,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Save tensors plus ``kind``, ``config`` (dataclass or dict) and ``extra`` JSON metadata, atomically."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    meta = {
        "latentedit.kind": kind,
        "latentedit.format_version": str(FORMAT_VERSION),
        "latentedit.config": config_to_json(config),
    }
    if extra:
        meta["latentedit.extra"] = json.dumps(dict(extra), sort_keys=True)
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))


def read_model_metadata(path: str | os.PathLike, *, expect_kind: str | None = None) -> tuple[str, dict, dict]:
    """Return ``(kind, config_dict, extra_dict)`` of one of our files from its header alone (no tensors read).

    Raises ModelFileError naming the file when it is not ours, is damaged, or holds another kind of model.
    """
    from safetensors import SafetensorError
    from safetensors.torch import safe_open

    from latentedit.io.paths import require_regular_file

    path = Path(path)
    require_regular_file(path, what="model file", error=lambda p, why: ModelFileError(f"{p}: {why}"))
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: not a readable .safetensors file ({' '.join(str(exc).split())})") from None
    kind = meta.get("latentedit.kind")
    if kind is None:
        raise ModelFileError(f"{path}: a .safetensors file without latentedit metadata (no 'latentedit.kind'); "
                             "convert it with `latentedit convert`")
    try:
        version = int(meta.get("latentedit.format_version", "0"))
        config, extra = json.loads(meta.get("latentedit.config", "{}")), json.loads(meta.get("latentedit.extra", "{}"))
        if not isinstance(config, dict) or not isinstance(extra, dict):
            raise ValueError("the config and extra metadata must be JSON objects")
    except (ValueError, RecursionError) as exc:
        raise ModelFileError(f"{path}: damaged latentedit metadata ({type(exc).__name__}: "
                             f"{' '.join(str(exc).split())[:160]})") from None
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{path}: format version {version} is newer than this latentedit understands "
                             f"({FORMAT_VERSION}); upgrade latentedit")
    if expect_kind is not None and kind != expect_kind:
        raise ModelFileError(f"{path}: expected a '{expect_kind}' file; this one holds a '{str(kind)[:60]}'")
    return kind, config, extra


def read_model_file(path: str | os.PathLike, *, expect_kind: str | None = None):
    """Return ``(state_dict, kind, config_dict, extra_dict)`` from one of our files.

    Raises ModelFileError naming the file when it is not ours, is damaged, or holds another kind of model.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    kind, config, extra = read_model_metadata(path, expect_kind=expect_kind)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: not a readable .safetensors file ({' '.join(str(exc).split())})") from None
    for name, t in tensors.items():  # NaN or infinite weights render black or noise without a word
        if t.is_floating_point() and not all_finite(t):
            raise ModelFileError(f"{path}: tensor '{name}' holds non-finite values (NaN or infinity); the file is "
                                 "damaged")
    return tensors, kind, config, extra


def all_finite(t: torch.Tensor) -> bool:
    """Whether every value of a floating-point ``t`` is finite: one sum, into which NaN and infinities propagate
    (5x cheaper than ``isfinite`` over a 127 MiB generator), then the element test only when the sum is not finite
    (finite values can overflow it)."""
    return not t.numel() or bool(torch.isfinite(t.sum())) or bool(torch.isfinite(t).all())


def load_state_dict_strict(module: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], *, source: str,
                          assign: bool = False) -> None:
    """Load with one clear error naming every missing, unexpected and mis-shaped key.

    ``assign=True`` makes the module hold the given tensors (cast to the module's dtype and device, made
    contiguous) instead of copying them into its own: no second copy of a big checkpoint, and the module's own
    tensors need never have been filled (see ``latentedit.io.skip_init``). Only for tensors nobody else keeps."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    misshaped = [
        f"{k}: expected {tuple(own[k].shape)}, found {tuple(state_dict[k].shape)}"
        for k in sorted(set(own) & set(state_dict))
        if tuple(own[k].shape) != tuple(state_dict[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing keys ({len(missing)}): {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}")
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {', '.join(unexpected[:8])}"
                        f"{' ...' if len(unexpected) > 8 else ''}")
    if misshaped:
        problems.append(f"mis-shaped keys ({len(misshaped)}): {'; '.join(misshaped[:8])}"
                        f"{' ...' if len(misshaped) > 8 else ''}")
    if problems:
        raise ModelFileError(f"{source}: weights do not fit the model: " + " | ".join(problems))
    if assign:
        state_dict = {k: v.detach().to(own[k].device, own[k].dtype).contiguous() for k, v in state_dict.items()}
    with torch.no_grad():
        module.load_state_dict({k: v for k, v in state_dict.items()}, strict=True, assign=assign)
