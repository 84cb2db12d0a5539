"""`ganbench profile`: one run of a suite under torch.profiler, in a folder of its own.

The run is trained from scratch for exactly the profiler's window (wait + warmup +
active iterations) with periodic evaluation and checkpoints off, into
``<output_dir>/profiles/<run id>/``, so the suite's own results are never touched.
"""

from __future__ import annotations

import fnmatch

from ganbench.config import ProfileConfig, RunConfig, Suite
from ganbench.errors import UserError


def parse_steps(text: str) -> tuple[int, int, int]:
    """``wait,warmup,active`` as three integers (active at least 1)."""
    try:
        parts = [int(p) for p in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 3 or min(parts) < 0 or parts[2] < 1:
        raise UserError(f"--steps {text}: expected wait,warmup,active with active >= 1, e.g. 5,2,5")
    return parts[0], parts[1], parts[2]


def choose_run(suite: Suite, pattern: str) -> RunConfig:
    """The first run whose name or id matches ``pattern`` (a glob)."""
    for run in suite.runs:
        if fnmatch.fnmatchcase(run.name, pattern) or fnmatch.fnmatchcase(run.id, pattern):
            return run
    choices = ", ".join(dict.fromkeys(run.name for run in suite.runs))
    raise UserError(f"{suite.source}: --run {pattern}: no such run (choose: {choices})")


def profile_suite(suite: Suite, pattern: str, steps: tuple[int, int, int] | None) -> Suite:
    """A one-run suite that profiles the chosen run for the profiler's window."""
    run = choose_run(suite, pattern)
    window = run.profile or ProfileConfig()
    if steps is not None:
        window = window.model_copy(
            update=dict(zip(("wait", "warmup", "active"), steps, strict=True))
        )
    profiled = run.timed_only(window.iterations, window)
    return suite.model_copy(
        update={"output_dir": suite.output_dir / "profiles", "runs": [profiled], "baseline": None}
    )
