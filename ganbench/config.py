"""Suite files: schema, matrix expansion, ``--set`` overrides and readable errors.

A suite file is merged (defaults <- run entry <- matrix values <- --set) into plain
mappings, then every run is validated in one pass into an immutable ``RunConfig``.
Nothing here touches the disk beyond reading the suite file, nor any device.
"""

from __future__ import annotations

import copy
import fnmatch
import itertools
import re
import types
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    BaseModel,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from ganbench.data import DATASETS
from ganbench.errors import UserError
from ganbench.levers import LeversConfig
from ganbench.losses import LOSSES
from ganbench.metrics import METRICS
from ganbench.models import MODELS
from ganbench.registry import Section
from ganbench.strategies import STRATEGIES
from ganbench.strategies.schedules import BatchConfig

# Sections picked by their `name`; a plain string is shorthand for {name: string}.
NAMED_SECTIONS = {"dataset": DATASETS, "model": MODELS, "loss": LOSSES, "strategy": STRATEGIES}


def _union(registry: Any) -> Any:
    members = tuple(entry.Config for entry in registry.values())
    return Annotated[Union[members], Field(discriminator="name")]  # noqa: UP007


DatasetUnion = _union(DATASETS)
ModelUnion = _union(MODELS)
LossUnion = _union(LOSSES)
StrategyUnion = _union(STRATEGIES)
MetricUnion = _union(METRICS)


class BudgetConfig(Section):
    """When a run stops: whichever limit comes first."""

    iterations: PositiveInt | None = None
    epochs: PositiveFloat | None = Field(None, description="passes over the training data")
    wall_seconds: PositiveFloat | None = Field(
        None, description="wall-clock seconds, resumes added"
    )

    @model_validator(mode="after")
    def _some_limit(self) -> BudgetConfig:
        if self.iterations is None and self.epochs is None and self.wall_seconds is None:
            raise ValueError("budget: set at least one of iterations, epochs, wall_seconds")
        return self


class EvaluationConfig(Section):
    """When to evaluate (always at the end too) and with which quality metrics; evaluation
    time is measured and never counted as training time."""

    every_iterations: PositiveInt | None = None
    every_seconds: PositiveFloat | None = Field(None, description="training seconds between")
    at_start: bool = Field(False, description="also evaluate the untrained generator")
    num_samples: PositiveInt = Field(64, le=1024, description="fixed-noise samples in the grid")
    metrics: list[MetricUnion] = Field(  # type: ignore[valid-type]
        default_factory=list, description="quality metrics scored at every evaluation"
    )
    targets: dict[str, float] = Field(
        default_factory=dict, description="metric value -> target, for time-to-target"
    )
    batch_size: PositiveInt = Field(250, description="generator batch while evaluating")

    @field_validator("metrics", mode="before")
    @classmethod
    def _metric_shorthand(cls, value: Any) -> Any:
        """``metrics: [fd_classifier]`` is short for ``[{name: fd_classifier}]``."""
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _known_targets(self) -> EvaluationConfig:
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names):
            raise ValueError(f"metrics: each metric once, got {', '.join(names)}")
        reported = {
            value: d for m in self.metrics for value, d in METRICS.get(m.name).values.items()
        }
        for target in self.targets:
            if reported.get(target) is None:
                choices = ", ".join(v for v, d in reported.items() if d) or "none: add metrics"
                raise ValueError(
                    f"targets: {target!r} is not a value of the metrics (choose: {choices})"
                )
        return self


class CheckpointConfig(Section):
    every_iterations: PositiveInt | None = 1000
    every_seconds: PositiveFloat | None = Field(600.0, description="wall seconds between")


class MeasureConfig(Section):
    """What the trackers record; none of it changes what is trained."""

    warmup_iterations: int = Field(
        5,
        ge=0,
        description="iterations per session kept out of the iteration-time statistics; "
        "their CUDA memory peak (cuDNN autotune, first allocations) is reported separately",
    )
    phases: bool = Field(True, description="time data, D/G steps and strategy extras")
    gpu_sample_hz: float = Field(
        10.0, ge=0, le=100, description="NVML sampling rate in Hz (0: no sampler)"
    )
    flops: bool = Field(True, description="count FLOPs per iteration (FlopCounterMode)")


