"""What a training run reports: JSONL lines (``log.jsonl``), TensorBoard scalars when ``tensorboard`` is
installed, and a tqdm progress bar showing the losses. Only rank 0 creates one; other ranks get ``NullLog``.

Each line of ``log.jsonl`` is a JSON object with ``step`` and ``time`` (seconds since the run started) and either
``losses`` (weighted terms, averaged over ranks) plus ``grad_norm``/``steps_per_s``, or an ``event``
(``start``, ``resume``, ``nonfinite``, ``checkpoint``, ``samples``, ``done``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


class NullLog:
    """The logger of ranks other than 0: does nothing."""

    def metrics(self, step: int, values: dict[str, Any]) -> None:
        pass

    def event(self, step: int, name: str, **fields: Any) -> None:
        pass

    def progress(self, step: int, losses: dict[str, float]) -> None:
        pass

    def close(self) -> None:
        pass


class RunLog(NullLog):
    """Appends to ``run_dir/log.jsonl`` (line-buffered: a crash loses at most the line being written)."""

    def __init__(self, run_dir: str | Path, *, total_steps: int, start_step: int = 0, progress: bool = True,
                 tensorboard: bool = True):
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.t0 = time.perf_counter()
        self._file = open(self.dir / "log.jsonl", "a", encoding="utf-8", buffering=1)
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is optional
                SummaryWriter = None
            if SummaryWriter is not None:
                self._tb = SummaryWriter(str(self.dir / "tensorboard"))
        self._bar = None
        if progress:
            from tqdm import tqdm

            self._bar = tqdm(total=total_steps, initial=start_step, desc="train", unit="step", dynamic_ncols=True)

    def _write(self, obj: dict[str, Any]) -> None:
        self._file.write(json.dumps(obj, sort_keys=True, default=float) + "\n")

    def metrics(self, step: int, values: dict[str, Any]) -> None:
        """One metrics line; nested dicts (``losses``) become TensorBoard tags ``losses/<name>``."""
        self._write({"step": step, "time": round(time.perf_counter() - self.t0, 3), **values})
        if self._tb is not None:
            for k, v in values.items():
                for name, x in (v.items() if isinstance(v, dict) else [(None, v)]):
                    if isinstance(x, (int, float)):
                        self._tb.add_scalar(f"{k}/{name}" if name else k, x, step)

    def event(self, step: int, name: str, **fields: Any) -> None:
        self._write({"step": step, "time": round(time.perf_counter() - self.t0, 3), "event": name, **fields})
        if name == "nonfinite" and self._bar is not None:
            self._bar.write(f"step {step}: {fields.get('message', 'non-finite values')}; rolled back")

    def progress(self, step: int, losses: dict[str, float]) -> None:
        if self._bar is not None:
            self._bar.n = step
            self._bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()}, refresh=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._tb is not None:
            self._tb.close()
        self._file.close()


def rewind_log(path: str | Path, step: int) -> int:
    """Drop the lines of ``log.jsonl`` written after ``step`` (the run is resuming from a checkpoint at ``step``;
    the steps after it are replayed and would otherwise appear twice) and a torn last line. Rewrites the file
    atomically; returns how many lines were dropped."""
    from latentedit.io.modelfile import atomic_write

    path = Path(path)
    if not path.is_file():
        return 0
    keep, dropped = [], 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                entry = json.loads(line)
                ok = line.endswith("\n") and int(entry.get("step", 0)) <= step
            except (ValueError, TypeError, AttributeError):
                ok = False
            if ok:
                keep.append(line)
            else:
                dropped += 1
    if dropped:
        atomic_write(path, lambda tmp: Path(tmp).write_text("".join(keep), encoding="utf-8"))
    return dropped


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """All lines of a ``log.jsonl`` as dicts."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
