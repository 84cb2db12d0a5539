"""Quality metrics: the statistics against closed forms, the offline classifier, FID/IS
with stand-in Inception weights (no network), the caches, mixture metrics, evaluation
inside the loop and time-to-target."""

from __future__ import annotations

import itertools
import json
import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from typer.testing import CliRunner

from ganbench.cli import app
from ganbench.config import RunConfig
from ganbench.data import DATASETS
from ganbench.data.toy import mixture_centres
from ganbench.home import cache_dir
from ganbench.metrics import stats
from ganbench.metrics.classifier import (
    ClassifierConfig,
    extract_features,
    forget_classifiers,
    trained_classifier,
)
from ganbench.metrics.evaluate import QualityTracker
from ganbench.metrics.inception import WEIGHTS_FILE, inspect_weights
from ganbench.metrics.mixture import MixtureScorer, mode_scores
from ganbench.metrics.reference import forget_loaded
from ganbench.results import RunStore, read_events
from ganbench.run.train import train_run
from tests.conftest import mixture_run, needs_fmnist

CPU = torch.device("cpu")
runner = CliRunner()


# ------------------------------------------------------------------ statistics


def test_frechet_distance_of_two_gaussians_equals_the_closed_form() -> None:
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))  # a shared eigenbasis: S1 S2 commute
    var1, var2 = rng.uniform(0.2, 3.0, 6), rng.uniform(0.2, 3.0, 6)
    s1, s2 = q @ np.diag(var1) @ q.T, q @ np.diag(var2) @ q.T
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    closed = ((mu1 - mu2) ** 2).sum() + (var1 + var2 - 2 * np.sqrt(var1 * var2)).sum()
    for method in ("scipy", "torch"):
        value, how = stats.frechet_distance(mu1, s1, mu2, s2, method=method)
        assert value == pytest.approx(closed, rel=1e-9), how
    # A general pair (no shared eigenbasis): both square roots agree.
    a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    g1, g2 = a @ a.T + np.eye(6), b @ b.T + np.eye(6)
    scipy_value, _ = stats.frechet_distance(mu1, g1, mu2, g2, method="scipy")
    torch_value, _ = stats.frechet_distance(mu1, g1, mu2, g2, method="torch")
    assert torch_value == pytest.approx(scipy_value, rel=1e-8)


def test_frechet_distance_from_samples_approaches_the_closed_form() -> None:
    gen = np.random.default_rng(1)
    x = gen.normal(0.0, 1.0, size=(200_000, 2))
    y = gen.normal(0.0, 2.0, size=(200_000, 2)) + [3.0, 0.0]
    value, _ = stats.frechet_distance(*stats.gaussian_stats(x), *stats.gaussian_stats(y))
    assert value == pytest.approx(9.0 + 2 * (1 + 4 - 2 * 2), rel=0.01)  # 9 + 2


def test_identical_feature_sets_give_zero_distance() -> None:
    feats = np.random.default_rng(2).normal(size=(500, 16))
    mu, sigma = stats.gaussian_stats(feats)
    value, _ = stats.frechet_distance(mu, sigma, mu, sigma)
    assert abs(value) < 1e-8


def test_kid_is_near_zero_for_one_distribution_and_grows_with_a_shift() -> None:
    gen = np.random.default_rng(3)
    x, y = gen.normal(size=(2000, 8)), gen.normal(size=(2000, 8))
    same, spread = stats.kernel_inception_distance(x, y, subsets=20, subset_size=500)
    shifted, _ = stats.kernel_inception_distance(x, y + 0.5, subsets=20, subset_size=500)
    assert abs(same) < 3 * spread + 1e-3
    assert shifted > 10 * abs(same) and shifted > 0


