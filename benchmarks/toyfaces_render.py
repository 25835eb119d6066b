"""Renders per second of the toy-faces renderer (CPU), per resolution and thread count.

    python benchmarks/toyfaces_render.py [--seconds 3] [--threads 1 2] [--resolutions 64 128]

Prints one line per setting: resolution, threads, batch, renders/s (best of 3 timed runs).
"""

from __future__ import annotations

import argparse
import time

import torch

from latentedit.toyfaces.factors import sample_factors
from latentedit.toyfaces.renderer import render


def renders_per_second(resolution: int, batch: int, seconds: float) -> float:
    f = sample_factors(batch, 0)
    render(f, resolution)  # warm-up
    best = 0.0
    for _ in range(3):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 3:
            render(f, resolution)
            n += batch
        best = max(best, n / (time.perf_counter() - start))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="time per setting")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--resolutions", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads available")
    for res in args.resolutions:
        for threads in args.threads:
            torch.set_num_threads(threads)
            rate = renders_per_second(res, args.batch, args.seconds)
            print(f"resolution {res:4d}  threads {threads}  batch {args.batch}  {rate:8.0f} renders/s")


if __name__ == "__main__":
    main()
