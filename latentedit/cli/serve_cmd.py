"""``latentedit serve``: a local editing page (upload or sample, invert, a slider per attribute, download).

Needs the optional ``serve`` extra (FastAPI, uvicorn, python-multipart): ``pip install 'latentedit[serve]'``.
"""

from __future__ import annotations

import importlib.util

import click

from latentedit.cli.common import click_error, device_option, resolve_device
from latentedit.cli.domain_options import domain_option

EXTRA_MODULES = ("fastapi", "uvicorn", "multipart")


def missing_extra() -> list[str]:
    """Modules of the serve extra that are not installed."""
    return [m for m in EXTRA_MODULES if importlib.util.find_spec(m) is None]


@click.command("serve")
@domain_option
@click.option("--generator", "generator_path", type=click.Path(dir_okay=False), default=None,
              help="Generator checkpoint (default: the domain's; without --domain, the only installed domain's).")
@click.option("--encoder", "encoder_path", type=click.Path(dir_okay=False), default=None,
              help="Image-to-W+ encoder for photos (default: the domain's; without one, only generator samples).")
@click.option("--mapper", "mapper_paths", multiple=True, type=click.Path(dir_okay=False),
              help="Mapper file (repeatable); each is a method on the page (default: the domain's shipped ones).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback exposes the page to your network (a warning says so).")
@click.option("--port", type=click.IntRange(0, 65535), default=7860, show_default=True)
@click.option("--refine", type=click.IntRange(0, 1000), default=0, show_default=True,
              help="Optimise each inverted W+ this many steps (slower, truer to the photo; progress is shown).")
@click.option("--max-upload-mb", type=click.FloatRange(0.01, 1000), default=20.0, show_default=True,
              help="Largest photo accepted, in MB.")
@click.option("--max-megapixels", type=click.FloatRange(0.01, 89), default=40.0, show_default=True,
              help="Largest photo decoded, in megapixels (larger ones are refused as decompression bombs; at most "
                   "89, where PIL's own bomb check starts).")
@device_option
def serve(domain, generator_path, encoder_path, mapper_paths, host, port, refine, max_upload_mb, max_megapixels,
          device):
    """Start a local web page to edit faces with a slider per attribute.

    \b
    Examples:
      latentedit serve                                   # the default domain (toy-faces) at http://127.0.0.1:7860
      latentedit serve --domain ffhq.domain.yaml         # the files a domain file names
      latentedit serve --generator ffhq.pkl --encoder e4e_ffhq_encode.pt --mapper smile_dirs.safetensors
    """
    missing = missing_extra()
    if missing:
        raise click.ClickException(f"latentedit serve needs the 'serve' extra (missing: {', '.join(missing)}); "
                                   "install it with: pip install 'latentedit[serve]'")
    import uvicorn

    from latentedit.serve import build_state, create_app
    from latentedit.serve.config import ServeConfig, is_loopback
    from latentedit.serve.loading import ModelPaths

    paths = ModelPaths(domain, generator_path, encoder_path, tuple(mapper_paths))
    config = ServeConfig(host=host, port=port, max_upload_bytes=int(max_upload_mb * 1e6),
                         max_pixels=int(max_megapixels * 1e6), refine_steps=refine)
    if not is_loopback(host):
        click.echo(f"warning: binding to {host} makes the page reachable from other machines (it has no login); "
                   "use --host 127.0.0.1 unless you mean it", err=True)
    try:
        state = build_state(paths, config, resolve_device(device))
    except ValueError as exc:  # DomainError, EditingError, CheckpointError: one line saying what to pass
        raise click_error(exc) from None
    methods = ", ".join(state.models.methods)
    click.echo(f"latentedit serve: {state.models.resolution}px generator, methods: {methods}; "
               f"open http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/  (Ctrl+C to stop)")
    try:
        uvicorn.run(create_app(state), host=host, port=port, log_level="warning")
    finally:
        state.close()