def test_a_nan_from_the_gpu_square_root_falls_back_to_scipy(monkeypatch) -> None:
    monkeypatch.setattr(stats, "_trace_sqrt_torch", lambda *a: float("nan"))
    s = np.eye(3)
    value, how = stats.frechet_distance(np.zeros(3), s, np.ones(3), 4 * s, method="torch")
    assert value == pytest.approx(3.0 + 3 * (1 + 4 - 2 * 2))
    assert how.startswith("scipy") and "gave NaN" in how


def test_inception_score_of_uniform_and_of_confident_diverse_predictions() -> None:
    uniform = np.full((1000, 10), 0.1)
    assert stats.inception_score(uniform, splits=10) == pytest.approx((1.0, 0.0))
    one_hot = np.eye(10)[np.arange(1000) % 10]  # exact zeros: 0 log 0 is 0, not NaN
    assert stats.inception_score(one_hot, splits=10) == pytest.approx((10.0, 0.0))
    assert stats.inception_score(np.eye(4)[np.zeros(100, int)], splits=1)[0] == pytest.approx(1)


# ------------------------------------------------------------------- mixtures


def ring(std: float = 0.1) -> tuple[torch.Tensor, float]:
    cfg = DATASETS.get("gaussian-mixture").Config(std=std)
    return mixture_centres(cfg), std


def test_mixture_metrics_on_hand_made_samples() -> None:
    centres, std = ring()
    on_four = centres[[0, 2, 4, 6]].repeat_interleave(100, dim=0)  # 4 modes, 100 points each
    far = torch.full((100, 2), 10.0)
    points = torch.cat([on_four, far, centres[[1]] + 0.31])  # 0.31 > 3 std: not high quality
    s = mode_scores(points, centres, std)
    assert s["modes_covered"] == 4
    assert s["high_quality_fraction"] == pytest.approx(400 / 501)
    assert s["kl_modes"] == pytest.approx(math.log(2))  # q = 1/4 on 4 of 8 modes, p = 1/8
    m_on, m_off = (1 / 8 + 1 / 4) / 2, (1 / 8) / 2
    js = 0.5 * (4 / 8 * math.log((1 / 8) / m_on) + 4 / 8 * math.log((1 / 8) / m_off))
    js += 0.5 * math.log((1 / 4) / m_on)
    assert s["js_modes"] == pytest.approx(js)


def test_mixture_metrics_of_the_true_mixture_and_of_a_collapsed_one() -> None:
    centres, std = ring(0.05)
    gen = torch.Generator().manual_seed(0)
    which = torch.randint(8, (20_000,), generator=gen)
    true = centres[which] + std * torch.randn(20_000, 2, generator=gen)
    s = mode_scores(true, centres, std)
    assert s["modes_covered"] == 8
    assert s["high_quality_fraction"] == pytest.approx(1 - math.exp(-4.5), abs=0.005)
    assert s["kl_modes"] < 1e-3 and s["js_modes"] < 1e-3
    collapsed = mode_scores(centres[[3]].repeat(1000, 1), centres, std)
    assert collapsed["modes_covered"] == 1
    assert collapsed["kl_modes"] == pytest.approx(math.log(8))
    assert mode_scores(torch.full((10, 2), 9.0), centres, std)["kl_modes"] is None


def test_a_mode_needs_a_fifth_of_its_fair_share_to_count_as_covered() -> None:
    centres, std = ring()
    points = torch.cat([centres[[0]].repeat(790, 1), centres[[1]].repeat(25, 1)])
    points = torch.cat([points, centres[[2]].repeat(20, 1)])  # fair share 835 / 8 = 104.4
    assert mode_scores(points, centres, std)["modes_covered"] == 2  # 25 >= 20.9 > 20
    assert mode_scores(points, centres, std, coverage_share=0.3)["modes_covered"] == 1


# ------------------------------------------------------- evaluation in the loop


