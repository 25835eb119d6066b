"""Stand-ins for the public FFHQ files, for running the guides' ``<!-- needs: real-files -->`` blocks in tests.

Each stand-in has the exact file name and the layout of the file it stands for, and tiny weights: a 32-px
generator pickled in NVIDIA's ``stylegan2-ffhq-config-f.pkl`` layout, an InterFaceGAN boundary ``(1, w_dim)``
``.npy``, ``me.jpg`` (scikit-image's astronaut photo), a folder of aligned crops, a domain file
``ffhq.yaml``, and untrained mapper files. The official e4e checkpoint layout is written by the e4e plugin
(``latentedit_e4e.official.write_official``): ``latentedit/`` never imports a plugin package.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

#: The file names the guides use for the public FFHQ files.
GENERATOR_PKL = "stylegan2-ffhq-config-f.pkl"
E4E_PT = "e4e_ffhq_encode.pt"
SMILE_BOUNDARY = "stylegan_ffhq_smile_w_boundary.npy"
PHOTO = "me.jpg"
DOMAIN_FILE = "ffhq.yaml"
ALIGNED_DIR = "ffhq_aligned"


def small_ffhq_generator(resolution: int = 32, w_dim: int = 32, channels: int = 16, seed: int = 0):
    """A seeded random StyleGAN2 generator of FFHQ's architecture (config-f), shrunk: ``resolution`` px, W of
    ``w_dim``, ``channels`` feature maps at every resolution."""
    from latentedit.stylegan2 import Generator, GeneratorConfig

    torch.manual_seed(seed)
    n = len(range(2, resolution.bit_length()))
    G = Generator(GeneratorConfig(resolution=resolution, z_dim=w_dim, w_dim=w_dim, mapping_layers=2,
                                  channels=(channels,) * n))
    with torch.no_grad():
        G.mapping.w_avg.normal_(0.0, 0.1)
    return G.eval().requires_grad_(False)


def write_generator_pkl(folder: str | Path, G, name: str = GENERATOR_PKL) -> Path:
    """``G`` as an NVIDIA training snapshot pickle (``{G, D, G_ema, augment_pipe, training_set_kwargs}``)."""
    from latentedit.testing.foreign_formats import export_nvidia_pkl

    return export_nvidia_pkl(Path(folder) / name, G)


def write_boundary(folder: str | Path, w_dim: int, name: str = SMILE_BOUNDARY, seed: int = 1) -> Path:
    """An InterFaceGAN boundary: a unit normal, float32 ``(1, w_dim)``."""
    rng = np.random.default_rng(seed)
    n = rng.standard_normal((1, w_dim)).astype(np.float32)
    np.save(Path(folder) / name, n / np.linalg.norm(n))
    return Path(folder) / name


def write_photo(folder: str | Path, name: str = PHOTO) -> Path:
    """A photo with a face: scikit-image's astronaut (512 x 512)."""
    from PIL import Image
    from skimage import data

    Image.fromarray(data.astronaut()).save(Path(folder) / name, quality=92)
    return Path(folder) / name


def write_aligned_crops(folder: str | Path, G, n: int = 4, name: str = ALIGNED_DIR, seed: int = 3) -> Path:
    """``n`` aligned crops at ``G``'s resolution (its renders), as PNGs named like FFHQ's ``00000.png``."""
    from PIL import Image

    out = Path(folder) / name
    out.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        imgs = G(torch.randn(n, G.config.z_dim, generator=g))
    arr = ((imgs.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    for i, a in enumerate(arr):
        Image.fromarray(a).save(out / f"{i:05d}.png")
    return out


def write_untrained_mapper(path: str | Path, method: str, G, attribute_names: Sequence[str]) -> Path:
    """A mapper file of plugin ``method`` for ``G`` with its initial weights (seeded): the layout of a trained one."""
    from latentedit.plugins import GeneratorInfo, load_mapper

    cls = load_mapper(method)
    torch.manual_seed(0)
    info = GeneratorInfo(G.num_ws, G.w_dim, tuple(attribute_names), G.config.resolution)
    return cls(cls.config_class(), info).save(path)


def write_domain_yaml(folder: str | Path, *, name: str = DOMAIN_FILE, classifier: str | None = None,
                      attribute_names: Sequence[str] = (), mappers: dict[str, str] | None = None) -> Path:
    """The domain file of the guides (``ffhq.yaml``): generator, encoder, classifier and mappers, paths relative
    to the file."""
    import yaml

    data: dict = {"name": "ffhq", "generator": {"path": GENERATOR_PKL}, "encoder": E4E_PT}
    if classifier:
        data["classifier"] = classifier
    if attribute_names:
        data["attribute_names"] = list(attribute_names)
    if mappers:
        data["mappers"] = dict(mappers)
    path = Path(folder) / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def as_celeba_layout(folder: str | Path, rename: dict[str, str]) -> Path:
    """Turn a ``latentedit toyfaces export-celeba`` folder (``photos/`` + ``list_attr_celeba.txt``) into CelebA's
    layout: ``img_align_celeba/`` and the header's attribute names renamed by ``rename`` (e.g. smile -> Smiling)."""
    folder = Path(folder)
    (folder / "photos").rename(folder / "img_align_celeba")
    labels = folder / "list_attr_celeba.txt"
    lines = labels.read_text(encoding="utf-8").splitlines()
    lines[1] = " ".join(rename.get(n, n) for n in lines[1].split())
    labels.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder
