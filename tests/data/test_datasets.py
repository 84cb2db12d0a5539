"""Datasets on real (Fashion-MNIST) and generated data, transforms and the sampler."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganbench.data import DATASETS, EpochSampler
from ganbench.data.images import DEBIAN_FASHION_MNIST
from ganbench.data.toy import mixture_centres
from ganbench.data.transforms import convert_channels, fit_size
from ganbench.errors import UserError

needs_debian_fmnist = pytest.mark.skipif(
    not (DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file(),
    reason="Debian's dataset-fashion-mnist is not installed (this test is about copying "
    "from it; make data installs it when run as root)",
)


def load(name: str, **cfg):
    source = DATASETS.get(name)
    return source.load(source.Config(**cfg))


@needs_debian_fmnist
def test_fashion_mnist_loads_from_the_debian_files_padded_to_32(tmp_path: Path) -> None:
    data = load("fashion-mnist", root=tmp_path, subset=100, subset_seed=3, image_size=32)
    assert data.values.shape == (100, 1, 32, 32) and data.values.dtype == torch.uint8
    assert (tmp_path / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").is_file()
    with gzip.open(DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz") as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    chosen = torch.randperm(60_000, generator=torch.Generator().manual_seed(3))[:100].sort().values
    expected = torch.from_numpy(raw[chosen.numpy()].copy())
    assert torch.equal(data.values[:, 0, 2:30, 2:30], expected)  # centred, untouched pixels
    assert data.values[:, :, :2].sum() == 0 and data.values[:, :, :, 30:].sum() == 0
    test = load("fashion-mnist", root=tmp_path, split="test", subset=10, channels=3)
    assert test.values.shape == (10, 3, 32, 32)


def test_missing_datasets_say_where_they_looked_and_how_to_fix_it(tmp_path: Path) -> None:
    for name, words in (
        ("mnist", ["MNIST/raw", "ganbench data fetch mnist"]),
        ("cifar10", ["cifar-10-batches-py", "put cifar-10-python.tar.gz"]),
    ):
        source = DATASETS.get(name)
        with pytest.raises(UserError) as info:
            source.check(source.Config(root=tmp_path))
        for word in words:
            assert word in str(info.value)
        assert str(tmp_path) in str(info.value)


def test_image_folder_reads_every_image_recursively(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    for i, colour in enumerate(colours):
        folder = tmp_path / ("a/b" if i else "a")
        Image.new("RGB", (40 + 10 * i, 20), colour).save(folder / f"img{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    data = load("image-folder", root=tmp_path, image_size=16)
    assert data.values.shape == (3, 3, 16, 16)
    means = data.values.float().mean(dim=(2, 3))
    in_path_order = [colours[1], colours[2], colours[0]]  # a/b/img1, a/b/img2, a/img0
    assert torch.allclose(means, torch.tensor(in_path_order, dtype=torch.float), atol=1)
    grey = load("image-folder", root=tmp_path, image_size=8, channels=1)
    assert grey.values.shape == (3, 1, 8, 8)
    with pytest.raises(UserError, match="no images found"):
        DATASETS.get("image-folder").check(
            DATASETS.get("image-folder").Config(root=tmp_path / "a" / "none")
        )


@pytest.mark.parametrize("layout, modes", [("ring", 8), ("grid", 25)])
def test_gaussian_mixture_geometry(layout: str, modes: int) -> None:
    source = DATASETS.get("gaussian-mixture")
    cfg = source.Config(layout=layout, num_samples=20_000, std=0.05)
    centres = mixture_centres(cfg)
    assert centres.shape == (modes, 2)
    if layout == "ring":
        assert torch.allclose(centres.norm(dim=1), torch.full((8,), 2.0))
    else:
        assert sorted(set(centres[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    points = source.load(cfg).values
    nearest = torch.cdist(points, centres).min(dim=1)
    assert nearest.values.pow(2).mean().sqrt().item() == pytest.approx(
        0.05 * math.sqrt(2), rel=0.05
    )
    counts = torch.bincount(nearest.indices, minlength=modes).float()
    assert counts.min() > 0.7 * counts.mean()  # equal weights


def test_synthetic_is_seeded_uint8_of_the_asked_shape() -> None:
    a = load("synthetic", num_samples=10, image_size=8, channels=1)
    b = load("synthetic", num_samples=10, image_size=8, channels=1)
    assert a.values.shape == (10, 1, 8, 8) and torch.equal(a.values, b.values)
    batch = a.batch(torch.arange(10), torch.device("cpu"))
    assert batch.min() >= -1 and batch.max() <= 1 and batch.dtype == torch.float32


def test_batches_scale_uint8_to_minus_one_one() -> None:
    source = DATASETS.get("synthetic")
    data = source.load(source.Config(num_samples=2, image_size=4, channels=1))
    data.values[0].fill_(0)
    data.values[1].fill_(255)
    x = data.batch(torch.tensor([0, 1]), torch.device("cpu"))
    assert x[0].unique().tolist() == [-1.0] and x[1].unique().tolist() == [1.0]


def test_transforms() -> None:
    images = torch.arange(2 * 3 * 4 * 4, dtype=torch.uint8).view(2, 3, 4, 4)
    padded = fit_size(images, 6, "pad")
    assert padded.shape == (2, 3, 6, 6) and torch.equal(padded[..., 1:5, 1:5], images)
    resized = fit_size(torch.full((1, 1, 10, 20), 200, dtype=torch.uint8), 8, "resize")
    assert resized.shape == (1, 1, 8, 8) and resized.unique().tolist() == [200]
    assert fit_size(images, 4, "auto") is images
    assert fit_size(torch.zeros(1, 1, 28, 28, dtype=torch.uint8), 32, "auto")[0, 0, 0, 0] == 0
    rgb = torch.tensor([255, 0, 0], dtype=torch.uint8).view(1, 3, 1, 1)
    assert convert_channels(rgb, 1).item() == round(0.299 * 255)
    assert convert_channels(convert_channels(rgb, 1), 3).shape == (1, 3, 1, 1)


def test_sampler_passes_drop_the_remainder_and_resume_exactly() -> None:
    sampler = EpochSampler(10, seed=1)
    first = [sampler.draw(4) for _ in range(2)]  # 8 of 10, then a new pass
    assert torch.unique(torch.cat(first)).numel() == 8 and sampler.epochs_completed == 0
    sampler.draw(4)
    assert sampler.epochs_completed == 1 and sampler.epoch == pytest.approx(1.4)
    assert sampler.images_seen == 12
    state = sampler.state_dict()
    expected = [sampler.draw(3) for _ in range(5)]
    other = EpochSampler(10, seed=99)
    other.load_state_dict(state)
    assert all(
        torch.equal(a, b) for a, b in zip(expected, [other.draw(3) for _ in range(5)], strict=True)
    )
    with pytest.raises(ValueError):
        sampler.draw(11)


def test_data_problems_are_found_before_training(tmp_path: Path) -> None:
    folder = DATASETS.get("image-folder")
    afile = tmp_path / "file.png"
    Image.new("RGB", (8, 8)).save(afile)
    with pytest.raises(UserError, match="is a file, not a folder"):
        folder.check(folder.Config(root=afile))
    for name in ("fashion-mnist", "cifar10"):
        source = DATASETS.get(name)
        with pytest.raises(UserError, match=f"dataset.root: {afile} is a file"):
            source.check(source.Config(root=afile))
    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        Image.new("RGB", (8, 8), (i, 0, 0)).save(images / f"ok{i}.png")
    folder.check(folder.Config(root=images))
    png = (images / "ok0.png").read_bytes()
    (images / "bad.png").write_bytes(png[:20] + b"\0" * 8 + png[28:])  # a damaged chunk
    (images / "text.jpg").write_bytes(b"not an image at all")
    with pytest.raises(UserError) as info:
        folder.check(folder.Config(root=images))
    message = str(info.value)
    assert message.startswith("dataset.root: 2 image(s) cannot be read")
    assert "bad.png" in message and "text.jpg" in message and "ok1.png" not in message


def test_an_empty_image_folder_is_one_problem_found_by_the_dry_run_too(tmp_path) -> None:
    """Not 'batch: size 64 exceeds the 0 examples' once per run: the folder, once."""
    import yaml

    from tests.cli.test_commands import invoke

    (tmp_path / "empty").mkdir()
    suite = {
        "name": "imf",
        "output_dir": str(tmp_path / "out"),
        "defaults": {
            "dataset": {"name": "image-folder", "root": str(tmp_path / "empty"), "image_size": 8},
            "model": {"name": "mlp", "latent_dim": 4, "hidden": 8, "depth": 1},
            "budget": {"iterations": 2},
            "batch": {"size": 64},
            "device": "cpu",
        },
        "runs": [{"name": "a"}, {"name": "b", "seed": 1}],
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    for args, code in ((("--dry-run",), 0), ((), 2)):
        result = invoke("train-suite", str(path), *args)
        assert result.exit_code == code, result.output
        text = " ".join(result.output.split())
        assert text.count(f"dataset.root: no images found under {tmp_path / 'empty'}") == 1, text
        assert "exceeds" not in text
    assert not (tmp_path / "out").exists()
