"""``Editor``: the loaded models of the editing pipeline, and ``EditResult``: what one photo's edit gives.

    editor = Editor.from_files(generator="G.safetensors", encoder="e4e.safetensors", mapper="isf.safetensors")
    result = editor.edit_photo("me.jpg", {"smile": 1.0, "eyeglasses": 1.0})
    result.save("me_edited.png")            # the edited face pasted back into the photo

    sens = Editor.from_domain("toyfaces", mapper="sensorium")        # a style mapper (sensorium, lst) takes a reference
    sens.edit_photo("me.jpg", reference="ref.jpg").save("me_as_ref.png")            # everything from the reference
    sens.edit_photo("me.jpg", {"eyeglasses": 1.0}, reference="ref.jpg")              # only the reference's glasses
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from latentedit.editing.edits import check_mapper_fits_generator, edit_latents
from latentedit.editing.inversion import invert
from latentedit.editing.models import check_encoder_fits_generator, load_encoder, load_generator, load_mapper
from latentedit.editing.photos import AlignedFace, align_faces, load_photo
from latentedit.editing.references import reference_style, transfer_style
from latentedit.editing.synthesis import synthesize
from latentedit.io.errors import EditingError


@dataclass(frozen=True)
class EditResult:
    """One face's edit. ``w_plus (1, num_ws, w_dim)`` the inverted code and ``source (1, 3, R, R)`` its
    reconstruction; ``edited_w_plus (S, num_ws, w_dim)`` and ``edited (S, 3, R, R)`` the S edits (samples);
    ``face`` the aligned crop and its transform (None for latent inputs); ``pasted`` the S edited photos
    (H, W, 3) uint8 (empty when there is nothing to paste into)."""

    w_plus: torch.Tensor
    source: torch.Tensor
    edited_w_plus: torch.Tensor
    edited: torch.Tensor
    face: AlignedFace | None = None
    pasted: list[np.ndarray] = field(default_factory=list)

    def save(self, path: str | os.PathLike, *, sample: int = 0) -> Path:
        """Write edit ``sample`` atomically: the pasted-back photo when there is one, else the edited crop."""
        from latentedit.images import save_image, save_pil

        if not 0 <= sample < self.edited.shape[0]:
            raise EditingError(f"sample {sample} asked for, but this edit has {self.edited.shape[0]} sample(s)")
        if self.pasted:
            return save_pil(self.pasted[sample], path)
        return save_image(self.edited[sample], path)


class Editor:
    """A generator, a mapper and (for photos) an encoder, on one device, ready to edit photos or latents."""

    def __init__(self, generator, mapper, encoder=None, *, mapper_fingerprint: str | None = None,
                 device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.generator = generator.eval().requires_grad_(False).to(self.device)
        check_mapper_fits_generator(mapper, self.generator, fingerprint=mapper_fingerprint)
        self.mapper = mapper.eval().requires_grad_(False).to(self.device)
        if encoder is not None:
            check_encoder_fits_generator(encoder, self.generator)
        self.encoder = encoder

    @classmethod
    def from_files(cls, *, generator: str | os.PathLike, mapper: str | os.PathLike,
                   encoder: str | os.PathLike | None = None, method: str | None = None,
                   device: str | torch.device = "cpu") -> Editor:
        """Load the three files (the encoder is only needed for photos); ``method``: the mapper plugin the file
        must hold. EditingError / CheckpointError with one line when a file does not fit."""
        G = load_generator(generator, device=device)
        loaded = load_mapper(mapper, method=method)
        enc = None if encoder is None else load_encoder(encoder, generator=G, device=device)
        return cls(G, loaded.mapper, enc, mapper_fingerprint=loaded.generator_fingerprint, device=device)

    @classmethod
    def from_domain(cls, domain: str | os.PathLike | None = None, *, mapper: str | None = None,
                    device: str | torch.device | None = None) -> Editor:
        """Load the generator, encoder and a mapper that a domain names.

        ``domain``: an installed domain's name (``latentedit.domains.domain_names()``) or a domain file (JSON/YAML); None
        takes the domain ``latentedit.domains.default_generator`` picks (``LATENTEDIT_DOMAIN``, else the only
        installed domain that ships a generator). ``mapper``: the plugin name of one of the domain's mapper files
        (default: the domain's first). ``device``: None means CPU. DomainError (a ValueError) with one line when
        the domain lacks a file; the files themselves load as in ``from_files``.

            editor = Editor.from_domain("toyfaces", mapper="sensorium")
        """
        from latentedit.domains import DomainError, default_generator, domain_file, domain_of, find_domain

        spec = None if domain is None else os.fspath(domain)
        device = device or "cpu"
        G = load_generator(default_generator(spec), device=device)
        d = find_domain(spec) if spec else domain_of(G)
        if d is None:
            raise DomainError(f"no installed domain lists the default generator's fingerprint {G.fingerprint()}: "
                              "pass Editor.from_domain(NAME|FILE) or use Editor.from_files")
        if not d.mappers:
            raise DomainError(f"domain '{d.name}' ships no mapper file: use Editor.from_files(..., mapper=FILE)")
        name = mapper or next(iter(d.mappers))
        if name not in d.mappers:
            raise DomainError(f"domain '{d.name}' has no '{name}' mapper; its mappers: {', '.join(d.mappers)}")
        flag = "Editor.from_files({}=...) with a"
        encoder = domain_file(G, "encoder", flag=flag.format("encoder"), spec=spec)
        mapper_path = domain_file(G, "mapper", flag=flag.format("mapper"), spec=spec, mapper=name)
        loaded = load_mapper(mapper_path, method=name)
        enc = load_encoder(encoder, generator=G, device=device)
        return cls(G, loaded.mapper, enc, mapper_fingerprint=loaded.generator_fingerprint, device=device)

    @property
    def crop_size(self) -> int:
        """Side of the aligned crops: the generator's resolution, or the encoder's input when larger."""
        return max(int(getattr(self.encoder, "input_resolution", 0) or 0), self.generator.resolution)

    def invert_photo(self, photo: str | os.PathLike | np.ndarray, *, face: str | int = "largest",
                     align: bool = True, refine: int = 0) -> list[tuple[AlignedFace, torch.Tensor]]:
        """A photo (path or (H, W, 3) uint8) -> [(aligned face, w_plus (1, num_ws, w_dim))] for the chosen faces."""
        if self.encoder is None:
            raise EditingError("editing photos needs an encoder: Editor.from_files(..., encoder=FILE)")
        source = photo if isinstance(photo, np.ndarray) else Path(photo)
        arr = photo if isinstance(photo, np.ndarray) else load_photo(photo)
        out = []
        for f in align_faces(arr, self.crop_size, face=face, align=align, source=str(source)[:80]):
            w = invert(self.encoder, f.crop.to(self.device), generator=self.generator, refine=refine)
            out.append((f, w))
        return out

    def reference_style(self, reference, *, align: bool = True, face: str | int = "largest") -> torch.Tensor:
        """A reference's style (B, style_dim) for a style mapper: a photo (path or (H, W, 3) uint8, aligned as
        photos are unless ``align=False``), a W+ file or tensor (B, num_ws, w_dim), or images (B, 3, H, W); see
        ``latentedit.editing.reference_style``. EditingError naming the mappers that take one otherwise."""
        return reference_style(self.mapper, reference, self.generator, align=align, face=face)[0]

    def edit_latents(self, w_plus: torch.Tensor, amounts: Mapping[str, float] | None = None, *, samples: int = 1,
                     seed: int = 0, reference=None, style: torch.Tensor | None = None, align: bool = True,
                     face: str | int = "largest") -> torch.Tensor:
        """w_plus (B, num_ws, w_dim) -> edits (S, B, num_ws, w_dim); see ``latentedit.editing.edit_latents``.

        With ``reference`` (anything ``reference_style`` reads; ``align``/``face`` for photos) or its ``style``
        (1 or B, style_dim), a style mapper edits toward it (``latentedit.editing.transfer_style``): only the
        attributes in ``amounts``, or with none every attribute/group the reference shows; one edit (S = 1)."""
        amounts = dict(amounts or {})
        w = w_plus.to(self.device)
        if reference is not None and style is not None:
            raise EditingError("give a reference or its style, not both")
        if reference is not None:
            style = self.reference_style(reference, align=align, face=face)
        if style is None:
            return edit_latents(self.mapper, w, amounts, samples=samples, seed=seed)
        with torch.no_grad():
            return transfer_style(self.mapper, w, style.to(self.device), amounts)[None]

    def edit_photo(self, photo: str | os.PathLike | np.ndarray, amounts: Mapping[str, float] | None = None, *,
                   samples: int = 1, seed: int = 0, face: str | int = "largest", align: bool = True,
                   refine: int = 0, reference=None, style: torch.Tensor | None = None) -> EditResult:
        """Invert the photo's face (the largest, or ``face``), edit it by ``{attribute: amount}`` (``samples``
        draws for multimodal mappers), synthesise and paste back. ``reference``/``style``: edit toward a
        reference (style mappers; see ``edit_latents``; a photo reference is aligned like ``photo``), all of it
        when ``amounts`` is empty. Several faces: ``edit_faces``."""
        return self.edit_faces(photo, amounts, samples=samples, seed=seed, face=face, align=align, refine=refine,
                               reference=reference, style=style)[0]

    def edit_faces(self, photo, amounts: Mapping[str, float] | None = None, *, samples: int = 1, seed: int = 0,
                   face: str | int = "all", align: bool = True, refine: int = 0, reference=None,
                   style: torch.Tensor | None = None) -> list[EditResult]:
        """``edit_photo`` for each chosen face (default: all), left to right (a photo reference: its largest face,
        or face N)."""
        if reference is not None:  # read once for every face
            if style is not None:
                raise EditingError("give a reference or its style, not both")
            style = self.reference_style(reference, align=align, face=face)
        results = []
        for f, w in self.invert_photo(photo, face=face, align=align, refine=refine):
            edits = self.edit_latents(w, amounts, samples=samples, seed=seed, style=style)[:, 0]   # (S, L, D)
            images = synthesize(self.generator, edits).cpu()
            pasted = [] if f.transform is None else [f.paste(img[None]) for img in images]
            results.append(EditResult(w, synthesize(self.generator, w).cpu(), edits, images, f, pasted))
        return results
