"""``latentedit edit``: edit photos or W+ files with any mapper plugin; write edited images, a grid and a GIF strip.

Per input ``NAME`` (a W+ file ``NAME.wplus.safetensors`` or a photo) it writes into ``--out``:

    NAME/source.png                        the input as the generator draws it (the reconstruction, for photos)
    NAME/<row>_<strength>_<k>.png          one edited image per row (attribute or 'all') x strength x sample k
    NAME_grid.png                          rows: attributes/strengths, columns: source + samples
    NAME_edited.wplus.safetensors          the edited latents, in grid order (rows x samples)
    NAME_strip.gif                         with --gif: frames = strengths of the combined edit, samples side by side
    NAME/aligned.png                       photos: the aligned (or, with --no-align, central square) crop
    NAME/pasted_<row>_<strength>_<k>.png   photos with alignment (and W+ files from `latentedit invert` whose
                                           photo still exists): the edited face pasted back into the photo
"""

from __future__ import annotations

from pathlib import Path

import click
import torch

from latentedit.batch import finish_batch, iter_batch
from latentedit.cli.common import click_error as _fail
from latentedit.cli.common import device_option, load_encoder, load_generator_or_default, resolve_device

LATENT_SUFFIX = ".safetensors"
PHOTO_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
DEFAULT_MAPPERS = {"isf": "toyfaces_isf.safetensors", "directions": "toyfaces_directions.safetensors",
                   "sensorium": "toyfaces_sensorium.safetensors"}


def load_mapper_for_edit(method: str | None, mapper_path: str | None):
    """(mapper in eval mode, plugin name, generator fingerprint recorded in the file or None)."""
    from latentedit import assets
    from latentedit.io.modelfile import ModelFileError, read_model_metadata
    from latentedit.plugins import PluginError, load_mapper, load_mapper_file

    if mapper_path is None:
        shipped = [m for m, asset in DEFAULT_MAPPERS.items() if assets.has_asset(asset)]
        name = method or (shipped[0] if shipped else "isf")
        try:
            load_mapper(name)  # unknown names fail here, listing the available plugins
        except PluginError as exc:
            raise _fail(exc) from None
        asset = DEFAULT_MAPPERS.get(name)
        if asset is None or not assets.has_asset(asset):
            shipped = f" ({asset} is not shipped with this installation)" if asset else ""
            raise click.ClickException(f"no --mapper FILE given for method {name!r} and no default one{shipped}; "
                                       f"pass --mapper FILE (a mapper saved by `latentedit train` or a fitted "
                                       f"directions file)")
        mapper_path = str(assets.asset_path(asset))
    if not Path(mapper_path).is_file():
        raise click.ClickException(f"--mapper {mapper_path}: no such file")
    try:
        extra = read_model_metadata(mapper_path, expect_kind="mapper")[2]
        mapper = load_mapper_file(mapper_path)
    except (ModelFileError, PluginError, ValueError, OSError) as exc:
        raise _fail(exc) from None
    name = extra.get("mapper_name") or type(mapper).__name__
    if method is not None and method != name:
        raise click.ClickException(f"--method {method} but --mapper {mapper_path} holds a {name!r} mapper; drop "
                                   f"--method or pass a {method} mapper file")
    return mapper.eval().requires_grad_(False), name, extra.get("generator_fingerprint")


def _center_square(photo, size: int) -> torch.Tensor:
    """An (H, W, 3) uint8 photo -> its central square resized to (1, 3, size, size) in [-1, 1]."""
    import torch.nn.functional as F

    from latentedit.faces import photo_to_tensor

    h, w = photo.shape[:2]
    s = min(h, w)
    x = photo_to_tensor(photo[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s].copy())
    return F.interpolate(x, size=(size, size), mode="area" if s >= size else "bilinear")


