"""Put a dataset where ganbench looks for it (the only place that may download)."""

from __future__ import annotations

from pathlib import Path

from ganbench.data.base import DATASETS
from ganbench.data.images import DEBIAN_FASHION_MNIST, FashionMNIST, copy_idx, has_idx
from ganbench.errors import UserError


def fetch_dataset(name: str, root: Path) -> str:
    """Prepare ``name`` under ``root``; return a sentence saying what was done."""
    DATASETS.get(name)  # unknown names get the usual message
    if name == "fashion-mnist":
        raw = root / FashionMNIST.folder / "raw"
        if has_idx(raw):
            return f"fashion-mnist already in {raw}"
        if has_idx(DEBIAN_FASHION_MNIST, ".gz"):
            copy_idx(DEBIAN_FASHION_MNIST, raw)
            return f"fashion-mnist copied from {DEBIAN_FASHION_MNIST} to {raw}"
        return _download("FashionMNIST", root)
    if name == "mnist":
        return _download("MNIST", root)
    if name == "cifar10":
        return _download("CIFAR10", root)
    return f"{name} needs no download (it is generated or read from your own folder)"


def _download(cls_name: str, root: Path) -> str:
    import torchvision.datasets as tvd

    try:
        for train in (True, False):
            getattr(tvd, cls_name)(str(root), train=train, download=True)
    except (OSError, RuntimeError) as err:
        raise UserError(
            f"could not download {cls_name} into {root}: {err}. Without network access, "
            "copy the files there by hand (see the README, section Data)"
        ) from None
    return f"{cls_name} downloaded to {root}"
