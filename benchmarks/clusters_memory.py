"""Peak memory of style-code clusters at 1024 px: a pool of faces rendered, judged and encoded in chunks.

A random-weight StyleGAN2 config-f stand-in (official channel table, 1024 px, 18 x 512 W+) and a Sensorium style
mapper for it; ``face_style_codes`` renders the pool ``--batch-size`` faces at a time, then K-means picks the
cluster centres. Prints the peak resident set size (``ru_maxrss``) before and after, and the time taken.

    python benchmarks/clusters_memory.py --pool 256 --batch-size 4     # bar: peak RSS < 4 GB
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import torch


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # ru_maxrss is in KiB on Linux


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--n", type=int, default=8, help="cluster centres")
    ap.add_argument("--resolution", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))
    from latentedit.editing import face_style_codes
    from latentedit.editing import sampling as sm
    from latentedit.plugins.contract import GeneratorInfo
    from latentedit.stylegan2 import Generator, GeneratorConfig
    from latentedit.stylegan2.config import channels_from_base
    from latentedit_sensorium import SensoriumConfig, SensoriumMapper

    torch.manual_seed(0)
    cfg = GeneratorConfig(resolution=args.resolution, channels=channels_from_base(args.resolution))
    G = Generator(cfg).eval().requires_grad_(False)
    info = GeneratorInfo(num_ws=cfg.num_ws, w_dim=cfg.w_dim, attribute_names=("smile", "glasses", "age"),
                         resolution=args.resolution)
    mapper = SensoriumMapper(SensoriumConfig(), info).eval().requires_grad_(False)
    before = peak_rss_gb()
    t0 = time.perf_counter()
    with torch.no_grad():
        codes, note = face_style_codes(mapper, G, {}, pool=args.pool, seed=0, batch_size=args.batch_size)
        centres = sm.cluster_conditions(mapper, args.n, codes=codes, seed=0)
    took = time.perf_counter() - t0
    after = peak_rss_gb()
    print(f"clusters at {args.resolution}px: pool {args.pool}, batch size {args.batch_size}, {note}, "
          f"{tuple(centres.shape)} centres")
    print(f"peak RSS: {before:.2f} GB after loading, {after:.2f} GB after clustering; {took:.1f} s "
          f"({args.threads} thread(s))")
    return 0 if after < 4.0 else 1


if __name__ == "__main__":
    sys.exit(main())
