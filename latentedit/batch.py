"""Batches that continue past a bad item: every good result is produced, every bad item is named, and the
command exits 1 at the end (as ``invert`` always did).

``iter_batch(items, fn, failures)`` yields ``(item, fn(item))`` for the items that work and appends one line per
failure to ``failures``; ``run_batch(items, fn)`` runs them all and returns the failure lines;
``finish_batch(failures, what)`` prints them to stderr and exits 1 when there are any.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from latentedit.io.errors import InputFileError, one_line

T = TypeVar("T")


def describe_failure(item: Any, exc: BaseException) -> str:
    """One line: the item, then what went wrong (an error that already names its file is kept as it is)."""
    text = one_line(exc) if str(exc).strip() else type(exc).__name__
    if isinstance(exc, InputFileError) or text.startswith(str(item)):
        return text
    prefix = "" if isinstance(exc, ValueError) else f"{type(exc).__name__}: "
    return f"{item}: {prefix}{text}"


def iter_batch(items: Iterable[T], fn: Callable[[T], Any], failures: list[str]) -> Iterator[tuple[T, Any]]:
    """``(item, fn(item))`` for each item that works; each failure becomes one line in ``failures``."""
    for item in items:
        try:
            result = fn(item)
        except Exception as exc:  # noqa: BLE001 - one bad item never stops the batch; it is named at the end
            failures.append(describe_failure(item, exc))
            continue
        yield item, result


def run_batch(items: Iterable[T], fn: Callable[[T], Any]) -> list[str]:
    """Run ``fn`` on every item; returns the failure lines (empty when all worked)."""
    failures: list[str] = []
    for _ in iter_batch(items, fn, failures):
        pass
    return failures


def finish_batch(failures: list[str], what: str = "input") -> None:
    """Print the failures (one line each) to stderr and exit 1 when there are any."""
    if not failures:
        return
    import click

    click.echo(f"{len(failures)} {what}(s) failed:", err=True)
    for line in failures:
        click.echo(f"  {line}", err=True)
    raise SystemExit(1)
