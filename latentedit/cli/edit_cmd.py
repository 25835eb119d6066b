"""``latentedit edit``: edit photos or W+ files with any mapper plugin; write edited images, a grid and a GIF strip.

Per input ``NAME`` (a W+ file ``NAME.wplus.safetensors`` or a photo) it writes into ``--out``:

    NAME/source.png                        the input as the generator draws it (the reconstruction, for photos)
    NAME/<row>_<strength>_<k>.png          one edited image per row (attribute, 'all', or 'reference' for a whole
                                           --reference transfer) x strength x sample k
    NAME_grid.png                          rows: attributes/strengths, columns: source + samples
    NAME_edited.wplus.safetensors          the edited latents, in grid order (rows x samples)
    NAME_strip.gif                         with --gif: frames = strengths of the combined edit, samples side by side
    NAME/aligned.png                       photos: the aligned (or, with --no-align, central square) crop
    NAME/reference.png                     with --reference: the reference as the mapper read it
    NAME/pasted_<row>_<strength>_<k>.png   photos with alignment (and W+ files from `latentedit invert` whose
                                           photo still exists): the edited face pasted back into the photo
"""

from __future__ import annotations

from pathlib import Path

import click
import torch

from latentedit.batch import finish_batch, iter_batch
from latentedit.cli.common import click_error as _fail
from latentedit.cli.common import device_option, load_encoder, load_generator_or_default, load_mapper_for_edit
from latentedit.cli.common import resolve_device
from latentedit.cli.domain_options import domain_option, load_domain_model_for


def photos_to_wplus(paths, G, encoder_path, align: bool, face_choice, device, refine: int = 0,
                    domain: str | None = None, encoder=None, failures: list[str] | None = None):
    """Yield (stem, w_plus (1, L, D), paste-back callable or None, aligned crop (1, 3, S, S)) per face, through
    ``latentedit.editing`` (an ``Editor`` without a mapper's part); ClickException on failure. ``encoder``: an
    already loaded encoder (else ``encoder_path`` or the domain's is loaded). With a ``failures`` list, a photo
    that cannot be used is named there and skipped (else it stops with an error)."""
    from latentedit.editing import EditingError, PhotoError, align_faces, invert, load_photo

    enc = encoder if encoder is not None else load_encoder(encoder_path, G, device, domain)
    size = max(int(getattr(enc, "input_resolution", G.resolution)), G.resolution)

    def read(path):
        try:
            found = align_faces(load_photo(path), size, face=face_choice, align=align, source=path)
            return [(f, invert(enc, f.crop.to(device), generator=G, refine=refine)) for f in found]
        except (PhotoError, EditingError, ValueError) as exc:
            if failures is None:
                raise _fail(exc, "--refine: " if refine and isinstance(exc, EditingError) else "") from None
            raise

    for path, inverted in iter_batch(paths, read, [] if failures is None else failures):
        for f, w in inverted:
            yield path.stem + f.suffix, w, (f.paste if f.transform is not None else None), f.crop


def latent_jobs(paths, G, failures: list[str] | None = None):
    """(stem, w_plus (1, L, D), paste-back or None) per latent in the W+ files; ClickException on failure (with a
    ``failures`` list: a bad file is named there and skipped). A file from `latentedit invert` whose photo is gone
    gets a one-line note instead of a silent skip of its paste-back."""
    from latentedit.editing import EditingError, latents_from_files

    notes: list[str] = []

    def read(path):
        try:
            return list(latents_from_files([path], G, notes=notes))
        except EditingError as exc:
            if failures is None:
                raise _fail(exc) from None
            raise

    jobs = [job for _, found in iter_batch(paths, read, [] if failures is None else failures) for job in found]
    for line in notes:
        click.echo(f"note: {line}", err=True)
    return jobs


def expand_inputs(inputs):
    """Files as given; folders -> the photos and W+ files in them (sorted); UsageError when nothing is left."""
    from latentedit.editing import expand_photo_paths

    paths = expand_photo_paths(inputs, latents=True)
    if not paths:
        raise click.UsageError(f"no photos or W+ files found in {', '.join(map(str, inputs))}")
    return paths


