"""``latentedit ops``: native op kernels — ``status`` (what is built, where, what each device uses) and ``build``."""

from __future__ import annotations

import click

from latentedit.cli.json_output import json_option, write_json


@click.group("ops")
def ops():
    """Native op kernels (fused bias+activation, upfirdn2d): status and pre-build.

    \b
    Examples:
      latentedit ops status
      latentedit ops status --json
      latentedit ops build            # the CPU kernels (and CUDA ones if a GPU is visible)
      latentedit ops build --cuda     # e.g. in a Docker image; set TORCH_CUDA_ARCH_LIST for the target GPUs
    """


@ops.command("status")
@json_option("the full status")
def status_cmd(json_out: str | None):
    """Show what is built, where, what each device will use, and the last build error. Builds nothing."""
    from latentedit import ops as le_ops

    st = le_ops.status()
    st["cpu_synthesis"] = _cpu_synthesis()
    if json_out:
        write_json(st, json_out, indent=2, default=str)
        return
    click.echo(f"mode:        LATENTEDIT_OPS={st['mode']}   (auto | ref | native | strict)")
    click.echo(f"cache:       {st['cache_root']}")
    click.echo(f"torch:       {st['torch']}  ({st['cpu_threads']} CPU threads)")
    click.echo(f"malloc:      {st['malloc_tuned']}")
    if st["mode"] == "auto":
        from latentedit.ops._policy import CPU_REFERENCE_ACTS

        click.echo(f"auto:        native where built; on CPU {', '.join(sorted(CPU_REFERENCE_ACTS))} use the reference "
                   f"(measured faster)")
    cs = st["cpu_synthesis"]
    click.echo(f"cpu:         {cs['capability']}; synthesis inference {cs['layout']} ({cs['setting']}); "
               f"AVX-512 kernels (up-convolution, bf16 epilogue): {cs['avx512_kernels']}")
    click.echo("devices:")
    for dev, use in st["devices"].items():
        click.echo(f"  {dev:<12} {use}")
    for kind, info in st["kinds"].items():
        click.echo(f"{kind} extension ({info['module']}):")
        if info.get("built"):
            click.echo(f"  built:     yes, {info.get('built_at')} in {info.get('build_seconds')} s")
        else:
            click.echo("  built:     no")
        click.echo(f"  folder:    {info.get('folder')}")
        click.echo(f"  this run:  {info['in_process']}")
        if kind == "cuda":
            click.echo(f"  toolkit:   {info.get('cuda_home') or 'not found'} (nvcc {info.get('nvcc')}, torch CUDA "
                       f"{info.get('torch_cuda')}, archs {info.get('archs')})")
        if info.get("last_error"):
            click.echo("  last error:")
            for line in info["last_error"].rstrip().splitlines()[-14:]:
                click.echo(f"    {line}")


def _cpu_synthesis() -> dict:
    """What a CPU inference synthesis runs here: the layout (``LATENTEDIT_CHANNELS_LAST``) and whether the AVX-512
    kernels are in a ``-march=native`` build on this CPU (docs/ops.md). Loads nothing."""
    import torch

    from latentedit.ops._build import cpu_march
    from latentedit.stylegan2 import memory_format

    try:
        setting = memory_format.setting()
        cl = memory_format.channels_last_cpu_inference()
    except ValueError as err:
        setting, cl = f"invalid: {err}", False
    avx512, march = memory_format.avx512_cpu(), cpu_march()
    kernels = ("built with -march=native" if avx512 and march == "native"
               else f"depends on LATENTEDIT_OPS_MARCH={march}" if avx512
               else "not in this CPU's build (no AVX-512): oneDNN and the portable kernels run")
    return {"capability": torch.backends.cpu.get_cpu_capability(), "setting": f"{memory_format.ENV}={setting}",
            "layout": "channels-last" if cl else "NCHW", "avx512_kernels": kernels}


@ops.command("build")
@click.option("--cpu", "want_cpu", is_flag=True, help="Build the CPU kernels.")
@click.option("--cuda", "want_cuda", is_flag=True, help="Build the CUDA kernels (needs nvcc, not a GPU).")
@click.option("-v", "--verbose", is_flag=True, help="Show the compiler commands and output.")
def build_cmd(want_cpu: bool, want_cuda: bool, verbose: bool):
    """Pre-build the native kernels now (for Docker images and clusters). Without flags: the CPU kernels, plus the
    CUDA ones when a GPU is visible. Already-built configurations load from the cache in milliseconds."""
    import torch

    from latentedit import ops as le_ops
    from latentedit.ops import _native

    kinds = [k for k, on in (("cpu", want_cpu), ("cuda", want_cuda)) if on]
    if not kinds:
        kinds = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    failed = False
    for kind in kinds:
        try:
            info = le_ops.build((kind,), verbose=verbose)[kind]
        except Exception as exc:  # noqa: BLE001
            failed = True
            err = exc.__cause__ or exc
            click.echo(f"{kind}: FAILED\n{_native.describe_error(err)}", err=True)
            continue
        how = "cached" if info["cached"] else f"built in {info['seconds']:.1f} s"
        click.echo(f"{kind}: ok ({how}) -> {info['folder']}")
    if failed:
        raise SystemExit(1)
