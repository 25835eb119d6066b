"""latentedit's built-in ``directions`` mapper plugin: InterFaceGAN, GANSpace and SeFa attribute directions.

Registered through the ``latentedit.mappers`` entry point ``directions``, exactly as a third-party plugin.
"""

from latentedit_directions.mapper import DirectionsConfig, DirectionsMapper

__all__ = ["DirectionsConfig", "DirectionsMapper"]
