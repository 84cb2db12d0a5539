"""ganbench: benchmark and profile GAN training and generation."""

__version__ = "0.1.0"