def photos_to_wplus(paths, G, encoder_path, align: bool, face_choice, device, refine: int = 0,
                    failures: list[str] | None = None):
    """Yield (stem, w_plus (1, L, D), paste-back callable or None, aligned crop (1, 3, S, S)) per face; ``refine``
    > 0 optimises each inverted W+ that many steps against the crop (the encoder plugin's ``refine``). With a
    ``failures`` list, a photo that cannot be read is named there and skipped (else it stops with an error)."""
    try:
        from latentedit import faces
    except ImportError as exc:
        raise click.ClickException(f"photo editing needs latentedit.faces, which fails to import here ({exc}); "
                                   "give W+ files instead") from None
    enc = load_encoder(encoder_path, G, device)
    if refine and not callable(getattr(enc, "refine", None)):
        raise click.ClickException("--refine: this encoder plugin has no refine(); drop --refine")
    size = max(int(getattr(enc, "input_resolution", G.resolution)), G.resolution)
    def read(path):
        try:
            photo = faces.load_photo(path)
            return photo, (faces.select_faces(faces.detect_faces(photo), face_choice, path) if align else [None])
        except (faces.PhotoError, ValueError) as exc:
            if failures is None:
                raise _fail(exc) from None
            raise

    for path, (photo, found) in iter_batch(paths, read, [] if failures is None else failures):
        for i, face in enumerate(found):
            if face is None:
                crop, paste = _center_square(photo, size), None
            else:
                crop, t = faces.align_face(photo, face.landmarks, size)
                paste = (lambda edited, _p=photo, _t=t: faces.paste_back(_p, edited, _t))
            with torch.no_grad():
                w = enc.invert(crop.to(device))
            if refine:
                w = enc.refine(w, crop.to(device), G, steps=refine).detach()
            yield (path.stem if len(found) == 1 else f"{path.stem}_face{i + 1}"), w, paste, crop


def _save_photo(arr, path: Path) -> Path:
    from PIL import Image

    from latentedit.io.modelfile import atomic_write

    return atomic_write(path, lambda tmp: Image.fromarray(arr).save(tmp, format="PNG"))


def _paste_from_metadata(extra: dict):
    """A paste-back callable for a W+ file written by ``latentedit invert`` (its metadata names the photo and the
    alignment transform), or None when the file has none or the photo is gone."""
    if not extra.get("aligned") or "transform" not in extra or not extra.get("photo"):
        return None
    try:
        from latentedit import faces

        photo = faces.load_photo(extra["photo"])
        t = faces.AlignTransform.from_dict(extra["transform"])
    except (ImportError, ValueError, KeyError, OSError):
        return None
    if tuple(photo.shape[:2]) != tuple(t.photo_hw):
        return None
    return lambda edited: faces.paste_back(photo, edited, t)


def latents_from_files(paths, G, failures: list[str] | None = None):
    """Yield (stem, w_plus (1, L, D), paste-back or None) per latent in each W+ file (tied to ``G``: another
    generator's is an error). Files from ``latentedit invert`` paste back into their photo when it still exists.
    With a ``failures`` list, a file that cannot be used is named there and skipped."""
    from latentedit.latents import LatentError, load_latents, w_to_wplus

    def read(path):
        try:
            return load_latents(path, G)
        except LatentError as exc:
            if failures is None:
                raise _fail(exc) from None
            raise

    for path, lf in iter_batch(paths, read, [] if failures is None else failures):
        t = lf.tensor
        if lf.space == "w":
            t = w_to_wplus(t, G.num_ws)
        elif lf.space != "w_plus":
            problem = (f"{path}: holds {lf.space!r} latents; edit needs W or W+ files "
                       "(`latentedit sample --save-latents` writes W+)")
            if failures is None:
                raise click.ClickException(problem)
            failures.append(problem)
            continue
        stem = path.name[: -len(".wplus.safetensors")] if path.name.endswith(".wplus.safetensors") else path.stem
        paste = _paste_from_metadata(lf.extra) if t.shape[0] == 1 else None
        for i in range(t.shape[0]):
            yield (stem if t.shape[0] == 1 else f"{stem}_{i}"), t[i: i + 1], paste


def edit_rows(amounts: dict[str, float], strengths: list[float]) -> list[tuple[str, float, dict[str, float]]]:
    """Grid rows: each attribute alone (when several are asked for), then all together; each at every strength."""
    groups = [(name, {name: a}) for name, a in amounts.items()] if len(amounts) > 1 else []
    groups.append(("all" if len(amounts) > 1 else next(iter(amounts)), dict(amounts)))
    return [(label, s, {k: v * s for k, v in group.items()}) for label, group in groups for s in strengths]


def _save_gif(frames, path: Path, ms: int = 400) -> Path:
    from PIL import Image

    from latentedit.images import make_grid, to_uint8
    from latentedit.io.modelfile import atomic_write

    pil = [Image.fromarray(to_uint8(make_grid(f, ncol=f.shape[0]).unsqueeze(0))[0]) for f in frames]
    return atomic_write(path, lambda tmp: pil[0].save(tmp, format="GIF", save_all=True, append_images=pil[1:],
                                                       duration=ms, loop=0))


