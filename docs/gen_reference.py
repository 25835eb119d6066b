"""Write the generated reference pages: ``docs/reference/cli.md`` (from the click commands) and
``docs/reference/api.md`` (mkdocstrings directives for the public modules that exist in this tree).

Run ``python docs/gen_reference.py`` after changing a command or a public module (``make docs`` runs it);
``--check`` exits 1 when a committed page differs from what it would write.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parent.parent
CLI_PAGE = ROOT / "docs" / "reference" / "cli.md"
API_PAGE = ROOT / "docs" / "reference" / "api.md"

# (module, one line on what it is). Modules missing from this tree are left out of the page.
API_MODULES: tuple[tuple[str, str], ...] = (
    ("latentedit.editing", "The main job as a Python API: `Editor.from_domain` / `Editor.from_files`, then `edit_photo`; and the steps as functions."),
    ("latentedit.domains", "Domains: where every default file of a generator comes from."),
    ("latentedit.plugins", "Plugin discovery, loading and the mapper/encoder registries."),
    ("latentedit.io.checkpoints", "Loading generators from every supported checkpoint format."),
    ("latentedit.latents", "Z / W / W+ helpers, truncation, style mixing, latent files."),
    ("latentedit.training.loop", "`RunLoop`: the one training loop (checkpoints, exact resume, NaN rollback, DDP)."),
    ("latentedit.training.trainer", "`MapperTrainer`: the shared mapper trainer (`latentedit train mapper`)."),
    ("latentedit.config", "`FrozenConfig`: the base of every frozen config dataclass, and the `--set` syntax."),
)


def module_exists(name: str) -> bool:
    """True when ``name`` can be found on ``sys.path`` (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def walk_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    """Yield ``(path, command)`` for every command under ``group``, depth first, sorted by name."""
    ctx = click.Context(group, info_name="latentedit")
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if cmd is None:
            continue
        path = prefix + (name,)
        yield path, cmd
        if isinstance(cmd, click.Group):
            yield from walk_commands(cmd, path)


def _anchor(path: tuple[str, ...]) -> str:
    """``('train', 'encoder')`` -> ``cli-train_encoder``: distinct from the command ``train-encoder``."""
    return "cli-" + "_".join(path)


def _help_text(path: tuple[str, ...], cmd: click.Command) -> str:
    """``--help`` as ``latentedit PATH --help`` prints it (the root's context settings, e.g. ``-h``, inherited)."""
    from latentedit.cli.main import cli

    names = cli.context_settings.get("help_option_names", ["--help"])
    if hasattr(cmd, "_help_option"):  # click caches the help option of the first context that asked (a test
        cmd._help_option = None       # invoking the command alone gets "--help" only): build it for this one
    ctx = click.Context(cmd, info_name="latentedit " + " ".join(path), terminal_width=100, max_content_width=100,
                        help_option_names=names)
    return cmd.get_help(ctx)


def cli_page() -> str:
    """The CLI reference: one section per command with its ``--help``."""
    from latentedit.cli.main import cli

    lines = ["# Command-line reference", "",
             "Generated from the click commands by `python docs/gen_reference.py`; every command also answers "
             "`--help`.", ""]
    commands = list(walk_commands(cli))
    lines += ["| command | what it does |", "|---|---|"]
    for path, cmd in commands:
        short = (cmd.get_short_help_str(limit=100) or "").replace("|", "\\|")
        lines.append(f"| [`latentedit {' '.join(path)}`](#{_anchor(path)}) | {short} |")
    lines.append("")
    for path, cmd in commands:
        lines += [f"## `latentedit {' '.join(path)}` {{#{_anchor(path)}}}", "", "```text",
                  _help_text(path, cmd).rstrip(), "```", ""]
    return "\n".join(lines)


def api_page() -> str:
    """The API reference: one mkdocstrings directive per public module present in this tree."""
    lines = ["# Python API reference", "",
             "Generated from the docstrings (mkdocstrings). The plugin contract has [its own page](contract.md).", ""]
    for module, what in API_MODULES:
        if module_exists(module):
            lines += [f"## `{module}`", "", what, "", f"::: {module}", ""]
    return "\n".join(lines)


def _write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a page is out of date; write nothing")
    args = parser.parse_args(argv)
    stale = []
    for path, text in ((CLI_PAGE, cli_page()), (API_PAGE, api_page())):
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path.relative_to(ROOT))
        else:
            _write(path, text)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print("out of date (run python docs/gen_reference.py): " + ", ".join(map(str, stale)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
