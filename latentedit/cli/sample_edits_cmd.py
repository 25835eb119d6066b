"""``latentedit sample-edits``: several outputs of one edit from a multimodal mapper (noise or reference style).

    latentedit sample-edits PHOTO|W+FILE --attr glasses=1 --n 8 [--method isf|sensorium] [--mode random|clusters]
                            [--reference REF] [--mix REF2 --mix-group G] [--interpolate REF2 --frames 5]

References (``REF``) are photos (the face detected and aligned as for inputs, the largest one; ``--no-align``: the
central square) or W+ files (rendered by the generator). Per input ``NAME`` it writes into ``--out``:

    NAME_samples.png / .wplus.safetensors   source, then n samples (random prior draws or K-means cluster centres)
    NAME/pasted_sample_K.png                photos (and W+ files from `invert` whose photo exists): sample K pasted
                                            back into the photo (NAME/pasted_reference.png for --reference)
    NAME_reference.png                      with --reference: source | reference | transfer
    NAME_mix.png                            with --mix: source | REF | REF2 | REF's style with REF2's groups G
    NAME_interp.png / .wplus.safetensors    with --interpolate: source | REF | frames from REF's to REF2's style | REF2
"""

from __future__ import annotations

from pathlib import Path

import click

from latentedit.cli.aliases import renamed_option
import torch

from latentedit.cli.common import click_error as _fail
from latentedit.cli.common import device_option, load_generator_or_default, load_mapper_for_edit, resolve_device
from latentedit.cli.domain_options import domain_option, load_domain_model_for
from latentedit.cli.edit_cmd import (expand_inputs, latent_jobs, photo_generator, photos_to_wplus,
                                     split_inputs)


def _face_codes(mapper, G, amounts: dict[str, float], pool: int, seed: int, classifier_path, device,
                domain: str | None = None, batch_size: int = 16):
    """Style codes (N, style_dim) of generated faces that show the asked attributes, as the classifier of the
    generator's domain (or --classifier) reads them (all faces when no attribute is asked), and a note saying which."""
    from latentedit.editing import EditingError, face_style_codes

    clf = (load_domain_model_for(G, classifier_path, "classifier", "--classifier", domain).to(device)
           if amounts else None)
    try:
        with torch.no_grad():
            codes, note = face_style_codes(mapper, G, amounts, pool=pool, seed=seed, classifier=clf,
                                           batch_size=batch_size)
    except EditingError as exc:
        raise _fail(exc) from None
    if clf is not None and not any(n in clf.output_names for n in amounts):
        note += f" (the classifier reads none of {', '.join(amounts)})"
    return codes, note


def _strip(images: list[torch.Tensor], path: Path) -> Path:
    from latentedit.images import save_image

    row = torch.cat([i.cpu() for i in images])
    return save_image(row, path, ncol=row.shape[0])


@click.command("sample-edits")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--attr", "attrs", multiple=True, metavar="NAME=AMOUNT",
              help="Attribute to set (repeatable); optional with --reference (then every group is transferred).")
@click.option("--n", "n", type=click.IntRange(1, 64), default=8, show_default=True, help="Samples per input.")
@click.option("--method", default=None, help="Mapper plugin (isf, sensorium, ...); default: the one in --mapper.")
@click.option("--mapper", "mapper_path", type=click.Path(dir_okay=False), default=None, help="Mapper file.")
@click.option("--generator", "generator_path", type=click.Path(dir_okay=False), default=None,
              help="Generator file (default: for photos the encoder's bundled decoder, else the domain's).")
@click.option("--encoder", "encoder_path", type=click.Path(dir_okay=False), default=None,
              help="Image-to-W+ encoder for photo inputs.")
@click.option("--mode", type=click.Choice(["random", "clusters"]), default="random", show_default=True,
              help="random: prior draws; clusters: K-means centres of face style codes (pix2pixHD).")
@click.option("--cluster-on", "cluster_on", type=click.Choice(["codes", "edits"]), default="codes", show_default=True,
              help="clusters, style mappers: K-means over the style codes of faces with the attribute (codes), or "
                   "over the edits a pool of prior styles makes on the input (edits, as for noise mappers; on the "
                   "toy Sensorium mapper the edits spread over more intensities).")
