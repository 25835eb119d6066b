"""The ``latentedit`` console script: a click group whose subcommands are imported only when used.

Each subcommand lives in its own module (``latentedit/cli/<name>_cmd.py``); a command whose module fails to
import becomes a command that explains the failure instead of taking the whole CLI down. Installed packages add
commands through the ``latentedit.commands`` entry point group (``name = "module:attribute"``, e.g. the toy-faces
plugin's ``toyfaces`` group); they are listed without being imported, and a built-in name always wins.
"""

from __future__ import annotations

import importlib
import sys

import click

# name -> ("module", "attribute", "one-line help shown in `latentedit --help`")
COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("latentedit.cli.demo_cmd", "demo", "Run the main job on the embedded toy-faces default."),
    "info": ("latentedit.cli.checkpoint_cmds", "info", "Describe a generator checkpoint (any supported format)."),
    "convert": ("latentedit.cli.checkpoint_cmds", "convert", "Convert a checkpoint to latentedit's .safetensors."),
    "sample-edits": ("latentedit.cli.sample_edits_cmd", "sample_edits",
                     "Sample several edits per input with a noise/style mapper (random, clusters, reference, mix)."),
    "sample": ("latentedit.cli.sample_cmd", "sample", "Sample a grid of images (and W+ files) from a generator."),
    "ops": ("latentedit.cli.ops_cmd", "ops", "Native op kernels: status and pre-build."),
    "edit": ("latentedit.cli.edit_cmd", "edit", "Edit attributes of photos or W+ files (grid, GIF, several samples)."),
    "invert": ("latentedit.cli.invert_cmd", "invert",
               "Invert photos into W+ with an encoder (aligned crop, reconstruction, W+ file)."),
    "train": ("latentedit.cli.train_cmd", "train",
              "Train a mapper, an encoder or an attribute classifier (resumable; DDP under torchrun)."),
    "evaluate": ("latentedit.cli.evaluate_cmd", "evaluate",
                 "Score editing methods without ground truth (classifier, identity, LPIPS, FD, diversity)."),
    "directions": ("latentedit.cli.directions_cmd", "directions",
                   "Import community direction files (InterFaceGAN, e4e, GANSpace) or fit directions."),
    "serve": ("latentedit.cli.serve_cmd", "serve", "A local editing page: a slider per attribute (extra: serve)."),
    "plugins": ("latentedit.cli.plugins_cmd", "plugins", "List and inspect mapper/encoder plugins."),
    "domains": ("latentedit.cli.domains_cmd", "domains",
                "List, show and fetch domains (the files of one generator, e.g. the public FFHQ files)."),
    "new-plugin": ("latentedit.cli.plugins_cmd", "new_plugin", "Scaffold a standalone mapper plugin package."),
}

# former command names: hidden, still run, print one deprecation line. name -> (module, attribute, new spelling)
DEPRECATED_COMMANDS: dict[str, tuple[str, str, str]] = {
    "train-encoder": ("latentedit.cli.train_encoder_cmd", "train_encoder", "latentedit train encoder"),
}

COMMAND_GROUP = "latentedit.commands"


def _plugin_commands() -> dict[str, tuple[str, str, str]]:
    """Commands declared by installed packages (entry points of ``COMMAND_GROUP``), read without importing them."""
    from importlib.metadata import entry_points

    found = {}
    for ep in entry_points(group=COMMAND_GROUP):
        if ep.name in COMMANDS or ":" not in ep.value:
            continue
        module, _, attr = ep.value.partition(":")
        dist = getattr(getattr(ep, "dist", None), "name", None) or "an installed package"
        found[ep.name] = (module.strip(), attr.strip(), f"(from {dist}; see `latentedit {ep.name} --help`)")
    return found


def all_commands() -> dict[str, tuple[str, str, str]]:
    """Built-in commands plus those installed packages declare."""
    return {**_plugin_commands(), **COMMANDS}


