"""latentedit: edit images through the latent space of a pretrained StyleGAN2.

Import direction: ops <- stylegan2 <- io/latents <- losses <- training <- plugins/encoders <- cli.
Importing this package is cheap: no op is compiled and no plugin is imported here.
"""

__version__ = "0.1.0"
