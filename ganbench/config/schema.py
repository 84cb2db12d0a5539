"""The suite file's schema: typed, immutable sections (pydantic v2, unknown fields
refused), cross-field checks on the objects themselves, and the list of registries.

Sections of plugins (datasets, models, losses, strategies, metrics, levers) live beside
their plugins; a named section (``dataset: cifar10``) picks its entry by ``name``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    Field,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

from ganbench.data import DATASETS
from ganbench.levers import LeversConfig
from ganbench.losses import LOSSES
from ganbench.metrics import METRICS
from ganbench.models import MODELS
from ganbench.plugins import load_plugins
from ganbench.registry import Registry, Section
from ganbench.strategies import STRATEGIES
from ganbench.strategies.schedules import BatchConfig

# Every registry by kind, for `ganbench list`, help texts and the documentation.
REGISTRIES: dict[str, Registry[Any]] = {
    "datasets": DATASETS,
    "models": MODELS,
    "losses": LOSSES,
    "strategies": STRATEGIES,
    "metrics": METRICS,
}
PLUGIN_WARNINGS = load_plugins(REGISTRIES)  # before the unions below are built
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

    def reached(self, iteration: int, epoch: float, wall_s: float) -> str | None:
        """The limit a run at this point has reached (e.g. ``2000 iterations``), or None."""
        if self.iterations is not None and iteration >= self.iterations:
            return f"{self.iterations} iterations"
        if self.epochs is not None and epoch >= self.epochs:
            return f"{self.epochs:g} epochs"
        if self.wall_seconds is not None and wall_s >= self.wall_seconds:
            return f"{self.wall_seconds:g} wall seconds"
        return None

    def fraction(self, iteration: int, epoch: float, wall_s: float) -> float:
        """The share of the budget a run at this point has used (0 to 1): the largest share
        of any limit."""
        parts = [
            iteration / self.iterations if self.iterations else 0.0,
            epoch / self.epochs if self.epochs else 0.0,
            wall_s / self.wall_seconds if self.wall_seconds else 0.0,
        ]
        return min(1.0, max(parts))


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
                    f"targets: {target!r} is not a value of the metrics (choose: {choices};"
                    " or drop the targets: --set evaluation.targets={} on the command line)"
                )
        return self


class CheckpointConfig(Section):
    every_iterations: PositiveInt | None = 1000
    every_seconds: PositiveFloat | None = Field(600.0, description="wall seconds between")


class NoiseScaleConfig(Section):
    """The gradient noise scale B_simple of each player, measured on the step's own batch
    (ganbench.trackers.noise_scale); its time is not training time."""

    every: PositiveInt = Field(..., description="iterations between measurements")
    smoothing: float = Field(
        0.9, ge=0, lt=1, description="moving-average factor of |G|^2 and tr(Sigma) estimates"
    )


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
    noise_scale: NoiseScaleConfig | None = Field(
        None, description="gradient noise scale every N iterations (null: off)"
    )
    speed_probe_every_s: float | None = Field(
        30.0,
        gt=0,
        description="the machine-speed probe (a fixed reference workload, outside training "
        "time) before the first iteration and then every N wall seconds (null: off)",
    )

    @field_validator("noise_scale", mode="before")
    @classmethod
    def _noise_scale_shorthand(cls, value: Any) -> Any:
        """``noise_scale: 50`` means every 50 iterations with the default smoothing."""
        return {"every": value} if isinstance(value, int) and not isinstance(value, bool) else value


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


class LoadConfig(Section):
    """A pre-trained generator in place of training: its quality under the run's
    evaluation and its generation latency (``load: SOURCE`` is short for
    ``load: {source: SOURCE}``)."""

    source: str = Field(
        ...,
        min_length=1,
        description="a ganbench run folder or checkpoint.pt, a TorchScript archive, a "
        "torch.export .pt2, an ONNX file, a state dict (architecture: the run's model), "
        "or pkg.module:function returning the generator",
    )
    latent_shape: list[PositiveInt] | None = Field(
        None, min_length=1, description="one example's noise shape; null: the file's, else 128"
    )
    trust_code: bool = Field(False, description="unpickle a whole pickled module (runs its code)")
    batch_sizes: list[PositiveInt] = Field(
        default_factory=lambda: [1, 32, 256],
        min_length=1,
        description="generation latency measured at these batch sizes (fp32, eval mode)",
    )
    min_time_s: PositiveFloat = Field(1.0, description="seconds of timed calls per batch size")


class RunSchedule(Section):
    """Where the suite's order put a run (set by ganbench, not in suite files)."""

    order: Literal["interleaved", "random", "grouped"]
    block: int = Field(..., ge=0, description="the seed block (the b-th seed of the suite)")
    position: int = Field(..., ge=0, description="the run's place in the suite's order")


