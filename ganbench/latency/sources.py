"""Where a generator to time or sample comes from: a run's checkpoint, a suite's run, or
a fresh model of a registered family. Every problem is a UserError naming the option."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import TypeAdapter, ValidationError
from torch import nn

from ganbench.config import (
    DatasetUnion,
    ModelUnion,
    SuiteFile,
    choose_run,
    expand_runs,
    load_suite,
    parse_overrides,
)
from ganbench.data import DATASETS
from ganbench.errors import UserError, first_problem
from ganbench.models import MODELS, ModelConfig
from ganbench.results import RunStore
from ganbench.results.folders import newest_suite_folder

# A fresh model (--model) is built for this data shape unless --set dataset.* says otherwise:
# the thesis' CIFAR-10 images.
FRESH_DATASET = {"name": "synthetic", "image_size": 32, "channels": 3}


@dataclass
class GeneratorSource:
    """A generator and where it came from."""

    generator: nn.Module
    model: ModelConfig
    shape: tuple[int, ...]
    origin: str  # "checkpoint", "fresh", or a --generator source's kind
    checkpoint: Path | None = None
    run_id: str | None = None
    iteration: int | None = None
    file: dict[str, Any] | None = None  # --generator: source, kind, runtime, sha256
    label: str | None = None  # its name in a table comparing several generators

    @property
    def name(self) -> str:
        return self.label or self.model.name

    @property
    def weights(self) -> str:
        if self.origin == "fresh":  # why that is fine is said once, below the table
            return "random"
        if self.file is not None:
            return f"as loaded from {self.file['source']} ({self.file['kind']})"
        return f"trained ({self.run_id}, iteration {self.iteration})"

    def describe(self) -> dict[str, Any]:
        return {
            "label": self.name,
            "origin": self.origin,
            "file": self.file,
            "checkpoint": str(self.checkpoint) if self.checkpoint else None,
            "run_id": self.run_id,
            "iteration": self.iteration,
            "weights": self.weights,
            "model": self.model.model_dump(mode="json"),
            "sample_shape": list(self.shape),
            "parameters": _parameters(self.generator),
        }


def choose_generator(
    checkpoint: Path | None = None,
    suite: Path | None = None,
    run: str | None = None,
    model: str | None = None,
    overrides: Sequence[str] = (),
) -> GeneratorSource:
    """The generator named by exactly one of --checkpoint, --suite/--run, --model."""
    if suite is not None or run is not None:
        if suite is None or run is None:
            raise UserError("--suite and --run go together: the suite file and the run's name")
        if checkpoint is not None:
            raise UserError("--checkpoint or --suite/--run: choose one generator")
        # Suite fields (output_dir: where its runs are) apply; a run's model is fixed.
        suite_sets = [o for o in overrides if "." not in o.split("=", 1)[0]]
        checkpoint = run_checkpoint(suite, run, suite_sets)
        overrides = [o for o in overrides if o not in suite_sets]
    if checkpoint is not None:
        if overrides:
            raise UserError(
                "--set changes the model, but a checkpoint's model is fixed: "
                "drop --set, or time a fresh model with --model NAME --set ..."
            )
        return generator_from_checkpoint(checkpoint, model)
    if model is None:
        raise UserError(
            "choose a generator: --checkpoint PATH, --suite FILE --run NAME, or --model NAME "
            f"(a fresh model; choose: {', '.join(MODELS.names())})"
        )
    return fresh_generator(model, overrides)


def default_generator(reports: Path | None = None) -> tuple[GeneratorSource, str]:
    """What ``ganbench latency`` times when no generator is named, and why: the latest
    checkpoint of the newest suite folder's baseline run, else the thesis SAGAN fresh."""
    folder = newest_suite_folder(reports)
    if folder is not None and folder.baseline:
        for run_id in folder.runs:
            store = folder.run_store(run_id)
            if run_id.startswith(f"{folder.baseline}-") and store.checkpoint.is_file():
                why = (
                    f"{store.checkpoint}: the baseline run of {folder.path}, the suite "
                    "folder written last (name another with --checkpoint, --suite/--run "
                    "or --model)"
                )
                return generator_from_checkpoint(store.checkpoint), why
    where = (
        "no suite folder written yet"
        if folder is None
        else (f"no baseline-run checkpoint in {folder.path}")
    )
    why = (
        f"the thesis SAGAN (Table 3.1), freshly initialised: {where} (name one with "
        "--checkpoint, --suite/--run or --model)"
    )
    return fresh_generator("sagan"), why


def run_checkpoint(suite_path: Path, pattern: str, overrides: Sequence[str] = ()) -> Path:
    """The latest checkpoint of the first run of the suite matching ``pattern``
    (``overrides``: suite fields such as ``output_dir=...``)."""
    suite = load_suite(suite_path, overrides)
    chosen = choose_run(suite, pattern)
    path = RunStore(suite.output_dir / chosen.id).checkpoint
    if not path.is_file():
        raise UserError(
            f"{path}: run {chosen.id} has no checkpoint yet (train it first: "
            f"ganbench train-suite {suite.source} --only {chosen.name})"
        )
    return path


def archive_kind(path: Path) -> str | None:
    """What a PyTorch zip archive other than ``torch.save``'s is: a TorchScript archive
    (``code/`` and ``constants.pkl``), a torch.export program (``archive_format``); None
    for a ``torch.save`` file. Read from the archive's names: nothing is unpickled."""
    with zipfile.ZipFile(path) as archive:
        names = {name.split("/", 1)[-1] for name in archive.namelist()}
    if "archive_format" in names:
        return "a torch.export program (.pt2)"
    if "constants.pkl" in names and any(n.startswith("code/") for n in names):
        return "a TorchScript archive"
    return None


