"""``latentedit sample-edits``: several outputs of one edit from a multimodal mapper (noise or reference style).

    latentedit sample-edits PHOTO|W+FILE --attr glasses=1 --n 8 [--method isf|sensorium] [--mode random|clusters]
                            [--reference REF] [--mix REF2 --mix-group G] [--interpolate REF2 --steps 5]

References (``REF``) are photos (central square) or W+ files (rendered by the generator). Per input ``NAME`` it
writes into ``--out``:

    NAME_samples.png / .wplus.safetensors   source, then n samples (random prior draws or K-means cluster centres)
    NAME_reference.png                      with --reference: source | reference | transfer
    NAME_mix.png                            with --mix: source | REF | REF2 | REF's style with REF2's groups G
    NAME_interp.png / .wplus.safetensors    with --interpolate: source | REF | steps from REF's to REF2's style | REF2
"""

from __future__ import annotations

from pathlib import Path

import click
import torch

from latentedit.cli.common import device_option, load_generator_or_default, resolve_device
from latentedit.cli.common import click_error as _fail
from latentedit.cli.edit_cmd import (
    LATENT_SUFFIX,
    PHOTO_SUFFIXES,
    _center_square,
    latents_from_files,
    load_mapper_for_edit,
    photos_to_wplus,
)


def load_reference(path: Path, G, device) -> torch.Tensor:
    """A reference image (1, 3, R, R) in [-1, 1]: a W+ file rendered by ``G`` (its first latent), or a photo's
    central square at the generator's resolution."""
    if path.name.endswith(LATENT_SUFFIX):
        _, w, _ = next(iter(latents_from_files([path], G)))
        with torch.no_grad():
            return G.synthesis(w.to(device), noise_mode="const")
    if path.suffix.lower() not in PHOTO_SUFFIXES:
        raise click.BadParameter(f"{path}: expected a photo ({', '.join(sorted(PHOTO_SUFFIXES))}) or a W+ file",
                                 param_hint="--reference")
    from latentedit.faces import PhotoError, load_photo

    try:
        return _center_square(load_photo(path), G.resolution).to(device)
    except (PhotoError, ValueError, OSError) as exc:
        raise _fail(exc) from None


def _face_codes(mapper, G, amounts: dict[str, float], pool: int, seed: int, classifier_path, device):
    """Style codes (N, style_dim) of generated faces that show the asked attributes (all faces when no classifier
    reads them), and a note saying which."""
    from latentedit.latents import z_from_seeds

    with torch.no_grad():
        w = G.mapping(z_from_seeds(range(seed, seed + pool), G.z_dim).to(device), truncation_psi=0.7)
        images = G.synthesis(w, noise_mode="const")
        keep, note = torch.ones(pool, dtype=torch.bool, device=device), f"all {pool} generated faces"
        names: list[str] = []
        try:
            from latentedit.classifiers import load_classifier
            from latentedit.toyfaces.judges import load_judge

            clf = load_classifier(classifier_path, fallback=lambda p: load_judge("attributes", p)).to(device)
            names = [n for n in amounts if n in clf.output_names]
            logits = clf(images) if names else None
        except Exception as exc:  # noqa: BLE001 - no usable judge: cluster every face, and say so
            names, note = [], f"all {pool} generated faces (no attribute judge: {type(exc).__name__})"
        for n in names:
            has = logits[:, clf.output_names.index(n)] > 0
            keep &= has if amounts[n] > 0 else ~has
        if names:
            note = f"{int(keep.sum())} of {pool} generated faces with {', '.join(names)} as asked"
        if not bool(keep.any()):
            raise click.ClickException(f"clusters: none of {pool} generated faces shows {', '.join(names)} as asked; "
                                       "raise --pool or use --mode random")
        return mapper.encode_style(images[keep]), note


def _strip(images: list[torch.Tensor], path: Path) -> Path:
    from latentedit.images import save_image

    row = torch.cat([i.cpu() for i in images])
    return save_image(row, path, ncol=row.shape[0])


@click.command("sample-edits")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--attr", "attrs", multiple=True, metavar="NAME=AMOUNT",
              help="Attribute to set (repeatable); optional with --reference (then every group is transferred).")
@click.option("--n", "n", type=click.IntRange(1, 64), default=8, show_default=True, help="Samples per input.")
@click.option("--method", default=None, help="Mapper plugin (isf, sensorium, ...); default: the one in --mapper.")
@click.option("--mapper", "mapper_path", type=click.Path(dir_okay=False), default=None, help="Mapper file.")
@click.option("--generator", "generator_path", type=click.Path(dir_okay=False), default=None,
              help="Generator file (default: the shipped toy-faces generator).")
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
              help="clusters: attribute classifier (a `train classifier` file or a toy-faces judge) that picks faces "
                   "with the attribute (default: toy-faces judge).")
