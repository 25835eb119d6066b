"""``latentedit info FILE`` and ``latentedit convert SRC DST.safetensors``: describe and convert checkpoints."""

from __future__ import annotations

from pathlib import Path

import click


def _load(path: str, discriminator: bool):
    from latentedit.io.checkpoints import CheckpointError, load_discriminator, load_generator

    try:
        return (load_discriminator if discriminator else load_generator)(path)
    except CheckpointError as exc:
        raise click.ClickException(str(exc)) from None
    except (OSError, ValueError) as exc:  # anything else ordinary: still one line
        raise click.ClickException(f"{path}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                                   ) from None


def _wants_discriminator(path: str, flag: bool) -> bool:
    """``info`` on one of our discriminator files describes it without needing --discriminator."""
    if flag:
        return True
    from latentedit.io import ours

    try:  # reads only the .safetensors header; anything else fails fast and the real load reports it
        return ours.read_kind(path) == ours.DISCRIMINATOR_KIND
    except ValueError:
        return False


def describe(info) -> list[tuple[str, str]]:
    """(label, value) rows for ``info``."""
    cfg = info.config
    table = " ".join(f"{r}:{c}" for r, c in zip(cfg.resolutions, cfg.channels))
    rows = [("file", info.path), ("format", info.format + (f" (entry '{info.source_key}')" if info.source_key
                                                          else "")),
            ("network", info.network), ("resolution", f"{cfg.resolution}x{cfg.resolution}")]
    if info.network == "generator":
        rows += [("num_ws", str(cfg.num_ws)), ("z_dim", str(cfg.z_dim)), ("w_dim", str(cfg.w_dim)),
                 ("mapping depth", f"{cfg.mapping_layers} (lr multiplier {cfg.mapping_lr_mul:g})")]
    else:
        group = "whole batch" if cfg.mbstd_group >= 2 ** 31 - 1 else cfg.mbstd_group
        rows += [("minibatch std", f"group {group}, {cfg.mbstd_channels} channel(s)")]
    rows += [("channels", table), ("conv_clamp", "none" if cfg.conv_clamp is None else f"{cfg.conv_clamp:g}"),
             ("parameters", f"{info.num_parameters:,}")]
    if info.w_avg_source is not None:
        rows.append(("w_avg", info.w_avg_source))
    rows.append(("file holds", ", ".join(info.networks)))
    rows += [("note", n) for n in info.notes]
    return rows


def _default_generator_rows(path) -> list[tuple[str, str]]:
    """Extra rows for the shipped toy-faces generator: what it is, its recipe and its measured quality."""
    import json

    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    extra = json.loads(meta.get("latentedit.extra", "{}") or "{}")
    rows = [("default", "the default domain's generator (used when no --generator is given)")]
    if extra.get("recipe"):
        ft = extra.get("synthesis_finetune")
        then = (f", then its synthesis fine-tuned {ft.get('steps', '?')} steps with the mapping frozen "
                f"(re-render weight {ft.get('rerender_weight', '?')})") if isinstance(ft, dict) else ""
        rows.append(("recipe", f"{extra['recipe']} ({extra.get('steps', '?')} steps{then}); reproduce with "
                               "scripts/train_toy_models.sh"))
    q = extra.get("quality")
    if isinstance(q, dict):
        rows.append(("quality", f"realism ratio {q.get('realism_ratio', float('nan')):.2f} (bar <= 1.5); "
                                + _probe_text(q)))
        missed = [name for name, met in (q.get("bars") or {}).items() if not met]
        if missed:
            rows.append(("bars missed", ", ".join(missed)))
    return rows


def _probe_text(q: dict) -> str:
    """The W-probe figures of a quality record (balanced accuracy; older files stored plain accuracy)."""
    if "linear_probe_balanced_accuracy_w" in q:
        kind, probe = "W-probe balanced accuracy ", q["linear_probe_balanced_accuracy_w"]
    else:
        kind, probe = "W-probe accuracy (plain, majority-biased) ", q.get("linear_probe_accuracy_w", {})
    return kind + ", ".join(f"{k} {v:.2f}" for k, v in probe.items())


@click.command("info")
@click.argument("file", type=click.Path(dir_okay=False), required=False)
@click.option("--discriminator", is_flag=True, help="Describe the file's discriminator instead of its generator.")
def info(file, discriminator):
    """Describe a checkpoint: format, resolution, num_ws, w_dim, mapping depth, channel table, parameters.

    FILE may be latentedit's .safetensors, a rosinality/stylegan2-pytorch .pt (converted or a training
    snapshot) or an NVIDIA stylegan2-ada-pytorch / stylegan3 StyleGAN2 .pkl. The architecture is read off the
    tensor shapes; nothing stored in the file is executed.

    \b
    Examples:
      latentedit info stylegan2-ffhq-config-f.pkl
      latentedit info 550000.pt --discriminator
      latentedit info ffhq.safetensors
      latentedit info                      # the default domain's generator (the shipped toy-faces one)
    """
    extra_rows = []
    if file is None:
        from latentedit.cli.domain_options import default_generator_path

        file = default_generator_path(None)
        extra_rows = _default_generator_rows(file)
    _, meta = _load(file, _wants_discriminator(file, discriminator))
    rows = extra_rows + describe(meta)
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        click.echo(f"{k + ':':<{width + 1}} {v}")


@click.command("convert")
@click.argument("src", type=click.Path(dir_okay=False))
@click.argument("dst", type=click.Path(dir_okay=False))
@click.option("--discriminator", is_flag=True, help="Convert the file's discriminator instead of its generator.")
def convert(src, dst, discriminator):
    """Convert SRC (any supported checkpoint) to latentedit's DST.safetensors.

    The output holds the config (inferred from tensor shapes and, for NVIDIA pickles, their constructor
    arguments), every tensor including w_avg and the constant noise maps, and where it came from. It is
    written atomically; outputs of the converted network equal the source's.

    \b
    Examples:
      latentedit convert stylegan2-ffhq-config-f.pkl ffhq.safetensors
      latentedit convert 550000.pt g.safetensors
      latentedit convert network-snapshot-001000.pkl d.safetensors --discriminator
    """
    from latentedit.io.checkpoints import CheckpointError, convert_checkpoint
    from latentedit.io.paths import check_output_file

    if Path(dst).suffix != ".safetensors":
        raise click.ClickException(f"{dst}: the output must end in .safetensors (latentedit's format)")
    check_output_file(dst, suffixes=(".safetensors",), flag="DST")
    if Path(dst).exists() and Path(src).exists() and Path(dst).resolve() == Path(src).resolve():
        raise click.ClickException(f"{dst}: the output would overwrite the input; choose another name")
    try:
        meta = convert_checkpoint(src, dst, discriminator=discriminator)
    except CheckpointError as exc:
        raise click.ClickException(str(exc)) from None
    cfg = meta.config
    what = "generator" if not discriminator else "discriminator"
    click.echo(f"wrote {dst}: {what} {cfg.resolution}x{cfg.resolution}, {meta.num_parameters:,} parameters, "
               f"from {meta.format} file {src}")
    if meta.w_avg_source is not None and meta.w_avg_source.startswith("computed"):
        click.echo(f"w_avg {meta.w_avg_source}")
