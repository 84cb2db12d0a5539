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

ONNX files are named as such and refused (ONNX Runtime is not a dependency yet). The
noise each call gets is ``--latent-shape`` (default 128); a file that says nothing about
it cannot be asked. Every source records its kind, the file's SHA-256 and the runtime.
"""

from __future__ import annotations

import hashlib
import importlib
import math
import os
import sys
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from pydantic import Field, PositiveInt
from torch import nn

from ganbench.errors import UserError
from ganbench.latency.measure import evaluating
from ganbench.latency.sources import GeneratorSource, archive_kind, fresh_generator
from ganbench.models.base import ModelConfig

OPTION = "--generator"


class FileModelConfig(ModelConfig):
    """What ganbench knows of a generator from a file: its kind and its noise's shape."""

    latent_shape: list[PositiveInt] = Field(default_factory=lambda: [128], min_length=1)

    def noise_shape(self) -> tuple[int, ...]:
        return tuple(self.latent_shape)


def generator_option(
    source: str,
    latent_shape: str,
    model: str | None,
    overrides: Sequence[str],
    trust_code: bool,
    others: Sequence[Any],
) -> GeneratorSource:
    """``--generator`` as typed, with the options that go with it."""
    if any(other is not None for other in others):
        raise UserError(f"{OPTION} or --checkpoint / --suite --run: choose one generator")
    parts = [p.strip() for p in latent_shape.split(",") if p.strip()]
    if not parts or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise UserError(f"--latent-shape {latent_shape}: positive integers, e.g. 512 or 100,1,1")
    shape = tuple(int(p) for p in parts)
    return generator_from_source(source, shape, model, overrides, trust_code)


def generator_from_source(
    source: str,
    latent_shape: Sequence[int] = (128,),
    model: str | None = None,
    overrides: Sequence[str] = (),
    trust_code: bool = False,
) -> GeneratorSource:
    """The generator ``source`` names (see the module docstring); UserError naming the
    option and the file on every problem."""
    path = Path(source)
    if not path.is_file() and ":" in source and not source.startswith(("/", ".")):
        G, kind, runtime = _from_function(source), "function", "eager"
    else:
        G, kind, runtime = _from_file(path, model, overrides, trust_code)
    G = evaluating(G)
    shape = _sample_shape(G, tuple(latent_shape), source)
    cfg = FileModelConfig(name=kind, latent_shape=list(latent_shape))
    cfg = cfg.model_copy(update={"latent_dim": math.prod(latent_shape)})
    return GeneratorSource(
        generator=G,
        model=cfg,
        shape=shape,
        origin=kind,
        checkpoint=path if path.is_file() else None,
        file={
            "source": source,
            "kind": kind,
            "runtime": runtime,
            "sha256": _sha256(path) if path.is_file() else None,
        },
    )


def _from_file(
    path: Path, model: str | None, overrides: Sequence[str], trust_code: bool
) -> tuple[nn.Module, str, str]:
    if not path.is_file():
        raise UserError(
            f"{OPTION} {path}: no such file (or give pkg.module:function for a function that "
            "returns the generator)"
        )
    if path.suffix.lower() == ".onnx":
        raise UserError(
            f"{OPTION} {path}: an ONNX model; timing ONNX files is not supported yet (time the "
            "PyTorch module it was exported from, or its TorchScript or .pt2 export)"
        )
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
    return _from_pickle(path, model, overrides, trust_code)


def _from_pickle(
    path: Path, model: str | None, overrides: Sequence[str], trust_code: bool
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
    if model is None:
        raise UserError(
            f"{OPTION} {path}: a state dict; name its architecture with --model NAME "
            "(and --set model.* for its fields)"
        )
    G = fresh_generator(model, overrides).generator
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
    try:
        with torch.inference_mode():
            out = G(torch.randn(1, *latent))
    except Exception as err:  # noqa: BLE001  (the wrong noise shape, most often)
        raise UserError(
            f"{OPTION} {source}: a call on noise of shape (1, {', '.join(map(str, latent))}) "
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


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _last(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[-1]}" if lines else type(err).__name__