def _labeller(classifier_path, mapper, device):
    """images (B, 3, H, W) -> the classifier's labels (B, n_attr) in the mapper's attribute order."""
    from latentedit.toyfaces.judges import JudgeError, load_judge

    try:
        clf = load_judge("attributes", classifier_path).to(device)
    except (JudgeError, ValueError, OSError) as exc:
        raise _fail(exc) from None
    names = list(mapper.generator_info.attribute_names)
    missing = [n for n in names if n not in clf.output_names]
    if missing:
        raise click.ClickException(f"--targets full: the classifier reads {', '.join(clf.output_names)} but the "
                                   f"mapper also edits {', '.join(missing)}; pass a classifier for all of "
                                   f"{', '.join(names)} or use --targets keep")
    cols = [clf.output_names.index(n) for n in names]
    return lambda images: (clf(images)[:, cols] > 0).float()


@click.command("edit")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--attr", "attrs", multiple=True, required=True, metavar="NAME=AMOUNT",
              help="An attribute edit, e.g. smile=+1 or age=-0.5; repeat for several (applied together).")
@click.option("--method", default=None,
              help="Mapper plugin: isf, directions or any installed NAME (default: isf, else directions, whichever "
                   "toy-faces mapper is shipped).")
@click.option("--mapper", "mapper_path", type=click.Path(dir_okay=False), default=None,
              help="Mapper file (default: the shipped toy-faces one for --method).")
@click.option("--generator", "generator_path", type=click.Path(dir_okay=False), default=None,
              help="Generator checkpoint (default: the shipped toy-faces generator).")
@click.option("--encoder", "encoder_path", type=click.Path(dir_okay=False), default=None,
              help="Encoder for photos (default: the shipped toy-faces e4e).")
@click.option("--samples", type=click.IntRange(1, 64), default=6, show_default=True,
              help="Outputs per edit (noise draws) for multimodal mappers; deterministic mappers give one.")
@click.option("--strengths", default="1", show_default=True, help="Edit strengths: START:STOP:COUNT or a list.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the noise draws.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("edits"),
              show_default=True, help="Output folder.")
@click.option("--gif", is_flag=True, help="Also write an animated strip over the strengths.")
@click.option("--align/--no-align", default=True, show_default=True,
              help="Photos: detect and align the face first; --no-align takes the central square as it is.")
@click.option("--face", "face_spec", default="largest", show_default=True,
              help="Photos with several faces: all, largest or N (counted from the left).")
@click.option("--refine", type=click.IntRange(0), default=0, show_default=True,
              help="Photos: optimise each inverted W+ this many steps against the crop before editing (slower, "
                   "keeps more of the photo: the toy encoder keeps 81%% of the attribute labels, 97%% with 50).")
@click.option("--targets", type=click.Choice(["keep", "full"]), default="keep", show_default=True,
              help="Attributes not edited: keep (NaN, the mapper leaves them) or full (their labels read by "
                   "--classifier on the source, for mappers trained on full targets only).")
@click.option("--classifier", "classifier_path", type=click.Path(dir_okay=False), default=None,
              help="With --targets full: attribute classifier file (default: the shipped toy-faces judge).")
