"""`ganbench score`: images written from a generator score exactly as the same samples
did in memory (training-time evaluation), from PNGs, from an .npz, from the generator's
own file and from a run folder; KID shares the Inception pass; bad input is one line
and exit code 2.

The Inception network is replaced by a small fixed one with 16-d features (``cheap
inception``): everything else (the scorers, reference statistics and their cache,
statistics, the CLI) is ganbench's own, and identical pixels give identical features
whatever the network, so the equalities below hold for the real one too. The real
network's pass is covered by the FID test in test_metrics.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from PIL import Image
from torch import nn
from typer.testing import CliRunner

from ganbench.cli import app
from ganbench.data import DATASETS
from ganbench.metrics import inception
from ganbench.metrics.evaluate import Evaluator
from ganbench.metrics.inception import FIDConfig, ISConfig, KIDConfig
from ganbench.score.images import read_folder, read_npz
from tests.conftest import needs_fmnist

CPU = torch.device("cpu")
DIMS = 16  # the stand-in network's feature size (Inception's is 2048)
LATENT = 8
N = 20  # samples scored
runner = CliRunner()


class TinyInception(nn.Module):
    """Inception's interface ([pool (N, D, 1, 1), probabilities (N, 1008)] of [0, 1]
    images) at a fraction of its cost, with fixed weights."""

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.w1 = torch.randn(48, DIMS, generator=gen) / 4
        self.w2 = torch.randn(DIMS, inception.CLASSES, generator=gen)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = F.adaptive_avg_pool2d(2 * x - 1, 4).flatten(1)
        pool = torch.tanh(x @ self.w1)
        return [pool[..., None, None], torch.softmax(pool @ self.w2, dim=1)]


@pytest.fixture
def cheap_inception(monkeypatch, tmp_path: Path) -> Path:
    """The stand-in network for every Inception metric, and a weights file to name (hashed
    for the protocol, never loaded)."""
    monkeypatch.setattr(inception, "POOL_DIM", DIMS)
    monkeypatch.setattr(inception, "inception_model", lambda path, device: TinyInception())
    weights = tmp_path / "stand-in.pth"
    weights.write_bytes(b"stand-in Inception weights: never loaded")
    return weights


class TinyG(nn.Module):
    def __init__(self, channels: int = 1, size: int = 16) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.shape = (channels, size, size)
        self.net = nn.Sequential(nn.Linear(LATENT, channels * size * size), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.shape)


def write_pngs(folder: Path, images: torch.Tensor) -> Path:
    """uint8 (N, C, H, W) as one PNG each, named in order."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        pixels = image.permute(1, 2, 0).numpy()
        Image.fromarray(pixels[..., 0] if pixels.shape[2] == 1 else pixels).save(
            folder / f"{i:04d}.png"
        )
    return folder


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    """A folder of 24 grey 16x16 images: the real images of these tests."""
    gen = torch.Generator().manual_seed(2)
    images = torch.randint(0, 256, (24, 1, 16, 16), generator=gen, dtype=torch.uint8)
    return write_pngs(tmp_path / "ref", images)


def inception_metrics(weights: Path) -> list:
    split = {"split": "train"}  # a folder has one split
    return [
        FIDConfig(num_samples=N, weights=weights, reference=split),
        KIDConfig(num_samples=N, weights=weights, reference=split),
        ISConfig(num_samples=N, weights=weights),
    ]


