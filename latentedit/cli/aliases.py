"""Old spellings of renamed flags and commands: hidden, still accepted, each use printing one deprecation line.

One meaning per flag across the CLI (``docs/reference/cli-surface.md``): ``--out`` is what a command writes,
``--run-dir`` a training folder, ``--json FILE`` a file, ``--method NAME`` the plugin to use, ``--steps`` training
steps. ``renamed_option`` keeps a former spelling working without showing it in ``--help``.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any

import click

__all__ = ["deprecation_notice", "renamed_option", "renamed_argument", "deprecated_command"]


def deprecation_notice(old: str, new: str) -> None:
    """One line on stderr: ``old`` still works, ``new`` is the spelling to use."""
    click.echo(f"latentedit: {old} is deprecated and will be removed; use {new}", err=True)


def _merge(kwargs: dict[str, Any], dest: str, target: str, old: str, new: str, unset: Any) -> None:
    value = kwargs.pop(dest, None)
    if value is None:
        return
    deprecation_notice(old, new)
    if kwargs.get(target, unset) not in (unset, None) and kwargs[target] != value:
        raise click.UsageError(f"{old} (deprecated) and {new} were both given with different values; give {new} only")
    kwargs[target] = value


def renamed_option(old: str, target: str, new: str, *, required: bool = False, unset: Any = None,
                   **option_kw: Any) -> Callable:
    """Accept the hidden option ``old`` as the former spelling of ``new`` (the parameter named ``target``).

    Put it below ``@click.command`` like any option; ``option_kw`` are the old option's click settings (type,
    is_flag...). ``required``: the new option is required (declare it ``required=False`` and let this check it,
    so that the old spelling alone satisfies it). ``unset``: the new option's default (a value there is not a
    conflict)."""
    dest = "deprecated_" + old.lstrip("-").replace("-", "_")

    def decorate(f: Callable) -> Callable:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            _merge(kwargs, dest, target, old, new, unset)
            if required and kwargs.get(target) in (None, unset):
                raise click.UsageError(f"Missing option '{new}'.")
            return f(*args, **kwargs)

        kw = {"default": None, **option_kw} if not option_kw.get("is_flag") else option_kw
        return click.option(old, dest, hidden=True, **kw)(wrapper)

    return decorate


def renamed_argument(metavar: str, target: str, new: str, *, required: bool = True, **argument_kw: Any) -> Callable:
    """Accept an optional positional argument as the former spelling of option ``new`` (parameter ``target``)."""
    dest = "deprecated_positional_" + target

    def decorate(f: Callable) -> Callable:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            _merge(kwargs, dest, target, f"the positional {metavar}", f"{new} {metavar}", None)
            if required and kwargs.get(target) is None:
                raise click.UsageError(f"Missing option '{new}'.")
            return f(*args, **kwargs)

        return click.argument(dest, required=False, metavar="", **argument_kw)(wrapper)

    return decorate


def deprecated_command(cmd: click.Command, old: str, new: str) -> click.Command:
    """A hidden copy of ``cmd`` that prints one deprecation line (``old`` -> ``new``) before running."""
    alias = copy.copy(cmd)
    alias.hidden = True
    real = cmd.callback

    @functools.wraps(real)
    def callback(*args: Any, **kwargs: Any) -> Any:
        deprecation_notice(old, new)
        return real(*args, **kwargs)

    alias.callback = callback
    return alias
