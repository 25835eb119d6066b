"""One 1024-px photo edit from a cold process, broken down into its stages, on random-weight stand-ins (no downloads).

Stand-ins, written into a temporary folder (``$TMPDIR``) and removed at the end: a config-f 1024-px generator
(random weights, latentedit's ``.safetensors``) and an e4e with the published architecture (IR-SE-50, 18 codes;
random weights) in the official ``.pt`` layout (``state_dict`` with ``encoder.*`` keys, ``latent_avg``, ``opts``).
By default the e4e file bundles no decoder and the generator file is given separately (``latentedit edit
--generator G``); ``--bundled-decoder`` writes the decoder into the e4e file, as the published
``e4e_ffhq_encode.pt`` does, and the edit takes its generator from there (``latentedit edit`` without
``--generator``). The photo is scikit-image's astronaut scaled to 1024 px: a real face, so MTCNN and the alignment
do the work they do on a user's photo.

Each repeat is a fresh interpreter (this file with ``--child``) that edits the photo as ``latentedit edit`` does,
through the same library calls, and reports its stages:

    interpreter     from the spawn to the first line of the script (Python start-up, site-packages)
    imports         what an edit imports (``latentedit.cli.main``, which sets the OpenMP wait policy and the
                    malloc tuning as the command does, torch, latentedit.editing/faces/images, the e4e plugin)
    load generator  ``load_generator`` (skipped with ``--bundled-decoder``)
    load e4e        ``latentedit.editing.load_encoder`` (plugin sniff + load, checked against the generator)
    read photo      ``load_photo``
    detect          MTCNN (its weights are read on first use: part of this stage in a cold process)
    align           choose the largest face, FFHQ-align it to the crop size the command uses
    encode          ``latentedit.editing.invert`` (e4e)
    synthesis       the edited W+ (one image at the generator's resolution)
    paste back      the edited crop into the photo
    write PNG       the pasted photo, as the command writes it
    exit            from the child's last line to its end (interpreter shut-down)

Times: median [min-max] over the repeats, each stage and the whole process. The files are just written, so the
page cache is warm: "cold" means a new process, not a cold disk. ``--cli`` also times ``latentedit edit PHOTO
[--generator G] --encoder E4E --mapper DIRS --attr smile=1 --samples 1`` itself, a cold process a repeat, with a
directions mapper fitted on the stand-in generator; it does everything above plus the source image's synthesis
and writing the other PNGs and the W+ file. ``--quick`` checks the script works: a 256-px generator, a 512-px
photo, one repeat (the e4e keeps the published backbone, for 14 codes).

    python benchmarks/edit.py [--repeats 5] [--threads N] [--cli] [--bundled-decoder] [--json FILE] [--quick]
"""

from __future__ import annotations

import time

T_FIRST = time.time()  # the child's first line: everything before it is the interpreter's start-up

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

ENV = dict(os.environ)  # the children's environment: they set up their threads themselves, as the command does
BAR_S = 15.0  # issue 29: one 1024-px photo edit from the CLI, cold process


def make_files(folder: Path, resolution: int, photo_side: int, bundled: bool) -> dict[str, str]:
    """Write the stand-ins into ``folder`` -> {'generator' (absent when bundled), 'encoder', 'photo'}: paths."""
    import skimage.data
    import torch
    from PIL import Image

    from latentedit.io.ours import save_generator
    from latentedit.stylegan2 import Generator, GeneratorConfig, channels_from_base
    from latentedit_e4e.config import E4EConfig
    from latentedit_e4e.encoder import E4EEncoder
    from latentedit_e4e.official import write_official

    torch.manual_seed(0)
    G = Generator(GeneratorConfig(resolution=resolution, channels=channels_from_base(resolution))).eval()
    files = {} if bundled else {"generator": str(save_generator(G, folder / "generator.safetensors"))}
    enc = E4EEncoder(E4EConfig.official(resolution))
    e_path = folder / "e4e_ffhq_encode.pt"
    if bundled:
        write_official(e_path, enc, G)
    else:  # the official layout without the decoder, but with latent_avg (write_official takes it from a decoder)
        torch.save({"state_dict": {f"encoder.{k}": v for k, v in enc.net.state_dict().items()},
                    "latent_avg": G.mapping.w_avg.detach().reshape(1, -1).repeat(G.num_ws, 1),
                    "opts": {"encoder_type": "Encoder4Editing", "start_from_latent_avg": True,
                             "stylegan_size": resolution}}, e_path)
    files["encoder"] = str(e_path)
    photo = folder / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).resize((photo_side, photo_side), Image.Resampling.BICUBIC).save(photo)
    files["photo"] = str(photo)
    return files