def run_checkpoint_state(path: Path) -> dict[str, Any] | None:
    """A ganbench run checkpoint's contents, memory-mapped rather than read (None for any
    other file: a state dict, a pickled module, a TorchScript or .pt2 archive ...)."""
    if not path.is_file() or not zipfile.is_zipfile(path) or archive_kind(path) is not None:
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001  (a pickled module, a foreign file: not a run's)
        return None
    return state if isinstance(state, dict) and {"config", "G"} <= state.keys() else None


def generator_from_checkpoint(path: Path, expect_model: str | None = None) -> GeneratorSource:
    """Rebuild a run's generator from its ``checkpoint.pt`` (tensors only are unpickled)."""
    state = _run_checkpoint_state(path)
    model, dataset = _checkpoint_configs(path, state["config"])
    if expect_model is not None and expect_model != model.name:
        raise UserError(
            f"--checkpoint {path} holds a {model.name} generator, not {expect_model} "
            "(drop --model, or choose a checkpoint of that model)"
        )
    shape = DATASETS.get(dataset.name).sample_shape(dataset)
    try:
        G, _ = MODELS.get(model.name).build(model, shape)
    except ValueError as err:  # the user's networks (model: python) cannot be built here
        raise UserError(
            f"--checkpoint {path}: {err} (run this from the folder the run trained from, or "
            "make the module importable: PYTHONPATH, an installed package)"
        ) from None
    try:
        G.load_state_dict(state["G"])
    except RuntimeError as err:
        detail = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else err
        raise UserError(
            f"--checkpoint {path}: its generator weights do not fit the {model.name} its config "
            f"describes ({detail})"
        ) from None
    return GeneratorSource(
        generator=G,
        model=model,
        shape=tuple(shape),
        origin="checkpoint",
        checkpoint=path,
        run_id=state.get("run_id"),
        iteration=state.get("train", {}).get("iteration"),
    )


def _run_checkpoint_state(path: Path) -> dict[str, Any]:
    """A run checkpoint's contents (tensors and plain values only), or UserError saying
    what the file is instead."""
    if not path.is_file():
        raise UserError(f"--checkpoint {path}: file not found")
    hint = "a run's is reports/<suite>/<run>/checkpoint.pt"
    if not zipfile.is_zipfile(path):  # what torch.save writes
        raise UserError(f"--checkpoint {path}: not a checkpoint (not a PyTorch file; {hint})")
    kind = archive_kind(path)
    if kind is not None:
        raise UserError(
            f"--checkpoint {path}: {kind}, not a ganbench run checkpoint (time it with "
            f"--generator {path}); {hint}"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several kinds for foreign files
        raise UserError(
            f"--checkpoint {path}: not a ganbench checkpoint: it holds objects other than "
            f"tensors and plain values ({type(err).__name__}), which ganbench does not "
            f"unpickle (that could run code from the file); {hint}"
        ) from None
    if not isinstance(state, dict) or not {"config", "G"} <= state.keys():
        raise UserError(
            f"--checkpoint {path}: not a ganbench run checkpoint (no generator weights and run "
            f"config in it; {hint})"
        )
    return state


def _checkpoint_configs(path: Path, config: dict[str, Any]) -> tuple[ModelConfig, Any]:
    """The model and dataset sections of a checkpoint's run config, validated here."""
    try:
        model = TypeAdapter(ModelUnion).validate_python(config.get("model"))
        dataset = TypeAdapter(DatasetUnion).validate_python(config.get("dataset"))
    except ValidationError as err:
        where, message = first_problem(err)
        raise UserError(
            f"--checkpoint {path}: its {where or err.title.lower()} config does not validate "
            f"in this ganbench: {message}"
        ) from None
    return model, dataset


def fresh_generator(model: str, overrides: Sequence[str] = ()) -> GeneratorSource:
    """A freshly initialised generator (seed 0) of ``model`` with ``--set model.*`` and
    ``--set dataset.*`` (its data shape; default 3x32x32) applied and validated."""
    pairs = parse_overrides(overrides)
    for path, _ in pairs:
        if path.split(".")[0] not in ("model", "dataset"):
            raise UserError(
                f"--set {path}: a fresh generator takes model.* and dataset.* (its data shape) "
                "only, e.g. --set model.width=2 --set dataset.image_size=64"
            )
    defaults = {
        "dataset": FRESH_DATASET,
        "model": {"name": model},
        "batch": {"size": 1},
        "budget": {"iterations": 1},
    }
    (run,) = expand_runs(SuiteFile(name="latency", defaults=defaults), pairs, source="--model")
    shape = DATASETS.get(run.dataset.name).sample_shape(run.dataset)
    with torch.random.fork_rng(devices=[]):  # seed 0 here, the caller's stream untouched
        torch.manual_seed(0)
        G, _ = MODELS.get(run.model.name).build(run.model, shape)
    return GeneratorSource(generator=G, model=run.model, shape=tuple(shape), origin="fresh")


def _parameters(G: nn.Module) -> int | None:
    """G's parameter count; an ONNX session's from its file (None where unknown)."""
    count = getattr(G, "parameter_count", None)
    return count() if callable(count) else sum(p.numel() for p in G.parameters())