class ProfileConfig(Section):
    """A torch.profiler window over iterations wait+1 .. wait+warmup+active of a run."""

    wait: int = Field(5, ge=0, description="iterations before the profiler starts")
    warmup: int = Field(2, ge=0, description="profiled iterations discarded (profiler warm-up)")
    active: int = Field(5, ge=1, description="iterations recorded in the trace")
    record_shapes: bool = False
    profile_memory: bool = True
    with_stack: bool = False
    row_limit: int = Field(20, ge=1, le=200, description="rows of the operator table")

    @property
    def iterations(self) -> int:
        return self.wait + self.warmup + self.active


class RunConfig(Section):
    """One training run, fully resolved."""

    name: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
    seed: int = Field(0, ge=0)
    dataset: DatasetUnion
    model: ModelUnion
    loss: LossUnion = Field(default_factory=lambda: LOSSES.get("hinge").Config())
    strategy: StrategyUnion = Field(default_factory=lambda: STRATEGIES.get("alternating").Config())
    batch: BatchConfig = Field(default_factory=BatchConfig)
    levers: LeversConfig = Field(default_factory=LeversConfig)
    budget: BudgetConfig
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    log_every: PositiveInt = Field(10, description="iterations between iteration events")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    measure: MeasureConfig = Field(default_factory=MeasureConfig)
    profile: ProfileConfig | None = Field(None, description="null: no profiler")

    @property
    def id(self) -> str:
        """Folder name: the configuration's name plus its seed."""
        return f"{self.name}-seed{self.seed}"

    @field_validator("profile", mode="before")
    @classmethod
    def _profile_shorthand(cls, value: Any) -> Any:
        """``profile: true`` takes the default window, ``false`` none."""
        if value is True:
            return {}
        return None if value is False else value

    @model_validator(mode="after")
    def _fits_data(self) -> RunConfig:
        source = DATASETS.get(self.dataset.name)
        shape = source.sample_shape(self.dataset)
        try:
            MODELS.get(self.model.name).check(self.model, shape)
        except ValueError as err:
            raise ValueError(f"model: {err}") from None
        k = self.levers.grad_accumulation
        base = [self.batch.size] if self.batch.growth_mode == "accumulate" else self.batch.sizes
        uneven = [size for size in base if size % k]
        if uneven:
            raise ValueError(
                f"levers.grad_accumulation: {k} micro-batches do not divide batch size "
                f"{', '.join(map(str, uneven))}"
            )
        n = source.num_examples(self.dataset)
        if n is not None and max(self.batch.sizes) > n:
            raise ValueError(
                f"batch: size {max(self.batch.sizes)} exceeds the {n} examples of the dataset"
            )
        return self

    def timed_only(self, iterations: int, profile: ProfileConfig | None = None) -> RunConfig:
        """This run for exactly ``iterations``, periodic evaluation and checkpoints off:
        what `ganbench profile` and `ganbench selftest overhead` train."""
        return RunConfig.model_validate(
            {
                **self.model_dump(mode="json"),
                "budget": {"iterations": iterations},
                "evaluation": {"num_samples": self.evaluation.num_samples},
                "checkpoint": {"every_iterations": None, "every_seconds": None},
                "profile": None if profile is None else profile.model_dump(),
            }
        )

    def training_identity(self) -> dict[str, Any]:
        """The fields that decide what is trained (budget and bookkeeping excluded)."""
        return self.model_dump(
            mode="json",
            exclude={
                "budget",
                "evaluation",
                "checkpoint",
                "log_every",
                "device",
                "measure",
                "profile",
            },
        )