def test_tracker_keeps_best_final_and_the_first_time_a_target_is_reached() -> None:
    tracker = QualityTracker({"fd": "min", "modes": "max", "spread": None}, {"fd": 10, "modes": 8})
    points = [(30.0, 2.0, 0.5), (9.0, 8.0, 0.4), (12.0, 7.0, 0.3), (5.0, 8.0, 0.2)]
    reached = []
    for i, (fd, modes, spread) in enumerate(points):
        at = {"iteration": 100 * i, "train_s": 1.5 * i, "wall_s": 2.0 * i, "images_seen": 64 * i}
        reached.append(tracker.update({"fd": fd, "modes": modes, "spread": spread}, at))
    assert reached == [[], ["fd", "modes"], [], []]
    summary = tracker.summary()
    assert summary["quality"]["fd"] == {
        "evaluations": 4,
        "direction": "min",  # recorded, so reports need no metric registry
        "final": 5.0,
        "best": 5.0,
        "best_iteration": 300,
        "best_train_s": 4.5,
    }
    assert summary["quality"]["spread"]["best"] is None  # no direction, no best
    assert summary["time_to_target"]["fd"] == {
        "target": 10,
        "reached": True,
        "iteration": 100,
        "train_s": 1.5,
        "wall_s": 2.0,
        "images_seen": 64,
        "value": 9.0,
    }
    # A resume with another target recomputes time-to-target from the stored history.
    resumed = QualityTracker({"fd": "min"}, {"fd": 6.0})
    resumed.load_state_dict(json.loads(json.dumps(tracker.state_dict())))
    assert resumed.summary()["time_to_target"]["fd"]["iteration"] == 300
    assert resumed.summary()["quality"]["fd"] == summary["quality"]["fd"]


def mixture_metric_run(**overrides) -> RunConfig:
    evaluation = {
        "every_iterations": 10,
        "at_start": True,
        "metrics": [{"name": "mixture", "num_samples": 2000}],
        "targets": {"high_quality_fraction": 0.2},
    }
    return mixture_run(
        dataset={"name": "gaussian-mixture", "num_samples": 512, "std": 0.2},
        model={"name": "mlp", "latent_dim": 4, "hidden": 64, "depth": 2},
        strategy={"name": "alternating", "lr_g": 5e-3, "lr_d": 5e-3},
        budget={"iterations": 80},
        evaluation={**evaluation, **overrides},
    )


