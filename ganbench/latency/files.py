"""Generators from outside ganbench for ``ganbench latency --generator SOURCE``.

SOURCE is one of:

* a TorchScript archive (``torch.jit.save``), loaded with ``torch.jit.load``;
* a torch.export program (``.pt2``, ``torch.export.save``), loaded with
  ``torch.export.load`` and run as its ``module()`` (export fixes the batch size unless
  the batch dimension was exported as dynamic: other batch sizes then fail, row by row);
* a state dict (``torch.save(G.state_dict())``) with ``--model NAME`` naming the
  architecture (a built-in family, with ``--set model.*``), loaded with
  ``weights_only=True``;
* ``pkg.module:function``, a function of the user's returning the generator as an
  ``nn.Module`` (how a StyleGAN pickle or any other format gets in: the function loads
  it);
* a whole pickled module (``torch.save(G)``): refused, since unpickling runs code from
  the file, unless ``--trust-code``.

* an ONNX file (``.onnx``), run by ONNX Runtime (``ganbench[onnx]``, see
  ``latency.onnx``).

The noise each call gets is ``--latent-shape``; without it, the shape the file fixes (an
ONNX input's or a ``.pt2`` program's dimensions after the batch), else the shape the
first such file among several ``--generator`` fixes, else 128. Every source
records its kind, the file's SHA-256 and the runtime (with ONNX Runtime's providers).
"""

from __future__ import annotations

import importlib
import math
import os
import sys
import warnings
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from pydantic import Field, PositiveInt
from torch import nn

from ganbench.errors import UserError
from ganbench.latency.measure import evaluating
from ganbench.latency.onnx import OnnxGenerator
from ganbench.latency.sources import GeneratorSource, archive_kind, fresh_generator
from ganbench.models.base import ModelConfig
from ganbench.results.store import sha256_of

OPTION = "--generator"


class FileModelConfig(ModelConfig):
    """What ganbench knows of a generator from a file: its kind and its noise's shape."""

    latent_shape: list[PositiveInt] = Field(default_factory=lambda: [128], min_length=1)

    def noise_shape(self) -> tuple[int, ...]:
        return tuple(self.latent_shape)


DEFAULT_LATENT = (128,)


def generator_options(
    sources: Sequence[str],
    latent_shape: str | None,
    model: str | None,
    overrides: Sequence[str],
    trust_code: bool,
    others: Sequence[Any],
) -> list[GeneratorSource]:
    """``--generator`` (once or more) as typed, with the options that go with it; each
    gets a label of its own (the file's or function's name, numbered where two agree)."""
    if any(other is not None for other in others):
        raise UserError(f"{OPTION} or --checkpoint / --suite --run: choose one generator")
    shape = None
    if latent_shape is not None:
        parts = [p.strip() for p in latent_shape.split(",") if p.strip()]
        if not parts or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise UserError(
                f"--latent-shape {latent_shape}: positive integers, e.g. 512 or 100,1,1"
            )
        shape = tuple(int(p) for p in parts)
    # Files first: a shape one of them fixes is the default of those that do not say.
    loaded: dict[int, GeneratorSource] = {}
    fallback = DEFAULT_LATENT
    for i in sorted(range(len(sources)), key=lambda i: _is_function(sources[i])):
        one = generator_from_source(
            sources[i], shape, model, overrides, trust_code, fallback_latent=fallback
        )
        if one.file["latent_shape_from"] == "the file" and fallback == DEFAULT_LATENT:
            fallback = one.model.noise_shape()
        loaded[i] = one
    labels = source_labels(sources)
    for i, label in enumerate(labels):
        loaded[i].label = label
    return [loaded[i] for i in range(len(sources))]


def source_labels(sources: Sequence[str]) -> list[str]:
    """A short name per source: ``g.onnx`` -> ``g.onnx``, ``pkg.mod:make`` -> ``make``;
    repeated names get ``#2``, ``#3``."""
    names = [s.rpartition(":")[2] if _is_function(s) else Path(s).name for s in sources]
    labels = []
    for i, name in enumerate(names):
        n = names[:i].count(name)
        labels.append(f"{name}#{n + 1}" if n else name)
    return labels


