"""What ``ganbench score SOURCE`` scores: images already made (a folder of image files,
an ``.npz``) or a generator to sample (a ganbench run folder or checkpoint, or any
``--generator`` source of ``ganbench latency``: TorchScript, ``.pt2``, a state dict with
``--model``, ``pkg.module:function``, a pickled module with ``--trust-code``).

A ganbench run comes with its run config, so scoring it defaults to its own evaluation:
dataset, metrics, evaluation noise and batch size."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import ValidationError

from ganbench.config import RunConfig
from ganbench.data.images import IMAGE_SUFFIXES
from ganbench.errors import UserError, first_problem
from ganbench.latency.sources import GeneratorSource, run_checkpoint_state
from ganbench.results import RunStore
from ganbench.results.store import SUITE_FILE, read_suite_meta
from ganbench.score.images import read_folder, read_npz
from ganbench.score.settings import reworded

Kind = Literal["image folder", "npz", "generator", "run"]
# latency's loaders name their own option (``--generator PATH: ...``); here SOURCE is
# the file, named alone.
AS_SOURCE = {"--generator ": "", "--checkpoint ": ""}
WHAT = (
    "SOURCE is a folder of images, an .npz of images, a ganbench run folder or checkpoint, "
    "or a generator (ONNX, TorchScript, .pt2, a state dict with --model, "
    "pkg.module:function)"
)


@dataclass(frozen=True)
class GeneratorOptions:
    """The options that say how to load a generator from a file (``latency --generator``'s)."""

    latent_shape: tuple[int, ...] | None = None
    model: str | None = None
    overrides: Sequence[str] = ()
    trust_code: bool = False

    def given(self) -> list[str]:
        named = [("--latent-shape", self.latent_shape), ("--model", self.model)]
        named += [
            ("--set", list(self.overrides) or None),
            ("--trust-code", self.trust_code or None),
        ]
        return [option for option, value in named if value is not None]


@dataclass
class Source:
    """Images (uint8, N x C x H x W) or a generator, and where they came from."""

    text: str
    kind: Kind
    images: torch.Tensor | None = None
    generator: GeneratorSource | None = None
    run: RunConfig | None = None  # a ganbench run's config (its evaluation settings)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        if self.images is not None:
            return tuple(self.images.shape[1:])
        assert self.generator is not None
        return tuple(self.generator.shape)

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {"source": self.text, "kind": self.kind, **self.details}
        if self.images is not None:
            described["num_images"] = int(self.images.shape[0])
        described["sample_shape"] = list(self.shape)
        if self.generator is not None:
            described["generator"] = self.generator.describe()
        return described


def open_source(text: str, options: GeneratorOptions) -> Source:
    """The images or generator ``text`` names; UserError naming it on every problem."""
    path = Path(text)
    if path.is_dir():
        source = _folder(path, text, options)
    elif path.is_file() and path.suffix.lower() == ".npz":
        images, details = read_npz(path)
        source = Source(text, "npz", images=images, details=details)
    elif path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
        raise UserError(f"{text}: one image; give the folder that holds the images to score")
    elif path.is_file() and run_checkpoint_state(path) is not None:
        return _run(path, text, options)
    elif path.is_file() or _is_function(text):
        return _generator(text, options)
    else:
        raise UserError(f"{text}: no such file or folder ({WHAT})")
    if source.images is not None and options.given():
        raise UserError(
            f"{', '.join(options.given())}: options for a generator, but {text} is an {source.kind}"
            " (leave them out)"
        )
    return source


def _is_function(text: str) -> bool:
    return ":" in text and not text.startswith(("/", ".")) and not Path(text).exists()


def _folder(path: Path, text: str, options: GeneratorOptions) -> Source:
    """A run folder (its checkpoint), a suite folder (refused: which run?) or images."""
    store = RunStore(path)
    if store.checkpoint.is_file():
        return _run(store.checkpoint, text, options)
    if store.config.is_file():
        raise UserError(
            f"{text}: a run folder without a checkpoint.pt (the run has not saved one yet): "
            "train it further, or score another run"
        )
    if (path / SUITE_FILE).is_file():
        runs = [str(r) for r in read_suite_meta(path).get("runs", [])]
        listed = ", ".join(runs[:5]) + (" ..." if len(runs) > 5 else "")
        raise UserError(f"{text}: a suite folder; score one of its runs: {text}/RUN ({listed})")
    images, details = read_folder(path)
    return Source(text, "image folder", images=images, details=details)


def _run(checkpoint: Path, text: str, options: GeneratorOptions) -> Source:
    """A ganbench run's generator and its run config (which fixes noise and shape)."""
    from ganbench.latency.sources import generator_from_checkpoint

    if options.latent_shape is not None or options.trust_code or options.overrides:
        raise UserError(
            f"{text}: a ganbench run, whose checkpoint fixes its generator (leave out "
            f"{', '.join(o for o in options.given() if o != '--model')})"
        )
    with reworded(AS_SOURCE):  # its own words for a damaged or foreign file
        generator = generator_from_checkpoint(checkpoint, options.model)
    state = run_checkpoint_state(checkpoint)
    if state is None:
        raise UserError(f"{checkpoint}: not a ganbench run checkpoint")
    try:
        run = RunConfig.model_validate(state["config"])
    except ValidationError as err:
        where, message = first_problem(err)
        raise UserError(
            f"{checkpoint}: its run config does not validate in this ganbench ({where}: {message})"
        ) from None
    details = {"run_id": run.id}
    return Source(text, "run", generator=generator, run=run, details=details)


def _generator(text: str, options: GeneratorOptions) -> Source:
    from ganbench.latency.files import generator_from_source

    with reworded(AS_SOURCE):
        generator = generator_from_source(
            text,
            latent_shape=options.latent_shape,
            model=options.model,
            overrides=options.overrides,
            trust_code=options.trust_code,
        )
    return Source(text, "generator", generator=generator)
