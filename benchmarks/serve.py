"""`latentedit serve`: latency from a slider move to a new image, p50 / p95, on CPU.

Each move is one POST /api/edit (a new smile amount, the next sequence number) through the app in process
(FastAPI's TestClient: routing, JSON, the edit, the render, PNG encoding and base64 included; the browser's own
decode and paint are not), waited for before the next move, as a user dragging slowly sees it.

- toy: the shipped toy-faces default (64 px), every shipped method, ``--moves`` moves each (default 50), on a
  generator sample; then the paste-back of the same edits into scikit-image's astronaut (512 px photo).
- 1024: a config-f generator (1024 px, 512-d W, 18 layers) with random weights, and a random linear-direction
  mapper (the mapper's cost is negligible next to the synthesis), ``--moves-1024`` moves (default 10: a 1024 px
  render takes seconds on this CPU).

    python benchmarks/serve.py [--moves 50] [--moves-1024 10] [--threads 1] [--skip-1024]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    k = (len(s) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def client_for(state):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from latentedit.serve import create_app

    return TestClient(create_app(state))


def slider_moves(client, item_id: str, method: str, moves: int, page: str) -> tuple[list[float], list[str]]:
    """Seconds per move and the edit ids; the smile amount sweeps -2..2 and back."""
    times, ids = [], []
    for k in range(moves):
        amount = round(-2 + 4 * abs((k % 40) - 20) / 20, 1)
        t = time.perf_counter()
        r = client.post("/api/edit", json={"item_id": item_id, "page": page, "seq": k, "method": method,
                                           "amounts": {"smile": amount}})
        body = r.json()
        times.append(time.perf_counter() - t)
        if body.get("status") != "ok":
            raise SystemExit(f"move {k} of {method}: {body}")
        ids.append(body["edit_id"])
    return times, ids


def report(label: str, times: list[float]) -> None:
    ms = [t * 1000 for t in times]
    print(f"{label:<44} n={len(ms):>3}  p50 {statistics.median(ms):7.1f} ms  p95 {percentile(ms, 95):7.1f} ms  "
          f"max {max(ms):7.1f} ms")


def bench_toy(moves: int) -> float:
    from latentedit.serve import build_state

    state = build_state()
    client = client_for(state)
    item = client.post("/api/sample", json={"seed": 3}).json()["item_id"]
    worst = 0.0
    for method in state.models.methods:
        slider_moves(client, item, method, 3, page=f"warm-{method}")
        times, _ = slider_moves(client, item, method, moves, page=f"toy-{method}")
        report(f"toy 64px, {method}, seed sample (face)", times)
        worst = max(worst, percentile(times, 95))
    try:
        import io

        from PIL import Image
        from skimage import data
    except ImportError:
        print("(astronaut paste-back skipped: scikit-image not installed)")
        return worst
    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buf, format="PNG")
    job = client.post("/api/invert", files={"file": ("astronaut.png", buf.getvalue(), "image/png")}).json()
    t0 = time.perf_counter()
    while job["state"] in ("queued", "running"):
        time.sleep(0.02)
        job = client.get(f"/api/jobs/{job['job_id']}").json()
    print(f"toy 64px, astronaut 512x512 inversion (detect, align, encode): {time.perf_counter() - t0:.2f} s")
    photo = job["item"]["item_id"]
    method = next(iter(state.models.methods))
    times, ids = slider_moves(client, photo, method, moves, page="toy-photo")
    report(f"toy 64px, {method}, astronaut (face)", times)
    pasted = []
    for edit_id in ids[: max(10, moves // 5)]:
        t = time.perf_counter()
        client.get(f"/api/edits/{edit_id}/pasted.png").raise_for_status()
        pasted.append(time.perf_counter() - t)
    report(f"toy 64px, {method}, astronaut pasted-back PNG", pasted)
    state.close()
    return worst


def random_direction_mapper(num_ws: int, w_dim: int, resolution: int):
    from latentedit.plugins.config import GeneratorInfo
    from latentedit.plugins.contract import Mapper

    class RandomDirections(Mapper):
        """Linear directions with random weights: w + (2 target - 1) . d per attribute (NaN = keep)."""

        kind = "fit"

        def __init__(self, config, generator_info):
            super().__init__(config, generator_info)
            gi = self.generator_info
            g = torch.Generator().manual_seed(0)
            self.register_buffer("d", 0.5 * torch.randn(gi.n_attr, gi.num_ws, gi.w_dim, generator=g))

        def forward(self, w_plus, *, target):
            shift = torch.nan_to_num(2 * target - 1, nan=0.0)
            return w_plus + torch.einsum("ba,ald->bld", shift, self.d)

    info = GeneratorInfo(num_ws, w_dim, ("smile", "eyeglasses", "age"), resolution)
    return RandomDirections(None, info)


def bench_1024(moves: int) -> None:
    from latentedit.serve import ServeState
    from latentedit.serve.pipeline import Models, method_from_mapper
    from latentedit.stylegan2 import Generator, GeneratorConfig, channels_from_base

    torch.manual_seed(0)
    G = Generator(GeneratorConfig(resolution=1024, channels=channels_from_base(1024))).eval().requires_grad_(False)
    mapper = random_direction_mapper(G.num_ws, G.w_dim, G.resolution)
    models = Models(G, None, {"directions": method_from_mapper("directions", mapper)}, torch.device("cpu"),
                    "no encoder in the 1024 stand-in")
    state = ServeState(models)
    client = client_for(state)
    t = time.perf_counter()
    item = client.post("/api/sample", json={"seed": 0}).json()["item_id"]
    print(f"1024px config-f stand-in: first sample (mapping + render + PNG) {time.perf_counter() - t:.2f} s")
    times, _ = slider_moves(client, item, "directions", moves, page="f1024")
    report("1024px config-f random, directions (face)", times)
    state.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--moves", type=int, default=50)
    ap.add_argument("--moves-1024", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-1024", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads={torch.get_num_threads()} torch={torch.__version__}")
    worst = bench_toy(args.moves)
    print(f"toy bar (p95 <= 150 ms on every method): {'met' if worst <= 0.150 else 'NOT met'} "
          f"(worst p95 {worst * 1000:.1f} ms)")
    if not args.skip_1024:
        bench_1024(args.moves_1024)


if __name__ == "__main__":
    main()