def score(*args: str) -> dict:
    result = runner.invoke(app, ["score", *map(str, args), "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def options(weights: Path, reference: Path) -> list[str]:
    return ["--metrics", "fid,kid,is", "--inception-weights", str(weights), "--reference",
            str(reference), "--num-samples", str(N)]  # fmt: skip


def test_pngs_written_from_a_generator_score_as_its_samples_in_memory(
    tmp_path: Path, cheap_inception: Path, reference: Path
) -> None:
    G = TinyG()
    folder_cfg = DATASETS.get("image-folder").Config(root=reference, image_size=16, channels=1)
    evaluator = Evaluator(inception_metrics(cheap_inception), folder_cfg, LATENT, 0, CPU)
    in_memory = evaluator.evaluate(G)
    samples = evaluator.generate(G).values
    pngs = write_pngs(tmp_path / "pngs", samples)
    # PNG is lossless for 8-bit pixels: the files hold the very samples scored in memory.
    assert torch.equal(read_folder(pngs)[0], samples)
    document = score(pngs, *options(cheap_inception, reference))
    assert document["values"] == in_memory.values  # identical, not merely close
    fid = document["metrics"]["fid"]
    assert fid["values"] == {"fid": in_memory.values["fid"]}
    protocol = fid["protocol"]
    assert protocol["num_samples"] == N and protocol["weights_official"] is False
    assert protocol["reference"] == {
        "dataset": "image-folder",
        "split": "train",
        "image_size": 16,
        "channels": 1,
        "fit": "resize",
        "num_examples": 24,
    }
    assert protocol["feature_extractor"].startswith("FID Inception v3")
    assert protocol["input"].startswith("uint8 / 255") and protocol["samples"] == "uint8-quantised"
    assert document["source"]["kind"] == "image folder" and document["source"]["files"] == N
    assert set(document["seconds"]) >= {"open", "setup", "fid", "kid", "is"}


@pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:FutureWarning")
def test_an_npz_and_the_generator_file_score_as_the_samples_in_memory(
    tmp_path: Path, cheap_inception: Path, reference: Path
) -> None:
    G = TinyG(channels=3)
    folder_cfg = DATASETS.get("image-folder").Config(root=reference, image_size=16, channels=3)
    evaluator = Evaluator(inception_metrics(cheap_inception), folder_cfg, LATENT, 5, CPU)
    expected = evaluator.evaluate(G).values
    with torch.no_grad():
        raw = G(torch.randn(N, LATENT, generator=torch.Generator().manual_seed(5)))
    given = options(cheap_inception, reference)
    # G's raw float output in [-1, 1], channels first: quantised as evaluation does.
    np.savez(tmp_path / "raw.npz", images=raw.numpy(), labels=np.zeros(N))
    assert score(tmp_path / "raw.npz", *given)["values"] == expected
    # uint8 channels last, the one array in the file.
    pixels = evaluator.generate(G).values
    np.savez(tmp_path / "hwc.npz", pixels.permute(0, 2, 3, 1).numpy())
    assert torch.equal(read_npz(tmp_path / "hwc.npz")[0], pixels)
    assert score(tmp_path / "hwc.npz", *given)["values"] == expected
    # The generator itself, as TorchScript: Evaluator.generate's noise for --seed 5.
    torch.jit.save(torch.jit.trace(G.eval(), torch.randn(2, LATENT)), tmp_path / "g.pt")
    document = score(tmp_path / "g.pt", *given, "--latent-shape", str(LATENT), "--seed", "5")
    assert document["values"] == expected
    assert document["source"]["kind"] == "generator" and document["source"]["noise_seed"] == 5


def test_kid_shares_the_inception_pass_and_one_reference_pass_with_fid(
    cheap_inception: Path, reference: Path, monkeypatch
) -> None:
    passes = []
    features = inception.inception_features

    def counted(model, images, device, batch, what=inception.REFERENCE_PASS):
        passes.append(what)
        return features(model, images, device, batch, what)

    monkeypatch.setattr(inception, "inception_features", counted)
    folder_cfg = DATASETS.get("image-folder").Config(root=reference, image_size=16, channels=1)
    evaluator = Evaluator(inception_metrics(cheap_inception), folder_cfg, LATENT, 0, CPU)
    assert list(evaluator.scorers) == ["fid", "kid", "is"]  # the order asked for
    # KID, which keeps the reference's features, was prepared first: FID reuses its pass.
    assert evaluator.setup["kid"]["reference"]["cache"] == "computed"
    assert evaluator.setup["fid"]["reference"]["cache"] == "memory"
    values = evaluator.evaluate(TinyG()).values
    assert passes == [inception.REFERENCE_PASS, f"Inception features of the {N} scored images"]
    assert set(values) == {"fid", "kid", "kid_std", "is", "is_std"}
    assert values["kid"] > 0 and values["kid_std"] > 0


def test_reference_statistics_from_a_file(
    tmp_path: Path, cheap_inception: Path, reference: Path
) -> None:
    pngs = write_pngs(tmp_path / "pngs", torch.randint(0, 200, (N, 1, 16, 16), dtype=torch.uint8))
    given = options(cheap_inception, reference)
    against_folder = score(pngs, *given)
    cached = Path(against_folder["metrics"]["kid"]["setup"]["reference"]["path"])
    # ganbench's own cache file: mu, sigma, the features and the extractor that made them.
    from_file = score(pngs, *given, "--reference-stats", cached)
    assert from_file["values"] == against_folder["values"]
    assert from_file["metrics"]["fid"]["protocol"]["reference"]["extractor_checked"] is True
    # pytorch-fid's format: mu and sigma only. FID as before; KID cannot be had from it.
    with np.load(cached) as f:
        np.savez(tmp_path / "fid.npz", mu=f["mu"], sigma=f["sigma"])
    fid = score(pngs, *given, "--metrics", "fid", "--reference-stats", tmp_path / "fid.npz")
    assert fid["values"]["fid"] == against_folder["values"]["fid"]
    result = runner.invoke(app, ["score", str(pngs), *given, "--reference-stats", "fid.npz"])
    assert result.exit_code == 2
    result = runner.invoke(
        app, ["score", str(pngs), *given, "--reference-stats", str(tmp_path / "fid.npz")]
    )
    assert result.exit_code == 2 and "KID needs the reference's features" in result.output


def test_a_run_folder_scores_as_its_last_evaluation(
    tmp_path: Path, cheap_inception: Path, reference: Path
) -> None:
    metrics = [m.model_dump(mode="json") for m in inception_metrics(cheap_inception)]
    suite = {
        "name": "tiny",
        "output_dir": str(tmp_path / "out"),
        "defaults": {
            "dataset": {
                "name": "image-folder",
                "root": str(reference),
                "image_size": 16,
                "channels": 1,
            },  # fmt: skip
            "model": {"name": "mlp", "latent_dim": LATENT, "hidden": 16, "depth": 1},
            "batch": {"size": 8},
            "budget": {"iterations": 3},
            "evaluation": {"metrics": metrics, "batch_size": 7},
            "device": "cpu",
        },
    }
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite))
    trained = runner.invoke(app, ["train-suite", str(tmp_path / "suite.yaml")])
    assert trained.exit_code == 0, trained.output
    (run,) = (tmp_path / "out").glob("tiny-*/")
    summary = json.loads((run / "summary.json").read_text())
    document = score(run)  # its dataset, metrics, noise and batch size: nothing to say
    assert document["values"] == {k: v["final"] for k, v in summary["quality"].items()}
    assert document["source"]["generator_batch_size"] == 7
    assert document["metrics"]["fid"]["protocol"] == summary["metrics_protocol"]["fid"]
    result = runner.invoke(app, ["score", str(tmp_path / "out")])
    assert result.exit_code == 2 and "a suite folder; score one of its runs" in result.output


