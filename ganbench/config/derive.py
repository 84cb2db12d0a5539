"""Suites derived from a loaded suite for one command: with fewer metrics (``--metrics``),
logging live to other tools (``--log``), or one run profiled for the profiler's window
(``ganbench profile``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import get_args

from ganbench.config.expand import choose_run
from ganbench.config.messages import closest
from ganbench.config.schema import EvaluationConfig, LogTool, ProfileConfig, RunConfig, Suite
from ganbench.errors import UserError
from ganbench.metrics import METRICS


def choose_metrics(
    suite: Suite, keep: Sequence[str] | None = None, inception_weights: Path | None = None
) -> Suite:
    """The suite with only the metrics named in ``keep`` (``none`` for none; the targets
    of those left out go too; a named metric a run lacks is added with its defaults, and
    the planner checks it can run there) and FID/IS reading ``inception_weights``;
    evaluation settings only, so finished runs stay finished and unfinished ones resume."""
    if keep is None and inception_weights is None:
        return suite
    if keep is not None:
        unknown = sorted(set(keep) - set(METRICS.names()) - {"none"})
        if unknown:
            raise UserError(
                f"--metrics: unknown {', '.join(unknown)} (choose: {', '.join(METRICS.names())}"
                ", or none)"
            )
    runs = []
    for run in suite.runs:
        evaluation = run.evaluation.model_dump(mode="json")
        metrics = [m for m in evaluation["metrics"] if keep is None or m["name"] in keep]
        present = {m["name"] for m in metrics}
        metrics += [{"name": n} for n in dict.fromkeys(keep or []) if n not in present | {"none"}]
        if inception_weights is not None:
            for m in metrics:
                if "weights" in m:
                    m["weights"] = str(inception_weights)
        kept = {v for m in metrics for v in METRICS.get(m["name"]).values}
        _keeps_growth_metric(run, kept)
        evaluation["metrics"] = metrics
        evaluation["targets"] = {k: v for k, v in evaluation["targets"].items() if k in kept}
        runs.append(run.model_copy(update={"evaluation": EvaluationConfig(**evaluation)}))
    return suite.model_copy(update={"runs": runs})


def _keeps_growth_metric(run: RunConfig, kept: set[str]) -> None:
    """A run growing its batch on a plateau of a value needs that value scored."""
    growth = run.batch.growth
    metric = getattr(growth, "metric", None)
    if metric is not None and metric not in kept:
        raise UserError(
            f"--metrics: run {run.name!r} grows its batch when {metric} plateaus "
            f"(batch.growth.metric), which --metrics leaves out: keep its metric, or leave "
            f"the run out (--only other runs)"
        )


def profile_suite(suite: Suite, pattern: str, steps: tuple[int, int, int] | None) -> Suite:
    """A one-run suite that trains the chosen run from scratch for exactly the profiler's
    window (wait + warmup + active iterations), periodic evaluation and checkpoints off,
    into ``<output_dir>/profiles/<run id>/`` (the suite's own results are never touched)."""
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


def choose_log(suite: Suite, text: str | None) -> Suite:
    """The suite logging live to ``text``'s tools instead of its file's (``tensorboard,
    mlflow=URI``: a tool, and where after ``=``; ``none``: no tool); None: as the file says."""
    if text is None:
        return suite
    tools, to, dest = get_args(LogTool), [], dict(suite.log.dest)
    for item in (part.strip() for part in text.split(",")):
        name, _, where = item.partition("=")
        if name in ("", "none"):
            continue
        if name not in tools:
            raise UserError(
                f"--log: unknown tool {name!r}{closest(name, list(tools))} "
                f"(choose: {', '.join(tools)}, or none)"
            )
        if name not in to:
            to.append(name)
        if where:
            dest[name] = where
    return suite.model_copy(update={"log": suite.log.model_copy(update={"to": to, "dest": dest})})