def photo_generator(generator_path, encoder_path, photo_paths, device, domain: str | None = None):
    """(G, encoder or None): --generator, else for photo inputs the generator bundled with the encoder (as `invert`
    does), else the domain's. Each network is loaded once: the encoder returned here is the one to invert with."""
    if generator_path is None and photo_paths:  # the encoder is loaded once, here, and handed on
        from latentedit.cli.invert_cmd import encoder_and_generator

        encoder, _, G = encoder_and_generator(encoder_path or "default", None, device, domain)
        return G, encoder
    G, _ = load_generator_or_default(generator_path, device, domain)
    return G, None


def split_inputs(inputs):
    """(W+ files, photos); BadParameter naming anything else."""
    from latentedit.editing import PHOTO_SUFFIXES, is_latent_file, is_photo

    latent_paths = [p for p in inputs if is_latent_file(p)]
    photo_paths = [p for p in inputs if not is_latent_file(p) and is_photo(p)]
    other = [str(p) for p in inputs if p not in latent_paths and p not in photo_paths]
    if other:
        raise click.BadParameter(f"{', '.join(other)}: expected W+ files (*.safetensors) or photos "
                                 f"({', '.join(sorted(PHOTO_SUFFIXES))})", param_hint="INPUTS")
    return latent_paths, photo_paths


def read_reference(mapper, reference: Path, G, align: bool, face_choice):
    """(style (1, style_dim), reference image (1, 3, R, R)) of --reference, read as the inputs are (a photo aligned
    under --align/--face, a W+ file rendered); ClickException (one line) for a mapper that takes no reference."""
    from latentedit.editing import EditingError, PhotoError, reference_style, style_encoder

    try:
        style_encoder(mapper)
    except EditingError as exc:
        raise _fail(exc) from None
    try:
        return reference_style(mapper, reference, G, align=align, face=face_choice)
    except (EditingError, PhotoError, OSError, ValueError) as exc:
        raise _fail(exc, "--reference ") from None


def _save_gif(frames, path: Path, ms: int = 400) -> Path:
    from PIL import Image

    from latentedit.images import make_grid, to_uint8
    from latentedit.io.modelfile import atomic_write

    pil = [Image.fromarray(to_uint8(make_grid(f, ncol=f.shape[0]).unsqueeze(0))[0]) for f in frames]
    return atomic_write(path, lambda tmp: pil[0].save(tmp, format="GIF", save_all=True, append_images=pil[1:],
                                                       duration=ms, loop=0))


def _labeller(classifier_path, mapper, device, G=None, domain: str | None = None):
    """images (B, 3, H, W) -> the classifier's labels (B, n_attr) in the mapper's attribute order."""
    clf = load_domain_model_for(G, classifier_path, "classifier", "--classifier", domain).to(device)
    names = list(mapper.generator_info.attribute_names)
    missing = [n for n in names if n not in clf.output_names]
    if missing:
        raise click.ClickException(f"--targets full: the classifier reads {', '.join(clf.output_names)} but the "
                                   f"mapper also edits {', '.join(missing)}; pass a classifier for all of "
                                   f"{', '.join(names)} or use --targets keep")
    cols = [clf.output_names.index(n) for n in names]
    return lambda images: (clf(images)[:, cols] > 0).float()


@click.command("edit")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--attr", "attrs", multiple=True, metavar="NAME=AMOUNT",
              help="An attribute edit, e.g. smile=+1 or age=-0.5; repeat for several (applied together). Optional "
                   "with --reference: then every attribute (group) is taken from the reference.")
@click.option("--reference", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Edit toward this photo (aligned like the inputs, see --align/--face) or W+ file: style mappers "
                   "(e.g. sensorium, lst); with --attr only those attributes are taken from it.")
@click.option("--method", default=None,
              help="Mapper plugin: isf, directions or any installed NAME (default: isf, else directions, whichever "
                   "toy-faces mapper is shipped).")
