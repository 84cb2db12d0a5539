"""A run's figures where users already look: TensorBoard, MLflow and Weights & Biases,
after the fact (``ganbench export``) or while training (``train-suite --log``), fed from
the files a run writes anyway (``feed``), never from the training loop."""

from ganbench.export import to_mlflow, to_tensorboard, to_wandb  # noqa: F401  (register)
from ganbench.export.sink import SINKS, open_sinks, require

__all__ = ["SINKS", "open_sinks", "require"]
