"""Suite files: the schema (typed sections), expansion (merge, matrix, ``--set``, run
selection), suites derived for one command, and readable error messages."""

from ganbench.config.derive import choose_log, choose_metrics, parse_steps, profile_suite
from ganbench.config.expand import (
    choose_run,
    expand_runs,
    find_suite,
    load_suite,
    parse_overrides,
    parse_seeds,
    select_runs,
)
from ganbench.config.schema import (
    REGISTRIES,
    BudgetConfig,
    CheckpointConfig,
    DatasetUnion,
    EvaluationConfig,
    MeasureConfig,
    ModelUnion,
    ProfileConfig,
    RunConfig,
    Suite,
    SuiteFile,
)

__all__ = [
    "choose_log",
    "REGISTRIES",
    "BudgetConfig",
    "CheckpointConfig",
    "DatasetUnion",
    "EvaluationConfig",
    "MeasureConfig",
    "ModelUnion",
    "ProfileConfig",
    "RunConfig",
    "Suite",
    "SuiteFile",
    "choose_metrics",
    "choose_run",
    "expand_runs",
    "find_suite",
    "load_suite",
    "parse_overrides",
    "parse_seeds",
    "parse_steps",
    "profile_suite",
    "select_runs",
]