@click.option("--pool", type=click.IntRange(2, 4096), default=256, show_default=True,
              help="clusters: generated faces (style mappers) or prior draws (noise mappers) to cluster.")
@click.option("--classifier", "classifier_path", type=click.Path(dir_okay=False), default=None,
              help="clusters: attribute classifier that picks faces with the attribute (default: the domain's).")
@click.option("--reference", "reference", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Transfer from this photo or W+ file (style mappers).")
@click.option("--mix", "mix", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Second reference whose --mix-group styles replace the first's.")
@click.option("--mix-group", "mix_groups", multiple=True, help="Attribute group(s) taken from --mix.")
@click.option("--interpolate", "interpolate", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Second reference: morph from --reference's style to its style.")
@click.option("--frames", type=click.IntRange(2, 64), default=5, show_default=True,
              help="With --interpolate: frames from REF's style to REF2's.")
@renamed_option("--steps", "frames", "--frames", unset=5, type=click.IntRange(2, 64))
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of draws and clustering.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("sample_edits"),
              show_default=True, help="Output folder.")
@click.option("--align/--no-align", default=True, show_default=True,
              help="Photos and photo references: detect and align the face first; --no-align takes the central "
                   "square as it is.")
@click.option("--face", "face_spec", default="largest", show_default=True,
              help="Photos with several faces: all, largest or N (counted from the left), as for `edit`.")
@click.option("--batch-size", "batch_size", type=click.IntRange(1), default=8, show_default=True,
              help="Images rendered at a time (the clusters pool, the samples): bounds peak memory.")
@click.option("--refine", type=click.IntRange(0), default=0, show_default=True,
              help="Photos: optimise each inverted W+ this many steps against the crop first (see `edit --refine`).")
@domain_option
@device_option
def sample_edits(inputs, attrs, n, method, mapper_path, generator_path, encoder_path, mode, cluster_on, pool,
                 classifier_path, reference, mix, mix_groups, interpolate, frames, seed, out_dir, align, face_spec,
                 batch_size, refine, domain, device):
    """Sample several edits of each input with a noise or style mapper (random, clusters, reference, mix, morph)."""
    from latentedit import editing
    from latentedit.editing import EditError, check_edit, check_mapper_fits_generator, parse_attr, target_from_amounts
    from latentedit.editing import sampling as sm
    from latentedit.images import save_image, save_pil
    from latentedit.latents import save_latents

    try:
        amounts = dict(parse_attr(a) for a in attrs)
    except EditError as exc:
        raise click.BadParameter(str(exc), param_hint="--attr") from None
    if not amounts and reference is None:
        raise click.UsageError("give --attr NAME=AMOUNT (or --reference REF to transfer from a reference)")
    if (mix is not None or interpolate is not None) and reference is None:
        raise click.UsageError("--mix and --interpolate start from a first style: also give --reference REF")
    if mix is not None and not mix_groups:
        raise click.UsageError("--mix REF2 needs --mix-group G (the attribute group(s) to take from REF2)")
    from latentedit.faces import parse_face_choice

    try:
        face_choice = parse_face_choice(face_spec)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--face") from None
    dev = resolve_device(device)
    latent_paths, photo_paths = split_inputs(expand_inputs(inputs))
    refs = [p for p in (reference, mix, interpolate) if p is not None]
    G, encoder = photo_generator(generator_path, encoder_path, photo_paths + [p for p in refs if p.suffix.lower() !=
                                                                              ".safetensors"], dev, domain)
    mapper, name, fingerprint = load_mapper_for_edit(method, mapper_path, G, domain)
    try:
        kind = sm.condition_kind(mapper)
        check_edit(amounts, mapper.generator_info.attribute_names, source=f"the {name} mapper")
    except editing.EditingError as exc:
        raise _fail(exc) from None
    try:
        encode_style = editing.style_encoder(mapper)
    except editing.EditingError as exc:
        if reference is not None:
            raise _fail(exc, "--reference: ") from None
        encode_style = None
    try:
        check_mapper_fits_generator(mapper, G, fingerprint=fingerprint, where=f"the {name} mapper")
    except EditError as exc:
        raise _fail(exc) from None
    mapper = mapper.to(dev)

    jobs = list(latent_jobs(latent_paths, G))
    if photo_paths:
        faces = photos_to_wplus(photo_paths, G, encoder_path, align, face_choice, dev, refine=refine, domain=domain,
                                encoder=encoder)
        jobs += [(s, w, paste) for s, w, paste, _ in faces]

    cols: list[int] = []
    if mix is not None:
        try:
            cols = editing.group_columns(mapper, mix_groups)
        except editing.EditingError as exc:
            raise click.BadParameter(str(exc), param_hint="--mix-group") from None
    names = mapper.generator_info.attribute_names
    def render(w):
        return editing.synthesize(G, w, batch_size=batch_size)

    def load_reference(path):
        try:
            return editing.load_reference(path, G, align=align)
        except (editing.EditingError, editing.PhotoError, OSError, ValueError) as exc:
            raise _fail(exc, "--reference " if path == reference else "") from None

    def paste_all(paste, images, stem, prefix):
        if paste is None:
            return
        for k, img in enumerate(images.split(1)):
            save_pil(paste(img.cpu()), out_dir / stem / f"pasted_{prefix}{k}.png")

    with torch.no_grad():
        ref_style = ref_img = None
        if reference is not None:
            ref_img = load_reference(reference)
            ref_style = encode_style(ref_img)
        codes = None
        if reference is None and mode == "clusters" and kind == "style" and cluster_on == "edits":
            click.echo(f"clusters: K-means over the edits of {pool} prior styles on each input")
        elif reference is None and mode == "clusters" and kind == "style" and encode_style is not None:
            codes, note = _face_codes(mapper, G, amounts, pool, seed, classifier_path, dev, domain, batch_size)
            click.echo(f"clusters: K-means over the style codes of {note}")
        for stem, w, paste in jobs:
            w = w.to(dev)
            target = target_from_amounts(amounts, names, 1, w) if amounts else None
            source = render(w)
            try:
                if reference is None:
                    if mode == "clusters":
                        kcols = editing.edited_style_columns(mapper, amounts) if codes is not None else None
                        conds = sm.cluster_conditions(mapper, n, codes=codes, w_plus=w, target=target, pool=pool,
                                                      seed=seed, columns=kcols, batch_size=batch_size)
                    else:
                        conds = sm.random_conditions(mapper, n, generator=torch.Generator().manual_seed(seed))
                    edits = sm.edit_with_conditions(mapper, w, conds.to(dev), target, batch_size=batch_size)
                    images = render(edits)
                    save_image(torch.cat([source, images]).cpu(), out_dir / f"{stem}_samples.png", ncol=n + 1)
                    paste_all(paste, images, stem, "sample_")
                    save_latents(out_dir / f"{stem}_samples.wplus.safetensors", edits.cpu(), space="w_plus",
                                 generator=G, extra={"mode": mode, "mapper": name, "attrs": amounts})
                    continue
                edit = sm.edit_with_conditions(mapper, w, ref_style, target)
                transfer = render(edit)
                _strip([source, ref_img, transfer], out_dir / f"{stem}_reference.png")
                if paste is not None:
                    save_pil(paste(transfer.cpu()), out_dir / stem / "pasted_reference.png")
                if mix is not None:
                    img2 = load_reference(mix)
                    mixed = sm.mix_by_columns(ref_style, encode_style(img2), cols)
                    _strip([source, ref_img, img2, render(sm.edit_with_conditions(mapper, w, mixed, target))],
                           out_dir / f"{stem}_mix.png")
                if interpolate is not None:
                    img2 = load_reference(interpolate)
                    line = sm.interpolate_conditions(ref_style, encode_style(img2), frames)
                    edits = sm.edit_with_conditions(mapper, w, line, target)
                    _strip([source, ref_img, render(edits), img2], out_dir / f"{stem}_interp.png")
                    save_latents(out_dir / f"{stem}_interp.wplus.safetensors", edits.cpu(), space="w_plus",
                                 generator=G, extra={"mode": "interpolate", "mapper": name})
            except (sm.SamplingError, ValueError, RuntimeError) as exc:
                if isinstance(exc, click.ClickException):
                    raise
                raise _fail(exc) from None
        click.echo(f"wrote {len(jobs)} input(s) to {out_dir}")
