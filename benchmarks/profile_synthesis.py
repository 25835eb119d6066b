"""Where a synthesis pass spends its time (random config-f weights, fp32, no_grad), by op and input shape.

    python benchmarks/profile_synthesis.py [--sizes 1024:1,256:4] [--rows 15] [--timers [--passes 6]]

Default: torch.profiler's table of one pass (after one warm-up), the ops with the largest self CPU time grouped
by input shapes, then by op name only. A single profiled pass can overstate an op by 2x on a noisy machine, so
``--timers`` instead wraps the convolutions (plain, transposed, oneDNN-fused, the native up-convolution ``up2``)
and the fused up-sampling epilogue with wall-clock timers and reports, per op and (channels, width), the median
over ``--passes`` - 1 passes (the first is a warm-up) with its share of the median pass and, for convolutions,
GFLOP/s. Read the shares.
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1024:1,256:4")
    ap.add_argument("--rows", type=int, default=15)
    ap.add_argument("--timers", action="store_true", help="wall-clock timers around the main ops, several passes")
    ap.add_argument("--passes", type=int, default=6)
    args = ap.parse_args()
    from latentedit.ops.allocator import tune_malloc
    from latentedit.stylegan2 import Generator, GeneratorConfig, channels_from_base

    tune_malloc()
    if args.timers:
        for item in args.sizes.split(","):
            timers_table(*(int(v) for v in item.split(":")), passes=args.passes, rows=args.rows)
        return
    for item in args.sizes.split(","):
        res, batch = (int(v) for v in item.split(":"))
        torch.manual_seed(0)
        G = Generator(GeneratorConfig(resolution=res, channels=channels_from_base(res))).eval()
        with torch.no_grad():
            ws = G.mapping(torch.randn(batch, G.z_dim))
            G.synthesis(ws)
            with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
                G.synthesis(ws)
        total = sum(e.self_cpu_time_total for e in prof.key_averages())
        print(f"\n## {res} px batch {batch}: {total / 1e6:.2f} s self CPU time in ops")
        for group_by_shape in (True, False):
            rows = sorted(prof.key_averages(group_by_input_shape=group_by_shape),
                          key=lambda e: e.self_cpu_time_total, reverse=True)[:args.rows]
            print(f"\n| op | {'input shapes | ' if group_by_shape else ''}calls | self ms | share |")
            print(f"|---|{'---|' if group_by_shape else ''}---|---|---|")
            for e in rows:
                shapes = f" {e.input_shapes[:2]} |" if group_by_shape else ""
                print(f"| {e.key} |{shapes} {e.count} | {e.self_cpu_time_total / 1e3:.0f} | "
                      f"{e.self_cpu_time_total / total:.1%} |")


def timers_table(res: int, batch: int, *, passes: int, rows: int) -> None:
    import statistics
    import time
    from collections import defaultdict
    from unittest import mock

    import torch.nn.functional as F

    from latentedit import ops
    from latentedit.stylegan2 import Generator, GeneratorConfig, channels_from_base, onednn_fusion

    torch.manual_seed(0)
    G = Generator(GeneratorConfig(resolution=res, channels=channels_from_base(res))).eval()
    ws = G.mapping(torch.randn(batch, G.z_dim)).detach()
    now: dict = defaultdict(float)
    flops: dict = {}

    def timed(name, fn, conv):
        def run(*a, **k):
            t0 = time.perf_counter()
            y = fn(*a, **k)
            key = (name, a[0].shape[1], a[0].shape[-1])
            now[key] += time.perf_counter() - t0
            if name == "up2":  # the native up-convolution: x (N, I, H, W), packed (Nw, O/B, 3, 3, I, B)
                n, i, h, w = a[0].shape
                flops[key] = 2 * n * h * w * i * a[1].shape[1] * a[1].shape[5] * 9
            elif conv:  # 2 x multiply-adds, at the output (conv) or input (transposed) resolution; a grouped
                # per-sample call has batch 1 and B x O (or B x I) weight rows, a plain one batch B
                pix = a[0].shape[-1] * a[0].shape[-2] if name == "deconv" else y.shape[-1] * y.shape[-2]
                flops[key] = 2 * a[0].shape[0] * a[1].shape[0] * a[1].shape[1] * a[1].shape[2] * a[1].shape[3] * pix
            return y
        return run

    patches = [mock.patch.object(F, "conv2d", timed("conv", F.conv2d, True)),
               mock.patch.object(F, "conv_transpose2d", timed("deconv", F.conv_transpose2d, True)),
               mock.patch.object(ops, "transposed_conv_up2", timed("up2", ops.transposed_conv_up2, False)),
               mock.patch.object(ops, "upfirdn2d_bias_act", timed("fir_epilogue", ops.upfirdn2d_bias_act, False))]
    if onednn_fusion._OP is not None:
        patches.append(mock.patch.object(onednn_fusion, "_OP", timed("conv_fused", onednn_fusion._OP, True)))
    per_op: dict = defaultdict(list)
    totals = []
    with torch.no_grad():
        for p in patches:
            p.start()
        try:
            for i in range(passes):
                now.clear()
                t0 = time.perf_counter()
                G.synthesis(ws)
                if i:
                    totals.append(time.perf_counter() - t0)
                    for k, v in now.items():
                        per_op[k].append(v)
        finally:
            for p in patches:
                p.stop()
    total = statistics.median(totals)
    print(f"\n## {res} px batch {batch}: median pass {total:.3f} s over {len(totals)} passes")
    print("\n| op | channels in, width in | median ms | share of pass | GFLOP/s |\n|---|---|---|---|---|")
    ranked = sorted(((statistics.median(v), k) for k, v in per_op.items()), reverse=True)
    for m, k in ranked[:rows]:
        rate = f"{flops[k] / m / 1e9:.0f}" if k in flops else ""
        print(f"| {k[0]} | {k[1]}, {k[2]} | {m * 1e3:.1f} | {m / total:.1%} | {rate} |")
    for name in ("conv", "conv_fused", "deconv", "up2", "fir_epilogue"):
        part = sum(m for m, k in ranked if k[0] == name)
        print(f"{name}: {part / total:.1%} of the pass")


if __name__ == "__main__":
    main()
