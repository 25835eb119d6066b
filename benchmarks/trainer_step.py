"""One mapper training step at 256 px (FFHQ layout), broken down, against the generator's own forward+backward.

Stand-ins with random weights (no downloads; the cost of a network does not depend on its weights):
generator = config-f channels at 256 px (14 W+ codes of 512); mapper = a residual MLP on W+ conditioned on the
target attributes (ISF-like, 4 layers of 512); attribute classifier = torchvision ResNet-18 (40 logits) at 256 px;
LPIPS(alex) with a random backbone (images pooled to 256); identity = facenet's InceptionResnetV1 (160 px crop).
Every loss network is frozen (``requires_grad_(False)``): the backward pass reaches the images, never their weights.

The step is timed in sections (median [min-max] over the rounds, fp32, batch 4 by default):
source image (no grad), mapper forward, edited image (generator forward with grad), each loss network forward and
its backward to the image, generator backward from the image gradient to W+, mapper backward, Adam step. The
generator's forward+backward alone (same batch, same W+) is timed in the same rounds: the bar is step <= 3x that.

    python benchmarks/trainer_step.py [--rounds 5] [--batch 4] [--threads 0]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict

import torch
import torch.nn as nn


class Mapper(nn.Module):
    """w_plus (B, L, D), target (B, A) -> edited w_plus: w + MLP([w, target]) per layer."""

    def __init__(self, w_dim: int, n_attr: int, hidden: int = 512, depth: int = 4):
        super().__init__()
        layers, d = [], w_dim + n_attr
        for _ in range(depth - 1):
            layers += [nn.Linear(d, hidden), nn.LeakyReLU(0.2)]
            d = hidden
        self.net = nn.Sequential(*layers, nn.Linear(d, w_dim))

    def forward(self, w, target):
        t = target.unsqueeze(1).expand(-1, w.shape[1], -1)
        return w + 0.1 * self.net(torch.cat([w, t], dim=-1))


def build(batch: int):
    import torchvision

    from latentedit.losses.identity import FaceNetEmbedder, identity_loss
    from latentedit.losses.perceptual import build_lpips, lpips_loss
    from latentedit.stylegan2 import Generator, GeneratorConfig, channels_from_base

    torch.manual_seed(0)
    G = Generator(GeneratorConfig(resolution=256, channels=channels_from_base(256))).eval().requires_grad_(False)
    classifier = torchvision.models.resnet18(num_classes=40).eval().requires_grad_(False)
    lpips = build_lpips("alex", pretrained_backbone=False)
    embedder = FaceNetEmbedder(pretrained=False).eval()
    mapper = Mapper(G.w_dim, 40)
    opt = torch.optim.Adam(mapper.parameters(), lr=1e-4)
    with torch.no_grad():
        w = G.mapping(torch.randn(batch, G.z_dim))
    target = torch.randint(0, 2, (batch, 40)).float()
    losses = {
        "attribute": lambda img: nn.functional.binary_cross_entropy_with_logits(classifier(img), target),
        "lpips": lambda img, src: lpips_loss(img, src, lpips),
        "identity": lambda img, src: identity_loss(embedder(img), embedder(src).detach()),
    }
    return G, mapper, opt, w, target, losses


def step(G, mapper, opt, w, target, losses, t: dict) -> None:
    def tick(name, t0):
        now = time.perf_counter()
        t[name].append(now - t0)
        return now

    t0 = time.perf_counter()
    with torch.no_grad():
        src = G.synthesis(w)
    t0 = tick("source image (no grad)", t0)
    w_edit = mapper(w, target)
    t0 = tick("mapper forward", t0)
    w_leaf = w_edit.detach().requires_grad_(True)
    img = G.synthesis(w_leaf)
    t0 = tick("generator forward (grad)", t0)
    img_leaf = img.detach().requires_grad_(True)
    for name, fn in losses.items():
        loss = fn(img_leaf) if name == "attribute" else fn(img_leaf, src)
        t0 = tick(f"{name} forward", t0)
        loss.backward()
        t0 = tick(f"{name} backward", t0)
    img.backward(img_leaf.grad)
    t0 = tick("generator backward", t0)
    w_edit.backward(w_leaf.grad)
    t0 = tick("mapper backward", t0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    tick("optimizer", t0)


def generator_fwd_bwd(G, w) -> None:
    w_leaf = w.detach().requires_grad_(True)
    G.synthesis(w_leaf).square().mean().backward()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    from latentedit.ops.allocator import tune_malloc

    tune_malloc()
    if args.threads:
        torch.set_num_threads(args.threads)
    G, mapper, opt, w, target, losses = build(args.batch)
    t: dict[str, list[float]] = defaultdict(list)
    step(G, mapper, opt, w, target, losses, defaultdict(list))          # warm-up
    generator_fwd_bwd(G, w)
    totals, gens = [], []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        step(G, mapper, opt, w, target, losses, t)
        totals.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        generator_fwd_bwd(G, w)
        gens.append(time.perf_counter() - t0)
    ratio = [a / b for a, b in zip(totals, gens)]
    print(f"threads={torch.get_num_threads()} batch={args.batch} rounds={args.rounds}")
    print(f"{'section':32s} median s  [min-max]   share of step")
    for k, v in t.items():
        print(f"{k:32s} {statistics.median(v):8.3f}  [{min(v):.3f}-{max(v):.3f}]  "
              f"{statistics.median(v) / statistics.median(totals):5.1%}")
    print(f"{'step total':32s} {statistics.median(totals):8.3f}  [{min(totals):.3f}-{max(totals):.3f}]")
    print(f"{'generator fwd+bwd alone':32s} {statistics.median(gens):8.3f}  [{min(gens):.3f}-{max(gens):.3f}]")
    print(f"step / generator fwd+bwd: {statistics.median(ratio):.2f}x [{min(ratio):.2f}-{max(ratio):.2f}] (bar <= 3x)")


if __name__ == "__main__":
    main()