def test_time_to_target_is_the_first_evaluation_at_the_target(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    summary = train_run(mixture_metric_run(), store, CPU)
    evals = [e for e in read_events(store.events) if e["event"] == "eval"]
    assert [e["iteration"] for e in evals] == list(range(0, 81, 10))
    hq = [e["high_quality_fraction"] for e in evals]
    assert hq[0] < 0.2 <= max(hq), hq  # learnt from below the target to above it
    first = next(e for e in evals if e["high_quality_fraction"] >= 0.2)
    ttt = summary.time_to_target["high_quality_fraction"]
    assert ttt["reached"] and ttt["iteration"] == first["iteration"]
    assert ttt["train_s"] == first["train_s"] and ttt["images_seen"] == first["images_seen"]
    assert first["targets_reached"] == ["high_quality_fraction"]
    q = summary.quality["high_quality_fraction"]
    assert q["final"] == hq[-1] and q["best"] == max(hq) and q["evaluations"] == len(evals)
    protocol = summary.metrics_protocol["mixture"]
    assert protocol["num_samples"] == 2000 and protocol["reference"]["modes"] == 8
    assert all(e["protocol"]["mixture"]["num_samples"] == 2000 for e in evals)


def test_quality_history_survives_a_resume(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    first = mixture_metric_run()
    train_run(
        first.model_copy(update={"budget": first.budget.model_copy(update={"iterations": 40})}),
        store,
        CPU,
    )
    summary = train_run(first, store, CPU)  # resumes from iteration 40 to 80
    evals = [e for e in read_events(store.events) if e["event"] == "eval"]
    assert [e["iteration"] for e in evals] == list(range(0, 81, 10))  # 0 not re-evaluated
    assert summary.quality["high_quality_fraction"]["evaluations"] == 9
    whole = train_run(first, RunStore(tmp_path / "whole"), CPU)
    for key in ("iteration", "images_seen", "value"):  # times differ, the trajectory not
        got = summary.time_to_target["high_quality_fraction"][key]
        assert got == whole.time_to_target["high_quality_fraction"][key]


def test_evaluation_time_is_not_training_time(tmp_path: Path, monkeypatch) -> None:
    real_score = MixtureScorer.score

    def slow_score(self, samples):
        time.sleep(0.3)
        return real_score(self, samples)

    monkeypatch.setattr(MixtureScorer, "score", slow_score)
    store = RunStore(tmp_path / "run")
    summary = train_run(mixture_metric_run(every_iterations=40), store, CPU)
    events = read_events(store.events)
    evals = [i for i, e in enumerate(events) if e["event"] == "eval"]
    assert len(evals) == 3 and all(events[i]["metric_time_s"]["mixture"] >= 0.3 for i in evals)
    assert all(events[i]["eval_time_s"] >= events[i]["metric_time_s"]["mixture"] for i in evals)
    assert summary.eval_s == pytest.approx(sum(events[i]["eval_time_s"] for i in evals))
    assert summary.eval_s >= 0.9
    assert summary.train_s + summary.eval_s <= summary.wall_s
    # Each eval event is stamped right after its evaluation. Between two stamps both clocks
    # ran through the same training; only the wall clock also ran through the later
    # evaluation (slept 0.3 s: no CPU load shortens or hides that) and the checkpoints
    # between them. Training speed does not enter, so a loaded machine cannot flip this.
    for before, after in itertools.pairwise(evals):
        a, b = events[before], events[after]
        checkpoints = sum(
            e["checkpoint_time_s"] for e in events[before:after] if e["event"] == "checkpoint"
        )
        assert b["train_s"] > a["train_s"]  # 40 iterations trained in between
        not_training = (b["wall_s"] - a["wall_s"]) - (b["train_s"] - a["train_s"])
        # 0.1 s: the two clocks of a stamp are read a moment apart
        assert not_training >= b["eval_time_s"] + checkpoints - 0.1, (a, b, checkpoints)


def test_evaluating_never_changes_what_is_trained(tmp_path: Path) -> None:
    plain = mixture_run(budget={"iterations": 30}, evaluation={"every_iterations": 10})
    scored = mixture_run(
        budget={"iterations": 30},
        evaluation={"every_iterations": 10, "at_start": True, "metrics": ["mixture"]},
    )
    train_run(plain, RunStore(tmp_path / "a"), CPU)
    train_run(scored, RunStore(tmp_path / "b"), CPU)
    a = RunStore(tmp_path / "a").load_checkpoint()["G"]
    b = RunStore(tmp_path / "b").load_checkpoint()["G"]
    assert all(torch.equal(a[k], b[k]) for k in a)


# --------------------------------------------------- offline classifier (fd_classifier)


@pytest.mark.slow
@needs_fmnist
def test_the_classifier_reaches_its_accuracy_floor_and_is_cached(fmnist_root: Path) -> None:
    dataset = DATASETS.get("fashion-mnist").Config(root=fmnist_root, image_size=32, fit="pad")
    model, setup = trained_classifier(dataset, ClassifierConfig(), CPU)
    assert setup["test_accuracy"] >= 0.88, setup
    # Another test (or xdist worker) of this session may have trained it first.
    assert setup["cache"] in ("trained", "memory", "disk")
    path = Path(setup["path"])
    assert path.is_file() and path.is_relative_to(cache_dir("classifiers"))  # in the home
    _, again = trained_classifier(dataset, ClassifierConfig(), CPU)
    assert again["cache"] == "memory" and again["test_accuracy"] == setup["test_accuracy"]
    # "auto" resolves to the same padding: the same classifier, not a second one.
    auto = dataset.model_copy(update={"fit": "auto"})
    assert trained_classifier(auto, ClassifierConfig(), CPU)[1]["id"] == setup["id"]
    assert _recipe_id(dataset, ClassifierConfig(seed=5)) != setup["id"]
    # Another process reads the file back: same accuracy, same features.
    images = DATASETS.get("fashion-mnist").load(dataset.model_copy(update={"subset": 64})).values
    before = extract_features(model, images, CPU)
    forget_classifiers()
    reloaded, from_disk = trained_classifier(dataset, ClassifierConfig(), CPU)
    assert from_disk["cache"] == "disk" and from_disk["test_accuracy"] == setup["test_accuracy"]
    assert np.array_equal(extract_features(reloaded, images, CPU), before)


def _recipe_id(dataset, cfg: ClassifierConfig) -> str:
    from ganbench.metrics.classifier import ARCHITECTURE, _recipe
    from ganbench.metrics.reference import ReferenceConfig, digest, reference_dataset

    train = reference_dataset(dataset, ReferenceConfig(split="train"), "test")
    return f"{ARCHITECTURE}-{digest(_recipe(train, cfg), 10)}"


def fmnist_suite(root: Path, out: Path, metrics: list, seeds=(0,), **evaluation) -> dict:
    return {
        "name": "fm",
        "output_dir": str(out),
        "defaults": {
            "dataset": {"name": "fashion-mnist", "root": str(root), "subset": 256},
            "model": {"name": "dcgan", "width": 0.125},
            "batch": {"size": 32},
            "budget": {"iterations": 4},
            "evaluation": {"metrics": metrics, **evaluation},
            "checkpoint": {"every_iterations": None, "every_seconds": None},
            "device": "cpu",
        },
        "matrix": {"seed": list(seeds)},
    }


def run_cli(tmp_path: Path, suite: dict, *args: str):
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return runner.invoke(app, ["train-suite", str(path), *args])


def setup_events(folder: Path) -> dict:
    (event,) = [e for e in read_events(folder / "events.jsonl") if e["event"] == "metrics_setup"]
    return event


@needs_fmnist
def test_fd_classifier_in_a_suite_with_reference_stats_cached_once(
    tmp_path: Path, fmnist_root: Path
) -> None:
    forget_loaded()
    metric = {"name": "fd_classifier", "num_samples": 300, "reference": {"num_samples": 700}}
    metric["kid_subsets"] = 5
    result = run_cli(tmp_path, fmnist_suite(fmnist_root, tmp_path / "out", [metric], (0, 1)))
    assert result.exit_code == 0, result.output
    assert "quality: final (best)" in result.output and "fd_classifier" in result.output
    first, second = (setup_events(tmp_path / "out" / f"fm-seed{s}") for s in (0, 1))
    ref1, ref2 = (
        first["setup"]["fd_classifier"]["reference"],
        second["setup"]["fd_classifier"]["reference"],
    )
    assert ref1["cache"] == "computed" and ref2["cache"] == "memory"
    assert ref2["path"] == ref1["path"] and ref2["seconds"] < ref1["seconds"]
    stats_file = Path(ref1["path"])
    written = stats_file.stat().st_mtime_ns
    # A new process (nothing in memory) reads the file instead of computing it again.
    forget_loaded()
    result = run_cli(tmp_path, fmnist_suite(fmnist_root, tmp_path / "again", [metric]))
    assert result.exit_code == 0, result.output
    ref3 = setup_events(tmp_path / "again" / "fm-seed0")["setup"]["fd_classifier"]["reference"]
    assert ref3["cache"] == "disk" and stats_file.stat().st_mtime_ns == written
    summary = json.loads((tmp_path / "out" / "fm-seed0" / "summary.json").read_text())
    fd = summary["quality"]["fd_classifier"]["final"]
    assert fd > 0 and math.isfinite(summary["quality"]["kid_classifier"]["final"])
    protocol = summary["metrics_protocol"]["fd_classifier"]
    assert protocol["reference"] == {
        "dataset": "fashion-mnist",
        "split": "test",
        "image_size": 32,
        "channels": 1,
        "fit": "auto",
        "num_examples": 700,
    }
    assert protocol["num_samples"] == 300 and protocol["classifier_test_accuracy"] >= 0.88
    assert protocol["feature_extractor"].startswith("cnn-v1-")
    assert "fid" not in json.dumps(summary["quality"])  # never called FID


# ------------------------------------------------ FID / IS with stand-in weights


@pytest.fixture(scope="session")
def stand_in_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Randomly initialised tensors of the FID Inception's names and shapes (not the real
    file, whose download is impossible here)."""
    from ganbench.metrics.inception import write_stand_in_weights

    return write_stand_in_weights(tmp_path_factory.mktemp("weights") / "stand-in.pth")


@pytest.fixture
def offline(monkeypatch) -> None:
    """Any download attempt fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    import pytorch_image_generation_metrics.inception as library

    monkeypatch.setattr(library, "load_state_dict_from_url", refuse)


@pytest.mark.slow
@needs_fmnist
def test_fid_and_is_run_end_to_end_with_weights_in_torch_home(
    tmp_path: Path, fmnist_root: Path, stand_in_weights: Path, monkeypatch, offline
) -> None:
    home = tmp_path / "torch-home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    installed = runner.invoke(app, ["weights", "install", str(stand_in_weights), "--force"])
    assert installed.exit_code == 0, installed.output
    assert (home / "hub" / "checkpoints" / WEIGHTS_FILE).is_file()
    metrics = [
        {"name": "fid", "num_samples": 12, "reference": {"num_samples": 12}, "batch_size": 6},
        {"name": "is", "num_samples": 12, "splits": 2, "batch_size": 6},
    ]
    suite = fmnist_suite(fmnist_root, tmp_path / "out", metrics)
    suite["defaults"]["budget"]["iterations"] = 2
    result = run_cli(tmp_path, suite)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "fm-seed0" / "summary.json").read_text())
    assert summary["status"] == "finished", summary["reason"]
    assert math.isfinite(summary["quality"]["fid"]["final"])
    assert summary["quality"]["is"]["final"] >= 1.0
    fid = summary["metrics_protocol"]["fid"]
    sha = inspect_weights(stand_in_weights).sha256
    assert fid["weights_sha256"] == sha and fid["weights_official"] is False
    assert fid["reference"]["split"] == "test" and fid["reference"]["num_examples"] == 12
    assert fid["num_samples"] == 12 and fid["precision"].startswith("fp32")
    assert fid["sqrtm"].startswith("scipy")
    evals = [e for e in read_events(tmp_path / "out" / "fm-seed0" / "events.jsonl")]
    scored = [e for e in evals if e["event"] == "eval"]
    assert scored and all("fid" in e and "is" in e for e in scored)
    # One Inception pass serves both metrics: IS costs almost nothing once FID has run.
    last = scored[-1]["metric_time_s"]
    assert last["is"] < last["fid"] / 5