class SuiteFile(Section):
    """The file's own structure; runs are validated after merging."""

    name: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    output_dir: Path | None = Field(None, description="null: reports/<name>")
    baseline: str | None = Field(None, description="configuration name the reports compare to")
    defaults: dict[str, Any] = Field(default_factory=dict)
    runs: list[dict[str, Any]] = Field(default_factory=list)
    matrix: dict[str, list[Any] | dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _axes_not_empty(self) -> SuiteFile:
        empty = [key for key, values in self.matrix.items() if not values]
        if empty:
            raise ValueError(f"matrix: axes without values: {', '.join(empty)}")
        return self


class Suite(BaseModel):
    """A loaded suite: where results go and the runs to do, in order."""

    model_config = {"frozen": True}

    name: str
    source: Path
    output_dir: Path
    baseline: str | None
    runs: list[RunConfig]


def parse_overrides(items: Sequence[str]) -> list[tuple[str, Any]]:
    """``a.b=value`` pairs; values are YAML scalars or lists (``0.5``, ``true``, ``[1,2]``)."""
    parsed = []
    for item in items:
        path, sep, raw = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*|\.\d+)*", path):
            raise UserError(f"--set {item}: expected path=value, e.g. budget.iterations=2000")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as err:
            raise UserError(f"--set {item}: value is not valid YAML ({err.problem})") from None
        parsed.append((path, value))
    return parsed


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UserError(f"--seeds {text}: expected non-negative integers, e.g. 0,1,2") from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise UserError(f"--seeds {text}: expected distinct non-negative integers, e.g. 0,1,2")
    return seeds


def load_suite(
    path: Path,
    overrides: Sequence[str] = (),
    seeds: Sequence[int] | None = None,
    only: Sequence[str] = (),
) -> Suite:
    """Read, merge, expand and validate a suite file; raise UserError on any problem."""
    path = find_suite(path)
    raw = _read_yaml(path)
    suite_sets, run_sets = _split_overrides(parse_overrides(overrides))
    for key, value in suite_sets:
        raw[key] = value
    try:
        suite_file = SuiteFile.model_validate(raw)
    except ValidationError as err:
        raise UserError(_describe(err, f"{path}: ", SuiteFile)) from None
    runs = _select(expand_runs(suite_file, run_sets, seeds, path), only, path)
    names = {run.name for run in runs}
    if suite_file.baseline is not None and suite_file.baseline not in names and not only:
        choices = ", ".join(sorted(names))
        raise UserError(
            f"{path}: baseline: unknown run {suite_file.baseline!r} (choose: {choices})"
        )
    output_dir = suite_file.output_dir or Path("reports") / suite_file.name
    return Suite(
        name=suite_file.name,
        source=path,
        output_dir=output_dir,
        baseline=suite_file.baseline,
        runs=runs,
    )


def choose_metrics(
    suite: Suite, keep: Sequence[str] | None = None, inception_weights: Path | None = None
) -> Suite:
    """The suite with only the metrics named in ``keep`` (``none`` for none; their targets
    go too) and FID/IS reading ``inception_weights``; evaluation settings only, so
    finished runs stay finished and unfinished ones resume."""
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
        if inception_weights is not None:
            for m in metrics:
                if "weights" in m:
                    m["weights"] = str(inception_weights)
        kept = {v for m in metrics for v in METRICS.get(m["name"]).values}
        evaluation["metrics"] = metrics
        evaluation["targets"] = {k: v for k, v in evaluation["targets"].items() if k in kept}
        runs.append(run.model_copy(update={"evaluation": EvaluationConfig(**evaluation)}))
    return suite.model_copy(update={"runs": runs})


