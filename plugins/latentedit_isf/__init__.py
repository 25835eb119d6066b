"""latentedit's built-in ``isf`` mapper plugin: ISF-GAN's implicit style function (AdaLN, multimodal, multi-attribute).

Registered through the ``latentedit.mappers`` entry point ``isf``, exactly as a third-party plugin. See README.md.
"""

from latentedit_isf.config import ISFConfig
from latentedit_isf.mapper import ISF_LOSS_WEIGHTS, ISFMapper

__all__ = ["ISFConfig", "ISFMapper", "ISF_LOSS_WEIGHTS"]
