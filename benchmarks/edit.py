"""One 1024-px photo edit, broken down into its stages, with random-weight stand-ins (no downloads).

Stand-ins: a config-f 1024-px generator (random weights, saved in latentedit's .safetensors format) and an e4e
encoder with the published architecture (IR-SE-50, 18 codes; random weights) saved in the official ``.pt`` layout
(``state_dict`` with ``encoder.*`` keys, ``latent_avg``, ``opts``; no bundled decoder: the generator file is given
separately, as ``latentedit edit --generator``), written into a temporary folder. The photo is scikit-image's
astronaut scaled to 1024 px: a real face, so MTCNN does the work it does on a user's photo.

Stages: start-up (imports, each in a fresh interpreter), generator loading, encoder loading, detection, alignment,
encoding, synthesis of the edited W+, paste-back. They run in this process as the command runs them (idle OpenMP
threads sleep, as ``latentedit.cli.main`` sets up, where the code under test does). Times: median [min-max].

``--cli`` also times the command itself, each round a cold process: ``latentedit edit PHOTO --generator G
--encoder E4E --mapper DIRS --attr smile=1 --samples 1`` on the same photo, with a directions mapper fitted on the
stand-in generator, in this script's own environment. It does everything the stages do plus the source image's
synthesis and writing the PNGs and the W+ file.

    python benchmarks/edit.py [--rounds 3] [--threads 0] [--cli]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

CLI_ENV = dict(os.environ)  # the command's own environment: it sets up its threads itself
try:
    from latentedit.cli.main import passive_omp_wait
except ImportError:  # code from before the command set the OpenMP wait policy
    pass
else:
    passive_omp_wait()

import numpy as np  # noqa: E402
import torch  # noqa: E402

IMPORTS = {
    "import latentedit.cli.main": "import latentedit.cli.main",
    "+ faces, e4e plugin, stylegan2": "import latentedit.cli.main, latentedit.faces, latentedit_e4e.encoder, "
                                      "latentedit.stylegan2",
    "+ what a detection loads (MTCNN)": "import latentedit.cli.main, latentedit.faces, latentedit_e4e.encoder, "
                                        "latentedit.stylegan2, numpy; latentedit.faces.detect_faces("
                                        "numpy.full((32, 32, 3), 128, numpy.uint8))",
}


def import_time(stmt: str) -> float:
    code = f"import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def make_files(folder: Path) -> tuple[Path, Path, Path]:
    from latentedit.io.ours import save_generator
    from latentedit.stylegan2 import Generator, GeneratorConfig, channels_from_base
    from latentedit_e4e.config import E4EConfig
    from latentedit_e4e.encoder import E4EEncoder

    torch.manual_seed(0)
    G = Generator(GeneratorConfig(resolution=1024, channels=channels_from_base(1024))).eval()
    g_path = save_generator(G, folder / "generator.safetensors")
    enc = E4EEncoder(E4EConfig.official(1024))
    sd = {f"encoder.{k}": v for k, v in enc.net.state_dict().items()}
    e_path = folder / "e4e_ffhq_encode.pt"
    torch.save({"state_dict": sd, "latent_avg": G.mapping.w_avg.detach().reshape(1, 512).repeat(18, 1),
                "opts": {"encoder_type": "Encoder4Editing", "start_from_latent_avg": True, "stylegan_size": 1024}},
               e_path)
    import skimage.data
    from PIL import Image

    photo = folder / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).resize((1024, 1024), Image.BICUBIC).save(photo)
    return Path(g_path), e_path, photo


def one_edit(g_path: Path, e_path: Path, photo: np.ndarray, t: dict) -> None:
    from latentedit import faces
    from latentedit.io.checkpoints import load_generator
    from latentedit_e4e.encoder import E4EEncoder

    def tick(name, t0):
        now = time.perf_counter()
        t[name].append(now - t0)
        return now

    t0 = time.perf_counter()
    G, _ = load_generator(g_path)
    t0 = tick("load generator (.safetensors)", t0)
    enc = E4EEncoder.load(e_path)
    t0 = tick("load e4e (official .pt)", t0)
    found = faces.detect_faces(photo)
    t0 = tick("detect (MTCNN)", t0)
    crop, transform = faces.align_face(photo, faces.select_faces(found, "largest", "photo")[0].landmarks,
                                       enc.input_resolution)
    t0 = tick("align", t0)
    with torch.no_grad():
        w = enc.invert(crop)
        t0 = tick("encode (e4e)", t0)
        edited = G.synthesis(w + 0.5 * torch.randn(1, 1, 512))
        t0 = tick("synthesis 1024", t0)
    faces.paste_back(photo, edited, transform)
    tick("paste back", t0)


def cli_edit_times(g_path: Path, e_path: Path, photo: Path, folder: Path, rounds: int, threads: int) -> list[float]:
    """Wall time of ``latentedit edit`` (a fresh interpreter each round) on a real 1024-px face photo."""
    from latentedit.io.checkpoints import load_generator
    from latentedit.plugins import GeneratorInfo, load_mapper
    from latentedit_directions import DirectionsConfig

    G, _ = load_generator(g_path)
    with torch.no_grad():
        w = G.mapping(torch.randn(300, G.z_dim, generator=torch.Generator().manual_seed(0)))
    mapper = load_mapper("directions")(DirectionsConfig(edit_distance=1.0), GeneratorInfo.from_generator(G, ("smile",)))
    mapper.fit(w_plus=w, labels=w[:, 0, :1] - w[:, 0, 1:2])
    dirs = mapper.save(folder / "dirs.safetensors", extra={"generator_fingerprint": G.fingerprint()})
    env = {**CLI_ENV, "OMP_NUM_THREADS": str(threads)} if threads else CLI_ENV
    times = []
    for k in range(rounds):
        cmd = [sys.executable, "-m", "latentedit.cli.main", "edit", str(photo), "--generator", str(g_path),
               "--encoder", str(e_path), "--mapper", str(dirs), "--attr", "smile=1", "--samples", "1",
               "--out", str(folder / f"out{k}")]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--cli", action="store_true", help="also time `latentedit edit` itself, a cold process a round")
    args = ap.parse_args()
    from latentedit.ops.allocator import tune_malloc

    tune_malloc()
    if args.threads:
        torch.set_num_threads(args.threads)
    imports = {k: [import_time(stmt) for _ in range(args.rounds)] for k, stmt in IMPORTS.items()}
    with tempfile.TemporaryDirectory() as tmp:
        g_path, e_path, photo_path = make_files(Path(tmp))
        from latentedit.faces import load_photo

        photo = load_photo(photo_path)
        sizes = {p.name: p.stat().st_size / 2 ** 20 for p in (g_path, e_path)}
        t: dict[str, list[float]] = defaultdict(list)
        for _ in range(args.rounds):
            one_edit(g_path, e_path, photo, t)
        cli = cli_edit_times(g_path, e_path, photo_path, Path(tmp), args.rounds, args.threads) if args.cli else None
    print(f"threads={torch.get_num_threads()} OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')} "
          f"load average {os.getloadavg()[0]:.1f} rounds={args.rounds} files: "
          + ", ".join(f"{k} {v:.0f} MiB" for k, v in sizes.items()))
    print(f"{'stage':34s} median s  [min-max]")
    for k, v in list(imports.items()) + list(t.items()):
        print(f"{k:34s} {statistics.median(v):8.2f}  [{min(v):.2f}-{max(v):.2f}]")
    total = statistics.median(imports[list(IMPORTS)[-1]]) + sum(statistics.median(v) for v in t.values())
    print(f"{'total (cold process, sum of medians)':34s} {total:8.2f}  (bar <= 15 s)")
    if cli:
        print(f"{'latentedit edit (CLI, cold process)':34s} {statistics.median(cli):8.2f}  "
              f"[{min(cli):.2f}-{max(cli):.2f}]")


if __name__ == "__main__":
    main()
