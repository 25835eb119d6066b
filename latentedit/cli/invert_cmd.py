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

from latentedit.cli.common import click_error, device_option, load_generator_or_default, resolve_device
from latentedit.cli.domain_options import domain_option


def encoder_and_generator(encoder_spec: str, generator_path: str | None, device, domain: str | None = None):
    """(encoder, its path, generator in eval mode on ``device``), each network loaded once; ClickException on
    failure. ``encoder_spec``: a file, or 'default' (the encoder of the generator's domain). The generator:
    ``generator_path``, else the one bundled with the encoder, else the domain's; checked against the encoder unless
    it is the bundled one."""
    from latentedit.editing import EditingError, check_encoder_fits_generator, load_encoder

    G = None
    if encoder_spec == "default":  # the generator's domain names the encoder
        from latentedit.cli.domain_options import default_file

        G, _ = load_generator_or_default(generator_path, device, domain)
        encoder_spec = default_file(G, "encoder", "--encoder", domain)
    try:
        encoder = load_encoder(encoder_spec, device=device)
    except EditingError as exc:
        raise click_error(exc, "--encoder ") from None
    if generator_path is None and getattr(encoder, "generator", None) is not None:
        return encoder, Path(encoder_spec), encoder.generator.to(device).eval().requires_grad_(False)
    if G is None:
        G, _ = load_generator_or_default(generator_path, device, domain)
    try:
        check_encoder_fits_generator(encoder, G)
    except EditingError as exc:
        raise click_error(exc) from None
    return encoder, Path(encoder_spec), G


@click.command("invert")
@click.argument("photos", nargs=-1, required=True, type=click.Path())
@click.option("--encoder", "encoder_spec", default="default", show_default=True,
              help="Encoder file (e4e .pt or latentedit .safetensors), or 'default' for the domain's encoder.")
@click.option("--generator", "generator_path", type=click.Path(dir_okay=False), default=None,
              help="Generator (any supported format); default: the one bundled with the encoder, else the domain's.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--refine", type=click.IntRange(0), default=0, show_default=True,
              help="Optimise each W+ code this many steps against the crop (LPIPS + L2); 0 = encoder only.")
@click.option("--face", "face_spec", default="largest", show_default=True,
              help="Which faces: 'all', 'largest', or N (the N-th from the left, counting from 1).")
@click.option("--no-align", is_flag=True, help="Photos are already aligned crops: use the central square as is.")
@domain_option
@device_option
def invert(photos, encoder_spec, generator_path, out_dir, refine, face_spec, no_align, domain, device):
    """Invert photos into W+ with an encoder; write aligned crops, reconstructions, W+ files and side-by-sides.

    \b
    Examples:
      latentedit invert me.jpg --encoder e4e_ffhq_encode.pt --out out/inv
      latentedit invert photos/ --encoder default --out out/inv --face all
      latentedit invert crop.png --no-align --refine 100 --out out/inv
    """
    from tqdm import tqdm

    from latentedit.editing import EditingError, PhotoError, align_faces, expand_photo_paths, load_photo, synthesize
    from latentedit.editing import invert as invert_images
    from latentedit.faces import parse_face_choice
    from latentedit.images import save_image, save_pil
    from latentedit.io.modelfile import atomic_write
    from latentedit.io.paths import check_output_folder
    from latentedit.latents import save_latents

    try:
        choice = parse_face_choice(face_spec)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--face") from None
    check_output_folder(out_dir)
    dev = resolve_device(device)
    encoder, encoder_path, G = encoder_and_generator(encoder_spec, generator_path, dev, domain)
    paths = expand_photo_paths(photos)
    if not paths:
        raise click.ClickException("no photos found in the given paths")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    written = 0
    for path in tqdm(paths, desc="invert", unit="photo", disable=len(paths) < 2):
        try:
            items = align_faces(load_photo(path), G.resolution, face=choice, align=not no_align, source=path)
        except PhotoError as exc:
            failures.append(str(exc))
            continue
        except Exception as exc:  # noqa: BLE001 - one bad photo never stops the batch
            failures.append(f"{path}: {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}")
            continue
        for face in items:
            name = f"{path.stem}{face.suffix}"
            crop = face.crop.to(dev)
            try:
                w = invert_images(encoder, crop, generator=G, refine=refine)
            except EditingError as exc:
                raise click_error(exc, "--refine: ") from None
            recon = synthesize(G, w)
            meta = face.metadata()
            save_image(crop[0], out / f"{name}_aligned.png")
            save_image(recon[0], out / f"{name}_recon.png")
            save_image(torch.cat([crop, recon]).cpu(), out / f"{name}_side.png", ncol=2)
            extra = {"photo": str(Path(path).resolve()), "encoder": str(encoder_path), "refine_steps": refine, **meta}
            save_latents(out / f"{name}.wplus.safetensors", w, space="w_plus", generator=G, extra=extra)
            if face.transform is not None:
                save_pil(face.paste(recon.cpu()), out / f"{name}_pasted.png")
                text = json.dumps(meta["transform"])
                atomic_write(out / f"{name}_transform.json", lambda tmp, _t=text: Path(tmp).write_text(_t))
            written += 1
    click.echo(f"inverted {written} face(s) from {len(paths) - len(failures)} of {len(paths)} photo(s) into {out}")
    if failures:
        click.echo(f"{len(failures)} photo(s) failed:", err=True)
        for line in failures:
            click.echo(f"  {line}", err=True)
        raise SystemExit(1)
