"""Suite files: the schema (typed sections), expansion (merge, matrix, ``--set``, run
selection), suites derived for one command, and readable error messages.

The names below are imported on first use (PEP 562): the schema needs every registry,
and so torch, while ``load_suite`` (``config.source``) finds and reads the file and
parses ``--set`` before it imports the schema, so that a mistake in the file's name,
its YAML or an override is said before torch is imported."""

from ganbench.lazy import lazy_names

_WHERE = {
    "derive": ("choose_log", "choose_metrics", "profile_suite"),
    "expand": ("choose_run", "expand_runs", "select_runs"),
    "source": ("find_suite", "load_suite", "parse_overrides", "parse_seeds", "parse_steps"),
    "schema": ("REGISTRIES", "BudgetConfig", "CheckpointConfig", "DatasetUnion",
               "EvaluationConfig", "MeasureConfig", "ModelUnion", "ProfileConfig", "RunConfig",
               "Suite", "SuiteFile"),
}  # fmt: skip
__all__ = sorted(name for names in _WHERE.values() for name in names)
__getattr__, __dir__ = lazy_names(__name__, _WHERE, globals())
