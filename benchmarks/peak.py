"""Share of this machine's conv peak, measured as ratios against the peak timed interleaved in the same run.

The peak is a 3x3 512->512 convolution on (4, 512, 64, 64). Every candidate runs once per round, round-robin with
the peak, so each ratio sees the same machine load; reported: the median over the rounds and [min-max] of the
per-round ratios (the spread). Two parts:

* ``--upconv``: the x2 up-sampling convolutions of config-f (1024 px batch 1, 256 px batch 4 shapes), three exact
  evaluations of the same linear map: the transposed convolution + [1,3,3,1] FIR that the generator uses
  (``ref``), the same with channels-last tensors (``ref-cl``), and the sub-pixel (polyphase) convolution on the
  low-resolution input with the FIR folded into four 3x3 phase kernels (``polyphase``, see
  ``polyphase_up_weight``). Share = the up-conv's executed FLOPs (transposed conv at input resolution) / time,
  over the peak rate.
* ``--bf16``: which layers gain speed from bf16 (each 3x3 convolution and up-convolution of 1024 px batch 1,
  fp32 time / bf16 time interleaved), then the whole synthesis under bf16 autocast with each precision policy
  (``latentedit.stylegan2.precision.MixedPrecision``): speed-up over fp32 (interleaved) and PSNR against fp32 on
  the same latents, on UNCLAMPED outputs (peak-to-peak 2), for random config-f weights and the shipped toy
  generator.
* ``--synthesis``: the whole synthesis network (random config-f weights, fp32, no_grad), share = executed FLOPs
  (FlopCounterMode) / time over the peak rate.
* ``--against-build SO``: the synthesis with this build of the native CPU ops against another build of them (the
  ``.so`` of e.g. ``LATENTEDIT_OPS_EXTRA_CFLAGS=-ftrapping-math``), swapped in the same process, interleaved.
* ``--layout``: the synthesis with channels-last activations (``LATENTEDIT_CHANNELS_LAST=1``) against NCHW (``0``),
  interleaved, noise strength 0 and 0.1; ``--synthesis`` itself runs what ``auto`` picks on this host.
* ``--fusion``: the synthesis with the CPU inference fusions (oneDNN conv + bias + lrelu; the native FIR + noise +
  bias + lrelu epilogue) against the same network with both turned off, interleaved, for random config-f weights
  (noise strength 0, as the issue measures) and the same weights with every noise strength 0.1 (a trained
  generator adds noise, so only the FIR epilogue applies).

    python benchmarks/peak.py [--rounds 7] [--upconv] [--bf16] [--synthesis [--device cuda]] [--fusion]
                              [--layout] [--against-build SO] [--sizes 1024:1,256:4]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import time

import torch
import torch.nn.functional as F

PEAK_FLOPS = 2 * 4 * 512 * 512 * 9 * 64 * 64


def polyphase_up_weight(weight: torch.Tensor, taps=(1.0, 3.0, 3.0, 1.0)) -> torch.Tensor:
    """Fold ``conv_transpose(stride 2) -> FIR(taps, gain 4, padding 1)`` into a sub-pixel convolution.

    weight: (..., O, I, 3, 3) as ``modulated_conv2d`` takes it. Returns (..., 4*O, I, 3, 3) for ``conv2d(x, w,
    padding=1)`` followed by ``pixel_shuffle(2)``: output channel ``4*o + 2*qy + qx`` is output pixel phase
    (qy, qx). Phase q, low-resolution offset j-1 takes ``g[t] * w[k]`` with ``t = 2*(j-1) + 1 + k - q``, where g
    is the per-axis FIR with gain 2 (gain 4 over both axes).
    """
    if weight.shape[-2:] != (3, 3):
        raise ValueError(f"polyphase_up_weight folds 3x3 kernels; got {tuple(weight.shape)}")
    g = torch.tensor(taps, dtype=weight.dtype, device=weight.device)
    g = g * (2.0 / g.sum())
    m = torch.zeros(2, 3, 3, dtype=weight.dtype, device=weight.device)      # (phase q, offset j, tap k)
    for q in range(2):
        for j in range(3):
            for k in range(3):
                t = 2 * (j - 1) + 1 + k - q
                if 0 <= t < g.numel():
                    m[q, j, k] = g[t]
    # (qy, jy, ky) x (qx, jx, kx) x (..., o, i, ky, kx) -> (..., o, qy, qx, i, jy, jx)
    w = torch.einsum("yak,xbl,...oikl->...oyxiab", m, m, weight)
    return w.reshape(*weight.shape[:-4], 4 * weight.shape[-4], weight.shape[-3], 3, 3)


def up_conv_polyphase(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(B, I, H, W), (O, I, 3, 3) -> (B, O, 2H, 2W): the same map as ``modulated_conv2d(..., up=2)`` unmodulated."""
    return F.pixel_shuffle(F.conv2d(x, polyphase_up_weight(weight), padding=1), 2)


