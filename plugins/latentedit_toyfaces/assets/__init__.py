"""The shipped embedded-default weights (toy-faces domain). ``asset_path`` finds one by file name."""

from __future__ import annotations

from pathlib import Path

ASSETS_DIR = Path(__file__).resolve().parent
DEFAULT_GENERATOR = "toyfaces_generator.safetensors"


def asset_path(name: str) -> Path:
    """Path of a shipped asset; a clear error when this installation lacks it."""
    path = ASSETS_DIR / name
    if not path.is_file():
        shipped = sorted(p.name for p in ASSETS_DIR.glob("*.safetensors"))
        raise FileNotFoundError(f"shipped asset {name!r} not found in {ASSETS_DIR}; shipped: {shipped or 'none'}")
    return path


def has_asset(name: str) -> bool:
    return (ASSETS_DIR / name).is_file()
