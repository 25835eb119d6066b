"""``--json FILE``: the one meaning of ``--json`` across commands — write the result as JSON to FILE.

``-`` (or ``--json`` given with no value, the former flag spelling) means standard output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import click

__all__ = ["json_option", "write_json"]

STDOUT = "-"


def json_option(what: str, param: str = "json_out") -> Callable:
    """A ``--json FILE`` option storing into ``param``; ``what``: what the JSON holds (for the help)."""
    return click.option("--json", param, type=click.Path(dir_okay=False, allow_dash=True), default=None,
                        is_flag=False, flag_value=STDOUT, metavar="FILE",
                        help=f"Write {what} as JSON to FILE ('-', or --json alone: standard output).")


def write_json(obj: Any, dest: str, **dump_kw: Any) -> None:
    """``obj`` as JSON to ``dest`` (``-``: standard output, one line unless ``indent``; else a file written
    atomically, indented)."""
    if dest == STDOUT:
        click.echo(json.dumps(obj, **dump_kw))
        return
    from latentedit.io.modelfile import atomic_write

    text = json.dumps(obj, **{"indent": 2, **dump_kw})
    atomic_write(Path(dest), lambda tmp: Path(tmp).write_text(text + "\n"))