@needs_fmnist
def test_fd_classifier_of_grey_pngs_saved_as_rgb(
    tmp_path: Path, own_home: Path, monkeypatch
) -> None:
    """RGB files with three equal channels (torchvision's save_image writes grey so) are
    the grey images they hold, scored against grey Fashion-MNIST padded to their 32x32 as
    a run at that size sees it. An untrained classifier stands in for the trained one,
    in this test's own home (the real one is trained once per test session elsewhere)."""
    from ganbench.metrics import classifier

    def untrained(train_cfg, cfg, recipe, device):
        model = classifier.FeatureCNN(recipe["channels"], 10)
        keys = ("test_accuracy", "train_s", "device", "torch")
        return {"state_dict": model.state_dict(), "recipe": recipe, "classes": 10,
                **dict(zip(keys, (0.1, 0.0, "cpu", "stand-in"), strict=True))}  # fmt: skip

    monkeypatch.setattr(classifier, "_train", untrained)
    monkeypatch.setattr(classifier, "_LOADED", {})  # the session's real one, kept for after
    G = TinyG(size=32)
    fmnist = DATASETS.get("fashion-mnist").Config(image_size=32, channels=1)
    metric = classifier.FDClassifierConfig(num_samples=N, reference={"num_samples": 64})
    evaluator = Evaluator([metric], fmnist, LATENT, 0, CPU)
    expected = evaluator.evaluate(G).values
    pngs = write_pngs(tmp_path / "pngs", evaluator.generate(G).values.expand(-1, 3, -1, -1))
    result = runner.invoke(
        app,
        [
            "score",
            str(pngs),
            "--metrics",
            "fd_classifier",
            "--reference",
            "fashion-mnist",
            "--reference-samples",
            "64",
        ],  # fmt: skip
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "scored as grey like the fashion-mnist reference" in text
    assert "padded from 28x28 to 32x32" in text
    assert f"fd_classifier {expected['fd_classifier']:.6g}" in text
    assert "test accuracy 0.100" in text and "time:" in text


BAD = {
    "no such source": (lambda d: [str(d / "nope")], "no such file or folder"),
    "empty folder": (lambda d: [str(d / "empty")], "no images found"),
    "mixed sizes": (lambda d: [str(d / "mixed")], "every image must have one size"),
    "unreadable image": (lambda d: [str(d / "broken")], "cannot be read as an image"),
    "one image": (lambda d: [str(d / "mixed" / "a.png")], "one image; give the folder"),
    "floats of 8-bit values": (lambda d: [str(d / "big.npz")], "floats must lie in [-1, 1]"),
    "statistics as source": (lambda d: [str(d / "stats.npz")], "give it as --reference-stats"),
    "too many samples": (lambda d: [str(d / "square"), "--num-samples", "5"], "holds 1 image "),
    "unknown reference": (
        lambda d: [str(d / "square"), "--reference", "imagenet"],
        "--reference imagenet: no such dataset or folder (choose: cifar10, fashion-mnist, mnist,",
    ),
    "not square": (lambda d: [str(d / "mixed" / "sub")], "reference images are square"),
    "seed for images": (lambda d: [str(d / "square"), "--seed", "1"], "only a generator draws"),
    "unknown metric": (lambda d: [str(d / "square"), "--metrics", "fid,nope"], "unknown nope"),
    "bad split": (lambda d: [str(d / "square"), "--reference", "mnist:val"], "choose train or"),
}


@pytest.fixture
def bad_inputs(tmp_path: Path) -> Path:
    (tmp_path / "empty").mkdir()
    (tmp_path / "mixed" / "sub").mkdir(parents=True)
    Image.new("L", (8, 8)).save(tmp_path / "mixed" / "a.png")
    Image.new("L", (8, 6)).save(tmp_path / "mixed" / "sub" / "b.png")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "square").mkdir()
    Image.new("L", (8, 8)).save(tmp_path / "square" / "a.png")
    np.savez(tmp_path / "big.npz", np.full((2, 8, 8), 200.0))
    np.savez(tmp_path / "stats.npz", mu=np.zeros(3), sigma=np.eye(3))
    return tmp_path


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_and_exit_2(case: str, bad_inputs: Path) -> None:
    args, message = BAD[case]
    result = runner.invoke(app, ["score", *args(bad_inputs)], env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert message in lines[0], lines[0]