@device_option
def edit(inputs, attrs, method, mapper_path, generator_path, encoder_path, samples, strengths, seed, out_dir, gif,
         align, face_spec, refine, targets, classifier_path, device):
    """Edit attributes of photos or W+ files (several attributes at once, several samples per edit).

    \b
    Examples:
      latentedit edit face.png --attr smile=+1 --attr age=-0.5 --gif
      latentedit edit face.png --attr eyeglasses=1 --refine 50      # slower inversion, truer to the photo
      latentedit sample --seeds 0-3 --save-latents lat/ && latentedit edit lat/*.wplus.safetensors --attr smile=1
      latentedit edit lat/seed0000.wplus.safetensors --attr eyeglasses=1 --method directions --strengths -2:2:5
    """
    from latentedit.edits import EditError, apply_edit, check_edit, check_mapper_fits_generator, parse_attr
    from latentedit.edits import parse_strengths
    from latentedit.images import make_grid, save_image
    from latentedit.io.paths import check_output_folder
    from latentedit.latents import save_latents

    try:
        amounts = dict(parse_attr(a) for a in attrs)
        strength_list = parse_strengths(strengths)
    except EditError as exc:
        raise click.BadParameter(str(exc)) from None
    check_output_folder(out_dir)
    try:
        from latentedit.faces import parse_face_choice

        face_choice = parse_face_choice(face_spec)
    except ImportError:
        face_choice = face_spec
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--face") from None
    dev = resolve_device(device)
    mapper, name, fingerprint = load_mapper_for_edit(method, mapper_path)
    try:
        check_edit(amounts, mapper.generator_info.attribute_names, source=f"the {name} mapper")
    except EditError as exc:
        raise click.BadParameter(str(exc), param_hint="--attr") from None
    G, _ = load_generator_or_default(generator_path, dev)
    try:
        check_mapper_fits_generator(mapper, G, fingerprint=fingerprint, where=f"the {name} mapper")
    except EditError as exc:
        raise _fail(exc) from None
    mapper = mapper.to(dev)
    labeller = _labeller(classifier_path, mapper, dev) if targets == "full" else None

    latent_paths = [p for p in inputs if p.name.endswith(LATENT_SUFFIX)]
    photo_paths = [p for p in inputs if p.suffix.lower() in PHOTO_SUFFIXES]
    other = [str(p) for p in inputs if p not in latent_paths and p not in photo_paths]
    if other:
        raise click.BadParameter(f"{', '.join(other)}: expected W+ files (*.safetensors) or photos "
                                 f"({', '.join(sorted(PHOTO_SUFFIXES))})", param_hint="INPUTS")
    failures: list[str] = []  # bad inputs are named at the end; the good ones are all edited
    jobs = [(s, w, paste, None) for s, w, paste in latents_from_files(latent_paths, G, failures)]
    if photo_paths:
        jobs += list(photos_to_wplus(photo_paths, G, encoder_path, align, face_choice, dev, refine=refine,
                                     failures=failures))

    n_samples = samples if mapper.takes_noise else 1
    z_dim = getattr(mapper, "z_dim", 0)
    zs = [torch.randn(1, z_dim, generator=torch.Generator().manual_seed(seed + k)).to(dev) if z_dim else None
          for k in range(n_samples)]
    rows = edit_rows(amounts, strength_list)
    for stem, w, paste, crop in jobs:
        w = w.to(dev)
        folder = out_dir / stem
        if crop is not None:
            save_image(crop, folder / "aligned.png")
        with torch.no_grad():
            source = G.synthesis(w, noise_mode="const")
            others = labeller(source) if labeller is not None else None
            source = source.cpu()
            cells, latents = [], []
            for label, strength, row_amounts in rows:
                row = [source[0]]
                for k, z in enumerate(zs):
                    try:
                        w_edit = apply_edit(mapper, w, row_amounts, z=z, others=others)
                    except (RuntimeError, ValueError) as exc:  # e.g. a direction that was never fitted
                        raise _fail(exc) from None
                    img = G.synthesis(w_edit, noise_mode="const").cpu()
                    save_image(img, folder / f"{label}_{strength:+.2f}_{k}.png")
                    if paste is not None:
                        _save_photo(paste(img), folder / f"pasted_{label}_{strength:+.2f}_{k}.png")
                    row.append(img[0])
                    latents.append(w_edit.cpu())
                cells.append(torch.stack(row))
        save_image(source, folder / "source.png")
        save_image(make_grid(torch.cat(cells), ncol=1 + n_samples), out_dir / f"{stem}_grid.png")
        save_latents(out_dir / f"{stem}_edited.wplus.safetensors", torch.cat(latents), space="w_plus", generator=G,
                     extra={"method": name, "attrs": amounts, "strengths": strength_list, "samples": n_samples,
                            "rows": [f"{label}@{s:+.2f}" for label, s, _ in rows]})
        if gif:
            combined = [c[1:] for (label, _, _), c in zip(rows, cells) if label == rows[-1][0]]
            _save_gif(combined, out_dir / f"{stem}_strip.gif")
        click.echo(f"{stem}: {len(rows)} edits x {n_samples} samples -> {out_dir / (stem + '_grid.png')}")
    if mapper.takes_noise is False and samples > 1:
        click.echo(f"note: the {name} mapper is deterministic, so each edit has one sample")
    finish_batch(failures, "input")