@click.option("--reference", "reference", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Transfer from this photo or W+ file (style mappers).")
@click.option("--mix", "mix", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Second reference whose --mix-group styles replace the first's.")
@click.option("--mix-group", "mix_groups", multiple=True, help="Attribute group(s) taken from --mix.")
@click.option("--interpolate", "interpolate", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Second reference: morph from --reference's style to its style.")
@click.option("--steps", type=click.IntRange(2, 64), default=5, show_default=True, help="Interpolation steps.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of draws and clustering.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("sample_edits"),
              show_default=True, help="Output folder.")
@click.option("--align/--no-align", default=True, show_default=True, help="Photos: align the face first.")
@click.option("--refine", type=click.IntRange(0), default=0, show_default=True,
              help="Photos: optimise each inverted W+ this many steps against the crop first (see `edit --refine`).")
@device_option
def sample_edits(inputs, attrs, n, method, mapper_path, generator_path, encoder_path, mode, cluster_on, pool,
                 classifier_path, reference, mix, mix_groups, interpolate, steps, seed, out_dir, align, refine, device):
    """Sample several edits of each input with a noise or style mapper (random, clusters, reference, mix, morph)."""
    from latentedit import sampling_modes as sm
    from latentedit.edits import EditError, check_edit, check_mapper_fits_generator, parse_attr, target_from_amounts
    from latentedit.images import save_image
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
    dev = resolve_device(device)
    mapper, name, fingerprint = load_mapper_for_edit(method, mapper_path)
    try:
        kind = sm.condition_kind(mapper)
        check_edit(amounts, mapper.generator_info.attribute_names, source=f"the {name} mapper")
    except (sm.SamplingError, EditError) as exc:
        raise _fail(exc) from None
    has_encoder = callable(getattr(mapper, "encode_style", None))
    if reference is not None and not (kind == "style" and has_encoder):
        takes = "a style without an encoder" if kind == "style" else "noise"
        raise click.ClickException(f"--reference needs a style mapper with a style encoder (e.g. sensorium); the "
                                   f"{name} mapper takes {takes}")
    G, _ = load_generator_or_default(generator_path, dev)
    try:
        check_mapper_fits_generator(mapper, G, fingerprint=fingerprint, where=f"the {name} mapper")
    except EditError as exc:
        raise _fail(exc) from None
    mapper = mapper.to(dev)

    latent_paths = [p for p in inputs if p.name.endswith(LATENT_SUFFIX)]
    photo_paths = [p for p in inputs if p.suffix.lower() in PHOTO_SUFFIXES]
    other = [str(p) for p in inputs if p not in latent_paths and p not in photo_paths]
    if other:
        raise click.BadParameter(f"{', '.join(other)}: expected W+ files (*.safetensors) or photos",
                                 param_hint="INPUTS")
    jobs = [(s, w) for s, w, _ in latents_from_files(latent_paths, G)]
    if photo_paths:
        faces = photos_to_wplus(photo_paths, G, encoder_path, align, "largest", dev, refine=refine)
        jobs += [(s, w) for s, w, _, _ in faces]

    cols: list[int] = []
    if mix is not None:
        slices = mapper.group_slices() if hasattr(mapper, "group_slices") else {}
        unknown = [g for g in mix_groups if g not in slices]
        if unknown:
            raise click.BadParameter(f"unknown group(s) {unknown}; the {name} mapper's groups: "
                                     f"{', '.join(slices) or '(none)'}", param_hint="--mix-group")
        cols = sorted({c for g in mix_groups for c in range(slices[g].start, slices[g].stop)})
    names = mapper.generator_info.attribute_names
    render = (lambda w: G.synthesis(w, noise_mode="const"))  # noqa: E731
    with torch.no_grad():
        ref_style = ref_img = None
        if reference is not None:
            ref_img = load_reference(reference, G, dev)
            ref_style = mapper.encode_style(ref_img)
        codes = None
        if reference is None and mode == "clusters" and kind == "style" and cluster_on == "edits":
            click.echo(f"clusters: K-means over the edits of {pool} prior styles on each input")
        elif reference is None and mode == "clusters" and kind == "style" and has_encoder:
            codes, note = _face_codes(mapper, G, amounts, pool, seed, classifier_path, dev)
            click.echo(f"clusters: K-means over the style codes of {note}")
        for stem, w in jobs:
            w = w.to(dev)
            target = target_from_amounts(amounts, names, 1, w) if amounts else None
            source = render(w)
            try:
                if reference is None:
                    if mode == "clusters":
                        kcols = mapper.style_columns(amounts) if codes is not None and hasattr(
                            mapper, "style_columns") else None
                        conds = sm.cluster_conditions(mapper, n, codes=codes, w_plus=w, target=target, pool=pool,
                                                      seed=seed, columns=kcols)
                    else:
                        conds = sm.random_conditions(mapper, n, generator=torch.Generator().manual_seed(seed))
                    edits = sm.edit_with_conditions(mapper, w, conds.to(dev), target)
                    save_image(torch.cat([source, render(edits)]).cpu(), out_dir / f"{stem}_samples.png", ncol=n + 1)
                    save_latents(out_dir / f"{stem}_samples.wplus.safetensors", edits.cpu(), space="w_plus",
                                 generator=G, extra={"mode": mode, "mapper": name, "attrs": amounts})
                    continue
                edit = sm.edit_with_conditions(mapper, w, ref_style, target)
                _strip([source, ref_img, render(edit)], out_dir / f"{stem}_reference.png")
                if mix is not None:
                    img2 = load_reference(mix, G, dev)
                    mixed = sm.mix_by_columns(ref_style, mapper.encode_style(img2), cols)
                    _strip([source, ref_img, img2, render(sm.edit_with_conditions(mapper, w, mixed, target))],
                           out_dir / f"{stem}_mix.png")
                if interpolate is not None:
                    img2 = load_reference(interpolate, G, dev)
                    line = sm.interpolate_conditions(ref_style, mapper.encode_style(img2), steps)
                    edits = sm.edit_with_conditions(mapper, w, line, target)
                    _strip([source, ref_img, render(edits), img2], out_dir / f"{stem}_interp.png")
                    save_latents(out_dir / f"{stem}_interp.wplus.safetensors", edits.cpu(), space="w_plus",
                                 generator=G, extra={"mode": "interpolate", "mapper": name})
            except (sm.SamplingError, ValueError, RuntimeError) as exc:
                if isinstance(exc, click.ClickException):
                    raise
                raise _fail(exc) from None
        click.echo(f"wrote {len(jobs)} input(s) to {out_dir}")
