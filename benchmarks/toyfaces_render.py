"""Renders per second of the toy-faces renderer (CPU), per resolution and thread count.

    python benchmarks/toyfaces_render.py [--seconds 3] [--threads 1 2] [--resolutions 64 128]

Prints one line per setting: resolution, threads, batch, renders per wall-clock second and per CPU second (best
of 3 timed runs each). On a machine shared with other jobs the wall-clock figure drops with the load; renders per
CPU second (process CPU time, all threads) is the steadier measure of the renderer itself.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from latentedit_toyfaces.factors import sample_factors
from latentedit_toyfaces.renderer import render


def renders_per_second(resolution: int, batch: int, seconds: float) -> tuple[float, float]:
    """(best renders per wall second, best renders per CPU second) over 3 runs of ``seconds / 3`` each."""
    f = sample_factors(batch, 0)
    render(f, resolution)  # warm-up
    wall = cpu = 0.0
    for _ in range(3):
        n, start, cpu0 = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - start < seconds / 3:
            render(f, resolution)
            n += batch
        wall = max(wall, n / (time.perf_counter() - start))
        cpu = max(cpu, n / max(time.process_time() - cpu0, 1e-9))
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="time per setting")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--resolutions", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads available, load average "
          f"{os.getloadavg()[0]:.1f}")
    for res in args.resolutions:
        for threads in args.threads:
            torch.set_num_threads(threads)
            wall, cpu = renders_per_second(res, args.batch, args.seconds)
            print(f"resolution {res:4d}  threads {threads}  batch {args.batch}  {wall:8.0f} renders/s (wall)  "
                  f"{cpu:8.0f} renders per CPU-second")


if __name__ == "__main__":
    main()
