"""StyleGAN2 networks (generator, discriminator) and their frozen configs."""

from latentedit.stylegan2.config import (DiscriminatorConfig, GeneratorConfig, block_resolutions, channels_from_base,
                                         channels_from_multiplier)
from latentedit.stylegan2.discriminator import Discriminator
from latentedit.stylegan2.generator import Generator
from latentedit.stylegan2.mapping import MappingNetwork, truncate
from latentedit.stylegan2.synthesis import NOISE_MODES, SynthesisNetwork

__all__ = ["GeneratorConfig", "DiscriminatorConfig", "Generator", "Discriminator", "MappingNetwork",
           "SynthesisNetwork", "truncate", "channels_from_base", "channels_from_multiplier", "block_resolutions",
           "NOISE_MODES"]