def child(spec: dict) -> None:
    """One edit in this (fresh) process; prints one JSON line: stages [(name, s)], t_first, t_end, settings."""
    stages: list[tuple[str, float]] = []
    t0 = T_FIRST

    def tick(name: str) -> None:
        nonlocal t0
        now = time.time()
        stages.append((name, now - t0))
        t0 = now

    import latentedit.cli.main as cli_main

    cli_main.passive_omp_wait()  # what main() does first
    cli_main._tune_allocator()
    import torch

    import latentedit_e4e.encoder  # noqa: F401 - the plugin the encoder file is read by
    from latentedit import faces
    from latentedit.editing import invert, load_encoder, load_photo, synthesize
    from latentedit.images import save_pil
    from latentedit.io.checkpoints import load_generator

    tick("imports")
    G = None
    if "generator" in spec:
        G, _ = load_generator(spec["generator"])
        tick("load generator")
    enc = load_encoder(spec["encoder"], generator=G)
    if G is None:
        G = enc.generator.eval().requires_grad_(False)
    tick("load e4e")
    photo = load_photo(spec["photo"])
    tick("read photo")
    found = faces.detect_faces(photo)
    tick("detect (MTCNN)")
    face = faces.select_faces(found, "largest", spec["photo"])[0]
    crop, transform = faces.align_face(photo, face.landmarks, max(int(enc.input_resolution), G.resolution))
    tick("align")
    w = invert(enc, crop, generator=G)
    tick("encode (e4e)")
    step = torch.randn(1, 1, w.shape[-1], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        edited = synthesize(G, w + 0.5 * step)
    tick(f"synthesis {G.resolution}")
    pasted = faces.paste_back(photo, edited, transform)
    tick("paste back")
    save_pil(pasted, Path(spec["out"]))
    tick("write PNG")
    print(json.dumps({"stages": stages, "t_first": T_FIRST, "t_end": time.time(), "threads": torch.get_num_threads(),
                      "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset)")}))