def find_suite(path: Path) -> Path:
    """A path as given, or a bare name such as ``quick`` looked up in ./suites and in the
    suites/ folder of the ganbench checkout."""
    if path.is_file() or path.suffix or len(path.parts) > 1:
        return path
    checkout = Path(__file__).resolve().parent.parent / "suites"
    for folder in (Path("suites"), checkout):
        if (folder / f"{path}.yaml").is_file():
            return folder / f"{path}.yaml"
    return path


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(f"{path}: suite file not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise UserError(f"{path}: {where}invalid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping with name, defaults, runs and/or matrix")
    return data


def _split_overrides(pairs: list[tuple[str, Any]]):
    suite_keys = set(SuiteFile.model_fields) - {"defaults", "runs", "matrix"}
    suite_sets = [(p, v) for p, v in pairs if p in suite_keys]
    run_sets = [(p, v) for p, v in pairs if p not in suite_keys]
    return suite_sets, run_sets


def expand_runs(
    suite: SuiteFile,
    overrides: Sequence[tuple[str, Any]] = (),
    seeds: Sequence[int] | None = None,
    source: Path | str = "suite",
) -> list[RunConfig]:
    """Every run entry (or one empty entry) times every combination of the matrix axes."""
    axes = {key: _axis(key, values) for key, values in suite.matrix.items()}
    if seeds is not None:
        axes.pop("seed", None)
        axes["seed"] = [(f"seed{s}", s) for s in seeds]
    entries = suite.runs or [{}]
    runs, problems = [], []
    for index, entry in enumerate(entries):
        for combo in itertools.product(*axes.values()):
            chosen = dict(zip(axes, combo, strict=True))
            merged, labels = _merge_run(suite, entry, chosen, overrides)
            merged.setdefault("name", "-".join(labels) or suite.name)
            where = f"{source}: run {merged['name']!r}" + (
                f" (runs[{index}])" if suite.runs else ""
            )
            try:
                runs.append(RunConfig.model_validate(merged))
            except ValidationError as err:
                problems.append(_describe(err, f"{where}: ", RunConfig, overrides))
    if problems:
        raise UserError("\n".join(dict.fromkeys(problems)))
    _check_unique(runs, source)
    return runs


def _merge_run(suite: SuiteFile, entry: dict[str, Any], combo: dict[str, Any], overrides):
    merged = _deep_merge(_deep_merge({}, suite.defaults), entry)
    labels = [str(entry["name"])] if "name" in entry else []
    merged.pop("name", None)
    for key, (label, value) in combo.items():
        merged = _set_path(merged, key, value)
        if key != "seed":
            labels.append(label)
    for path, value in overrides:
        merged = _set_path(merged, path, value)
    for key in ("loss", "strategy"):  # sections with a default: fields alone refine it
        if isinstance(merged.get(key), dict) and "name" not in merged[key]:
            merged[key]["name"] = (
                RunConfig.model_fields[key].get_default(call_default_factory=True).name
            )
    if labels:
        merged["name"] = "-".join(labels)
    return merged, labels


def _axis(key: str, values: list[Any] | dict[str, Any]) -> list[tuple[str, Any]]:
    """(label, value) pairs; a mapping axis is labelled by its keys."""
    if isinstance(values, dict):
        return [(str(label), value) for label, value in values.items()]
    last = key.rsplit(".", 1)[-1]
    out = []
    for i, value in enumerate(values):
        if isinstance(value, str):
            label = value
        elif isinstance(value, dict) and isinstance(value.get("name"), str):
            label = value["name"]
        elif isinstance(value, bool | int | float):
            label = f"{last}{value}"
        else:
            label = f"{last}{i}"
        out.append((label, value))
    return out


def _normalise(key: str, value: Any) -> Any:
    if key in NAMED_SECTIONS and isinstance(value, str):
        return {"name": value}
    return value


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursive merge; a named section whose name changes is replaced, not merged."""
    for key, value in update.items():
        value = _normalise(key, copy.deepcopy(value))
        old = _normalise(key, base.get(key))
        renamed = (
            key in NAMED_SECTIONS
            and isinstance(old, dict)
            and isinstance(value, dict)
            and "name" in value
            and value.get("name") != old.get("name")
        )
        if isinstance(old, dict) and isinstance(value, dict) and not renamed:
            base[key] = _deep_merge(old, value)
        else:
            base[key] = value
    return base


def _set_path(tree: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Set ``a.b.c`` (merging a mapping value into what is there)."""
    head, _, rest = path.partition(".")
    if not rest:
        return _deep_merge(tree, {head: value})
    child = _normalise(head, tree.get(head))
    if isinstance(child, list) and rest.split(".")[0].isdigit():
        index, _, tail = rest.partition(".")
        child = list(child)
        i = int(index)
        if i >= len(child):
            raise UserError(f"--set {path}: {head} has {len(child)} entries")
        child[i] = value if not tail else _set_path(dict(child[i]), tail, value)
        tree[head] = child
        return tree
    if not isinstance(child, dict):
        child = {}
    tree[head] = _set_path(child, rest, value)
    return tree


def _check_unique(runs: list[RunConfig], source: Path | str) -> None:
    seen: dict[str, int] = {}
    for run in runs:
        seen[run.id] = seen.get(run.id, 0) + 1
    twice = [rid for rid, count in seen.items() if count > 1]
    if twice:
        raise UserError(
            f"{source}: runs share an id: {', '.join(twice)}. Give runs distinct names "
            "or vary a matrix axis that is part of the name"
        )


def _select(runs: list[RunConfig], only: Sequence[str], source: Path) -> list[RunConfig]:
    if not only:
        return runs
    patterns = [p for item in only for p in item.split(",") if p]
    chosen = [
        r
        for r in runs
        if any(fnmatch.fnmatchcase(r.name, p) or fnmatch.fnmatchcase(r.id, p) for p in patterns)
    ]
    if not chosen:
        names = ", ".join(dict.fromkeys(r.name for r in runs))
        raise UserError(f"--only {','.join(patterns)}: no run matches (runs: {names})")
    return chosen


# ----------------------------------------------------------------------------- errors


def _describe(
    err: ValidationError, prefix: str, root: type[BaseModel], overrides: Iterable = ()
) -> str:
    """One line per problem: ``field.path: problem (allowed: ...) (got ...)``."""
    set_paths = {p for p, _ in overrides}
    lines = []
    for e in err.errors():
        path, model = _walk(root, e["loc"])
        choices = _section_names(model, e["loc"])
        text = _problem(e, model, choices)
        origin = " [from --set]" if path in set_paths else ""
        lines.append(f"{prefix}{path}: {text}{origin}" if path else f"{prefix}{text}")
    return "\n".join(lines)


def _section_names(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str]:
    """The registered names a named section (dataset, model ...) at ``loc`` can take."""
    field = model.model_fields.get(str(loc[-1])) if model is not None and loc else None
    if field is None:
        return []
    members = [m for m in _members(field.annotation) if isinstance(m, type)]
    return [
        m.model_fields["name"].default
        for m in members
        if issubclass(m, BaseModel) and "name" in m.model_fields
    ]


def _problem(e: dict[str, Any], model: type[BaseModel] | None, choices: list[str]) -> str:
    kind, ctx = e["type"], e.get("ctx", {})
    if kind == "extra_forbidden":
        allowed = ", ".join(model.model_fields) if model else "see the README"
        return f"unknown field (allowed: {allowed})"
    if kind == "union_tag_invalid":
        tags = ctx.get("expected_tags", "").replace("'", "")
        return f"unknown {ctx.get('tag')!r} (choose: {tags})"
    if kind == "union_tag_not_found":
        return "missing name" + (f" (choose: {', '.join(choices)})" if choices else "")
    if kind == "missing":
        return "required field missing"
    message = e["msg"].removeprefix("Value error, ")
    got = e.get("input")
    if kind != "value_error" and not isinstance(got, dict):
        message += f" (got {got!r})"
    return message


def _walk(root: type[BaseModel], loc: tuple[Any, ...]) -> tuple[str, type[BaseModel] | None]:
    """Readable dotted path for a pydantic ``loc`` and the model holding its last field.

    Discriminated unions put the tag (e.g. ``srfb``) in ``loc``; it is not printed.
    """
    parts: list[str] = []
    model: type[BaseModel] | None = root
    holder: type[BaseModel] | None = root
    annotation: Any = None
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1] if parts else ''}[{item}]"]
            annotation = _inner(annotation)
            model = _as_model(annotation, None)
            continue
        if model is None and annotation is not None:
            tagged = _as_model(annotation, item)
            if tagged is not None:
                model, annotation = tagged, None
                continue
        parts.append(str(item))
        holder = model
        field = model.model_fields.get(item) if model is not None else None
        annotation = field.annotation if field is not None else None
        model = _as_model(annotation, None) if field is not None else None
    return ".".join(parts), holder


def _members(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [m for a in typing.get_args(annotation) for m in _members(a)]
    return [annotation]


def _inner(annotation: Any) -> Any:
    for member in _members(annotation):
        args = typing.get_args(member)
        if typing.get_origin(member) in (list, tuple) and args:
            return args[0]
    return None


def _as_model(annotation: Any, tag: Any) -> type[BaseModel] | None:
    models = [m for m in _members(annotation) if isinstance(m, type) and issubclass(m, BaseModel)]
    if tag is None:
        return models[0] if len(models) == 1 else None
    for m in models:
        if m.model_fields.get("name") is not None and m.model_fields["name"].default == tag:
            return m
    return None