def up_conv_reference(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    from latentedit.stylegan2.layers import modulated_conv2d

    styles = torch.ones(x.shape[0], x.shape[1], dtype=x.dtype, device=x.device)
    return modulated_conv2d(x, weight, styles, demodulate=False, up=2, fused=False)


def _sync() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def interleaved(cands: dict, rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each candidate, one call per round each, round-robin (after one warm-up call each)."""
    for fn in cands.values():
        fn()
    times = {k: [] for k in cands}
    for _ in range(rounds):
        for k, fn in cands.items():
            _sync()
            t = time.perf_counter()
            fn()
            _sync()
            times[k].append(time.perf_counter() - t)
    return times


def shares(times: dict, flops: dict, peak_key: str = "peak") -> dict[str, tuple[float, float, float]]:
    """{name: (median, min, max)} of per-round (flops/t) / (peak flops/t_peak)."""
    out = {}
    for k, ts in times.items():
        if k == peak_key:
            continue
        r = [(flops[k] / t) / (PEAK_FLOPS / tp) for t, tp in zip(ts, times[peak_key])]
        out[k] = (statistics.median(r), min(r), max(r))
    return out


def _peak_fn(device="cpu"):
    xp, wp = torch.randn(4, 512, 64, 64, device=device), torch.randn(512, 512, 3, 3, device=device)
    return lambda: F.conv2d(xp, wp, padding=1)


def config_f(res: int, batch: int, device: str = "cpu"):
    """A random config-f generator at ``res`` (seed 0) and a (batch, num_ws, 512) W+ from its mapping."""
    from latentedit.stylegan2 import Generator, GeneratorConfig, channels_from_base

    torch.manual_seed(0)
    G = Generator(GeneratorConfig(resolution=res, channels=channels_from_base(res))).eval().to(device)
    return G, G.mapping(torch.randn(batch, G.z_dim, device=device)).detach()


def synthesis_flops(G, ws) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        G.synthesis(ws)
    return counter.get_total_flops()


def noise_variants(sizes):
    """(res, batch, G, ws, strength): random config-f at each size with every noise strength 0 (the issue's
    measurement), then 0.1 (a trained generator adds noise)."""
    for res, batch in sizes:
        G, ws = config_f(res, batch)
        for strength in (0.0, 0.1):
            for layer in G.synthesis.noise_layers():
                layer.noise_strength.data.fill_(strength)
            yield res, batch, G, ws, strength


def ab_times(rounds: int, new, old):
    """new and old synthesis callables interleaved with the peak: (times, speed-ups old/new per round, max |diff|)."""
    with torch.no_grad():
        diff = (new() - old()).abs().max().item()
        times = interleaved({"peak": _peak_fn(), "new": new, "old": old}, rounds)
    return times, [o / n for o, n in zip(times["old"], times["new"])], diff


def upconv_table(rounds: int, sizes) -> None:
    from latentedit.stylegan2 import channels_from_base

    for res, batch in sizes:
        ch = channels_from_base(res)
        print(f"\nup-convolutions of {res} px batch {batch} (share of peak: median [min-max] over {rounds} rounds)")
        for r_idx in range(1, len(ch)):
            i, o, h = ch[r_idx - 1], ch[r_idx], 2 ** (r_idx + 1)
            if h < 16:
                continue
            x, w = torch.randn(batch, i, h, h), torch.randn(o, i, 3, 3)
            xc = x.contiguous(memory_format=torch.channels_last)
            with torch.no_grad():
                err = (up_conv_polyphase(x, w) - up_conv_reference(x, w)).abs().max().item()
                cands = {"peak": _peak_fn(), "ref": lambda: up_conv_reference(x, w),
                         "ref-cl": lambda: up_conv_reference(xc, w).contiguous(),
                         "polyphase": lambda: up_conv_polyphase(x, w)}
                times = interleaved(cands, rounds)
            fl = 2 * batch * i * o * 9 * h * h
            s = shares(times, {k: fl for k in cands})
            cells = "  ".join(f"{k} {statistics.median(times[k]) * 1e3:.0f} ms {m:.2f} [{lo:.2f}-{hi:.2f}]"
                              for k, (m, lo, hi) in s.items())
            print(f"  {i}->{o} @{h}->{2 * h}: {cells}  (polyphase max |diff| {err:.1e})", flush=True)


def synthesis_table(rounds: int, sizes, device: str = "cpu") -> None:
    for res, batch in sizes:
        G, ws = config_f(res, batch, device)
        fl = synthesis_flops(G, ws)
        with torch.no_grad():
            times = interleaved({"peak": _peak_fn(device), "synthesis": lambda: G.synthesis(ws)}, rounds)
        m, lo, hi = shares(times, {"synthesis": fl})["synthesis"]
        print(f"synthesis {res} px batch {batch} on {device}: {statistics.median(times['synthesis']):.3f} s, "
              f"peak {PEAK_FLOPS / statistics.median(times['peak']) / 1e9:.0f} GFLOP/s, "
              f"share of peak {m:.2f} [{lo:.2f}-{hi:.2f}]", flush=True)


@contextlib.contextmanager
def unfused():
    """The synthesis without its CPU inference shortcuts: plain convolution then bias+act, FIR then noise then
    bias+act (each still native), ToRGB as a batched matrix product, weight-only quantities (kernel energy,
    transposed weights) recomputed every pass."""
    from latentedit import ops
    from latentedit.stylegan2 import layers, onednn_fusion

    saved = onednn_fusion._OP, ops._epilogue_module, ops._pointwise_module, layers.derived_weight
    onednn_fusion._OP, ops._epilogue_module = None, lambda *args: None  # upfirdn2d_bias_act runs its separate ops
    ops._pointwise_module = lambda *args: None
    layers.derived_weight = lambda weight, name, fn: fn(weight)
    try:
        yield
    finally:
        onednn_fusion._OP, ops._epilogue_module, ops._pointwise_module, layers.derived_weight = saved


def fusion_table(rounds: int, sizes) -> None:
    for res, batch, G, ws, strength in noise_variants(sizes):
        fl = synthesis_flops(G, ws)

        def plain():
            with unfused():
                return G.synthesis(ws)

        times, r, diff = ab_times(rounds, lambda: G.synthesis(ws), plain)
        sh = shares(times, {"old": fl, "new": fl})
        print(f"{res} px batch {batch}, noise strength {strength}: fused {statistics.median(times['new']):.3f} s "
              f"vs unfused {statistics.median(times['old']):.3f} s, speed-up {statistics.median(r):.3f}x "
              f"[{min(r):.2f}-{max(r):.2f}]; share of peak {sh['old'][0]:.2f} -> {sh['new'][0]:.2f} "
              f"[{sh['new'][1]:.2f}-{sh['new'][2]:.2f}]; max |diff| {diff:.1e}", flush=True)


@contextlib.contextmanager
def synthesis_layout(value: str):
    """``LATENTEDIT_CHANNELS_LAST`` set to ``value`` ("0": NCHW, "1": channels-last) inside the block."""
    import os

    from latentedit.stylegan2 import memory_format

    old = os.environ.get(memory_format.ENV)
    os.environ[memory_format.ENV] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(memory_format.ENV)
        else:
            os.environ[memory_format.ENV] = old


def layout_table(rounds: int, sizes) -> None:
    """Channels-last synthesis against NCHW, interleaved with the peak (random config-f, noise strength 0 and 0.1)."""
    for res, batch, G, ws, strength in noise_variants(sizes):
        fl = synthesis_flops(G, ws)

        def run(value):
            def fn():
                with synthesis_layout(value):
                    return G.synthesis(ws)
            return fn

        times, r, diff = ab_times(rounds, run("1"), run("0"))
        sh = shares(times, {"old": fl, "new": fl})
        print(f"{res} px batch {batch}, noise strength {strength}: "
              f"channels-last {statistics.median(times['new']):.3f} s "
              f"vs NCHW {statistics.median(times['old']):.3f} s, speed-up {statistics.median(r):.3f}x "
              f"[{min(r):.2f}-{max(r):.2f}]; share of peak {sh['old'][0]:.2f} -> {sh['new'][0]:.2f} "
              f"[{sh['new'][1]:.2f}-{sh['new'][2]:.2f}]; max |diff| {diff:.1e}", flush=True)


def build_table(rounds: int, sizes, so_path: str) -> None:
    import importlib.util

    from latentedit.ops import _native

    spec = importlib.util.spec_from_file_location("latentedit_ops_cpu", so_path)
    other = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(other)
    this = _native.get_module("cpu", strict=True)
    state = _native.state("cpu")

    def with_module(mod, fn):
        def run():
            state.module = mod
            try:
                return fn()
            finally:
                state.module = this
        return run

    for res, batch, G, ws, strength in noise_variants(sizes):
        times, r, diff = ab_times(rounds, with_module(this, lambda: G.synthesis(ws)),
                                  with_module(other, lambda: G.synthesis(ws)))
        print(f"{res} px batch {batch}, noise strength {strength}: this build {statistics.median(times['new']):.3f} s "
              f"vs other {statistics.median(times['old']):.3f} s: {statistics.median(r):.3f}x "
              f"[{min(r):.2f}-{max(r):.2f}]; max |diff| {diff:.1e}", flush=True)


def psnr_unclamped(a: torch.Tensor, ref: torch.Tensor) -> float:
    """PSNR in dB with peak-to-peak 2 (images nominally in [-1, 1]), without clamping either image."""
    mse = (a.float() - ref.float()).square().mean().item()
    return float("inf") if mse == 0 else 10 * math.log10(4 / mse)


POLICIES = {
    "autocast only": dict(modulation=False, torgb=False, upconv_from=None),
    "fp32 modulation": dict(modulation=True, torgb=False, upconv_from=None),
    "fp32 modulation+torgb (default)": {},
    "+ up-convs >=512 px": dict(upconv_from=512),
    "+ all up-convs": dict(upconv_from=8),
    "default + all of 1024 px": dict(from_resolution=1024),
}


def bf16_layer_table(rounds: int) -> None:
    from latentedit.stylegan2 import channels_from_base

    ch = channels_from_base(1024)
    print(f"\nbf16 speed-up per layer at 1024 px batch 1 (fp32 time / bf16 time, median [min-max], {rounds} rounds)")
    for r_idx in range(2, len(ch)):
        i, o, h = ch[r_idx - 1], ch[r_idx], 2 ** (r_idx + 1)
        x, w = torch.randn(1, i, h, h), torch.randn(o, i, 3, 3)
        x2, w2 = torch.randn(1, o, 2 * h, 2 * h), torch.randn(o, o, 3, 3)
        xb, wb, x2b, w2b = x.bfloat16(), w.bfloat16(), x2.bfloat16(), w2.bfloat16()
        with torch.no_grad():
            times = interleaved({"up": lambda: up_conv_reference(x, w), "up16": lambda: up_conv_reference(xb, wb),
                                 "conv": lambda: F.conv2d(x2, w2, padding=1),
                                 "conv16": lambda: F.conv2d(x2b, w2b, padding=1)}, rounds)
        cells = []
        for k in ("up", "conv"):
            r = [a / b for a, b in zip(times[k], times[k + "16"])]
            cells.append(f"{k} {i if k == 'up' else o}->{o} {statistics.median(times[k]) * 1e3:.0f} ms: "
                         f"{statistics.median(r):.2f}x [{min(r):.2f}-{max(r):.2f}]")
        print(f"  @{2 * h}: " + "  ".join(cells), flush=True)


def bf16_policy_table(rounds: int, sizes) -> None:
    from latentedit.io.checkpoints import load_generator
    from latentedit.stylegan2.precision import mixed_precision

    def run(G, ws, policy=None):
        def fn():
            if policy is None:
                return G.synthesis(ws)
            with mixed_precision(**policy), torch.autocast("cpu", dtype=torch.bfloat16):
                return G.synthesis(ws).float()
        return fn

    toy = None
    try:  # the toy-faces domain's shipped generator (a plugin: the column is skipped, said so, without it)
        from latentedit_toyfaces.assets import DEFAULT_GENERATOR, asset_path

        toy = load_generator(asset_path(DEFAULT_GENERATOR))[0].eval()
    except (ImportError, FileNotFoundError) as exc:
        print(f"no toy-generator column: {exc}")
    for res, batch in sizes:
        G, ws = config_f(res, batch)
        with torch.no_grad():
            ref = run(G, ws)()
            cands = {"fp32": run(G, ws)} | {k: run(G, ws, p) for k, p in POLICIES.items()}
            times = interleaved(cands, rounds)
            toy_ref = toy_ws = None
            if toy is not None:
                toy_ws = toy.mapping(torch.randn(16, toy.z_dim, generator=torch.Generator().manual_seed(0)))
                toy_ref = run(toy, toy_ws)()
            print(f"\nbf16 policies, synthesis {res} px batch {batch} (speed-up = fp32/bf16 per round, median "
                  f"[min-max]; PSNR unclamped vs fp32, random config-f | toy generator 16 samples)")
            for k, p in POLICIES.items():
                r = [a / b for a, b in zip(times["fp32"], times[k])]
                toy_db = psnr_unclamped(run(toy, toy_ws, p)(), toy_ref) if toy is not None else float("nan")
                print(f"  {k:34s} {statistics.median(r):.2f}x [{min(r):.2f}-{max(r):.2f}]  "
                      f"PSNR {psnr_unclamped(run(G, ws, p)(), ref):.1f} dB | toy {toy_db:.1f} dB", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--sizes", default="1024:1,256:4", help="resolution:batch pairs")
    ap.add_argument("--upconv", action="store_true")
    ap.add_argument("--synthesis", action="store_true")
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--fusion", action="store_true")
    ap.add_argument("--layout", action="store_true", help="channels-last synthesis against NCHW")
    ap.add_argument("--against-build", default=None, metavar="SO", help="another build of the native CPU ops")
    ap.add_argument("--device", default="cpu", help="--synthesis only: cpu or cuda")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    from latentedit.ops.allocator import tune_malloc

    tune_malloc()
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = [tuple(int(v) for v in item.split(":")) for item in args.sizes.split(",")]
    from latentedit.stylegan2 import memory_format

    print(f"threads={torch.get_num_threads()} torch={torch.__version__} cpu={torch.backends.cpu.get_cpu_capability()} "
          f"{memory_format.ENV}={memory_format.setting()}")
    everything = not (args.upconv or args.synthesis or args.bf16 or args.fusion or args.layout or args.against_build)
    if args.upconv or everything:
        upconv_table(args.rounds, sizes)
    if args.synthesis or everything:
        synthesis_table(args.rounds, sizes, args.device)
    if args.against_build:
        build_table(args.rounds, sizes, args.against_build)
    if args.fusion or everything:
        fusion_table(args.rounds, sizes)
    if args.layout or everything:
        layout_table(args.rounds, sizes)
    if args.bf16 or everything:
        bf16_layer_table(args.rounds)
        bf16_policy_table(args.rounds, sizes)


if __name__ == "__main__":
    main()