def generator_from_source(
    source: str,
    latent_shape: Sequence[int] | None = None,
    model: str | None = None,
    overrides: Sequence[str] = (),
    trust_code: bool = False,
    build: Callable[[], nn.Module] | None = None,
    fallback_latent: Sequence[int] = DEFAULT_LATENT,
) -> GeneratorSource:
    """The generator ``source`` names (see the module docstring); UserError naming the
    option and the file on every problem. ``latent_shape`` None: the file's, else
    ``fallback_latent``. ``build``: a state dict's architecture, where a suite's run gives
    it (else --model)."""
    path = Path(source)
    if _is_function(source):
        G, kind, runtime = _from_function(source), "function", "eager"
    else:
        G, kind, runtime = _from_file(path, model, overrides, trust_code, build)
    G = evaluating(G)
    from_file = file_latent_shape(G)
    latent = tuple(latent_shape or from_file or fallback_latent)
    said = "given" if latent_shape else "the file" if from_file else "default"
    shape = _sample_shape(G, latent, source)
    cfg = FileModelConfig(name=kind, latent_shape=list(latent))
    cfg = cfg.model_copy(update={"latent_dim": math.prod(latent)})
    details = G.describe() if isinstance(G, OnnxGenerator) else {"runtime": runtime}
    return GeneratorSource(
        generator=G,
        model=cfg,
        shape=shape,
        origin=kind,
        checkpoint=path if path.is_file() else None,
        label=source_labels([source])[0],
        file={
            "source": source,
            "kind": kind,
            **details,
            "sha256": sha256_of(path) if path.is_file() else None,
            "latent_shape_from": said,
        },
    )


def _is_function(source: str) -> bool:
    return not Path(source).is_file() and ":" in source and not source.startswith(("/", "."))


def file_latent_shape(G: nn.Module) -> tuple[int, ...] | None:
    """The noise shape a file fixes: an ONNX input's, or the shape a torch.export program
    was traced with where its dimensions after the batch are static; else None."""
    if isinstance(G, OnnxGenerator):
        return G.latent_shape
    graph = getattr(G, "graph", None)
    if not isinstance(graph, torch.fx.Graph):
        return None
    inputs = [n for n in graph.nodes if n.op == "placeholder"]  # the user's inputs only
    value = inputs[0].meta.get("val") if len(inputs) == 1 else None
    if value is None:
        return None
    dims = tuple(value.shape[1:])
    return dims if dims and all(isinstance(d, int) for d in dims) else None


def _from_file(
    path: Path,
    model: str | None,
    overrides: Sequence[str],
    trust_code: bool,
    build: Callable[[], nn.Module] | None = None,
) -> tuple[nn.Module, str, str]:
    if not path.is_file():
        raise UserError(
            f"{OPTION} {path}: no such file (or give pkg.module:function for a function that "
            "returns the generator)"
        )
    if path.suffix.lower() == ".onnx":
        return OnnxGenerator(path, OPTION), "onnx", "onnxruntime"
    if not zipfile.is_zipfile(path):
        raise UserError(f"{OPTION} {path}: not a PyTorch file (torch.save, torch.jit.save, .pt2)")
    kind = archive_kind(path)
    if kind == "a TorchScript archive":
        with warnings.catch_warnings():  # its deprecation notice: not the user's concern here
            warnings.simplefilter("ignore", FutureWarning)
            module = _guarded(path, lambda: torch.jit.load(str(path), map_location="cpu"))
        return module, "torchscript", "torch.jit"
    if kind is not None:
        program = _guarded(path, lambda: torch.export.load(str(path)))
        return program.module(), "torch.export", "torch.export"
    return _from_pickle(path, model, overrides, trust_code, build)


