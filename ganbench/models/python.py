"""The user's own networks: ``model: {name: python, generator: {_target_: ...}, ...}``.

Each of ``generator`` and ``discriminator`` names a class (or any callable returning an
``nn.Module``) by its import path in Hydra's ``_target_`` convention; the mapping's other
keys are its keyword arguments. Modules are imported from the working directory, the
import path (PYTHONPATH, installed packages) and ``model.path`` (a folder, relative to
the working directory). ``latent_shape`` is one example's noise (``[128]``, or
``[100, 1, 1]`` for DCGAN-style 4-D noise).

``check`` imports both, builds them once (on PyTorch's ``meta`` device where the code
allows, else on the CPU) and runs a batch of 2 through them: G must give the dataset's
example shape and D one value per example (``(n,)`` or ``(n, 1)``; the latter is
flattened by a forward hook, so strategies see ``(n,)``). Every problem is a ValueError
naming the field, never a traceback.
"""

from __future__ import annotations

import functools
import importlib
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field, PositiveInt, field_validator, model_validator
from torch import nn

from ganbench.models.base import MODELS, ModelConfig, ModelFamily

TARGET = "_target_"
PROBE_BATCH = 2
META_FAILED = "meta"  # the meta device could not build or run them: the CPU decides


class PythonModelConfig(ModelConfig):
    name: Literal["python"] = "python"
    generator: dict[str, Any] = Field(
        ..., description="_target_: pkg.module.Class (or a function), plus its keyword arguments"
    )
    discriminator: dict[str, Any] = Field(
        ..., description="_target_: pkg.module.Class (or a function), plus its keyword arguments"
    )
    latent_shape: list[PositiveInt] = Field(
        default_factory=lambda: [128],
        min_length=1,
        description="one example's noise shape: [128], or [100, 1, 1] for 4-D noise",
    )
    path: str | None = Field(
        None, description="a folder to import the modules from (relative to the working folder)"
    )

    @field_validator("generator", "discriminator")
    @classmethod
    def _has_target(cls, value: dict[str, Any]) -> dict[str, Any]:
        target = value.get(TARGET)
        if not isinstance(target, str) or "." not in target.strip("."):
            raise ValueError(
                f"{TARGET}: expected the import path of a class or function, "
                f"e.g. mypackage.models.Generator (got {target!r})"
            )
        return value

    @model_validator(mode="after")
    def _latent_dim_is_the_noise_size(self) -> PythonModelConfig:
        object.__setattr__(self, "latent_dim", math.prod(self.latent_shape))
        return self

    def noise_shape(self) -> tuple[int, ...]:
        return tuple(self.latent_shape)


@MODELS.register("python")
class PythonModel(ModelFamily):
    Config = PythonModelConfig

    @classmethod
    def check(cls, cfg: PythonModelConfig, shape: tuple[int, ...]) -> None:
        problem = _checked(_key(cfg), tuple(shape))
        if problem:
            raise ValueError(problem)

    @classmethod
    def build(cls, cfg: PythonModelConfig, shape: tuple[int, ...]) -> tuple[nn.Module, nn.Module]:
        G = instantiate(cfg, "generator")
        D = instantiate(cfg, "discriminator")
        D.register_forward_hook(_one_value_per_example)
        return G, D


def _key(cfg: PythonModelConfig) -> str:
    return json.dumps(cfg.model_dump(mode="json"), sort_keys=True)


@functools.lru_cache(maxsize=64)
def _checked(key: str, shape: tuple[int, ...]) -> str | None:
    """The first problem with the networks a config names, or None (each config and data
    shape is checked once per process)."""
    cfg = PythonModelConfig.model_validate(json.loads(key))
    problems = []
    for role in ("generator", "discriminator"):
        try:
            resolve(cfg, role)
        except ValueError as err:
            problems.append(str(err))
    if problems:
        return "; ".join(problems)
    problem = _probe(cfg, shape, "meta")
    return _probe(cfg, shape, "cpu") if problem == META_FAILED else problem


