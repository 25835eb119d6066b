"""Settings of ``latentedit serve`` (one frozen dataclass; the command fills it from its options)."""

from __future__ import annotations

import dataclasses
import ipaddress

LOOPBACK_NAMES = ("localhost",)


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    """``max_upload_bytes``/``max_pixels``: upload limits; ``refine_steps``: optimisation steps after the encoder;
    ``cache_items``: inverted photos kept (by content hash); ``max_samples``: longest row of samples."""

    host: str = "127.0.0.1"
    port: int = 7860
    max_upload_bytes: int = 20_000_000
    max_pixels: int = 40_000_000
    refine_steps: int = 0
    cache_items: int = 32
    cache_edits: int = 64
    max_samples: int = 12

    def __post_init__(self):
        for name in ("max_upload_bytes", "max_pixels", "cache_items", "cache_edits", "max_samples"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"ServeConfig.{name} must be >= 1; got {getattr(self, name)!r}")
        if self.refine_steps < 0 or not 0 <= self.port <= 65535:
            raise ValueError(f"refine_steps must be >= 0 and port in 0..65535; got {self.refine_steps}, {self.port}")


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost' (the only binds that keep the page private to this machine)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
