"""A user's own GAN, written for ganbench's example: a ResNet generator and a
spectral-norm discriminator, as one finds them in a research repository."""
