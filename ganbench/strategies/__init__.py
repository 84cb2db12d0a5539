"""Strategy registry: importing this package registers every strategy."""

from ganbench.strategies import alternating, extragradient, srfb, svre  # noqa: F401
from ganbench.strategies.base import (
    STRATEGIES,
    GradCounts,
    GradientOracle,
    StepLosses,
    Strategy,
    StrategyConfig,
)

__all__ = [
    "STRATEGIES",
    "GradCounts",
    "GradientOracle",
    "StepLosses",
    "Strategy",
    "StrategyConfig",
]
