"""The evaluation's judges from files, offline: an identity embedder (one of our model files, read by its
domain's reader, or FaceNet weights) and an LPIPS model (a torchvision backbone file, or the torch hub cache)."""

from __future__ import annotations

from pathlib import Path


def load_embedder(path, domain=None):
    """The identity embedder in ``path``: one of our model files (read by the reader its kind's domain declares),
    else facenet-pytorch ``InceptionResnetV1`` weights (``.pt``/``.pth``/``.safetensors``) as a FaceNet embedder."""
    from latentedit.domains import load_domain_model
    from latentedit.io.modelfile import ModelFileError, read_model_metadata

    path = Path(path)
    try:
        read_model_metadata(path)
    except ModelFileError:
        if not path.is_file():
            raise
        from latentedit.losses.identity import FaceNetEmbedder

        return FaceNetEmbedder(weights_path=path).eval()
    return load_domain_model(path, "identity", domain)


def load_lpips(backbone_path=None, net: str = "alex"):
    """(LPIPS model or None, note): the model with ``backbone_path`` (or the torch hub cache); None and a one-line
    note saying which file is missing when there are no backbone weights offline."""
    from latentedit.losses import MissingWeightsError, build_lpips

    try:
        return build_lpips(net, backbone_path=backbone_path), ""
    except MissingWeightsError as exc:
        if backbone_path is not None:
            raise
        from latentedit.losses.perceptual import BACKBONE_FILES
        from latentedit.losses.pretrained import torch_hub_checkpoints_dir

        where = torch_hub_checkpoints_dir() / BACKBONE_FILES[net][0]
        return None, f"LPIPS column skipped: no LPIPS({net}) backbone weights at {where} (pass --lpips-backbone FILE)"