class RunConfig(Section):
    """One run, fully resolved: trained, or loaded (``load``) and measured."""

    name: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
    seed: int = Field(0, ge=0)
    dataset: DatasetUnion
    model: ModelUnion | None = Field(None, description="null only for a run that loads")
    load: LoadConfig | None = Field(None, description="a pre-trained generator: no training")
    loss: LossUnion = Field(default_factory=lambda: LOSSES.get("hinge").Config())
    strategy: StrategyUnion = Field(default_factory=lambda: STRATEGIES.get("alternating").Config())
    batch: BatchConfig = Field(default_factory=BatchConfig)
    levers: LeversConfig = Field(default_factory=LeversConfig)
    budget: BudgetConfig | None = Field(None, description="null only for a run that loads")
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    log_every: PositiveInt = Field(10, description="iterations between iteration events")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    measure: MeasureConfig = Field(default_factory=MeasureConfig)
    profile: ProfileConfig | None = Field(None, description="null: no profiler")
    schedule: RunSchedule | None = Field(None, description="set by ganbench: order, block")

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

    @field_validator("load", mode="before")
    @classmethod
    def _load_shorthand(cls, value: Any) -> Any:
        """``load: g.pt2`` is short for ``load: {source: g.pt2}``."""
        return {"source": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _fits_data(self) -> RunConfig:
        source = DATASETS.get(self.dataset.name)
        shape = source.sample_shape(self.dataset)
        if self.load is None and (self.model is None or self.budget is None):
            missing = [f for f in ("model", "budget") if getattr(self, f) is None]
            raise ValueError(
                f"{', '.join(missing)}: required to train (or load: a pre-trained generator)"
            )
        if self.model is None:
            return self
        try:
            MODELS.get(self.model.name).check(self.model, shape)
        except ValueError as err:
            where = "" if str(err).startswith("model") else "model: "
            raise ValueError(f"{where}{err}") from None
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

    @model_validator(mode="after")
    def _code_variant_levers(self) -> RunConfig:
        """SVRE's thesis-code variant keeps gradients as the code does: no loss scaling,
        micro-batches, data parallelism or gradient penalty."""
        if self.strategy.name != "svre" or getattr(self.strategy, "variant", "") != "thesis-code":
            return self
        levers, batch = self.levers, self.batch
        refused = [
            (levers.precision == "amp-fp16", "levers.precision: amp-fp16"),
            (levers.grad_accumulation > 1, "levers.grad_accumulation > 1"),
            (levers.parallel != "none", f"levers.parallel: {levers.parallel}"),
            (batch.growth_mode == "accumulate", "batch.growth_mode: accumulate"),
            (self.loss.name == "wgan-gp", "loss: wgan-gp"),
        ]
        found = [what for bad, what in refused if bad]
        if found:
            raise ValueError(
                f"strategy.variant: svre's thesis-code variant does not support "
                f"{', '.join(found)} (use variant: formula)"
            )
        return self

    @model_validator(mode="after")
    def _growth_has_its_signal(self) -> RunConfig:
        """Adaptive growth needs what it observes: a periodic quality value, or the
        measured noise scale."""
        growth, evaluation = self.batch.growth, self.evaluation
        if growth is None:
            return self
        if growth.name == "noise_scale" and self.measure.noise_scale is None:
            raise ValueError(
                "batch.growth: noise_scale growth needs the noise scale measured: "
                "measure.noise_scale: N (every N iterations)"
            )
        if growth.name == "plateau":
            values = {
                v: d for m in evaluation.metrics for v, d in METRICS.get(m.name).values.items()
            }
            if values.get(growth.metric) is None:
                choices = ", ".join(v for v, d in values.items() if d) or "none: add metrics"
                raise ValueError(
                    f"batch.growth.metric: {growth.metric!r} is not a value of the "
                    f"evaluation metrics (choose: {choices})"
                )
            if not (evaluation.every_iterations or evaluation.every_seconds):
                raise ValueError(
                    "batch.growth: plateau growth needs periodic evaluation: "
                    "evaluation.every_iterations (or every_seconds)"
                )
        return self

    def timed_only(self, iterations: int, profile: ProfileConfig | None = None) -> RunConfig:
        """This run for exactly ``iterations``, periodic evaluation, checkpoints and
        adaptive growth off (the start size): what `ganbench profile` and `ganbench
        selftest overhead` train."""
        return RunConfig.model_validate(
            {
                **self.model_dump(mode="json"),
                "budget": {"iterations": iterations},
                "batch": {**self.batch.model_dump(mode="json"), "growth": None},
                "evaluation": {"num_samples": self.evaluation.num_samples},
                "checkpoint": {"every_iterations": None, "every_seconds": None},
                "profile": None if profile is None else profile.model_dump(),
            }
        )

    def training_identity(self) -> dict[str, Any]:
        """The fields that decide what is trained (budget and bookkeeping excluded; what
        adaptive growth observes included: the evaluation for plateau growth, the noise
        scale's settings for noise-scale growth)."""
        identity = self.model_dump(
            mode="json",
            exclude={
                "budget",
                "evaluation",
                "checkpoint",
                "log_every",
                "device",
                "measure",
                "profile",
                "schedule",
            },
        )
        if self.load is not None:  # a loaded generator is its source and its evaluation
            identity["evaluation"] = self.evaluation.model_dump(mode="json")
            return identity
        growth = self.batch.growth
        if growth is not None and growth.name == "plateau":
            identity["evaluation"] = self.evaluation.model_dump(
                mode="json", include={"every_iterations", "every_seconds", "metrics"}
            )
        if growth is not None and growth.name == "noise_scale":
            identity["measure"] = {
                "noise_scale": self.measure.model_dump(mode="json")["noise_scale"]
            }
        return identity


LogTool = Literal["tensorboard", "mlflow", "wandb"]


class LogConfig(Section):
    """train-suite's live logging: each run's figures into these tools while it trains
    (``ganbench export`` writes the same after the fact)."""

    to: list[LogTool] = Field(default_factory=list, description="tensorboard, mlflow, wandb")
    dest: dict[LogTool, str] = Field(
        default_factory=dict,
        description="where, per tool: tensorboard a folder (runs), mlflow a tracking URI "
        "or folder ($MLFLOW_TRACKING_URI, else ./mlflow.db), wandb the folder for wandb/ (.)",
    )
    every_seconds: PositiveFloat = Field(5.0, description="seconds between reads of run files")


class SuiteFile(Section):
    """The file's own structure; runs are validated after merging."""

    name: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    output_dir: Path | None = Field(None, description="null: reports/<name>")
    baseline: str | None = Field(None, description="configuration name the reports compare to")
    defaults: dict[str, Any] = Field(default_factory=dict)
    runs: list[dict[str, Any]] = Field(default_factory=list)
    matrix: dict[str, list[Any] | dict[str, Any]] = Field(default_factory=dict)
    order: Literal["interleaved", "random", "grouped"] = Field(
        "interleaved",
        description="interleaved: seed blocks of every configuration, rotated; random: "
        "the blocks shuffled (order_seed); grouped: configuration by configuration",
    )
    order_seed: int = Field(0, ge=0, description="the shuffle's seed for order: random")
    launcher: dict[str, Any] = Field(
        default_factory=lambda: {"name": "inline"},
        description="where runs execute: inline, torchrun (fields validated by the launcher)",
    )

    log: LogConfig = Field(default_factory=LogConfig, description="live logging to tools")

    @field_validator("launcher", mode="before")
    @classmethod
    def _launcher_shorthand(cls, value: Any) -> Any:
        """``launcher: torchrun`` is short for ``{name: torchrun}``."""
        return {"name": value} if isinstance(value, str) else value

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
    launcher: dict[str, Any] = {"name": "inline"}  # validated by ganbench.launchers
    log: LogConfig = LogConfig()
