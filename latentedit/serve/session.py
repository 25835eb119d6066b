"""Server state: the warm models, caches keyed by content hash or random id, inversion jobs, and the gate that
drops stale slider requests.

Nothing here reads a path: every id the page sends is a random token looked up in a bounded in-memory table.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch

from latentedit.serve.config import ServeConfig
from latentedit.serve.pipeline import Models


class LRU:
    """A thread-safe bounded mapping (least recently used entries go first)."""

    def __init__(self, capacity: int):
        self.capacity = int(capacity)
        self._data: collections.OrderedDict[str, Any] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str):
        with self._lock:
            if key not in self._data:
                return None
            self._data.move_to_end(key)
            return self._data[key]

    def put(self, key: str, value) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)


def new_id() -> str:
    return secrets.token_hex(8)


@dataclasses.dataclass
class Item:
    """A source face: its W+ code, reconstruction, and (photos) the crop, the photo and the paste-back."""

    id: str
    w: torch.Tensor
    recon: torch.Tensor
    crop: torch.Tensor | None = None
    paste: Any = None
    error: dict | None = None
    label: str = ""


@dataclasses.dataclass
class Edit:
    id: str
    item: Item
    w: torch.Tensor
    face: torch.Tensor
    face_png: bytes
    info: dict = dataclasses.field(default_factory=dict)
    pasted_png: bytes | None = None


@dataclasses.dataclass
class Job:
    """An inversion in progress: ``state`` queued|running|done|error, ``progress`` in [0, 1]."""

    id: str
    state: str = "queued"
    stage: str = "queued"
    progress: float = 0.0
    message: str = ""
    status: int = 200
    item_id: str | None = None
    cached: bool = False
    started: float = dataclasses.field(default_factory=time.monotonic)

    def set(self, stage: str, progress: float) -> None:
        self.state, self.stage, self.progress = "running", stage, float(progress)


class EditGate:
    """Per page, only the latest slider request is rendered.

    ``arrive(page, seq)`` records the newest sequence number (False: one newer was seen already). ``acquire``
    waits while the page is rendering and gives up (False) as soon as a newer request arrives, so a burst of moves
    during a slow render leaves one waiting request (the latest) instead of a queue; ``release`` ends a render."""

    def __init__(self, capacity: int = 256):
        self._latest: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._busy: set[str] = set()
        self._cond = threading.Condition()
        self.capacity = capacity
        self.rendered = 0
        self.dropped = 0

    def arrive(self, page: str, seq: int) -> bool:
        with self._cond:
            if seq < self._latest.get(page, -1):
                self.dropped += 1
                return False
            self._latest[page] = seq
            self._latest.move_to_end(page)
            while len(self._latest) > self.capacity:
                old, _ = self._latest.popitem(last=False)
                self._busy.discard(old)
            self._cond.notify_all()  # older waiters of this page give up
            return True

    def acquire(self, page: str, seq: int) -> bool:
        with self._cond:
            while self._latest.get(page, -1) == seq and page in self._busy:
                self._cond.wait()
            if self._latest.get(page, -1) != seq:
                self.dropped += 1
                return False
            self._busy.add(page)
            self.rendered += 1
            return True

    def release(self, page: str) -> None:
        with self._cond:
            self._busy.discard(page)
            self._cond.notify_all()

    def latest(self, page: str) -> int:
        with self._cond:
            return self._latest.get(page, -1)


class ServeState:
    """Everything one server process holds: models (warm), caches, jobs, the slider gate."""

    def __init__(self, models: Models, config: ServeConfig | None = None):
        self.models = models
        self.config = config or ServeConfig()
        self.items = LRU(self.config.cache_items)
        self.by_hash = LRU(self.config.cache_items)  # content hash -> item id
        self.edits = LRU(self.config.cache_edits)
        self.rows = LRU(self.config.cache_edits)      # sample-row id -> conditions (n, dim)
        self.references = LRU(self.config.cache_edits)  # reference id -> (method, style (1, dim))
        self.jobs = LRU(256)
        self.gate = EditGate()
        self.model_lock = threading.RLock()  # one model call at a time: the CPU threads are shared
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="latentedit-invert")

    def warm(self) -> None:
        """One render so the first slider move does not pay for lazy initialisation."""
        with self.model_lock:
            self.models.render(self.models.sample(0))

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    def add_item(self, item: Item, content_hash: str | None = None) -> Item:
        self.items.put(item.id, item)
        if content_hash:
            self.by_hash.put(content_hash, item.id)
        return item

    def cached_item(self, content_hash: str) -> Item | None:
        item_id = self.by_hash.get(content_hash)
        return self.items.get(item_id) if item_id else None


def content_hash(data: bytes, **options) -> str:
    """SHA-256 of the upload bytes and the options that change the inversion."""
    h = hashlib.sha256(data)
    h.update(repr(sorted(options.items())).encode())
    return h.hexdigest()
