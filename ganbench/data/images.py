"""Image datasets: Fashion-MNIST, MNIST, CIFAR-10 (torchvision formats) and a folder of images."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path
from typing import ClassVar, Literal

import torch
from pydantic import Field

from ganbench.data.base import DATASETS, Data, DatasetConfig, DataSource, choose_subset
from ganbench.data.transforms import Fit, convert_channels, fit_size
from ganbench.errors import UserError
from ganbench.home import data_root as default_data_root

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


class ImageDatasetConfig(DatasetConfig):
    root: Path | None = Field(
        None, description="data folder (null: $GANBENCH_DATA, else data/ in ganbench's home)"
    )
    split: Literal["train", "test"] = "train"
    image_size: int = Field(32, ge=4, le=1024, description="side of the square model input, px")
    channels: Literal[1, 3] | None = Field(None, description="null: the dataset's own")
    fit: Fit = Field("auto", description="pad, resize, or auto (pad when at most 25% smaller)")

    def data_root(self) -> Path:
        return self.root if self.root is not None else default_data_root()


def check_folder(path: Path, field: str = "dataset.root") -> None:
    """UserError when ``path`` exists but cannot hold data: a file, or a folder this
    process cannot list (a missing one is the caller's to report)."""
    if path.exists() and not path.is_dir():
        raise UserError(f"{field}: {path} is a file, not a folder; give the data folder")
    if path.is_dir() and not os.access(path, os.R_OK | os.X_OK):
        raise UserError(f"{field}: {path} cannot be read by this user; fix its permissions")


class ImageSource(DataSource):
    """Common path: load native uint8 images, take the subset, fix channels and size."""

    native_channels: int = 1
    native_size: int | None = None  # side of the stored images, when all share one
    split_sizes: dict[str, int] = {}

    @classmethod
    def num_examples(cls, cfg: ImageDatasetConfig) -> int | None:
        n = cls.split_sizes.get(cfg.split)
        return n if n is None or cfg.subset is None else min(n, cfg.subset)

    @classmethod
    def sample_shape(cls, cfg: ImageDatasetConfig) -> tuple[int, ...]:
        return (cfg.channels or cls.native_channels, cfg.image_size, cfg.image_size)

    @classmethod
    def load(cls, cfg: ImageDatasetConfig) -> Data:
        cls.check(cfg)
        images, labels = cls.load_native(cfg)  # (N, C, H, W) uint8, (N,) int64
        keep = choose_subset(images.shape[0], cfg)
        if keep is not None:
            images = images.index_select(0, keep)
            labels = labels.index_select(0, keep)
        images = convert_channels(images, cfg.channels or cls.native_channels)
        return Data(fit_size(images, cfg.image_size, cfg.fit).contiguous(), "image", labels)

    @classmethod
    def load_native(cls, cfg: ImageDatasetConfig) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


class IDXSource(ImageSource):
    """28x28 grey digits or clothes in IDX files, torchvision layout <root>/<folder>/raw."""

    folder: ClassVar[str]
    fallback: ClassVar[Path | None] = None  # a local folder of .gz IDX files to copy from
    fix: ClassVar[str]
    split_sizes = {"train": 60_000, "test": 10_000}
    labelled = True
    native_size = 28

    @classmethod
    def raw_dir(cls, cfg: ImageDatasetConfig) -> Path:
        return cfg.data_root() / cls.folder / "raw"

    @classmethod
    def check(cls, cfg: ImageDatasetConfig) -> None:
        check_folder(cfg.data_root())
        if has_idx(cls.raw_dir(cfg)) or (cls.fallback and has_idx(cls.fallback, ".gz")):
            return
        places = " and ".join(str(p) for p in (cls.raw_dir(cfg), cls.fallback) if p)
        raise UserError(
            f"dataset.name: {cfg.name} not found: looked in {places} for "
            f"{', '.join(IDX_FILES)}. Fix: {cls.fix}"
        )

    @classmethod
    def load_native(cls, cfg: ImageDatasetConfig) -> tuple[torch.Tensor, torch.Tensor]:
        import torchvision.datasets

        if not has_idx(cls.raw_dir(cfg)) and cls.fallback is not None:
            copy_idx(cls.fallback, cls.raw_dir(cfg))
        dataset_cls = getattr(torchvision.datasets, cls.folder)
        ds = dataset_cls(str(cfg.data_root()), train=cfg.split == "train", download=False)
        return ds.data.unsqueeze(1), ds.targets.long()


class FashionMNISTConfig(ImageDatasetConfig):
    name: Literal["fashion-mnist"] = "fashion-mnist"


@DATASETS.register("fashion-mnist")
class FashionMNIST(IDXSource):
    """Zalando's Fashion-MNIST; offline from Debian's dataset-fashion-mnist."""

    Config = FashionMNISTConfig
    folder = "FashionMNIST"
    fallback = DEBIAN_FASHION_MNIST
    fix = (
        "`make data`, or `apt-get install dataset-fashion-mnist`, or "
        "`ganbench data fetch fashion-mnist` (downloads)"
    )


class MNISTConfig(ImageDatasetConfig):
    name: Literal["mnist"] = "mnist"


@DATASETS.register("mnist")
class MNIST(IDXSource):
    """LeCun's handwritten digits."""

    Config = MNISTConfig
    folder = "MNIST"
    fix = "`ganbench data fetch mnist` where the network is reachable, or copy the files there"


class CIFAR10Config(ImageDatasetConfig):
    name: Literal["cifar10"] = "cifar10"


CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


@DATASETS.register("cifar10")
class CIFAR10(ImageSource):
    """CIFAR-10, 32x32 colour, torchvision layout (<root>/cifar-10-batches-py)."""

    Config = CIFAR10Config
    native_channels = 3
    split_sizes = {"train": 50_000, "test": 10_000}
    labelled = True
    native_size = 32

    @classmethod
    def check(cls, cfg: ImageDatasetConfig) -> None:
        root = cfg.data_root()
        check_folder(root)
        if (root / "cifar-10-batches-py").is_dir() or (root / CIFAR10_ARCHIVE).is_file():
            return
        raise UserError(
            f"dataset.name: cifar10 not found: looked for {root / 'cifar-10-batches-py'} and "
            f"{root / CIFAR10_ARCHIVE}. Fix: put {CIFAR10_ARCHIVE} ({CIFAR10_URL}, 163 MiB) "
            f"in {root}, or run `ganbench data fetch cifar10` where the network is reachable; "
            "or train on Fashion-MNIST instead: --set dataset.name=fashion-mnist"
        )

    @classmethod
    def load_native(cls, cfg: ImageDatasetConfig) -> tuple[torch.Tensor, torch.Tensor]:
        from torchvision.datasets import CIFAR10 as TV

        root = cfg.data_root()
        # With the archive present, torchvision verifies and extracts it without downloading.
        extract = not (root / "cifar-10-batches-py").is_dir()
        ds = TV(str(root), train=cfg.split == "train", download=extract)
        images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
        return images, torch.tensor(ds.targets, dtype=torch.long)


def unreadable_images(files: list[Path]) -> list[tuple[Path, str]]:
    """Files whose header (and, where the format has them, chunk checksums) does not
    read as an image: cheap, nothing is decoded."""
    from PIL import Image, UnidentifiedImageError

    bad = []
    for path in files:
        try:
            with Image.open(path) as img:
                img.verify()
        except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as err:
            bad.append((path, type(err).__name__))
    return bad


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff"}


class ImageFolderConfig(ImageDatasetConfig):
    name: Literal["image-folder"] = "image-folder"
    root: Path = Field(..., description="folder searched recursively for images")
    split: Literal["train"] = "train"
    channels: Literal[1, 3] | None = 3
    fit: Fit = "resize"


@DATASETS.register("image-folder")
class ImageFolder(ImageSource):
    """The user's own images: every image file under ``root``, recursively."""

    Config = ImageFolderConfig
    native_channels = 3

    @classmethod
    def files(cls, cfg: ImageFolderConfig) -> list[Path]:
        if not cfg.root.is_dir():
            return []
        found = (p for p in cfg.root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        return sorted(found)

    @classmethod
    def cache_identity(cls, cfg: ImageFolderConfig) -> dict[str, str]:
        """Two folders of images are two datasets: the folder keys the metric caches."""
        return {"root": str(cfg.root.resolve())}

    @classmethod
    def num_examples(cls, cfg: ImageFolderConfig) -> int | None:
        """None for a folder without images: ``check`` says so, once, with the fix."""
        n = len(cls.files(cfg))
        if not n:
            return None
        return n if cfg.subset is None else min(n, cfg.subset)

    @classmethod
    def check(cls, cfg: ImageFolderConfig) -> None:
        check_folder(cfg.root)
        files = cls.files(cfg)
        if not files:
            raise UserError(
                f"dataset.root: no images found under {cfg.root} "
                f"(looked for {', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        keep = choose_subset(len(files), cfg)
        bad = unreadable_images(files if keep is None else [files[i] for i in keep.tolist()])
        if bad:
            listed = ", ".join(f"{path} ({why})" for path, why in bad[:5])
            more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
            raise UserError(
                f"dataset.root: {len(bad)} image(s) cannot be read: {listed}{more}. Remove or "
                "replace them"
            )

    @classmethod
    def load(cls, cfg: ImageFolderConfig) -> Data:
        from PIL import Image

        files = cls.files(cfg)
        keep = choose_subset(len(files), cfg)
        if keep is not None:
            files = [files[i] for i in keep.tolist()]
        mode = "L" if cfg.channels == 1 else "RGB"
        images = []
        for path in files:
            with Image.open(path) as img:
                pixels = torch.frombuffer(bytearray(img.convert(mode).tobytes()), dtype=torch.uint8)
                w, h = img.size
            one = pixels.view(h, w, -1).permute(2, 0, 1).unsqueeze(0)
            images.append(fit_size(one, cfg.image_size, cfg.fit))
        return Data(torch.cat(images).contiguous(), "image")


def has_idx(folder: Path, suffix: str = "") -> bool:
    return all((folder / f"{name}{suffix}").is_file() for name in IDX_FILES)


def copy_idx(source: Path, raw_dir: Path) -> None:
    """Decompress the four .gz IDX files from ``source`` into torchvision's raw folder."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    for name in IDX_FILES:
        target = raw_dir / name
        partial = target.with_suffix(".partial")
        with gzip.open(source / f"{name}.gz", "rb") as src, open(partial, "wb") as dst:
            shutil.copyfileobj(src, dst)
        partial.replace(target)
