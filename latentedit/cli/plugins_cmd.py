"""``latentedit plugins list|show`` and ``latentedit new-plugin``.

A plugin that fails to import is reported in the listing with its error; it never takes the command down.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import click

from latentedit.cli.json_output import json_option, write_json

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


def _groups(group: str) -> list[str]:
    return ["mappers", "encoders"] if group == "all" else [group]


def _inspect(spec, load: bool) -> dict:
    """One listing row; loads the plugin when ``load`` (errors are captured, not raised)."""
    from latentedit.plugins import PluginError, load_spec

    row = {"name": spec.name, "group": spec.group.rsplit(".", 1)[-1],
           "distribution": spec.distribution or ("(in-process)" if spec.source == "registered" else "?"),
           "version": spec.version or "-", "kind": "?", "status": "not loaded", "value": spec.value}
    if not load:
        return row
    try:
        obj = load_spec(spec)
    except PluginError as exc:
        row["status"] = f"ERROR: {type(exc.__cause__ or exc).__name__}: {exc.__cause__ or exc}"
        return row
    except Exception as exc:  # pragma: no cover - load_spec wraps everything; belt and braces for the listing
        row["status"] = f"ERROR: {type(exc).__name__}: {exc}"
        return row
    row["kind"] = getattr(obj, "kind", "encoder") if row["group"] == "mappers" else "encoder"
    row["status"] = "ok"
    return row


def _table(rows: list[dict], cols: list[str]) -> str:
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in cols).rstrip()]
    lines += ["  ".join(str(r[c]).ljust(widths[c]) for c in cols).rstrip() for r in rows]
    return "\n".join(lines)


@click.group("plugins", context_settings=CONTEXT)
def plugins():
    """List and inspect mapper/encoder plugins (entry-point groups latentedit.mappers, latentedit.encoders).

    \b
    Examples:
      latentedit plugins list
      latentedit plugins list --group mappers --no-load
      LATENTEDIT_PLUGINS=isf,directions latentedit plugins list
      latentedit plugins show isf

    LATENTEDIT_DISABLE_PLUGIN_AUTOLOAD=1 hides every installed plugin that is not in the allow-list
    LATENTEDIT_PLUGINS (comma-separated entry names or distribution names).
    """


@plugins.command("list", context_settings=CONTEXT)
@click.option("--group", type=click.Choice(["mappers", "encoders", "all"]), default="all", show_default=True,
              help="Which entry-point group to list.")
@click.option("--no-load", is_flag=True, help="Only read entry points; import nothing (kind and status unknown).")
@click.option("--allow", metavar="NAMES", default=None,
              help="Comma-separated allow-list; overrides LATENTEDIT_PLUGINS.")
@json_option("the plugins (standard output: one JSON object per line) instead of a table")
def list_cmd(group, no_load, allow, json_out):
    """List plugins: name, group, distribution, version, kind, and whether it loads (or its error).

    \b
    Examples:
      latentedit plugins list
      latentedit plugins list --no-load --json
      latentedit plugins list --allow isf
    """
    from latentedit.plugins import discover, hidden_plugins

    rows, hidden = [], []
    for g in _groups(group):
        rows += [_inspect(spec, load=not no_load) for spec in discover(g, allow=allow)]
        hidden += hidden_plugins(g, allow=allow)
    if json_out == "-":
        for r in rows:
            click.echo(json.dumps(r, sort_keys=True))
        return
    if json_out:
        write_json(rows, json_out, sort_keys=True)
        click.echo(f"wrote {len(rows)} plugin(s) to {json_out}")
        return
    if rows:
        click.echo(_table(rows, ["name", "group", "distribution", "version", "kind", "status"]))
    else:
        click.echo("no plugins found.")
    if hidden:
        click.echo(f"\n{len(hidden)} installed plugin(s) hidden by the allow-list / "
                   f"LATENTEDIT_DISABLE_PLUGIN_AUTOLOAD: {', '.join(sorted(s.name for s in hidden))}")
    broken = sum(r["status"].startswith("ERROR") for r in rows)
    if broken:
        click.echo(f"\n{broken} plugin(s) failed to load; the others work. "
                   f"Fix or uninstall the distribution named in the row.")


@plugins.command("show", context_settings=CONTEXT)
@click.argument("name")
@click.option("--group", type=click.Choice(["mappers", "encoders"]), default="mappers", show_default=True)
@click.option("--allow", metavar="NAMES", default=None,
              help="Comma-separated allow-list; overrides LATENTEDIT_PLUGINS.")
def show(name, group, allow):
    """Show one plugin: where it comes from, its kind, config fields (type, default, doc) and loss weights.

    \b
    Examples:
      latentedit plugins show isf
      latentedit plugins show e4e --group encoders
    """
    from latentedit.plugins import PluginError, discover, load_plugin

    try:
        obj = load_plugin(group, name, allow=allow)
    except PluginError as exc:
        raise click.ClickException(str(exc)) from None
    spec = next(s for s in discover(group, allow=allow) if s.name == name)
    click.echo(f"{name}  ({spec.group})")
    click.echo(f"  provided by : {spec.distribution or '(registered in-process)'} {spec.version or ''}".rstrip())
    click.echo(f"  object      : {spec.value}")
    doc = (getattr(obj, "__doc__", None) or "").strip()
    if doc:
        click.echo("  doc         : " + textwrap.indent(doc.split("\n\n")[0], " " * 16).strip())
    if group != "mappers":
        return
    click.echo(f"  kind        : {obj.kind}   takes_noise={obj.takes_noise}   takes_style={obj.takes_style}   "
               f"format_version={obj.format_version}")
    fields = obj.config_class.fields_info()
    click.echo(f"\nconfig ({obj.config_class.__name__}):")
    if fields:
        click.echo(textwrap.indent(_table([{"field": f.name, "type": f.type, "default": repr(f.default), "doc": f.doc}
                                           for f in fields], ["field", "type", "default", "doc"]), "  "))
    else:
        click.echo("  (no fields)")
    if obj.kind == "trainable":
        try:
            weights = obj.default_loss_weights()
        except Exception as exc:
            click.echo(f"\ndefault loss weights: ERROR: {type(exc).__name__}: {exc}")
        else:
            click.echo("\ndefault loss weights:")
            for k, v in weights.items():
                click.echo(f"  {k:<14} {v:g}")
    else:
        click.echo("\nfit-style: fitted with fit(...), not trained.")


@click.command("new-plugin", context_settings=CONTEXT)
@click.argument("name")
@click.option("--dir", "dest", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder to create (must not exist or be empty). Default: ./latentedit-NAME")
def new_plugin(name, dest):
    """Scaffold a standalone mapper plugin package NAME: pyproject with the entry point, a mapper, a test, a README.

    \b
    Examples:
      latentedit new-plugin smile_shift
      latentedit new-plugin smile_shift --dir ~/src/latentedit-smile-shift
      cd latentedit-smile-shift && pip install -e . && latentedit plugins list && pytest tests
    """
    from latentedit.plugins.scaffold import ScaffoldError, scaffold_plugin

    try:
        project, files = scaffold_plugin(name, dest)
    except ScaffoldError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {project}")
    for f in files:
        click.echo(f"  {f.relative_to(project)}")
    click.echo(f"\nnext:\n  cd {project}\n  pip install -e .\n  latentedit plugins list\n  pytest tests")
