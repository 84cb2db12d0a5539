"""Every registry by kind, for `ganbench list` and the documentation."""

from ganbench.data import DATASETS
from ganbench.losses import LOSSES
from ganbench.metrics import METRICS
from ganbench.models import MODELS
from ganbench.strategies import STRATEGIES

REGISTRIES = {
    "datasets": DATASETS,
    "models": MODELS,
    "losses": LOSSES,
    "strategies": STRATEGIES,
    "metrics": METRICS,
}