def _from_pickle(
    path: Path,
    model: str | None,
    overrides: Sequence[str],
    trust_code: bool,
    build: Callable[[], nn.Module] | None,
) -> tuple[nn.Module, str, str]:
    """A state dict (with --model), or a whole module (with --trust-code only)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001  (objects other than tensors: a whole module)
        return _whole_module(path, trust_code), "pickle", "eager"
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(
            f"{OPTION} {path}: not a state dict of tensors (a run's checkpoint: --checkpoint)"
        )
    if model is None and build is None:
        raise UserError(
            f"{OPTION} {path}: a state dict; name its architecture with --model NAME "
            "(and --set model.* for its fields)"
        )
    G = build() if build is not None else fresh_generator(model, overrides).generator
    model = model or type(G).__name__
    try:
        G.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).splitlines()[1:2] or [str(err)]
        why = first[0].strip()
        raise UserError(f"{OPTION} {path}: does not fit a {model} generator ({why})") from None
    return G, "state dict", "eager"


def _whole_module(path: Path, trust_code: bool) -> nn.Module:
    """A pickled module: unpickled only when the user trusts the file."""
    if not trust_code:
        raise UserError(
            f"{OPTION} {path}: a pickled Python object (a whole module?), which ganbench "
            "does not unpickle unasked: unpickling runs code from the file. Add "
            "--trust-code if you trust it, or save G.state_dict() and give --model"
        )
    module = _guarded(path, lambda: torch.load(path, map_location="cpu", weights_only=False))
    if not isinstance(module, nn.Module):
        raise UserError(f"{OPTION} {path}: holds a {type(module).__name__}, not an nn.Module")
    return module


def _from_function(target: str) -> nn.Module:
    """``pkg.module:function``, called with no arguments (from the working folder too)."""
    module_name, _, attr = target.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # noqa: BLE001  (the user's module: any error on import)
        raise UserError(f"{OPTION} {target}: cannot import {module_name}: {_last(err)}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise UserError(f"{OPTION} {target}: {module_name} has no function {attr!r}")
    try:
        G = factory()
    except Exception as err:  # noqa: BLE001
        raise UserError(f"{OPTION} {target}: {target}() raised {_last(err)}") from None
    if not isinstance(G, nn.Module):
        raise UserError(f"{OPTION} {target}: returned a {type(G).__name__}, not an nn.Module")
    return G


def _sample_shape(G: nn.Module, latent: tuple[int, ...], source: str) -> tuple[int, ...]:
    """One generated example's shape, from a call on noise of ``latent`` shape."""
    batch = getattr(G, "fixed_batch", None) or 1  # an ONNX file may fix its batch size
    dtype = getattr(G, "dtype", None)  # and its input's dtype (fp16)
    dtype = dtype if isinstance(dtype, torch.dtype) else torch.float32
    try:
        with torch.inference_mode():
            out = G(torch.randn(batch, *latent, dtype=dtype))
    except Exception as err:  # noqa: BLE001  (the wrong noise shape, most often)
        raise UserError(
            f"{OPTION} {source}: a call on noise of shape ({batch}, {', '.join(map(str, latent))}) "
            f"failed ({_last(err)}); give the noise's shape with --latent-shape, e.g. 512 or "
            "100,1,1"
        ) from None
    if not isinstance(out, torch.Tensor):
        raise UserError(f"{OPTION} {source}: the generator returned a {type(out).__name__}")
    return tuple(out.shape[1:])


def _guarded(path: Path, load: Any) -> Any:
    try:
        return load()
    except Exception as err:  # noqa: BLE001  (a damaged or foreign file)
        raise UserError(f"{OPTION} {path}: cannot be loaded: {_last(err)}") from None


def _last(err: BaseException) -> str:
    name = type(err).__name__
    lines = str(err).strip().splitlines()
    last = lines[-1].strip().removeprefix(f"{name}: ") if lines else ""
    return f"{name}: {last}" if last else name
