"""The real images SOURCE is compared with: ``--reference`` a registered dataset and
split (``fashion-mnist``, ``cifar10:train``) or a folder of images; without it, a
ganbench run's own dataset, else Fashion-MNIST.

The scored images are never resized or converted (they are what is measured). The
reference is brought to their size and channels exactly as a ganbench run at that
format sees its data (the dataset's ``fit``: padding when the images are at most 25%
larger, else an antialiased resize; grey repeated to colour, or colour to BT.601 grey),
so a generator trained by ganbench is scored against the images it was trained on. The
protocol records the reference's size, channels and fit."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from ganbench.errors import UserError, first_problem

if TYPE_CHECKING:
    from ganbench.data import DatasetConfig

DEFAULT_REFERENCE = "fashion-mnist"
SPLITS = ("train", "test")


@dataclass(frozen=True)
class ReferenceSpec:
    """``--reference`` as typed: a dataset name and split, or a folder of images."""

    name: str
    split: str | None = None  # None: the metric's own (test, as in training-time evaluation)
    root: Path | None = None

    def __str__(self) -> str:
        if self.root is not None:
            return str(self.root)
        return f"{self.name}:{self.split}" if self.split else self.name


def parse_reference(text: str | None) -> ReferenceSpec | None:
    """``--reference`` without loading anything: NAME, NAME:SPLIT or a folder."""
    if text is None:
        return None
    if Path(text).is_dir():
        return ReferenceSpec("image-folder", "train", Path(text))
    name, _, split = text.partition(":")
    if split and split not in SPLITS:
        raise UserError(f"--reference {text}: split {split!r}: choose {' or '.join(SPLITS)}")
    return ReferenceSpec(name, split or None)


def fitted_reference(spec: ReferenceSpec, shape: tuple[int, ...], source: str) -> DatasetConfig:
    """The dataset config of ``spec`` at the scored images' size and channels."""
    from ganbench.data import DATASETS

    real = [n for n in DATASETS.names() if DATASETS.get(n).kind == "image"]
    real = [n for n in real if n not in ("image-folder", "synthetic")]  # a path; random pixels
    choices = f"choose: {', '.join(real)}, or a folder of images"
    if spec.name not in DATASETS.names():
        raise UserError(f"--reference {spec}: no such dataset or folder ({choices})")
    dataset = DATASETS.get(spec.name)
    if dataset.kind != "image" or (spec.name == "image-folder" and spec.root is None):
        what = "a folder's images: give the folder" if dataset.kind == "image" else "not images"
        raise UserError(f"--reference {spec}: {what} ({choices})")
    if len(shape) != 3 or shape[1] != shape[2]:
        size = "x".join(map(str, shape[1:][::-1])) if len(shape) == 3 else str(shape)
        raise UserError(
            f"{source}: {size} samples; the reference images are square: crop or resize them "
            "to a square first"
        )
    data = {"name": spec.name, "image_size": shape[1], "channels": shape[0]}
    if spec.root is not None:
        data["root"] = str(spec.root)
    try:
        return dataset.Config.model_validate(data)
    except ValidationError as err:
        where, message = first_problem(err)
        raise UserError(
            f"--reference {spec}: {where}: {message} (the scored samples are "
            f"{'x'.join(map(str, shape))})"
        ) from None


def native_format(cfg: DatasetConfig) -> tuple[int | None, int | None]:
    """The channels and side of a dataset's stored images, where all share one."""
    from ganbench.data import DATASETS

    source = DATASETS.get(cfg.name)
    return getattr(source, "native_channels", None), getattr(source, "native_size", None)


def adaptation_note(cfg: DatasetConfig) -> str | None:
    """What bringing the reference to the scored format does, in words (None: nothing)."""
    from ganbench.data.transforms import resolve_fit

    channels, size = native_format(cfg)
    changes = []
    if size is not None and size != cfg.image_size:
        fit = resolve_fit(cfg.fit, size, size, cfg.image_size)
        verb = "padded" if fit == "pad" else "resized"
        changes.append(f"{verb} from {size}x{size} to {cfg.image_size}x{cfg.image_size}")
    wanted = cfg.channels or channels
    if size is not None and wanted != channels:  # a folder's files say their own mode
        changes.append("grey repeated to 3 channels" if wanted == 3 else "converted to grey")
    if not changes:
        return None
    return (
        f"the {cfg.name} reference images are {' and '.join(changes)} to match the scored "
        f"samples, as a run at that format sees them"
    )
