"""The native up-convolution (``ops.transposed_conv_up2``) against oneDNN's transposed convolution, per layer.

    python benchmarks/upconv.py [--rounds 9] [--threads 2] [--res 1024]

The six config-f up-sampling convolutions of a ``--res`` synthesis at batch 1 from 16 px on (3x3, stride 2, no
FIR), channels-last fp32 tensors and random weights, the two calls interleaved round by round; per layer: median ms,
GFLOP/s (2 x multiply-adds at the input resolution) and the median of the per-round ratios oneDNN / native. The
native kernel needs an AVX-512 build (``ops.up2_native``); elsewhere the script says so and stops.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--res", type=int, default=1024)
    args = ap.parse_args()
    from latentedit import ops
    from latentedit.ops.allocator import tune_malloc
    from latentedit.stylegan2 import channels_from_base

    tune_malloc()
    if args.threads:
        torch.set_num_threads(args.threads)
    ch = channels_from_base(args.res)
    probe = torch.zeros(1, 32, 2, 2).to(memory_format=torch.channels_last)
    if not ops.up2_native(probe, 32):
        print("the native up-convolution does not run here (no AVX-512 build, or LATENTEDIT_OPS=ref)")
        return
    print(f"threads={torch.get_num_threads()} cpu={torch.backends.cpu.get_cpu_capability()}, {args.rounds} rounds")
    torch.manual_seed(0)
    with torch.no_grad():
        for k in range(3, len(ch)):  # input resolutions 16, 32, ...
            i, o, h = ch[k - 1], ch[k], 2 ** (k + 1)
            x = torch.randn(1, i, h, h).to(memory_format=torch.channels_last)
            w = torch.randn(o, i, 3, 3) / (9 * i) ** 0.5
            w_io = w.transpose(0, 1).contiguous(memory_format=torch.channels_last)  # as the layers cache it
            packed = ops.up2_weight(w)
            calls = {"onednn": lambda: F.conv_transpose2d(x, w_io, stride=2),
                     "native": lambda: ops.transposed_conv_up2(x, packed)}
            diff = (calls["onednn"]() - calls["native"]()).abs().max().item()
            times: dict = {name: [] for name in calls}
            for _ in range(args.rounds):
                for name, fn in calls.items():
                    t0 = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - t0)
            flops = 2 * h * h * i * o * 9
            med = {name: statistics.median(t) for name, t in times.items()}
            ratio = statistics.median(a / b for a, b in zip(times["onednn"], times["native"]))
            print(f"{i:>3}->{o:<3} @{h:<4} oneDNN {med['onednn'] * 1e3:6.1f} ms ({flops / med['onednn'] / 1e9:3.0f} "
                  f"GFLOP/s)  native {med['native'] * 1e3:6.1f} ms ({flops / med['native'] / 1e9:3.0f} GFLOP/s)  "
                  f"{ratio:.2f}x  max |diff| {diff:.1e}", flush=True)


if __name__ == "__main__":
    main()