@click.option("--mapper", "mapper_path", type=click.Path(dir_okay=False), default=None,
              help="Mapper file (default: the shipped toy-faces one for --method), or a community direction file: "
                   "InterFaceGAN .npy, e4e .pt, GANSpace .npz (its built-in presets), converted on the fly.")
@click.option("--generator", "generator_path", type=click.Path(dir_okay=False), default=None,
              help="Generator checkpoint (default: for photos the encoder's bundled decoder, else the domain's).")
@click.option("--encoder", "encoder_path", type=click.Path(dir_okay=False), default=None,
              help="Encoder for photos (default: the domain's, e.g. the shipped toy-faces e4e).")
@click.option("--samples", type=click.IntRange(1, 64), default=6, show_default=True,
              help="Outputs per edit (noise draws) for multimodal mappers; deterministic mappers give one.")
@click.option("--strengths", default="1", show_default=True, help="Edit strengths: START:STOP:COUNT or a list.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the noise draws.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("edits"),
              show_default=True, help="Output folder.")
@click.option("--gif", is_flag=True, help="Also write an animated strip over the strengths.")
@click.option("--align/--no-align", default=True, show_default=True,
              help="Photos (and a photo --reference): detect and align the face first; --no-align takes the central "
                   "square as it is.")
@click.option("--face", "face_spec", default="largest", show_default=True,
              help="Photos with several faces: all, largest or N (counted from the left).")
@click.option("--refine", type=click.IntRange(0), default=0, show_default=True,
              help="Photos: optimise each inverted W+ this many steps against the crop before editing (slower, "
                   "keeps more of the photo: the toy encoder keeps 81% of the attribute labels, 97% with 50).")
@click.option("--targets", type=click.Choice(["keep", "full"]), default="keep", show_default=True,
              help="Attributes not edited: keep (NaN, the mapper leaves them) or full (their labels read by "
                   "--classifier on the source, for mappers trained on full targets only).")
@click.option("--classifier", "classifier_path", type=click.Path(dir_okay=False), default=None,
              help="With --targets full: attribute classifier file (default: the domain's classifier).")
