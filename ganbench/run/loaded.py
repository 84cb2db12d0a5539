"""A run that loads a pre-trained generator instead of training (``load:`` in a suite).

What it measures, in the run's folder like any run's figures (so reports put it beside
the trained ones): one evaluation with the run's metrics, from the same evaluation noise
a trained run of the same seed scores (its quality, no time to target: nothing was
trained), the fixed-noise sample grid, and generation latency at ``load.batch_sizes``
(fp32, eval mode, spectral norm folded; written to the run's ``latency.json`` and
summarised under ``generation``). The source is anything ``latency --generator`` takes,
plus a ganbench run folder or checkpoint; a state dict is built as the run's ``model``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganbench.config.schema import RunConfig
from ganbench.data import DATASETS
from ganbench.errors import UserError
from ganbench.latency.sources import GeneratorSource
from ganbench.results import EventLog, RunStatus, RunStore, RunSummary

LOAD_STRATEGY = "load"  # the summary's strategy column for a loaded generator


class _Inference(nn.Module):
    """A loaded generator kept in the mode it was loaded in: the evaluation's ``eval()``
    and ``train()`` stop here (a torch.export module refuses both; an ONNX session has
    no modes)."""

    def __init__(self, G: nn.Module) -> None:
        super().__init__()
        object.__setattr__(self, "inner", G)  # not a submodule: modes do not reach it

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.inner(z)


def load_generator(run: RunConfig) -> GeneratorSource:
    """The generator ``run.load`` names, checked against the dataset's example shape;
    UserError naming the run and ``load`` on every problem."""
    from ganbench.latency.files import DEFAULT_LATENT, OPTION, generator_from_source
    from ganbench.latency.measure import evaluating
    from ganbench.latency.sources import generator_from_checkpoint
    from ganbench.models import MODELS

    cfg, where = run.load, f"{run.name}: load"
    assert cfg is not None
    path = Path(cfg.source)
    shape = tuple(DATASETS.get(run.dataset.name).sample_shape(run.dataset))
    try:
        checkpoint = _run_checkpoint(path)
        if checkpoint is not None:
            source = generator_from_checkpoint(checkpoint)
        else:
            model = run.model
            build = None if model is None else lambda: MODELS.get(model.name).build(model, shape)[0]
            fallback = model.noise_shape() if model is not None else DEFAULT_LATENT
            source = generator_from_source(
                cfg.source, cfg.latent_shape, trust_code=cfg.trust_code, build=build,
                fallback_latent=fallback,
            )  # fmt: skip
    except UserError as err:
        message = str(err)
        for option in (OPTION, "--checkpoint"):
            message = message.replace(option, where, 1) if message.startswith(option) else message
        message = message.replace("--latent-shape", "load.latent_shape").replace(
            "--trust-code", "load.trust_code: true"
        )
        raise UserError(message) from None
    source.generator = evaluating(source.generator)
    if tuple(source.shape) != shape:
        raise UserError(
            f"{where} {cfg.source}: the generator makes examples of shape "
            f"{list(source.shape)}, but dataset {run.dataset.name} has {list(shape)} (its "
            "image_size, channels)"
        )
    return source


def _run_checkpoint(path: Path) -> Path | None:
    """``path`` as a ganbench run checkpoint (a run folder's ``checkpoint.pt``), or None
    for any other source."""
    from ganbench.latency.sources import run_checkpoint_state

    if path.is_dir():
        return path / "checkpoint.pt"
    return path if run_checkpoint_state(path) is not None else None


def load_run(run: RunConfig, store: RunStore, device: torch.device, events: EventLog) -> RunSummary:
    """Measure the loaded generator (the caller records a failure as it does a run's)."""
    from ganbench.trackers.environment import capture_environment

    started = time.perf_counter()
    store.write_config(run.model_dump(mode="json"))
    source = load_generator(run)
    environment = capture_environment(device, run.seed)
    events.write(
        "start", run_id=run.id, iteration=0, loaded=_loaded(run, source), environment=environment
    )
    quality = _evaluate(run, source, store, device, events)
    generation = _generation(run, source, store, device)
    return RunSummary(
        run_id=run.id,
        name=run.name,
        seed=run.seed,
        strategy=LOAD_STRATEGY,
        status=RunStatus.FINISHED,
        iterations=0,
        wall_s=time.perf_counter() - started,
        loaded=_loaded(run, source),
        generation=generation,
        environment=environment,
        **quality,
    )


def _loaded(run: RunConfig, source: GeneratorSource) -> dict[str, Any]:
    """What was loaded: the source as the suite gives it, its kind (``checkpoint`` for a
    ganbench run's), the file's details and the generator's size."""
    described = source.describe()
    kind = source.file["kind"] if source.file else source.origin
    keep = ("file", "checkpoint", "run_id", "iteration", "parameters")
    return {"source": run.load.source, "kind": kind, **{k: described[k] for k in keep}}


def _evaluate(
    run: RunConfig,
    source: GeneratorSource,
    store: RunStore,
    device: torch.device,
    events: EventLog,
) -> dict[str, Any]:
    """The sample grid and one evaluation with the run's metrics (no targets: nothing was
    trained, so there is no time to reach one)."""
    from ganbench.metrics.evaluate import Evaluator, QualityTracker
    from ganbench.results.samples import save_samples
    from ganbench.run.session import STREAM_EVAL, STREAM_FIXED, stream_seed

    G = _Inference(source.generator.to(device))
    noise = source.model.noise_shape()
    fixed = torch.Generator().manual_seed(stream_seed(run.seed, STREAM_FIXED))
    z = torch.randn(run.evaluation.num_samples, *noise, generator=fixed).to(device)
    with torch.no_grad():
        samples = G(z)
    path = store.samples_dir / "iter00000000.png"
    save_samples(samples, samples, path)
    store.samples.write_bytes(path.read_bytes())
    seed = stream_seed(run.seed, STREAM_EVAL)
    metrics = run.evaluation.metrics
    evaluator = Evaluator(metrics, run.dataset, noise, seed, device, run.evaluation.batch_size)
    if not evaluator:
        events.write("eval", iteration=0, train_s=0.0, samples=str(path.relative_to(store.folder)))
        return {}
    scored = evaluator.evaluate(G)
    tracker = QualityTracker(evaluator.directions(), {})
    tracker.update(scored.values, {"iteration": 0, "train_s": 0.0, "wall_s": 0.0})
    events.write(
        "eval",
        iteration=0,
        train_s=0.0,
        samples=str(path.relative_to(store.folder)),
        **scored.values,
        metric_time_s=scored.seconds,
        protocol=scored.protocol,
    )
    return {
        "quality": tracker.summary()["quality"],
        "metrics_protocol": evaluator.protocol(),
        "metrics_setup_s": evaluator.setup_s,
    }


def _generation(
    run: RunConfig, source: GeneratorSource, store: RunStore, device: torch.device
) -> dict[str, Any]:
    """Generation latency at the run's batch sizes, written to the run's latency.json;
    per batch size its images/s, per-image latency and p50 call time."""
    from ganbench.latency.measure import run_latency
    from ganbench.latency.settings import LatencySettings

    cfg = run.load
    assert cfg is not None
    settings = LatencySettings(
        batch_sizes=tuple(cfg.batch_sizes), min_time_s=cfg.min_time_s, max_time_s=cfg.min_time_s * 5
    )
    result = run_latency(source, settings, device, store.folder)
    if result.interrupted:  # the rows so far stay in latency.json; the run is not finished
        raise KeyboardInterrupt("stopped while timing generation")
    keep = ("status", "images_per_s", "per_image_latency_s", "latency_p50_s")
    return {f"batch_{r['batch_size']}": {k: r[k] for k in keep} for r in result.rows}
