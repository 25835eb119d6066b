"""The main job as a Python API: photos -> aligned faces -> W+ -> edits -> images -> pasted-back photos.

    from latentedit.editing import Editor

    editor = Editor.from_files(generator="G.safetensors", encoder="e4e.safetensors", mapper="isf.safetensors")
    result = editor.edit_photo("me.jpg", {"smile": 1.0, "eyeglasses": 1.0})
    result.save("me_edited.png")

The same steps as functions (tensors: images (B, 3, H, W) in [-1, 1]; latents w_plus (B, num_ws, w_dim)):

    photo = load_photo("me.jpg")                                   # (H, W, 3) uint8
    face = align_faces(photo, G.resolution)[0]                     # AlignedFace: crop (1, 3, R, R) + transform
    w = invert(encoder, face.crop, generator=G, refine=0)          # (1, num_ws, w_dim)
    edits = edit_latents(mapper, w, {"smile": 1.0}, samples=4)     # (S, 1, num_ws, w_dim)
    images = synthesize(G, edits[:, 0])                            # (S, 3, R, R)
    pasted = face.paste(images[:1])                                # (H, W, 3) uint8
    style, ref = reference_style(mapper, "ref.png", G)             # style mappers: a reference's style
    transfer = transfer_style(mapper, w, style)                    # (1, num_ws, w_dim): its look, all of it

Errors are ``EditingError`` (``EditError``, ``SamplingError``), ``PhotoError`` and ``CheckpointError``: all
``ValueError``s with a one-line message. Nothing here picks default files: pass them (a domain or a command does).
"""

from latentedit.editing.editor import EditResult, Editor
from latentedit.editing.edits import (
    EditError,
    apply_edit,
    check_edit,
    check_mapper_fits_generator,
    edit_latents,
    edit_rows,
    noise_draws,
    parse_attr,
    parse_strengths,
    target_from_amounts,
)
from latentedit.editing.inversion import invert, refine_latents
from latentedit.editing.latent_files import is_latent_file, latents_from_files, paste_from_metadata
from latentedit.editing.models import (
    LoadedMapper,
    check_encoder_fits_generator,
    find_encoder_class,
    load_encoder,
    load_generator,
    load_mapper,
)
from latentedit.editing.photos import (
    PHOTO_SUFFIXES,
    AlignedFace,
    PhotoError,
    align_faces,
    center_square,
    expand_photo_paths,
    is_photo,
    load_photo,
    paste_back,
)
from latentedit.editing.references import (
    edited_style_columns,
    face_style_codes,
    group_columns,
    load_reference,
    reference_style,
    style_encoder,
    style_mapper_names,
    transfer_style,
)
from latentedit.editing.sampling import SamplingError
from latentedit.editing.synthesis import synthesize
from latentedit.io.errors import EditingError

__all__ = [
    "PHOTO_SUFFIXES", "AlignedFace", "EditError", "EditResult", "Editor", "EditingError", "LoadedMapper",
    "PhotoError", "SamplingError", "align_faces", "apply_edit", "center_square", "check_edit",
    "check_encoder_fits_generator", "check_mapper_fits_generator", "edit_latents", "edit_rows", "edited_style_columns",
    "expand_photo_paths", "face_style_codes", "find_encoder_class", "group_columns", "invert", "is_latent_file",
    "is_photo", "latents_from_files", "load_encoder", "load_generator", "load_mapper", "load_photo", "load_reference",
    "noise_draws", "parse_attr", "parse_strengths", "paste_back", "paste_from_metadata", "reference_style",
    "refine_latents", "style_encoder", "style_mapper_names", "synthesize", "target_from_amounts", "transfer_style",
]