def _broken_command(name: str, module: str, exc: BaseException) -> click.Command:
    msg = f"the '{name}' command is unavailable: importing {module} failed: {type(exc).__name__}: {exc}"

    @click.command(name=name, help=msg, context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def broken(args):
        raise click.ClickException(msg)

    return broken


class LazyGroup(click.Group):
    """Lists commands from ``COMMANDS`` without importing them; imports one when it is invoked."""

    def list_commands(self, ctx):
        return sorted(all_commands())

    def get_command(self, ctx, name):
        if name in DEPRECATED_COMMANDS and name not in all_commands():
            from latentedit.cli.aliases import deprecated_command

            module, attr, new = DEPRECATED_COMMANDS[name]
            return deprecated_command(getattr(importlib.import_module(module), attr), f"latentedit {name}", new)
        entry = all_commands().get(name)
        if entry is None:
            return None
        module, attr, _ = entry
        try:
            return getattr(importlib.import_module(module), attr)
        except Exception as exc:  # a broken command explains itself
            return _broken_command(name, module, exc)

    def format_commands(self, ctx, formatter):
        commands = all_commands()
        rows = [(name, commands[name][2]) for name in sorted(commands)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx):
        """Every command's bad input ends here: one line on stderr and exit status 1, never a traceback."""
        from latentedit.io.errors import LatenteditInputError, one_line

        try:
            return super().invoke(ctx)
        except LatenteditInputError as exc:
            raise click.ClickException(one_line(exc)) from None
        except OSError as exc:
            if exc.filename is None:
                raise
            raise click.ClickException(f"{exc.filename}: {exc.strerror or one_line(exc)}") from None

    def resolve_command(self, ctx, args):
        name = args[0] if args else None
        commands = all_commands()
        if name is not None and name not in commands and name not in DEPRECATED_COMMANDS and not name.startswith("-"):
            import difflib

            close = difflib.get_close_matches(name, list(commands), n=3)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            ctx.fail(f"no such command {name!r}.{hint} Valid commands: {', '.join(sorted(commands))}")
        return super().resolve_command(ctx, args)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="latentedit")
def cli():
    """latentedit: edit images through the latent space of a pretrained StyleGAN2.

    \b
    Examples:
      latentedit demo --out out/demo
      latentedit info stylegan2-ffhq-config-f.pkl
      latentedit convert network-snapshot.pkl ffhq.safetensors
      latentedit sample --seeds 0-7 --truncation 0.7 --out grid.png
    """


OMP_WAIT_ENV = "OMP_WAIT_POLICY"


def passive_omp_wait() -> None:
    """Let idle OpenMP threads sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE``) unless the user chose a
    policy. Must run before torch is imported (OpenMP reads it once, when torch loads it); a no-op after.

    With the default (spinning) policy a thread that reaches the end of a parallel region first burns its core
    until the others arrive; when other processes share the cores, that spinning takes the time the working
    thread needs, and each of the thousands of small operations of a forward pass waits a scheduler slice. On a
    2-core machine running two other jobs, an e4e forward took 7-11 s spinning and 3-4 s passive; on an idle
    machine the passive wake-up costs some microseconds per operation.
    """
    if "torch" not in sys.modules:
        import os

        os.environ.setdefault(OMP_WAIT_ENV, "PASSIVE")


def _tune_allocator() -> None:
    """glibc malloc tuning (large tensors otherwise get mapped/unmapped every pass); opt out with
    LATENTEDIT_NO_MALLOC_TUNING=1."""
    try:
        from latentedit.ops.allocator import tune_malloc
    except ImportError:
        return
    tune_malloc()


def exit_on_sigterm() -> None:
    """SIGTERM (a job scheduler, ``kill``) raises SystemExit(143) instead of ending the process on the spot, so
    ``finally`` blocks run: atomic writes remove their temp files, locks and build folders are released."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def main(argv=None) -> int:
    """Console-script entry point."""
    passive_omp_wait()
    _tune_allocator()
    exit_on_sigterm()
    try:
        cli.main(args=argv, prog_name="latentedit", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
