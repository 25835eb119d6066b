"""latentedit's built-in ``sensorium`` mapper plugin: a Sensorium-style style encoder (reference image -> Gaussian
style vector) and a W+ mapper conditioned on it through StyleGAN2 modulation/demodulation. See README.md."""

from latentedit_sensorium.config import SensoriumConfig
from latentedit_sensorium.mapper import SENSORIUM_LOSS_WEIGHTS, SensoriumMapper

__all__ = ["SENSORIUM_LOSS_WEIGHTS", "SensoriumConfig", "SensoriumMapper"]
