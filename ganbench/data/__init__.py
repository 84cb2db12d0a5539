"""Dataset registry: importing this package registers every dataset."""

from ganbench.data import images, toy  # noqa: F401  (registration by import)
from ganbench.data.base import DATASETS, Data, DatasetConfig, DataSource
from ganbench.data.sampler import EpochSampler

__all__ = ["DATASETS", "Data", "DataSource", "DatasetConfig", "EpochSampler"]