def run_child(spec: dict, env: dict) -> dict:
    t_spawn = time.time()
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True,
                         env=env)
    t_exit = time.time()
    if out.returncode:
        raise SystemExit(f"the edit process failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    rep = json.loads(out.stdout.strip().splitlines()[-1])
    rep["stages"] = ([("interpreter", rep["t_first"] - t_spawn)] + [tuple(s) for s in rep["stages"]]
                     + [("exit", t_exit - rep["t_end"])])
    rep["total"] = t_exit - t_spawn
    return rep


def cli_times(files: dict, folder: Path, repeats: int, env: dict) -> list[float]:
    """Wall time of ``latentedit edit`` (a fresh interpreter each repeat) on the photo."""
    import torch

    from latentedit.editing import load_encoder
    from latentedit.io.checkpoints import load_generator
    from latentedit.plugins import GeneratorInfo, load_mapper
    from latentedit_directions import DirectionsConfig

    G = load_generator(files["generator"])[0] if "generator" in files else load_encoder(files["encoder"]).generator
    with torch.no_grad():
        w = G.mapping(torch.randn(300, G.z_dim, generator=torch.Generator().manual_seed(0)))
    mapper = load_mapper("directions")(DirectionsConfig(edit_distance=1.0), GeneratorInfo.from_generator(G, ("smile",)))
    mapper.fit(w_plus=w, labels=w[:, 0, :1] - w[:, 0, 1:2])
    dirs = mapper.save(folder / "dirs.safetensors", extra={"generator_fingerprint": G.fingerprint()})
    gen = ["--generator", files["generator"]] if "generator" in files else []
    times = []
    for k in range(repeats):
        cmd = [sys.executable, "-m", "latentedit.cli.main", "edit", files["photo"], *gen, "--encoder",
               files["encoder"], "--mapper", str(dirs), "--attr", "smile=1", "--samples", "1",
               "--out", str(folder / f"cli{k}")]
        t0 = time.time()
        out = subprocess.run(cmd, capture_output=True, text=True, env=env)
        times.append(time.time() - t0)
        if out.returncode:
            raise SystemExit(f"`latentedit edit` failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    return times


def spread(v: list[float]) -> str:
    return f"{statistics.median(v):8.2f}  [{min(v):.2f}-{max(v):.2f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", "--rounds", dest="repeats", type=int, default=None,
                    help="cold processes to time (default 5; 1 with --quick)")
    ap.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS of the edit processes (0: as set)")
    ap.add_argument("--cli", action="store_true", help="also time `latentedit edit` itself, a cold process a repeat")
    ap.add_argument("--bundled-decoder", action="store_true",
                    help="the e4e file bundles the generator (as the published one) and no --generator is given")
    ap.add_argument("--quick", action="store_true", help="a small check that the script works (256-px generator, "
                                                         "512-px photo, 1 repeat); its times say nothing of 1024 px")
    ap.add_argument("--json", type=Path, default=None, help="also write every repeat's stage times to this file")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        here = Path(__file__).resolve().parent  # benchmarks/ is no package: its file names must not shadow any
        sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
        child(json.loads(args.child))
        return
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 5)
    if repeats < 1:
        ap.error(f"--repeats must be at least 1; got {repeats}")
    resolution, side = (256, 512) if args.quick else (1024, 1024)
    env = {**ENV, "OMP_NUM_THREADS": str(args.threads)} if args.threads else ENV
    from latentedit.cli.main import passive_omp_wait

    passive_omp_wait()  # this process only builds the files
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="latentedit-bench-edit-") as tmp:
        folder = Path(tmp)
        files = make_files(folder, resolution, side, args.bundled_decoder)
        sizes = {Path(p).name: Path(p).stat().st_size / 2 ** 20 for k, p in files.items() if k != "photo"}
        reps = [run_child({**files, "out": str(folder / f"edit{k}.png")}, env) for k in range(repeats)]
        cli = cli_times(files, folder, repeats, env) if args.cli else None
    print(f"{resolution}-px generator, {side}-px photo, {repeats} cold process(es); threads {reps[0]['threads']}, "
          f"OMP_WAIT_POLICY {reps[0]['omp_wait_policy']}, load average {load_before:.1f} -> "
          f"{os.getloadavg()[0]:.1f}; files: " + ", ".join(f"{k} {v:.0f} MiB" for k, v in sizes.items()))
    print(f"{'stage':36s} median s  [min-max]")
    for name, _ in reps[0]["stages"]:
        print(f"{name:36s} {spread([dict(r['stages'])[name] for r in reps])}")
    total = [r["total"] for r in reps]
    print(f"{'total (cold process)':36s} {spread(total)}" + (f"   (bar <= {BAR_S:.0f} s)" if not args.quick else ""))
    if cli:
        print(f"{'latentedit edit (CLI, cold process)':36s} {spread(cli)}")
    if args.json:
        args.json.write_text(json.dumps({"resolution": resolution, "photo_side": side, "repeats": reps,
                                         "cli": cli, "bundled_decoder": args.bundled_decoder}, indent=1))


if __name__ == "__main__":
    main()