def _probe(cfg: PythonModelConfig, shape: tuple[int, ...], device: str) -> str | None:
    """Build both networks on ``device`` and run a batch through them; the problem."""
    where = "on the meta device" if device == "meta" else "on the CPU"
    try:
        with torch.device(device):
            G, D = (instantiate(cfg, role) for role in ("generator", "discriminator"))
    except ValueError as err:  # the constructor raised: on meta, maybe only there
        return META_FAILED if device == "meta" else str(err)
    for role, net in (("generator", G), ("discriminator", D)):
        if not any(True for _ in net.parameters()):
            return f"model.{role}: {cfg_target(cfg, role)} holds no parameters to train"
    n = PROBE_BATCH
    try:
        with torch.no_grad():
            fake = G(torch.randn(n, *cfg.noise_shape(), device=device))
            if tuple(fake.shape) != (n, *shape):
                return (
                    f"model.generator: {cfg_target(cfg, 'generator')} gives "
                    f"{tuple(fake.shape)} for a batch of {n} ({where}); the dataset's "
                    f"examples are {tuple(shape)}, so it should give {(n, *shape)}"
                )
            scores = D(fake)
    except Exception as err:  # noqa: BLE001  (reported; the CPU decides on a meta failure)
        if device == "meta":
            return META_FAILED
        return f"model: a batch of {n} through the networks ({where}) failed: {_last_line(err)}"
    if tuple(scores.shape) not in ((n,), (n, 1)):
        return (
            f"model.discriminator: {cfg_target(cfg, 'discriminator')} gives "
            f"{tuple(scores.shape)} for a batch of {n}; expected one value per example: "
            f"({n},) or ({n}, 1)"
        )
    return None


def cfg_target(cfg: PythonModelConfig, role: str) -> str:
    return getattr(cfg, role)[TARGET]


def resolve(cfg: PythonModelConfig, role: str) -> Callable[..., Any]:
    """What the ``role`` network's ``_target_`` names (ValueError naming the field)."""
    return _resolve(cfg_target(cfg, role), f"model.{role}.{TARGET}", cfg.path)


def instantiate(cfg: PythonModelConfig, role: str) -> nn.Module:
    """The ``role`` network: its ``_target_`` called with the mapping's other keys.
    ValueError naming the field on an import error, a missing name or a constructor that
    raises."""
    spec = dict(getattr(cfg, role))
    target = spec.pop(TARGET)
    factory = resolve(cfg, role)
    try:
        net = factory(**spec)
    except Exception as err:
        raise ValueError(f"model.{role}: {target}(...) raised {_last_line(err)}") from None
    if not isinstance(net, nn.Module):
        kind = type(net).__name__
        raise ValueError(f"model.{role}: {target}(...) returned a {kind}, not an nn.Module")
    return net


def _resolve(target: str, field: str, path: str | None) -> Callable[..., Any]:
    _import_path(path)
    module_name, _, attr = target.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # noqa: BLE001  (any error the user's module raises on import)
        why = _last_line(err)
        raise ValueError(f"{field} {target}: cannot import {module_name}: {why}") from None
    factory = getattr(module, attr, None)
    if factory is None:
        raise ValueError(f"{field} {target}: {module_name} has no attribute {attr!r}")
    if not callable(factory):
        raise ValueError(f"{field} {target}: {module_name}.{attr} is not a class or function")
    return factory


def _import_path(path: str | None) -> None:
    """Modules come from the working folder and ``model.path`` too (a console script's
    sys.path starts with its own folder, not the working one)."""
    folders = [os.getcwd()]
    if path:
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise ValueError(f"model.path: {path}: no such folder (relative to {os.getcwd()})")
        folders.append(str(folder.resolve()))
    for folder in folders:
        if folder not in sys.path:
            sys.path.insert(0, folder)


def _last_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[-1]}" if text else type(err).__name__


def _one_value_per_example(module: nn.Module, args: Any, out: torch.Tensor) -> torch.Tensor:
    """D's scores as ``(n,)`` whether the user's module gives ``(n,)`` or ``(n, 1)``."""
    return out.reshape(out.shape[0])
