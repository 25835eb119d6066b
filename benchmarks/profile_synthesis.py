"""torch.profiler table of one synthesis pass (random config-f weights, fp32, no_grad), by op and input shape.

    python benchmarks/profile_synthesis.py [--sizes 1024:1,256:4] [--rows 15]

Prints, per size, the ops with the largest self CPU time grouped by input shapes (after one warm-up pass), then
the same totals grouped by op name only. Absolute times move with the machine's load; read the shares.
"""

from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1024:1,256:4")
    ap.add_argument("--rows", type=int, default=15)
    args = ap.parse_args()
    from latentedit.ops.allocator import tune_malloc
    from latentedit.stylegan2 import Generator, GeneratorConfig, channels_from_base

    tune_malloc()
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


if __name__ == "__main__":
    main()
