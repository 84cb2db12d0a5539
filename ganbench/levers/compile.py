"""torch.compile and CUDA graphs: the one vocabulary of compile modes (training and latency
share it), compiling a run's networks in place with an eager fallback, and a generator
replayed from a CUDA graph.

A gradient penalty (WGAN-GP) needs a double backward, which compiled graphs do not
support, so D stays eager there (G is compiled). A network whose compilation fails runs
eager from then on; both are reported in ``levers_skipped["compile"]``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from ganbench.levers.names import (  # noqa: F401  (the levers' vocabulary, here too)
    COMPILE_MODES,
    CUDA_GRAPHS,
    GENERATION_COMPILE_MODES,
    CompileMode,
)

RECOMPILE_LIMIT = 64  # graphs per network and run (dynamo's default is 8)


def dynamo() -> Any:
    """torch._dynamo, imported when something compiles (it takes a second to import)."""
    return importlib.import_module("torch._dynamo")


def _functorch_config() -> Any:
    return importlib.import_module("torch._functorch.config")


def unsupported_compile(mode: str, device: torch.device) -> str | None:
    """Why ``device`` cannot run compile ``mode``, or None."""
    if mode == CUDA_GRAPHS:
        return None if device.type == "cuda" else "CUDA graphs need a CUDA device"
    if mode != "off" and not dynamo().is_dynamo_supported():
        return "torch.compile is not supported on this Python/platform"
    return None


@contextmanager
def compile_settings() -> Iterator[None]:
    """Fresh dynamo caches, a loud recompile limit and no donated buffers for one run; every
    setting restored afterwards."""
    # Every run compiles afresh, as in a new process: the caches of an earlier run's
    # networks (same forward code) would otherwise count towards the recompile limit.
    dynamo().reset()
    config, functorch = dynamo().config, _functorch_config()
    saved = (config.recompile_limit, config.fail_on_recompile_limit_hit, functorch.donated_buffer)
    # Train/eval mode, grad mode, autocast and each batch size are separate graphs; past
    # the limit dynamo would run eager without a word: make that an error the network's
    # guard turns into a fallback with its reason.
    config.recompile_limit, config.fail_on_recompile_limit_hit = RECOMPILE_LIMIT, True
    # The joint pseudo-gradient keeps D's graph for G's gradient (retain_graph), which
    # compiled backwards with donated buffers refuse.
    functorch.donated_buffer = False
    try:
        yield
    finally:
        config.recompile_limit, config.fail_on_recompile_limit_hit = saved[:2]
        functorch.donated_buffer = saved[2]


def compile_networks(
    networks: dict[str, nn.Module],
    mode: str,
    skipped: dict[str, str],
    double_backward: bool,
    data_parallel: bool = False,
) -> None:
    """``torch.compile`` each network in place (``Module.compile``: parameters, state_dict
    and checkpoints are unchanged). D stays eager when the loss differentiates through it
    twice; a network whose compilation fails runs eager from then on. Both are reported in
    ``skipped["compile"]``."""
    notes: list[str] = []
    if data_parallel:
        skipped["compile"] = (
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
        _compile_with_fallback(name, net, mode, skipped, notes)
    if notes:
        _note_compile(skipped, notes)


def _compile_with_fallback(
    name: str, net: nn.Module, mode: str, skipped: dict[str, str], notes: list[str]
) -> None:
    dyn = dynamo()
    dynamo_errors = (dyn.exc.TorchDynamoException, dyn.exc.FailOnRecompileLimitHit)
    net.compile(mode=mode)
    compiled = net._compiled_call_impl

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return compiled(*args, **kwargs)
        except dynamo_errors as err:  # tracing, codegen or the recompile limit
            net._compiled_call_impl = None  # eager from now on (the failing frame did not run)
            notes.append(f"{name} fell back to eager: {_compile_failure(err, dyn)}")
            _note_compile(skipped, notes)
            return net._call_impl(*args, **kwargs)

    net._compiled_call_impl = call


def _note_compile(skipped: dict[str, str], notes: list[str]) -> None:
    skipped["compile"] = "; ".join(dict.fromkeys(notes))  # each note once, in order


def _compile_failure(err: BaseException, dyn: Any) -> str:
    """One line for why compilation failed: the innermost error (backends wrap theirs)."""
    chain = [err]
    while (inner := getattr(chain[-1], "inner_exception", None) or chain[-1].__cause__) and (
        len(chain) < 10
    ):
        chain.append(inner)
    if any(isinstance(e, dyn.exc.FailOnRecompileLimitHit) for e in chain):
        return (
            f"it needed more than {RECOMPILE_LIMIT} graphs (one per train/eval mode, grad "
            "mode, autocast state and batch size) and hit the recompile limit"
        )
    innermost = chain[-1]
    text = str(innermost).strip()
    line = text.splitlines()[0][:300] if text else ""
    return f"{type(innermost).__name__}: {line}" if line else type(innermost).__name__


def compile_generator(model: nn.Module, mode: str) -> Any:
    """A callable running ``model`` as generation ``mode`` asks: itself (``off``), a CUDA
    graph replay (``cuda-graphs``) or ``torch.compile`` with static shapes, after a dynamo
    reset so that every batch size gets its own graph (never the recompile limit)."""
    if mode == "off":
        return model
    if mode == CUDA_GRAPHS:
        return GraphedGenerator(model)
    dynamo().reset()
    return torch.compile(model, mode=None if mode == "default" else mode, dynamic=False)


class GraphedGenerator:
    """G's forward captured into a CUDA graph at the first call (after warm-up passes on a
    side stream, PyTorch's recipe) and replayed after: one launch per call instead of one
    per kernel. The noise is copied into the graph's static input; the output tensor is
    the graph's own, overwritten by the next replay."""

    def __init__(self, model: nn.Module, warmup: int = 3) -> None:
        self.model, self.warmup = model, warmup
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static_in: torch.Tensor | None = None
        self.static_out: torch.Tensor | None = None

    def _capture(self, z: torch.Tensor) -> None:
        self.static_in = z.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(self.warmup):
                self.model(self.static_in)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.static_out = self.model(self.static_in)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        if self.graph is None:
            self._capture(z)
        self.static_in.copy_(z)
        self.graph.replay()
        return self.static_out
