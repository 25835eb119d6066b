"""Mapper-trainer speed: steps/s with each loss on and off, the rollback snapshot's cost, and 2-process gloo scaling.

Generator: the toy-faces default architecture (64 px, w_dim 128, channels 256-32, as ``DistillConfig``) with random
weights (the shipped generator is not needed for speed). Mapper: the toy noise mapper (MLP, hidden 512, z 16).
Judges: the toy-faces attribute/identity CNN architecture with random weights; LPIPS(alex) with a random backbone
(same cost as the pretrained one). Every configuration starts from the base losses {attribute, latent_l2} and
turns one more on. Times are medians of per-step times after warm-up, fp32, on CPU unless CUDA is present; with one
CPU thread the loss table reports process CPU seconds (steadier than wall time on a shared machine). The gloo
table reports wall time (the point of more processes).

    python benchmarks/trainer.py [--steps 8] [--batch 8] [--threads 1] [--skip-ddp] [--skip-losses]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch
import torch.multiprocessing as mp

BASE = {"attribute": 1.0, "latent_l2": 0.01}
EXTRA = [
    ("base (attribute + latent_l2)", {}),
    ("+ lpips", {"lpips": 1.0}),
    ("+ identity", {"identity": 0.1}),
    ("+ neighbourhood", {"neighbourhood": 0.01}),
    ("+ latent_cycle", {"latent_cycle": 1.0}),
    ("+ image_cycle", {"image_cycle": 1.0}),
    ("+ lpips_cycle", {"lpips_cycle": 1.0}),
    ("+ diversity", {"diversity": 0.1}),
    ("+ joint D (adversarial + R1)", {"adversarial": 0.5, "r1": 1.0}),
    ("all of the above", {}),
]


def world(device):
    from latentedit.stylegan2 import Generator
    from latentedit_toyfaces.judges import JudgeNet, default_config
    from latentedit_toyfaces.recipes.distill import DistillConfig

    torch.manual_seed(0)
    G = Generator(DistillConfig().generator_config()).eval().requires_grad_(False).to(device)
    judge = JudgeNet(default_config("attributes")).eval().to(device)
    embedder = JudgeNet(default_config("identity")).eval().to(device)
    return G, judge, embedder


def make_trainer(G, judge, embedder, weights, *, batch, steps, out, ctx=None):
    from latentedit.training.config import build_run_config
    from latentedit.training.toys import ToyNoiseMapper
    from latentedit.training.trainer import MapperTrainer

    joint = "adversarial" in weights
    full = {name: 0.0 for name in ("diversity",)} | BASE | weights
    tc = {"steps": steps, "batch": batch, "progress": False, "sample_count": 0, "checkpoint_interval": 0,
          "loss_weights": full, "discriminator": "joint" if joint else "frozen",
          "losses": {"lpips_pretrained_backbone": False}}
    run = build_run_config("toy-noise", ToyNoiseMapper, {"mapper": {"hidden": 512, "z_dim": 16}, "trainer": tc})
    return MapperTrainer(run, G, out, mapper_class=ToyNoiseMapper, classifier=judge, embedder=embedder, ctx=ctx)


def time_steps(trainer, steps: int, warmup: int = 2, *, cpu: bool = False) -> list[float]:
    """Per-step wall seconds (``cpu=True``: this process's CPU seconds, steadier on a shared machine)."""
    clock = time.process_time if cpu else time.perf_counter
    times = []
    for s in range(warmup + steps):
        t0 = clock()
        trainer.runner.run(s)
        if s >= warmup:
            times.append(clock() - t0)
    return times


def bench_losses(args, device):
    G, judge, embedder = world(device)
    everything = {}
    for _, extra in EXTRA[:-1]:
        everything.update(extra)
    cpu = device.type == "cpu" and torch.get_num_threads() == 1
    unit = "CPU s/step" if cpu else "s/step"
    print(f"{'configuration':34s} {unit:>10s} {'steps/s':>8s}  (batch {args.batch}, {device}, "
          f"{torch.get_num_threads()} thread(s); median of {args.steps})")
    for name, extra in EXTRA:
        weights = everything if name.startswith("all") else extra
        with tempfile.TemporaryDirectory() as d:
            t = make_trainer(G, judge, embedder, weights, batch=args.batch, steps=10**6, out=d)
            med = statistics.median(time_steps(t, args.steps, cpu=cpu))
        print(f"{name:34s} {med:10.3f} {1 / med:8.2f}", flush=True)
    with tempfile.TemporaryDirectory() as d:
        t = make_trainer(G, judge, embedder, everything, batch=args.batch, steps=10**6, out=d)
        snap = statistics.median(timed_snapshot(t, 20))
    n = sum(p.numel() for m in t.modules.values() for p in m.parameters())
    print(f"rollback snapshot (all modules + optimisers, {n / 1e6:.2f} M params): {snap * 1e3:.2f} ms/step")


def timed_snapshot(trainer, n):
    trainer.runner.run(0)
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        trainer.runner.snapshot.take()
        out.append(time.perf_counter() - t0)
    return out


def _ddp_worker(rank, world_size, store, args, queue):
    from latentedit.training.distributed import DistContext

    torch.set_num_threads(args.threads)
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world_size), "LOCAL_RANK": str(rank)})
    ctx = DistContext.from_env("cpu", init_method=f"file://{store}") if world_size > 1 else DistContext()
    G, judge, embedder = world("cpu")
    with tempfile.TemporaryDirectory() as d:
        t = make_trainer(G, judge, embedder, {"lpips": 1.0}, batch=args.batch, steps=10**6, out=d, ctx=ctx)
        t.runner.wrap_ddp()
        ctx.barrier()
        times = time_steps(t, args.steps)
    ctx.close()
    if rank == 0:
        queue.put(statistics.median(times))


def bench_ddp(args):
    ctx = mp.get_context("spawn")
    print(f"\ngloo DDP scaling, base + lpips, global batch {args.batch}, {args.threads} thread(s) per process:")
    base = None
    for world_size in (1, 2):
        with tempfile.TemporaryDirectory() as d:
            q = ctx.Queue()
            mp.spawn(_ddp_worker, args=(world_size, os.path.join(d, "store"), args, q), nprocs=world_size)
            med = q.get()
        base = base or med
        print(f"  {world_size} process(es): {med:.3f} s/step, {1 / med:.2f} steps/s, speed-up {base / med:.2f}x",
              flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=8, help="timed steps per configuration (after 2 warm-up steps)")
    ap.add_argument("--batch", type=int, default=8, help="global batch")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (per process)")
    ap.add_argument("--skip-ddp", action="store_true", help="skip the gloo scaling measurement")
    ap.add_argument("--skip-losses", action="store_true", help="skip the per-loss table")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not args.skip_losses:
        bench_losses(args, device)
    if not args.skip_ddp:
        bench_ddp(args)


if __name__ == "__main__":
    main()