@needs_fmnist
def test_missing_weights_stop_the_suite_before_any_work(
    tmp_path: Path, fmnist_root: Path, monkeypatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-home"))
    suite = fmnist_suite(fmnist_root, tmp_path / "out", ["fd_classifier", "fid"])
    result = run_cli(tmp_path, suite)
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    assert WEIGHTS_FILE in message
    assert str(tmp_path / "empty-home" / "hub" / "checkpoints") in message
    assert "ganbench weights install" in message and "--metrics" in message
    assert not (tmp_path / "out").exists()
    # --metrics drops FID; the rest of the suite runs.
    result = run_cli(tmp_path, suite, "--metrics", "fd_classifier", "--dry-run")
    assert result.exit_code == 0, result.output
    result = run_cli(tmp_path, suite, "--metrics", "fd_classifier,nope")
    assert result.exit_code == 2 and "unknown nope" in result.output


def test_weights_install_checks_hash_and_structure(
    tmp_path: Path, stand_in_weights: Path, monkeypatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "home"))
    refused = runner.invoke(app, ["weights", "install", str(stand_in_weights)])
    assert refused.exit_code == 2 and "does not start with 6726825d" in refused.output
    wrong = tmp_path / "wrong.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, wrong)
    result = runner.invoke(app, ["weights", "install", str(wrong), "--force"])
    assert result.exit_code == 2 and "not the FID Inception weights" in result.output
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    result = runner.invoke(app, ["weights", "install", str(junk), "--force"])
    assert result.exit_code == 2 and "not a readable PyTorch weights file" in result.output
    assert not (tmp_path / "home").exists()
    status = runner.invoke(app, ["weights", "status"])  # a state, not an error
    text = " ".join(status.output.split())
    assert status.exit_code == 0 and "not there, so FID/IS cannot run" in text
    assert "error" not in text and "ganbench weights install PATH" in text


