"""Implementation levers: settings that change how fast a run trains (and how much memory
it needs), not the algorithm. ``levers:`` in a run; each one that cannot apply on the
run's device is skipped, and the summary says which and why (``levers_skipped``).

- ``precision: amp-bf16`` / ``amp-fp16`` run every forward pass and loss under
  ``torch.autocast``; parameters, gradients and optimiser state stay float32. bf16 keeps
  fp32's range and needs no loss scaling. fp16 does: each network has its own
  ``LossScaler`` (GradScaler's dynamic rule, applied by hand because the oracle takes
  gradients with ``autograd.grad``): losses are multiplied by the scale, gradients
  unscaled right after each evaluation, and a player whose gradients overflowed skips
  that step (its parameters, SRFB shadow and extrapolation stay as they were) while its
  scale halves. fp16 autocast is a CUDA lever: on the CPU it is skipped with a reason.
- ``compile``: ``torch.compile`` of every network the strategy calls (modes as torch's);
  a network that cannot compile falls back to eager with the reason in the summary.
  A gradient penalty (WGAN-GP) needs a double backward, which compiled graphs do not
  support, so D stays eager there (G is compiled).
- ``data_on_device``: the whole dataset (uint8 images) copied to GPU memory once when it
  takes at most half the free memory, so batches are gathered on the GPU (CUDA).
- ``parallel``: ``dp`` wraps the networks in ``nn.DataParallel`` (needs 2+ GPUs);
  ``ddp`` trains one run in N processes launched by ``train-suite --nproc-per-node N``
  (see ``ganbench.parallel``).
- ``channels_last``: models and real batches in NHWC memory format (4-D tensors only).
- ``grad_accumulation: k``: every batch is processed as k micro-batches whose gradients
  are summed with weights micro/batch before one optimiser step: the same estimate for
  per-example losses with 1/k of the activations in memory (batch-norm statistics are
  per micro-batch, as on k devices). Every scheduled batch size must divide by k.
- ``cudnn_benchmark``: cuDNN picks the fastest convolution algorithm per shape (CUDA).
- ``tf32``: TensorFloat-32 for matmuls and cuDNN convolutions on (true) or off (false);
  null keeps PyTorch's defaults (cuDNN on, matmul off). CUDA only.

The backend flags are process-wide: ``applied_levers`` sets them for one run and puts
the previous values back afterwards, so runs of a suite never inherit each other's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from pydantic import Field, PositiveInt
from torch import nn

from ganbench.data.base import Data
from ganbench.parallel import LOCAL, Replicas
from ganbench.registry import Section

Precision = Literal["fp32", "amp-fp16", "amp-bf16"]
CompileMode = Literal["off", "default", "reduce-overhead", "max-autotune"]
Parallel = Literal["none", "dp", "ddp"]
RECOMPILE_LIMIT = 64  # graphs per network and run (dynamo's default is 8)


class LeversConfig(Section):
    precision: Precision = Field("fp32", description="fp32, amp-fp16 or amp-bf16 (autocast)")
    channels_last: bool = Field(False, description="NHWC memory format for models and batches")
    grad_accumulation: PositiveInt = Field(
        1, le=1024, description="micro-batches per optimiser step (same effective batch)"
    )
    cudnn_benchmark: bool = Field(False, description="cuDNN autotuning per shape (CUDA)")
    tf32: bool | None = Field(None, description="TF32 matmuls/convolutions; null: defaults")
    compile: CompileMode = Field("off", description="torch.compile mode for the networks")
    data_on_device: bool = Field(False, description="whole dataset in GPU memory (uint8)")
    parallel: Parallel = Field(
        "none", description="dp: nn.DataParallel; ddp: processes (--nproc-per-node)"
    )


class LossScaler:
    """Dynamic loss scaling for one network, by torch.amp.GradScaler's rule and defaults:
    start at 2**16, halve on a step whose gradients overflowed (that step is skipped),
    double after ``growth_interval`` finite steps in a row."""

    def __init__(
        self,
        scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
    ) -> None:
        self.scale = scale
        self.growth_factor, self.backoff_factor = growth_factor, backoff_factor
        self.growth_interval = growth_interval
        self.good_steps = 0  # finite steps since the last change of scale
        self.skipped = 0  # steps skipped for overflow over the run

    def unscale(self, grads: list[torch.Tensor]) -> None:
        """Gradients of ``loss * scale`` -> gradients of ``loss`` (in place)."""
        if self.scale != 1.0:
            torch._foreach_mul_(grads, 1.0 / self.scale)

    def update(self, grads: list[torch.Tensor]) -> bool:
        """Whether the (unscaled) gradients are finite; moves the scale accordingly."""
        finite = bool(torch.stack([torch.isfinite(g).all() for g in grads]).all())
        if not finite:
            self.scale *= self.backoff_factor
            self.good_steps = 0
            self.skipped += 1
        else:
            self.good_steps += 1
            if self.good_steps == self.growth_interval:
                self.scale *= self.growth_factor
                self.good_steps = 0
        return finite

    def state_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "good_steps": self.good_steps, "skipped": self.skipped}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scale, self.good_steps = state["scale"], state["good_steps"]
        self.skipped = state["skipped"]


@dataclass
class AppliedLevers:
    """What a run trains with, after the device had its say."""

    autocast_dtype: torch.dtype | None = None
    loss_scaling: bool = False  # fp16: a LossScaler per network
    channels_last: bool = False
    compile_mode: str | None = None
    data_on_device: bool = False
    data_parallel: bool = False
    skipped: dict[str, str] = field(default_factory=dict)

    def scalers(self) -> dict[str, LossScaler] | None:
        return {"g": LossScaler(), "d": LossScaler()} if self.loss_scaling else None

    def autocast(self, device: torch.device) -> Callable[[], contextlib.AbstractContextManager]:
        """A fresh autocast context per forward pass (or a no-op)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext
        dtype = self.autocast_dtype
        return lambda: torch.autocast(device.type, dtype=dtype)

    @property
    def compute_dtype(self) -> torch.dtype:
        return self.autocast_dtype or torch.float32

    def to_memory_format(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.channels_last and tensor.dim() == 4:
            return tensor.contiguous(memory_format=torch.channels_last)
        return tensor


@contextlib.contextmanager
def applied_levers(
    cfg: LeversConfig, device: torch.device, image_data: bool, replicas: Replicas = LOCAL
) -> Iterator[AppliedLevers]:
    """Apply a run's levers for the duration of the block; restore the backend flags."""
    cuda = device.type == "cuda"
    applied = AppliedLevers()
    saved = _backend_flags()
    try:
        _precision(cfg, cuda, applied)
        if cfg.channels_last:
            if image_data:
                applied.channels_last = True
            else:
                applied.skipped["channels_last"] = "the data are not images (no 4-D tensors)"
        if cfg.cudnn_benchmark:
            if cuda:
                torch.backends.cudnn.benchmark = True
            else:
                applied.skipped["cudnn_benchmark"] = f"needs CUDA (cuDNN); the run is on {device}"
        if cfg.tf32 is not None:
            if cuda:
                torch.backends.cuda.matmul.allow_tf32 = cfg.tf32
                torch.backends.cudnn.allow_tf32 = cfg.tf32
            else:
                applied.skipped["tf32"] = f"needs a CUDA GPU (Ampere or later); on {device}"
        if cfg.compile != "off":
            _compile(cfg, applied, saved)
        if cfg.data_on_device:
            if cuda:
                applied.data_on_device = True  # if it fits: decided when the data are loaded
            else:
                applied.skipped["data_on_device"] = "needs CUDA; on the CPU the data are there"
        _parallel(cfg, cuda, replicas, applied)
        yield applied
    finally:
        _restore(saved)


def _precision(cfg: LeversConfig, cuda: bool, applied: AppliedLevers) -> None:
    if cfg.precision == "amp-bf16":
        if cuda and not torch.cuda.is_bf16_supported(including_emulation=False):
            applied.skipped["precision"] = "amp-bf16: this GPU has no native bf16"
        else:
            applied.autocast_dtype = torch.bfloat16
    elif cfg.precision == "amp-fp16":
        if cuda:
            applied.autocast_dtype, applied.loss_scaling = torch.float16, True
        else:
            applied.skipped["precision"] = (
                "amp-fp16 is a CUDA lever (fp16 arithmetic on this CPU is emulated); "
                "amp-bf16 is the CPU's mixed precision"
            )


def _compile(cfg: LeversConfig, applied: AppliedLevers, saved: dict[str, Any]) -> None:
    if not _dynamo().is_dynamo_supported():
        applied.skipped["compile"] = "torch.compile does not support this Python"
        return
    applied.compile_mode = cfg.compile
    # Every run compiles afresh, as in a new process: the caches of an earlier run's
    # networks (same forward code) would otherwise count towards the recompile limit.
    _dynamo().reset()
    config = _dynamo().config
    saved["dynamo"] = (config.recompile_limit, config.fail_on_recompile_limit_hit)
    # Train/eval mode, grad mode, autocast and each batch size are separate graphs; past
    # the limit dynamo would run eager without a word: make that an error the network's
    # guard turns into a fallback with its reason.
    config.recompile_limit, config.fail_on_recompile_limit_hit = RECOMPILE_LIMIT, True
    # The joint pseudo-gradient keeps D's graph for G's gradient (retain_graph), which
    # compiled backwards with donated buffers refuse. All restored after the run.
    saved["donated_buffer"] = _functorch_config().donated_buffer
    _functorch_config().donated_buffer = False


def _parallel(cfg: LeversConfig, cuda: bool, replicas: Replicas, applied: AppliedLevers) -> None:
    if cfg.parallel == "dp":
        count = torch.cuda.device_count() if cuda else 0
        if count >= 2:
            applied.data_parallel = True
        else:
            applied.skipped["parallel"] = f"dp needs 2 or more CUDA devices; found {count}"
    elif cfg.parallel == "ddp" and not replicas.distributed:
        applied.skipped["parallel"] = (
            "ddp: trained in one process (train-suite --nproc-per-node N trains it in N)"
        )


def _backend_flags() -> dict[str, Any]:
    return {
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cudnn_tf32": torch.backends.cudnn.allow_tf32,
        "matmul_tf32": torch.backends.cuda.matmul.allow_tf32,
    }


def _restore(saved: dict[str, Any]) -> None:
    if "donated_buffer" in saved:
        _functorch_config().donated_buffer = saved["donated_buffer"]
        config = _dynamo().config
        config.recompile_limit, config.fail_on_recompile_limit_hit = saved["dynamo"]
    torch.backends.cudnn.benchmark = saved["cudnn_benchmark"]
    torch.backends.cudnn.allow_tf32 = saved["cudnn_tf32"]
    torch.backends.cuda.matmul.allow_tf32 = saved["matmul_tf32"]


def _dynamo() -> Any:
    """torch._dynamo, imported when a run compiles (it takes a second to import)."""
    return importlib.import_module("torch._dynamo")


def _functorch_config() -> Any:
    return importlib.import_module("torch._functorch.config")


def place_data(data: Data, device: torch.device, skipped: dict[str, str]) -> Data:
    """The dataset in GPU memory (as stored: uint8 images) if it takes at most half of the
    free memory; otherwise left where it is, with the reason in ``skipped``."""
    need = data.values.nbytes
    free, _ = torch.cuda.mem_get_info(device)
    if need > free // 2:
        skipped["data_on_device"] = (
            f"the dataset takes {need / 2**20:.0f} MiB, more than half of the "
            f"{free / 2**20:.0f} MiB free on {device}"
        )
        return data
    return dataclasses.replace(data, values=data.values.to(device))


def compile_networks(
    networks: dict[str, nn.Module], levers: AppliedLevers, double_backward: bool
) -> None:
    """``torch.compile`` each network in place (``Module.compile``: parameters, state_dict
    and checkpoints are unchanged). D stays eager when the loss differentiates through it
    twice; a network whose compilation fails runs eager from then on. Both are reported in
    ``levers.skipped["compile"]``."""
    notes: list[str] = []
    if levers.data_parallel:
        levers.skipped["compile"] = (
            "not with dp: DataParallel's replicas cannot share a compiled module (use ddp)"
        )
        return
    for name, net in networks.items():
        if double_backward and name.startswith("D"):
            notes.append(
                f"{name} runs eager: the gradient penalty needs a double backward, which "
                "torch.compile does not support"
            )
            continue
        _compile_with_fallback(name, net, levers, notes)
    if notes:
        _note_compile(levers, notes)


def _compile_with_fallback(
    name: str, net: nn.Module, levers: AppliedLevers, notes: list[str]
) -> None:
    dynamo = _dynamo()
    dynamo_errors = (dynamo.exc.TorchDynamoException, dynamo.exc.FailOnRecompileLimitHit)
    net.compile(mode=levers.compile_mode)
    compiled = net._compiled_call_impl

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return compiled(*args, **kwargs)
        except dynamo_errors as err:  # tracing, codegen or the recompile limit
            net._compiled_call_impl = None  # eager from now on (the failing frame did not run)
            notes.append(f"{name} fell back to eager: {_compile_failure(err, dynamo)}")
            _note_compile(levers, notes)
            return net._call_impl(*args, **kwargs)

    net._compiled_call_impl = call


def _note_compile(levers: AppliedLevers, notes: list[str]) -> None:
    levers.skipped["compile"] = "; ".join(dict.fromkeys(notes))  # each note once, in order


def _compile_failure(err: BaseException, dynamo: Any) -> str:
    """One line for why compilation failed: the innermost error (backends wrap theirs)."""
    chain = [err]
    while (inner := getattr(chain[-1], "inner_exception", None) or chain[-1].__cause__) and (
        len(chain) < 10
    ):
        chain.append(inner)
    if any(isinstance(e, dynamo.exc.FailOnRecompileLimitHit) for e in chain):
        return (
            f"it needed more than {RECOMPILE_LIMIT} graphs (one per train/eval mode, grad "
            "mode, autocast state and batch size) and hit the recompile limit"
        )
    innermost = chain[-1]
    text = str(innermost).strip()
    line = text.splitlines()[0][:300] if text else ""
    return f"{type(innermost).__name__}: {line}" if line else type(innermost).__name__
