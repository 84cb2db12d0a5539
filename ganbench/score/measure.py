"""Score a SOURCE: prepare the metrics as a run does (``Evaluator``: cached classifier and
reference statistics), make or take the samples, score them with the same code as
training-time evaluation, and time each part.

A generator's samples come from ``Evaluator.generate``: fixed noise, eval mode, autocast
off, quantised to uint8. Images read from files are already uint8 and are scored as
they are, so PNGs written from a generator's uint8 samples score exactly as the
samples did in memory."""

from __future__ import annotations

import contextlib
import math
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from ganbench import __version__
from ganbench.errors import Diverged, UserError
from ganbench.metrics import METRICS, Samples
from ganbench.metrics.evaluate import Evaluator
from ganbench.metrics.setup import SetupWatch, setup_step, watching
from ganbench.score.plan import ScorePlan, plan_scoring
from ganbench.score.settings import ScoreSettings
from ganbench.score.sources import GeneratorOptions, Source, open_source

Progress = Callable[[str, float, float], None]  # (what, fraction done, seconds so far)


@dataclass
class ScoreResult:
    """Values with their protocol, what was scored, where, and what each part cost."""

    source: dict[str, Any]
    device: str
    values: dict[str, float | None]
    metrics: dict[str, dict[str, Any]]  # per metric: its values, protocol and set-up
    seconds: dict[str, float]
    notes: list[str]
    versions: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def score(
    text: str,
    options: GeneratorOptions,
    settings: ScoreSettings,
    device: torch.device,
    progress: Progress | None = None,
) -> ScoreResult:
    """Open SOURCE ``text`` and score it (``progress`` hears of each long pass)."""
    with _reporting(progress):
        t0 = time.perf_counter()
        source = open_source(text, options)
        opened_s = time.perf_counter() - t0
        result = score_source(source, settings, device)
    result.seconds = {"open": opened_s, **result.seconds}
    return result


def score_source(source: Source, settings: ScoreSettings, device: torch.device) -> ScoreResult:
    """Plan, prepare, sample and score ``source``."""
    plan = plan_scoring(source, settings)
    t0 = time.perf_counter()
    latent = source.generator.model.noise_shape() if source.generator else (1,)
    evaluator = Evaluator(
        plan.metrics, plan.dataset, latent, plan.noise_seed, device, plan.batch_size
    )
    setup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    samples = _samples(source, evaluator, device)
    made = {"generate": time.perf_counter() - t0} if source.generator else {}
    values, seconds = evaluator.score(samples)
    described = {**source.describe(), **_sampling(source, plan)}
    return ScoreResult(
        source=described,
        device=str(device),
        values={name: _finite(v) for name, v in values.items()},
        metrics=_per_metric(evaluator, values, seconds),
        seconds={"setup": setup_s, **made, **seconds},
        notes=plan.notes,
        versions={
            "ganbench": __version__,
            "torch": str(torch.__version__),
            "python": platform.python_version(),
        },
    )


@contextlib.contextmanager
def _reporting(progress: Progress | None) -> Iterator[None]:
    """Long passes (classifier training, reference and sample features, generation)
    report to ``progress``; a stop is Ctrl-C's KeyboardInterrupt as anywhere else."""
    if progress is None:
        yield
        return
    with watching(SetupWatch(progress, lambda: None)):
        yield


def _samples(source: Source, evaluator: Evaluator, device: torch.device) -> Samples:
    if source.images is not None:
        return Samples(source.images, "image")
    assert source.generator is not None
    G = _Counted(source.generator.generator, evaluator.num_samples)
    try:
        G.to(device)
        return evaluator.generate(G)
    except Diverged:
        raise UserError(
            f"{source.text}: the generator produced NaN or infinite values; nothing to score"
        ) from None
    except (RuntimeError, ValueError) as err:  # e.g. a file exported for one batch size
        last = (str(err).strip().splitlines() or [type(err).__name__])[-1]
        raise UserError(
            f"{source.text}: the generator failed on a batch of up to "
            f"{evaluator.batch_size} ({type(err).__name__}: {last}); a file exported for "
            "one batch size needs --batch-size that size and --num-samples a multiple of it"
        ) from None


class _Counted(nn.Module):
    """G as ``Evaluator.generate`` calls it, reporting the samples made so far; a
    torch.export module keeps the mode it was exported in (it refuses ``train()``)."""

    def __init__(self, G: nn.Module, total: int) -> None:
        super().__init__()
        self.G, self.total, self.done = G, total, 0

    def train(self, mode: bool = True) -> _Counted:
        self.training = mode
        with contextlib.suppress(NotImplementedError):
            self.G.train(mode)
        return self

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.G(z)
        self.done += z.shape[0]
        setup_step(f"generating {self.total} samples", self.done, self.total)
        return out


def _sampling(source: Source, plan: ScorePlan) -> dict[str, Any]:
    """How the scored samples were made or taken."""
    if source.generator is None:
        order = "sorted by path" if source.kind == "image folder" else "in array order"
        return {"samples": f"the first {plan.num_samples} images ({order})"}
    return {
        "num_samples": plan.num_samples,
        "noise_seed": plan.noise_seed,
        "generator_batch_size": plan.batch_size,
        "quantisation": "G(z) in eval mode, autocast off: round((clamp(x, -1, 1) + 1) * 127.5)",
    }


def _per_metric(
    evaluator: Evaluator, values: dict[str, float | None], seconds: dict[str, float]
) -> dict[str, dict[str, Any]]:
    protocol = evaluator.protocol()
    return {
        name: {
            "values": {v: _finite(values.get(v)) for v in METRICS.get(name).values},
            "protocol": protocol[name],
            "setup": evaluator.setup[name],
            "score_s": seconds[name],
        }
        for name in evaluator.scorers
    }


def _finite(value: float | None) -> float | None:
    """JSON has no NaN: a value that is not finite is reported as null."""
    return None if value is None or not math.isfinite(value) else float(value)