def test_metrics_that_cannot_score_the_data_are_refused_before_work(tmp_path: Path) -> None:
    from tests.conftest import tiny_suite

    for metrics, expected in (
        (["fd_classifier"], "scores image data"),
        (["mixture"], None),
    ):
        suite = tiny_suite(evaluation={"metrics": metrics})
        suite["output_dir"] = str(tmp_path / "out")
        result = run_cli(tmp_path, suite, "--dry-run")
        assert result.exit_code == 0, result.output  # a dry run lists problems, exit 0
        if expected is not None:
            assert "before training, fix (1):" in result.output
            result = run_cli(tmp_path, suite)
            assert result.exit_code == 2 and expected in " ".join(result.output.split())
    synthetic = tiny_suite(
        dataset={"name": "synthetic", "num_samples": 64, "image_size": 16},
        model={"name": "dcgan", "width": 0.125},
        evaluation={"metrics": ["fd_classifier"]},
    )
    result = run_cli(tmp_path, synthetic)
    assert result.exit_code == 2 and "speed runs only" in " ".join(result.output.split())
    folder = tiny_suite(
        dataset={"name": "image-folder", "root": str(tmp_path)},
        model={"name": "dcgan", "width": 0.125},
        batch={"size": 1},
        evaluation={"metrics": ["fd_classifier"]},
    )
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    result = run_cli(tmp_path, folder)
    assert result.exit_code == 2 and "class labels" in " ".join(result.output.split())
    target = tiny_suite(evaluation={"metrics": ["mixture"], "targets": {"fid": 10}})
    result = run_cli(tmp_path, target, "--dry-run")
    assert result.exit_code == 2 and "'fid' is not a value" in result.output


def test_reference_stats_wanted_by_two_at_once_are_computed_once(own_home) -> None:
    """N runs starting together (ray, two suites) build a metric cache once: the second
    waits for the first, then reads what it wrote."""
    import threading

    from ganbench.data import DATASETS
    from ganbench.metrics import reference

    ref_cfg = DATASETS.get("synthetic").Config(num_samples=32, image_size=8)
    calls = []

    def slow_extract(images: torch.Tensor) -> np.ndarray:
        calls.append(threading.get_ident())
        time.sleep(0.5)  # long enough for the other thread to want it meanwhile
        return images.flatten(1).float().numpy()[:, :4]

    got = []

    def want() -> None:
        got.append(reference.reference_stats(ref_cfg, "test-extractor", slow_extract))

    threads = [threading.Thread(target=want) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(calls) == 1
    assert sorted(info["cache"] for _, info in got) in (
        ["computed", "disk"],
        ["computed", "memory"],
    )
    assert np.array_equal(got[0][0].mu, got[1][0].mu)
    reference.forget_loaded()
