"""Native vs reference custom ops on the CPU, on the shapes StyleGAN2 config-f uses; plus the allocator effect.

    python benchmarks/ops.py                 # everything (a few minutes on 2 cores)
    python benchmarks/ops.py --quick         # fewer repeats
    python benchmarks/ops.py --json out.json

For each case: median (and min) wall time of the forward alone (no grad) and of forward+backward, after warm-up,
native and reference interleaved run by run (so both see the same machine load), and the ratio reference/native.
Targets (issue 3): fused_bias_act >= 2x, upfirdn2d >= 1.5x, nothing slower (``LATENTEDIT_OPS=auto`` routes a case
to the reference where that measured faster).

The allocator section runs the same op workload in fresh subprocesses, once with glibc's default malloc
(``LATENTEDIT_NO_MALLOC_TUNING=1``) and once after ``latentedit.ops.allocator.tune_malloc()``, and reports the
median time and minor page faults per pass.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch

# Tune (or not) before anything allocates: the subprocess probes decide this through the environment.
if __name__ == "__main__" and "--alloc-probe" not in sys.argv:
    from latentedit.ops import allocator

    allocator.tune_malloc()

from latentedit import ops  # noqa: E402
from latentedit.ops import _native  # noqa: E402
from latentedit.ops.bias_act_ref import fused_bias_act_ref  # noqa: E402
from latentedit.ops.upfirdn2d_ref import upfirdn2d_ref  # noqa: E402

F4_2D = ops.setup_filter([1, 3, 3, 1], separable=False)
F4_1D = ops.setup_filter([1, 3, 3, 1])


def _cases():
    """name, kind, shape, kwargs."""
    out = []
    for shape in [(4, 512, 64, 64), (1, 32, 1024, 1024)]:
        out.append((f"bias+lrelu {shape}", "bias_act", shape, dict(act="lrelu")))
    out.append(("bias+lrelu+clamp256 (4,512,64,64)", "bias_act", (4, 512, 64, 64), dict(act="lrelu", clamp=256.0)))
    out.append(("bias+linear (1,3,1024,1024)", "bias_act", (1, 3, 1024, 1024), dict(act="linear")))
    out.append(("bias+lrelu channels-last (4,512,64,64)", "bias_act_cl", (4, 512, 64, 64), dict(act="lrelu")))
    for act in ("relu", "tanh", "sigmoid", "elu", "selu", "softplus", "swish"):
        out.append((f"bias+{act} (4,512,32,32)", "bias_act", (4, 512, 32, 32), dict(act=act)))
    for shape in [(4, 512, 64, 64), (1, 32, 512, 512)]:
        for fname, f in (("4x4", F4_2D), ("4-tap 1-D", F4_1D)):
            out.append((f"up2 {fname} {shape}", "up", shape, dict(f=f)))
            out.append((f"down2 {fname} {shape}", "down", shape, dict(f=f)))
    out.append(("blur after up-conv 4x4 (1,32,1025,1025)", "blur", (1, 32, 1025, 1025), dict(f=F4_2D)))
    out.append(("blur after up-conv 4x4 (4,512,65,65)", "blur", (4, 512, 65, 65), dict(f=F4_2D)))
    out.append(("toRGB skip up2 4x4 (1,3,512,512)", "up", (1, 3, 512, 512), dict(f=F4_2D)))
    out.append(("D blur 4x4 pad (4,256,128,128)", "dblur", (4, 256, 128, 128), dict(f=F4_2D)))
    return out


def _fns(kind, shape, kw, mod):
    """(native_fn, ref_fn, make_inputs)."""
    c = shape[1]
    if kind.startswith("bias_act"):
        act, clamp = kw["act"], kw.get("clamp")
        a, g = _native_defaults(act)

        def make(grad):
            x = torch.randn(shape)
            if kind == "bias_act_cl":
                x = x.contiguous(memory_format=torch.channels_last)
            b = torch.randn(c)
            return x.requires_grad_(grad), b.requires_grad_(grad)

        return (lambda x, b: _native.bias_act(mod, x, b, 1, act, a, g, clamp),
                lambda x, b: fused_bias_act_ref(x, b, 1, act, a, g, clamp), make)
    f = kw["f"]
    fw = f.shape[-1]
    if kind == "up":
        p = ((fw + 1) // 2, (fw - 2) // 2, (fw + 1) // 2, (fw - 2) // 2)
        args = dict(up=2, down=1, padding=p, gain=4.0)
    elif kind == "down":
        p = ((fw - 1) // 2, (fw - 2) // 2, (fw - 1) // 2, (fw - 2) // 2)
        args = dict(up=1, down=2, padding=p, gain=1.0)
    elif kind == "blur":
        args = dict(up=1, down=1, padding=(1, 1, 1, 1), gain=4.0)
    else:  # dblur: the discriminator's blur before a stride-2 3x3 conv
        args = dict(up=1, down=1, padding=(2, 2, 2, 2), gain=1.0)

    def make(grad):
        return (torch.randn(shape).requires_grad_(grad),)

    up, down = (args["up"],) * 2, (args["down"],) * 2
    return (lambda x: _native.upfirdn2d(mod, x, f, up, down, args["padding"], False, args["gain"]),
            lambda x: upfirdn2d_ref(x, f, up=args["up"], down=args["down"], padding=args["padding"],
                                    gain=args["gain"]), make)


def _native_defaults(act):
    from latentedit.ops.bias_act_ref import resolve_activation

    _, a, g = resolve_activation(act, None, None)
    return a, g


def _time(fn, inputs, backward: bool) -> float:
    t0 = time.perf_counter()
    if backward:
        y = fn(*inputs)
        y.backward(torch.ones_like(y))
    else:
        with torch.no_grad():
            fn(*inputs)
    return time.perf_counter() - t0


def bench_case(name, kind, shape, kw, mod, runs, warmup):
    nat, ref, make = _fns(kind, shape, kw, mod)
    res = {"case": name}
    for mode in ("fwd", "fwd+bwd"):
        bw = mode == "fwd+bwd"
        inputs = make(bw)
        tn, tr = [], []
        for i in range(warmup + runs):
            for fn, acc in ((nat, tn), (ref, tr)) if i % 2 == 0 else ((ref, tr), (nat, tn)):
                for t in inputs:
                    t.grad = None
                dt = _time(fn, inputs, bw)
                if i >= warmup:
                    acc.append(dt)
        res[mode] = {"native_ms": 1e3 * statistics.median(tn), "ref_ms": 1e3 * statistics.median(tr),
                     "native_min_ms": 1e3 * min(tn), "ref_min_ms": 1e3 * min(tr),
                     "ratio": statistics.median(tr) / statistics.median(tn)}
    return res


# ---------------------------------------------------------------------------------------------------------------
# Allocator probe (runs in a subprocess)
# ---------------------------------------------------------------------------------------------------------------

def _alloc_workload(mod):
    """A synthesis-like chain at 256 px, batch 4: convs, bias+lrelu, FIR up/down, on fresh tensors each pass."""
    torch.manual_seed(0)
    convs = []
    chans = [(512, 512, 8), (512, 512, 16), (512, 512, 32), (512, 256, 64), (256, 128, 128), (128, 64, 256)]
    for ci, co, r in chans:
        convs.append((torch.randn(co, ci, 3, 3) / (ci * 9) ** 0.5, torch.randn(co), r))

    def run():
        x = torch.randn(4, 512, 4, 4)
        with torch.no_grad():
            for w, b, r in convs:
                x = ops.upsample2d(x, F4_2D) if x.shape[-1] < r else x
                x = torch.nn.functional.conv2d(x, w, padding=1)
                x = ops.fused_bias_act(x, b, act="lrelu")
            y = ops.downsample2d(x, F4_2D)
        return y

    return run


def alloc_probe(runs: int) -> dict:
    mod = _native.get_module("cpu")
    run = _alloc_workload(mod)
    for _ in range(2):
        run()
    ts, flts, sys_s, cpu_s = [], [], [], []
    for _ in range(runs):
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        run()
        ts.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        flts.append(r1.ru_minflt - r0.ru_minflt)
        sys_s.append(r1.ru_stime - r0.ru_stime)
        cpu_s.append(r1.ru_stime - r0.ru_stime + r1.ru_utime - r0.ru_utime)
    from latentedit.ops import allocator

    return {"median_s": statistics.median(ts), "min_s": min(ts), "minflt_per_pass": statistics.median(flts),
            "sys_s_per_pass": statistics.median(sys_s), "cpu_s_per_pass": statistics.median(cpu_s),
            "malloc": allocator.describe()}


def run_alloc_comparison(runs: int) -> dict:
    out = {}
    # alternate the two configurations (twice each) so that both see the same machine load; keep the faster run
    for label, env in (("default malloc", {"LATENTEDIT_NO_MALLOC_TUNING": "1"}),
                       ("tune_malloc()", {"LATENTEDIT_NO_MALLOC_TUNING": ""})) * 2:
        e = dict(os.environ)
        e.update(env)
        for v in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"):
            e.pop(v, None)
        code = ("import json,sys; sys.argv=['x','--alloc-probe']; import runpy; "
                "m = runpy.run_path(%r, run_name='probe'); "
                "from latentedit.ops import allocator; "
                "allocator.tune_malloc() if %r else None; "
                "print(json.dumps(m['alloc_probe'](%d)))" % (os.path.abspath(__file__), label != "default malloc",
                                                            runs))
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e)
        if r.returncode != 0:
            out[label] = {"error": r.stderr[-2000:]}
            continue
        res = json.loads(r.stdout.strip().splitlines()[-1])
        if label not in out or res["median_s"] < out[label].get("median_s", float("inf")):
            out[label] = res
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--only", default=None, help="substring filter on case names")
    ap.add_argument("--no-alloc", action="store_true", help="skip the allocator comparison")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)
    runs = args.runs or (3 if args.quick else 7)
    warmup = 1 if args.quick else 2

    mod = _native.get_module("cpu", strict=True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; median of {runs} after {warmup} warm-up")
    results = []
    hdr = f"{'case':<44} {'fwd nat/ref ms':>18} {'x':>6}   {'fwd+bwd nat/ref ms':>20} {'x':>6}"
    print(hdr)
    print("-" * len(hdr))
    for name, kind, shape, kw in _cases():
        if args.only and args.only not in name:
            continue
        r = bench_case(name, kind, shape, kw, mod, runs, warmup)
        results.append(r)
        a, b = r["fwd"], r["fwd+bwd"]
        print(f"{name:<44} {a['native_ms']:8.1f}/{a['ref_ms']:<8.1f} {a['ratio']:6.2f}   "
              f"{b['native_ms']:9.1f}/{b['ref_ms']:<9.1f} {b['ratio']:6.2f}", flush=True)
    out = {"cases": results}
    if not args.no_alloc:
        print("\nallocator (synthesis-like chain, 256 px, batch 4, no grad; fresh subprocess each):")
        alloc = run_alloc_comparison(runs)
        for label, r in alloc.items():
            if "error" in r:
                print(f"  {label:<16} ERROR {r['error']}")
            else:
                print(f"  {label:<16} median {r['median_s']:.3f} s (min {r['min_s']:.3f}), CPU {r['cpu_s_per_pass']:.2f} s "
                      f"of which system {r['sys_s_per_pass']:.2f} s, minor faults/pass {r['minflt_per_pass']:>9,.0f}"
                      f"   [{r['malloc']}]")
        d, t = alloc.get("default malloc", {}), alloc.get("tune_malloc()", {})
        if "median_s" in d and "median_s" in t:
            print(f"  tune_malloc(): wall {d['median_s'] / t['median_s']:.2f}x, CPU time "
                  f"{d['cpu_s_per_pass'] / t['cpu_s_per_pass']:.2f}x")
        out["allocator"] = alloc
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
