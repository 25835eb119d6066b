"""Generator forward speed against this machine's practical peak, measured in the same run.

Config-f generator (512-d z/w, 8-layer mapping, stock channels) with random weights, fp32, no_grad:
1024 px at batch 1 and 256 px at batch 4. Executed FLOPs are counted with torch's FlopCounterMode (transposed
convs at input resolution: the MACs actually run). The peak is a 3x3 512->512 conv at 64x64 (batch 4) timed here.
Reported: median [min-max] seconds, GFLOP/s, the ratio to the peak, and peak RSS growth.

    python benchmarks/generator.py [--runs 5] [--precision fp32|bf16] [--sizes 1024:1,256:4]
"""

from __future__ import annotations

import argparse
import math
import resource
import statistics
import time

import torch
import torch.nn.functional as F


def timed(fn, runs: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of images nominally in [-1, 1] (peak-to-peak 2), UNCLAMPED: random config-f weights put 65-67%
    of the pixels outside [-1, 1], and a clamped PSNR would compare only the rest."""
    mse = (a.float() - b.float()).square().mean().item()
    return float("inf") if mse == 0 else 10 * math.log10(4 / mse)


def count_flops(fn) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def conv_peak(runs: int) -> float:
    """GFLOP/s of a 3x3 512->512 conv on (4, 512, 64, 64)."""
    x = torch.randn(4, 512, 64, 64)
    w = torch.randn(512, 512, 3, 3)
    flops = 2 * 4 * 512 * 512 * 9 * 64 * 64
    with torch.no_grad():
        t = statistics.median(timed(lambda: F.conv2d(x, w, padding=1), runs, warmup=2))
    return flops / t / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sizes", default="1024:1,256:4", help="resolution:batch pairs")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--no-malloc-tuning", action="store_true")
    args = ap.parse_args()
    if not args.no_malloc_tuning:
        try:
            from latentedit.ops.allocator import tune_malloc

            tune_malloc()
        except ImportError:
            pass
    from latentedit.stylegan2 import Generator, GeneratorConfig, channels_from_base

    torch.manual_seed(0)
    peak = conv_peak(args.runs)
    print(f"threads={torch.get_num_threads()} torch={torch.__version__} precision={args.precision}")
    print(f"peak (3x3 512->512 conv @64x64, batch 4): {peak:.1f} GFLOP/s")
    for item in args.sizes.split(","):
        res, batch = (int(v) for v in item.split(":"))
        G = Generator(GeneratorConfig(resolution=res, channels=channels_from_base(res))).eval()
        z = torch.randn(batch, 512)
        dtype = torch.bfloat16 if args.precision == "bf16" else None

        def run():
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype is not None):
                return G(z, noise_mode="random")

        flops = count_flops(lambda: G(z, noise_mode="random"))  # executed FLOPs do not depend on the dtype
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        times = timed(run, args.runs)
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        med = statistics.median(times)
        rate = flops / med / 1e9
        line = (f"{res}px batch {batch}: median {med:.3f} s [{min(times):.3f}-{max(times):.3f}], "
                f"{flops / batch / 1e9:.2f} GFLOP/img, {rate:.1f} GFLOP/s = {rate / peak:.2f} of peak, "
                f"{batch / med:.2f} img/s, peak RSS {rss1 / 1024:.0f} MiB (+{(rss1 - rss0) / 1024:.0f})")
        if dtype is not None:
            with torch.no_grad():
                ref = G(z, noise_mode="const")
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    low = G(z, noise_mode="const").float()
            with torch.no_grad():
                fp32_times = timed(lambda: G(z, noise_mode="random"), args.runs)
            line += (f"; bf16 vs fp32: PSNR {psnr(low, ref):.1f} dB, speed-up "
                     f"{statistics.median(fp32_times) / med:.2f}x")
        print(line)


if __name__ == "__main__":
    main()
