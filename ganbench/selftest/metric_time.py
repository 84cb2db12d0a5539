"""How long a quality metric takes per evaluation: the one-off set-up (classifier
training, reference statistics; cached after the first call) and the median of repeated
evaluations, split into generation and scoring. The generator is a run's, freshly
initialised: the time does not depend on trained weights."""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from ganbench.config import RunConfig
from ganbench.config.messages import describe
from ganbench.errors import UserError
from ganbench.metrics import METRICS
from ganbench.metrics.evaluate import Evaluator
from ganbench.run.session import build_session


@dataclass(frozen=True)
class MetricTime:
    """One metric's cost per evaluation on one device (seconds; medians of ``repeats``)."""

    metric: str
    run_id: str
    device: str
    num_samples: int
    repeats: int
    setup_s: float
    setup: dict[str, Any]
    median_s: dict[str, float]
    values: dict[str, float | None]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def metric_settings(
    metric: str, num_samples: int, reference_samples: int | None, weights: Path | None
) -> Any:
    """The metric's config with its defaults, ``num_samples`` generated, and optionally
    fewer reference images and another Inception weights file (FID/IS)."""
    settings: dict[str, Any] = {"num_samples": num_samples}
    fields = METRICS.get(metric).Config.model_fields
    for option, key, value in (
        ("--reference-samples", "reference", reference_samples),
        ("--weights", "weights", weights),
    ):
        if value is None:
            continue
        if key not in fields:
            raise UserError(f"{option}: {metric} has no {key} (leave the option out)")
        settings[key] = {"num_samples": value} if key == "reference" else str(value)
    try:
        return METRICS.get(metric).Config.model_validate(settings)
    except ValidationError as err:
        config = METRICS.get(metric).Config
        raise UserError(describe(err, f"--metric {metric}: ", config)) from None


def time_metric(run: RunConfig, config: Any, device: torch.device, repeats: int) -> MetricTime:
    """Set the metric up once, then evaluate ``run``'s fresh generator ``repeats`` times."""
    METRICS.get(config.name).check(config, run.dataset)
    session = build_session(run, device)
    t0 = time.perf_counter()
    evaluator = Evaluator([config], run.dataset, run.model.noise_shape(), 0, device)
    setup_s = time.perf_counter() - t0
    times: dict[str, list[float]] = {}
    result = None
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        result = evaluator.evaluate(session.G)
        times.setdefault("total", []).append(time.perf_counter() - t0)
        for part, seconds in result.seconds.items():
            times.setdefault(part, []).append(seconds)
    assert result is not None  # repeats >= 1
    return MetricTime(
        metric=config.name,
        run_id=run.id,
        device=str(device),
        num_samples=config.num_samples,
        repeats=repeats,
        setup_s=setup_s,
        setup=dict(evaluator.setup),
        median_s={part: statistics.median(v) for part, v in times.items()},
        values={k: None if v is None else float(v) for k, v in result.values.items()},
    )
