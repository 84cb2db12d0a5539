"""Quality metrics registry: importing this package registers every metric."""

from ganbench.metrics import classifier, inception, mixture  # noqa: F401  (registration)
from ganbench.metrics.base import METRICS, Direction, Metric, MetricConfig, Samples, Scorer

__all__ = ["METRICS", "Direction", "Metric", "MetricConfig", "Samples", "Scorer"]
