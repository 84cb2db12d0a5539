"""How a SOURCE is scored: the reference dataset, each metric's settings, the evaluation
noise and batch size, all decided and checked before any work starts (a missing dataset
or weights file, too few samples, an option that does not apply: one UserError each).

A ganbench run is scored by default exactly as its training-time evaluation scored it:
its dataset, its metrics' settings, its evaluation noise (``stream_seed(seed,
STREAM_EVAL)``) and generator batch size, so the values of its last checkpoint are
those of its last evaluation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from ganbench.config.messages import describe
from ganbench.data import DATASETS, DatasetConfig
from ganbench.errors import UserError
from ganbench.metrics import METRICS, MetricConfig
from ganbench.metrics.base import names_for
from ganbench.run.session import STREAM_EVAL, stream_seed
from ganbench.score.reference import (
    DEFAULT_REFERENCE,
    ReferenceSpec,
    adaptation_note,
    fitted_reference,
    native_format,
)
from ganbench.score.settings import DEFAULT_METRICS, ScoreSettings, reworded
from ganbench.score.sources import Source

GENERATOR_BATCH = 250  # Evaluator's default: samples per generator call
# The metrics' own checks name suite fields; here options set them.
OPTION_FOR = {
    "evaluation.metrics: ": "--metrics: ",
    "fid.stats: ": "--reference-stats ",
    "kid.stats: ": "--reference-stats ",
}


@dataclass
class ScorePlan:
    dataset: DatasetConfig  # the reference (and the data kind) every metric is prepared for
    metrics: list[MetricConfig]
    noise_seed: int
    batch_size: int  # samples per generator call
    notes: list[str] = field(default_factory=list)

    @property
    def num_samples(self) -> int:
        return max(m.num_samples for m in self.metrics)


def plan_scoring(source: Source, settings: ScoreSettings) -> ScorePlan:
    """The plan for ``source``; UserError on anything that would fail later."""
    notes: list[str] = []
    about_reference: list[str] = []
    dataset = _reference(source, settings, notes, about_reference)
    names = _metric_names(source, settings, dataset)
    metrics = [_metric_config(name, source, settings) for name in names]
    if any("reference" in type(m).model_fields and not getattr(m, "stats", None) for m in metrics):
        notes += about_reference  # said only where a metric compares with the split
    _check_unused(settings, metrics, source)
    for cfg in metrics:
        _check_count(cfg, source)
        with reworded(OPTION_FOR):
            METRICS.get(cfg.name).check(cfg, dataset)
            METRICS.get(cfg.name).check_values(cfg, dataset)
    run = source.run
    batch = settings.batch_size or (run.evaluation.batch_size if run else GENERATOR_BATCH)
    return ScorePlan(dataset, metrics, _noise_seed(source, settings), batch, notes)


def _noise_seed(source: Source, settings: ScoreSettings) -> int:
    """``--seed``; else a run's own evaluation noise (its evaluations' samples), else 0."""
    if settings.seed is not None:
        return settings.seed
    return stream_seed(source.run.seed, STREAM_EVAL) if source.run is not None else 0


def _reference(
    source: Source, settings: ScoreSettings, notes: list[str], about_reference: list[str]
) -> DatasetConfig:
    """``--reference`` at the samples' format; else a run's own dataset, else the default."""
    if settings.reference is None and source.run is not None:
        return source.run.dataset
    spec = settings.reference or ReferenceSpec(DEFAULT_REFERENCE)
    if settings.reference is None:
        about_reference.append(
            f"reference: {DEFAULT_REFERENCE} (the default; --reference names another)"
        )
    dataset = fitted_reference(spec, source.shape, source.text)
    if _grey_in_colour(source, dataset):
        assert source.images is not None
        source.images = source.images[:, :1].contiguous()
        notes.append(
            f"{source.text}: colour images whose three channels are equal, scored as grey "
            f"like the {dataset.name} reference (the same pixels)"
        )
        dataset = fitted_reference(spec, source.shape, source.text)
    note = adaptation_note(dataset)
    if note is not None:
        about_reference.append(note)
    return dataset


def _grey_in_colour(source: Source, dataset: DatasetConfig) -> bool:
    """Grey images saved as RGB (as torchvision's save_image writes them) against a grey
    reference: scored as the grey images they are, not as a colour reference."""
    images = source.images
    if images is None or images.shape[1] != 3 or native_format(dataset)[0] != 1:
        return False
    return bool((images[:, 0] == images[:, 1]).all() and (images[:, 1] == images[:, 2]).all())


def _metric_names(source: Source, settings: ScoreSettings, dataset: DatasetConfig) -> list[str]:
    run_metrics = [m.name for m in source.run.evaluation.metrics] if source.run else []
    names = list(settings.metrics or run_metrics or DEFAULT_METRICS)
    unknown = [n for n in names if n not in METRICS.names()]
    if unknown:
        kind = DATASETS.get(dataset.name).kind
        raise UserError(
            f"--metrics: unknown {', '.join(unknown)} (choose: {', '.join(names_for(kind))})"
        )
    return names


def _metric_config(name: str, source: Source, settings: ScoreSettings) -> MetricConfig:
    """A run's own settings for the metric (else its defaults), with the options applied."""
    config = METRICS.get(name).Config
    fields = config.model_fields
    own = {m.name: m for m in source.run.evaluation.metrics} if source.run else {}
    data: dict[str, Any] = own[name].model_dump(mode="json") if name in own else {"name": name}
    count = source.images.shape[0] if source.images is not None else None
    num_samples = settings.num_samples or count
    if num_samples is not None:
        data["num_samples"] = num_samples
    if "reference" in fields:
        reference = dict(data.get("reference") or {})
        if settings.reference is not None and settings.reference.split is not None:
            reference["split"] = settings.reference.split
        if settings.reference_samples is not None:
            reference["num_samples"] = settings.reference_samples
        data["reference"] = reference
    for option, key in (
        (settings.batch_size, "batch_size"),
        (settings.inception_weights, "weights"),
        (settings.reference_stats, "stats"),
    ):
        if option is not None and key in fields:
            data[key] = str(option) if key != "batch_size" else option
    try:
        return config.model_validate(data)
    except ValidationError as err:
        raise UserError(describe(err, f"--metrics {name}: ", config)) from None


def _check_count(cfg: MetricConfig, source: Source) -> None:
    """Enough samples for the metric, and no more than SOURCE holds."""
    n = cfg.num_samples
    held = source.images.shape[0] if source.images is not None else None
    if held is not None and n > held:
        raise UserError(
            f"--num-samples {n}: {source.text} holds {held} image{'s' if held != 1 else ''} "
            "(score fewer, or add images)"
        )
    least = max(2, getattr(cfg, "splits", 0))  # a covariance needs 2; IS one per split
    if n < least:
        raise UserError(f"--num-samples {n}: {cfg.name} needs at least {least} samples")


def _check_unused(settings: ScoreSettings, metrics: Sequence[MetricConfig], source: Source) -> None:
    """An option no chosen metric (or SOURCE) uses is a mistake, said as such."""
    has = {key for m in metrics for key in type(m).model_fields}
    for option, value, key in (
        ("--reference-stats", settings.reference_stats, "stats"),
        ("--reference-samples", settings.reference_samples, "reference"),
        ("--inception-weights", settings.inception_weights, "weights"),
    ):
        if value is not None and key not in has:
            names = ", ".join(m.name for m in metrics)
            raise UserError(f"{option}: none of the metrics scored ({names}) uses it")
    if settings.seed is not None and source.images is not None:
        raise UserError(f"--seed: {source.text} holds images; only a generator draws noise")
