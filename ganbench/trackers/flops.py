"""FLOPs per training iteration and per generated image, achieved FLOP/s and MFU.

FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` (matmuls,
convolutions, attention, with their backward passes; element-wise work and optimiser
updates are not counted, as in the usual MFU convention) on a copy of the run's models
built on the ``meta`` device: the strategy's own ``step()`` runs there on shape-only
tensors, so the count covers exactly the work the strategy does (n_critic, extrapolation,
SVRE's snapshot gradients, micro-batches) and costs no device memory, no compute and no
random numbers of the real run.

SVRE's snapshot refresh is counted separately (one full pass, scaled from one chunk: all
counted operations are linear in the batch) and charged each time it happens.

MFU = achieved FLOP/s / peak FLOP/s of the GPU for the precision the run computes in.
Peaks are dense (no sparsity) datasheet figures; an unknown GPU or a CPU run gives null.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

META = torch.device("meta")

# Dense peak TFLOP/s by GPU and compute precision (NVIDIA datasheets). Matched by
# substring of the device name, first match wins (so L40S precedes L4, H100 PCIe H100).
PEAK_TFLOPS: tuple[tuple[str, dict[str, float]], ...] = (
    ("H200", {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4}),
    ("H100 PCIe", {"fp32": 51.2, "tf32": 378.0, "bf16": 756.0, "fp16": 756.0}),
    ("H100", {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4}),
    ("A100", {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0, "fp16": 312.0}),
    ("L40S", {"fp32": 91.6, "tf32": 183.0, "bf16": 362.1, "fp16": 362.1}),
    ("L4", {"fp32": 30.3, "tf32": 60.0, "bf16": 121.0, "fp16": 121.0}),
    ("A10", {"fp32": 31.2, "tf32": 62.5, "bf16": 125.0, "fp16": 125.0}),
    ("V100", {"fp32": 15.7, "fp16": 125.0}),
    ("T4", {"fp32": 8.1, "fp16": 65.0}),
)


class _GlobalOnly:
    """Stands in for FlopCounterMode's module tracker, whose backward hooks do not work
    under ``torch.autograd.grad`` (which every strategy uses); we only need the total."""

    parents = frozenset({"Global"})

    def __enter__(self) -> _GlobalOnly:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class FlopCounter(FlopCounterMode):
    """FlopCounterMode without per-module attribution (total only)."""

    def __init__(self) -> None:
        super().__init__(display=False)
        self.mod_tracker = _GlobalOnly()


def count_flops(fn: Callable[[], Any]) -> int:
    with FlopCounter() as counter:
        fn()
    return counter.get_total_flops()


@dataclass(frozen=True)
class IterationFlops:
    """FLOPs of one ``step()`` at one batch size (snapshot refreshes excluded) and of one
    SVRE snapshot refresh (0 for other strategies)."""

    batch_size: int
    step: int
    snapshot_pass: int


class _ShapeBatches:
    """Meta-device batches of the right shape for the FLOP probe."""

    def __init__(self, sample_shape: tuple[int, ...], batch_size: int, num_examples: int):
        self.sample_shape, self.batch_size, self.num_examples = (
            sample_shape,
            batch_size,
            num_examples,
        )

    def next(self) -> torch.Tensor:
        return torch.empty(self.batch_size, *self.sample_shape, device=META)

    def full_pass(self, chunk: int) -> Iterator[tuple[torch.Tensor, int]]:
        for start in range(0, self.num_examples, chunk):
            size = min(chunk, self.num_examples - start)
            yield torch.empty(size, *self.sample_shape, device=META), size


class _PhaseFlops:
    """A phase hook for the probe: FLOPs counted inside each phase (nested ones included)."""

    def __init__(self, counter: FlopCounter) -> None:
        self.counter = counter
        self.by_phase: dict[str, int] = {}
        self._name = ""
        self._open: list[tuple[str, int]] = []

    def __call__(self, name: str) -> _PhaseFlops:
        self._name = name
        return self

    def __enter__(self) -> None:
        self._open.append((self._name, self.counter.get_total_flops()))

    def __exit__(self, *exc: object) -> None:
        name, before = self._open.pop()
        self.by_phase[name] = self.by_phase.get(name, 0) + self.counter.get_total_flops() - before


def probe_iteration(session: Any, batch_size: int) -> IterationFlops:
    """Count one ``step()`` of the session's strategy at ``batch_size`` on meta copies."""
    from ganbench.models import MODELS
    from ganbench.strategies import STRATEGIES

    run = session.run
    shape = tuple(session.data.sample_shape)
    with torch.device(META):
        G, D = MODELS.get(run.model.name).build(run.model, shape)
    G.train(), D.train()
    # One chunk per "full pass": the probe's refresh is scaled to the dataset below.
    batches = _ShapeBatches(shape, batch_size, batch_size)
    latent = run.model.latent_dim

    def noise(n: int) -> torch.Tensor:
        return torch.empty(n, latent, device=META)

    strategy = STRATEGIES.get(run.strategy.name)(
        run.strategy, G, D, session.strategy.oracle.plain(), batches, noise, torch.Generator()
    )
    with FlopCounter() as counter:
        strategy.phases = phases = _PhaseFlops(counter)
        strategy.step()
    total = counter.get_total_flops()
    snapshot_chunk = phases.by_phase.get("snapshot", 0)
    num_examples = len(session.data)
    return IterationFlops(
        batch_size=batch_size,
        step=total - snapshot_chunk,
        snapshot_pass=snapshot_chunk * num_examples // batch_size,
    )


def generator_flops_per_image(run: Any, sample_shape: tuple[int, ...], batch: int = 16) -> float:
    """FLOPs of the generator's forward pass per image (eval mode, no autograd)."""
    from ganbench.models import MODELS

    with torch.device(META):
        G, _ = MODELS.get(run.model.name).build(run.model, tuple(sample_shape))
    G.eval()
    z = torch.empty(batch, run.model.latent_dim, device=META)
    with torch.no_grad():
        return count_flops(lambda: G(z)) / batch


def compute_precision(device: torch.device, dtype: torch.dtype = torch.float32) -> str | None:
    """The precision whose peak an fp32 run is measured against: cuDNN convolutions run
    in TF32 when ``torch.backends.cudnn.allow_tf32`` (PyTorch's default) is on."""
    if device.type != "cuda":
        return None
    if dtype == torch.bfloat16:
        return "bf16"
    if dtype == torch.float16:
        return "fp16"
    tf32 = torch.backends.cudnn.allow_tf32 or torch.backends.cuda.matmul.allow_tf32
    return "tf32" if tf32 else "fp32"


def peak_flops(gpu_name: str | None, precision: str | None) -> float | None:
    """Dense peak FLOP/s of a known GPU at ``precision``, else None."""
    if not gpu_name or not precision:
        return None
    for key, peaks in PEAK_TFLOPS:
        if key in gpu_name:
            tflops = peaks.get(precision)
            return tflops * 1e12 if tflops is not None else None
    return None
