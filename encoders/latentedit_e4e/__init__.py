"""latentedit_e4e: the e4e W+ encoder (Tov et al., "Designing an Encoder for StyleGAN Image Manipulation", 2021).

- ``config``: ``E4EConfig`` (frozen architecture); ``irse``/``heads``/``network``: IR-SE backbone, pyramid, heads.
- ``encoder``: ``E4EEncoder``, the ``latentedit.encoders`` entry point ``e4e`` (official .pt and our format).
- ``official``: safe reading of official checkpoints; ``refine``: optional W+ (+ noise) optimisation.
- ``train_config`` / ``trainer`` / ``data`` / ``latent_disc``: the training recipe (e4e defaults).
- the encoder base class and contract live in the core: ``latentedit.plugins.encoder``.
"""

from latentedit_e4e.config import E4EConfig, E4EConfigError
from latentedit.plugins.encoder import Encoder, EncoderContractError
from latentedit_e4e.encoder import E4EEncoder

__all__ = ["E4EConfig", "E4EConfigError", "E4EEncoder", "Encoder", "EncoderContractError"]
