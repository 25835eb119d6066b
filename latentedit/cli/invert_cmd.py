"""``latentedit invert``: photos -> aligned face crops -> W+ codes (through an encoder plugin) -> reconstructions.

Per face it writes into ``--out`` (NAME = the photo's stem, ``NAME_faceK`` when a photo gives several faces):

    NAME_aligned.png           the aligned crop (generator resolution)
    NAME_recon.png             the generator's reconstruction from the W+ code
    NAME_side.png              aligned | reconstruction, side by side
    NAME_pasted.png            the reconstruction pasted back into the photo (aligned photos only)
    NAME.wplus.safetensors     the W+ code (latentedit latent file, tied to the generator; its metadata holds the
                               photo, the face box and the alignment transform for paste-back)

Folders given as PHOTO are expanded to the images they contain. A file that cannot be read, or has no face, is
reported and skipped; the batch goes on and a summary of failures ends the run (exit status 1 if any failed).
The encoder is found through the ``latentedit.encoders`` entry points: the plugin whose ``can_load`` accepts
the file loads it (nothing is imported by name).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import torch

from latentedit.cli.common import DEFAULT_ENCODER, device_option, resolve_device

PHOTO_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif"}


def expand_inputs(inputs) -> list[Path]:
    """Files as given; folders -> their image files (sorted, not recursive)."""
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out += sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in PHOTO_SUFFIXES)
        else:
            out.append(p)
    return out


def load_encoder_file(spec: str, device):
    """'default' (the shipped toy-faces encoder) or a file; the first visible encoder plugin that can load it."""
    from latentedit import assets
    from latentedit.plugins import PluginError, discover, load_spec

    if spec == "default":
        if not assets.has_asset(DEFAULT_ENCODER):
            raise click.ClickException(f"--encoder default: {DEFAULT_ENCODER} is not shipped with this installation; "
                                       "pass --encoder FILE (an e4e .pt or a latentedit encoder .safetensors)")
        spec = str(assets.asset_path(DEFAULT_ENCODER))
    path = Path(spec)
    if not path.is_file():
        raise click.ClickException(f"--encoder {spec}: no such file")
    tried = []
    for s in discover("encoders"):
        try:
            cls = load_spec(s)
        except PluginError as exc:
            tried.append(f"{s.name} (broken: {exc})")
            continue
        tried.append(s.name)
        if callable(getattr(cls, "can_load", None)) and cls.can_load(path):
            try:
                return cls.load(path, map_location=device).eval(), path
            except (ValueError, OSError) as exc:
                raise click.ClickException(str(exc).strip().splitlines()[0]) from None
    raise click.ClickException(f"--encoder {spec}: no encoder plugin reads this file (tried: "
                               f"{', '.join(tried) or 'none installed'})")


def pick_generator(generator_path, encoder, device):
    """--generator FILE, else the generator bundled with the encoder, else the shipped default."""
    from latentedit.cli.common import load_generator_or_default

    if generator_path is None and getattr(encoder, "generator", None) is not None:
        return encoder.generator.to(device).eval().requires_grad_(False)
    G, _ = load_generator_or_default(generator_path, device)
    fp = getattr(encoder, "generator_fingerprint", None)
    if fp and fp != G.fingerprint():
        raise click.ClickException(f"the encoder was trained for generator {fp}, but --generator is "
                                   f"{G.fingerprint()}; pass the generator it was trained with")
    if (G.num_ws, G.w_dim) != (encoder.num_ws, encoder.w_dim):
        raise click.ClickException(f"the encoder gives W+ {encoder.num_ws}x{encoder.w_dim}; the generator takes "
                                   f"{G.num_ws}x{G.w_dim}")
    return G


def crops_of(path: Path, size: int, face_choice, align: bool):
    """[(name suffix, crop (1, 3, size, size), metadata dict, paste-back callable or None)] for one photo;
    PhotoError when unusable."""
    import torch.nn.functional as F

    from latentedit import faces

    photo = faces.load_photo(path)
    if not align:
        h, w = photo.shape[:2]
        s = min(h, w)
        sq = faces.photo_to_tensor(photo[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s])
        mode = "area" if s > size else "bilinear"
        sq = F.interpolate(sq, size=(size, size), mode=mode) if s != size else sq
        return [("", sq.clamp(-1, 1), {"aligned": False}, None)]
    found = faces.select_faces(faces.detect_faces(photo), face_choice, path)
    out = []
    for k, f in enumerate(found):
        crop, t = faces.align_face(photo, f.landmarks, size)
        suffix = f"_face{k + 1}" if len(found) > 1 else ""
        meta = {"aligned": True, "box": list(f.box), "score": f.score, "transform": t.to_dict()}
        out.append((suffix, crop, meta, lambda img, _t=t: faces.paste_back(photo, img, _t)))
    return out


@click.command("invert")
@click.argument("photos", nargs=-1, required=True, type=click.Path())
@click.option("--encoder", "encoder_spec", default="default", show_default=True,
              help="Encoder file (e4e .pt or latentedit .safetensors), or 'default' for the shipped toy encoder.")
@click.option("--generator", "generator_path", type=click.Path(dir_okay=False), default=None,
              help="Generator (any supported format); default: the one bundled with the encoder, else the toy one.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--refine", type=click.IntRange(0), default=0, show_default=True,
              help="Optimise each W+ code this many steps against the crop (LPIPS + L2); 0 = encoder only.")
@click.option("--face", "face_spec", default="largest", show_default=True,
              help="Which faces: 'all', 'largest', or N (the N-th from the left, counting from 1).")
@click.option("--no-align", is_flag=True, help="Photos are already aligned crops: use the central square as is.")
@device_option
def invert(photos, encoder_spec, generator_path, out_dir, refine, face_spec, no_align, device):
    """Invert photos into W+ with an encoder; write aligned crops, reconstructions, W+ files and side-by-sides.

    \b
    Examples:
      latentedit invert me.jpg --encoder e4e_ffhq_encode.pt --out out/inv
      latentedit invert photos/ --encoder default --out out/inv --face all
      latentedit invert crop.png --no-align --refine 100 --out out/inv
    """
    from tqdm import tqdm

    from latentedit.faces import PhotoError, parse_face_choice
    from latentedit.images import save_image
    from latentedit.io.modelfile import atomic_write
    from latentedit.io.paths import check_output_folder
    from latentedit.latents import save_latents

    try:
        choice = parse_face_choice(face_spec)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--face") from None
    check_output_folder(out_dir)
    dev = resolve_device(device)
    encoder, encoder_path = load_encoder_file(encoder_spec, dev)
    G = pick_generator(generator_path, encoder, dev)
    paths = expand_inputs(photos)
    if not paths:
        raise click.ClickException("no photos found in the given paths")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    written = 0
    for path in tqdm(paths, desc="invert", unit="photo", disable=len(paths) < 2):
        try:
            items = crops_of(path, G.resolution, choice, align=not no_align)
        except PhotoError as exc:
            failures.append(str(exc))
            continue
        except Exception as exc:  # noqa: BLE001 - one bad photo never stops the batch
            failures.append(f"{path}: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}")
            continue
        for suffix, crop, meta, paste in items:
            name = f"{path.stem}{suffix}"
            crop = crop.to(dev)
            w = encoder.invert(crop)
            if refine:
                if not callable(getattr(encoder, "refine", None)):
                    raise click.ClickException("--refine: this encoder plugin has no refine(); drop --refine")
                w = encoder.refine(w, crop, G, steps=refine)
            with torch.no_grad():
                recon = G.synthesis(w, noise_mode="const").clamp(-1, 1)
            save_image(crop[0], out / f"{name}_aligned.png")
            save_image(recon[0], out / f"{name}_recon.png")
            save_image(torch.cat([crop, recon]).cpu(), out / f"{name}_side.png", ncol=2)
            extra = {"photo": str(path), "encoder": str(encoder_path), "refine_steps": refine, **meta}
            save_latents(out / f"{name}.wplus.safetensors", w, space="w_plus", generator=G, extra=extra)
            if paste is not None:
                from PIL import Image

                pasted = Image.fromarray(paste(recon.cpu()))
                atomic_write(out / f"{name}_pasted.png", lambda tmp, _im=pasted: _im.save(tmp, format="PNG"))
            if meta.get("aligned"):
                text = json.dumps(meta["transform"])
                atomic_write(out / f"{name}_transform.json", lambda tmp, _t=text: Path(tmp).write_text(_t))
            written += 1
    click.echo(f"inverted {written} face(s) from {len(paths) - len(failures)} of {len(paths)} photo(s) into {out}")
    if failures:
        click.echo(f"{len(failures)} photo(s) failed:", err=True)
        for line in failures:
            click.echo(f"  {line}", err=True)
        raise SystemExit(1)
