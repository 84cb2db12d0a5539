"""Model registry: importing this package registers every model family."""

from ganbench.models import dcgan, mlp, python, sagan  # noqa: F401  (registration by import)
from ganbench.models.base import MODELS, ModelConfig, ModelFamily

__all__ = ["MODELS", "ModelConfig", "ModelFamily"]