@domain_option
@device_option
def edit(inputs, attrs, reference, method, mapper_path, generator_path, encoder_path, samples, strengths, seed, out_dir,
         gif, align, face_spec, refine, targets, classifier_path, domain, device):
    """Edit attributes of photos or W+ files (several attributes at once, several samples per edit, or a reference).

    \b
    Examples:
      latentedit edit face.png --attr smile=+1 --attr age=-0.5 --gif
      latentedit edit photos/ --attr smile=1 --face all              # every photo and W+ file in a folder
      latentedit edit face.png --attr eyeglasses=1 --refine 50      # slower inversion, truer to the photo
      latentedit sample --seeds 0-3 --save-latents lat/ && latentedit edit lat/*.wplus.safetensors --attr smile=1
      latentedit edit lat/seed0000.wplus.safetensors --attr eyeglasses=1 --method directions --strengths -2:2:5
      latentedit edit face.png --reference ref.png --method sensorium  # the reference's look, every attribute
      latentedit edit face.png --reference ref.png --attr eyeglasses=1 --method lst --mapper lst.safetensors
    """
    from latentedit.editing import EditError, apply_edit, check_edit, check_mapper_fits_generator, edit_rows
    from latentedit.editing import is_latent_file, noise_draws, parse_attr, parse_strengths, transfer_style
    from latentedit.images import make_grid, save_image, save_pil
    from latentedit.io.paths import check_output_folder
    from latentedit.latents import save_latents

    try:
        amounts = dict(parse_attr(a) for a in attrs)
        strength_list = parse_strengths(strengths)
    except EditError as exc:
        raise click.BadParameter(str(exc)) from None
    if not amounts and reference is None:
        raise click.UsageError("give --attr NAME=AMOUNT or --reference REF")
    check_output_folder(out_dir)
    try:
        from latentedit.faces import parse_face_choice

        face_choice = parse_face_choice(face_spec)
    except ImportError:
        face_choice = face_spec
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--face") from None
    dev = resolve_device(device)
    latent_paths, photo_paths = split_inputs(expand_inputs(inputs))
    ref_photos = [reference] if reference is not None and not is_latent_file(reference) else []
    G, encoder = photo_generator(generator_path, encoder_path, photo_paths + ref_photos, dev, domain)
    mapper, name, fingerprint = load_mapper_for_edit(method, mapper_path, G, domain)
    try:
        check_edit(amounts, mapper.generator_info.attribute_names, source=f"the {name} mapper")
    except EditError as exc:
        raise click.BadParameter(str(exc), param_hint="--attr") from None
    try:
        check_mapper_fits_generator(mapper, G, fingerprint=fingerprint, where=f"the {name} mapper")
    except EditError as exc:
        raise _fail(exc) from None
    mapper = mapper.to(dev)
    style, ref_image = read_reference(mapper, reference, G, align, face_choice) if reference else (None, None)
    labeller = _labeller(classifier_path, mapper, dev, G, domain) if targets == "full" else None

    failures: list[str] = []  # bad inputs are named at the end; the good ones are all edited
    jobs = [(s, w, paste, None) for s, w, paste in latent_jobs(latent_paths, G, failures)]
    if photo_paths:
        jobs += list(photos_to_wplus(photo_paths, G, encoder_path, align, face_choice, dev, refine=refine,
                                     domain=domain, encoder=encoder, failures=failures))

    zs = [None if z is None else z.to(dev) for z in noise_draws(mapper, samples, seed=seed)]
    n_samples = len(zs)
    rows = edit_rows(amounts, strength_list)
    for stem, w, paste, crop in jobs:
        w = w.to(dev)
        folder = out_dir / stem
        if crop is not None:
            save_image(crop, folder / "aligned.png")
        if ref_image is not None:
            save_image(ref_image, folder / "reference.png")
        with torch.no_grad():
            source = G.synthesis(w, noise_mode="const")
            others = labeller(source) if labeller is not None else None
            source = source.cpu()
            cells, latents = [], []
            for label, strength, row_amounts in rows:
                row = [source[0]]
                for k, z in enumerate(zs):
                    try:
                        w_edit = (apply_edit(mapper, w, row_amounts, z=z, others=others) if style is None else
                                  transfer_style(mapper, w, style, row_amounts, strength=strength, others=others))
                    except (RuntimeError, ValueError) as exc:  # e.g. a direction that was never fitted
                        raise _fail(exc) from None
                    img = G.synthesis(w_edit, noise_mode="const").cpu()
                    save_image(img, folder / f"{label}_{strength:+.2f}_{k}.png")
                    if paste is not None:
                        save_pil(paste(img), folder / f"pasted_{label}_{strength:+.2f}_{k}.png")
                    row.append(img[0])
                    latents.append(w_edit.cpu())
                cells.append(torch.stack(row))
        save_image(source, folder / "source.png")
        save_image(make_grid(torch.cat(cells), ncol=1 + n_samples), out_dir / f"{stem}_grid.png")
        save_latents(out_dir / f"{stem}_edited.wplus.safetensors", torch.cat(latents), space="w_plus", generator=G,
                     extra={"method": name, "attrs": amounts, "strengths": strength_list, "samples": n_samples,
                            "rows": [f"{label}@{s:+.2f}" for label, s, _ in rows],
                            **({"reference": str(reference)} if reference is not None else {})})
        if gif:
            combined = [c[1:] for (label, _, _), c in zip(rows, cells) if label == rows[-1][0]]
            _save_gif(combined, out_dir / f"{stem}_strip.gif")
        click.echo(f"{stem}: {len(rows)} edits x {n_samples} samples -> {out_dir / (stem + '_grid.png')}")
    if style is not None and n_samples < samples:
        click.echo("note: the reference gives the style, so each edit has one sample")
    elif mapper.takes_noise is False and samples > 1:
        click.echo(f"note: the {name} mapper is deterministic, so each edit has one sample")
    finish_batch(failures, "input")
