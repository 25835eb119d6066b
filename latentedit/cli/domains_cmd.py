"""``latentedit domains list|show|fetch``: the domains visible here, their files, and fetching published files.

A thin shell over ``latentedit.domains`` (``domain_names``/``find_domain``) and ``latentedit.domains.fetch``.
"""

from __future__ import annotations


import click

from latentedit.cli.json_output import json_option, write_json

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


def _find(spec: str):
    from latentedit.domains import DomainError, find_domain

    try:
        return find_domain(spec)
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None


def _rows(domain) -> list[dict]:
    from latentedit.domains.fetch import cached_path, resolve_file

    rows = []
    for label, f in domain.all_files().items():
        found = resolve_file(domain, f)
        rows.append({"file": label, "status": "present" if found else "missing",
                     "path": found or f.path or str(cached_path(domain, f)), "url": f.url or "",
                     "size": f.size, "sha256": f.sha256})
    return rows


@click.group("domains", context_settings=CONTEXT)
def domains():
    """List, show and fetch domains: the files that belong to one generator.

    \b
    Examples:
      latentedit domains list
      latentedit domains show ffhq
      latentedit domains fetch ffhq            # into $LATENTEDIT_CACHE/domains/ffhq (~/.cache/latentedit/...)
      latentedit domains fetch my_ffhq.yaml    # a domain file you wrote
    """


@domains.command("list", context_settings=CONTEXT)
@json_option("the installed domains", "as_json")
def list_cmd(as_json):
    """The domains visible here (installed, built-in, registered) and how many of their files are present."""
    from latentedit.domains import DomainError, domain_names, load_domain

    out = []
    for name in domain_names():
        try:
            d = load_domain(name)
        except DomainError as exc:
            out.append({"name": name, "files": "?", "description": f"ERROR: {exc}"})
            continue
        rows = _rows(d)
        present = sum(r["status"] == "present" for r in rows)
        out.append({"name": name, "files": f"{present}/{len(rows)} present",
                    "description": (d.description.split(". ")[0] if d.description else "")[:70]})
    if as_json:
        write_json(out, as_json, indent=2)
        return
    if not out:
        click.echo("no domains")
        return
    w = max(len(r["name"]) for r in out)
    wf = max(len(r["files"]) for r in out)
    for r in out:
        click.echo(f"{r['name'].ljust(w)}  {r['files'].ljust(wf)}  {r['description']}".rstrip())


@domains.command("show", context_settings=CONTEXT)
@click.argument("spec", metavar="NAME|FILE")
@json_option("the domain's description", "as_json")
def show_cmd(spec, as_json):
    """Every file a domain lists: where it resolves (your path or the cache), its URL, size and SHA-256."""
    d = _find(spec)
    rows = _rows(d)
    if as_json:
        write_json({"name": d.name, "description": d.description, "source": d.source,
                    "attribute_names": list(d.attribute_names), "files": rows}, as_json, indent=2)
        return
    click.echo(f"{d.name}: {d.description}" if d.description else d.name)
    if d.attribute_names:
        click.echo(f"attributes: {', '.join(d.attribute_names)}")
    for r in rows:
        extra = "".join(f" {k}={r[k]}" for k in ("size", "sha256") if r[k] is not None)
        click.echo(f"  {r['file']}: {r['status']} {r['path']}" + (f" <- {r['url']}" if r["url"] else "") + extra)


@domains.command("fetch", context_settings=CONTEXT)
@click.argument("spec", metavar="NAME|FILE")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait for a server.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def fetch_cmd(spec, timeout, quiet):
    """Download every missing file of a domain into the cache, checking size and SHA-256 where published.

    Files already present (at your path or in the cache) are kept. With no network, prints one line per file
    saying which file to put where, and exits with status 1.
    """
    from latentedit.domains.fetch import cache_dir, fetch_domain

    d = _find(spec)
    click.echo(f"domain '{d.name}': cache {cache_dir(d)}")
    results = fetch_domain(d, progress=not quiet, timeout=timeout)
    for r in results:
        if r.status in ("present", "fetched"):
            click.echo(f"{r.label}: {r.status} {r.path}")
        else:
            click.echo(r.message, err=True)
    bad = [r for r in results if r.status not in ("present", "fetched")]
    if bad:
        raise click.ClickException(f"{len(bad)} of {len(results)} files of domain '{d.name}' are not here; "
                                   "see the lines above")
