"""ganbench's runs in TensorBoard, MLflow and W&B, live and after the fact, read back with
each tool's own reader: as many runs, series and points per series as the suite folder
holds, and a second export changes nothing."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import pytest

from ganbench.export.feed import RunFeed
from tests.export.conftest import invoke, tool_env
from tests.export.readers import Series, mlflow_series, tensorboard_series, wandb_series

pytest.importorskip("tensorboard", reason="the tensorboard extra is not installed")
pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
pytest.importorskip("wandb", reason="the wandb extra is not installed")


def expected(folder: Path) -> tuple[Series, dict[str, int]]:
    """What the suite folder holds: run -> series -> steps, and sample grids per run."""
    series: Series = {}
    samples: dict[str, int] = {}
    for run in sorted(p for p in folder.iterdir() if (p / "events.jsonl").is_file()):
        batch = RunFeed(run).poll()
        steps: dict[str, list[int]] = defaultdict(list)
        for point in batch.points:
            steps[point.name].append(point.step)
        series[run.name], samples[run.name] = dict(steps), len(batch.samples)
    return series, samples


def assert_matches(got: tuple[Series, dict[str, int]], folder: Path) -> None:
    """Every run, series and step of the folder, in the tool; the final figures beside."""
    want, want_samples = expected(folder)
    series, samples = got
    assert sorted(series) == sorted(want)
    for run, steps in want.items():
        written = {k: sorted(v) for k, v in series[run].items() if not k.startswith("final/")}
        assert written == {k: sorted(v) for k, v in steps.items()}, run
        assert "final/images_per_s" in series[run]
        assert samples[run] == want_samples[run] == 4  # iterations 0, 8, 16 and the last


def test_the_folder_holds_every_kind_of_figure(trained: Path) -> None:
    series, _ = expected(trained / "out")
    names = set(series["alternating-seed0"])
    for name in ("loss/d", "loss/g", "speed/images_per_s", "speed/iterations_per_s",
                 "batch_size", "lr/g", "lr/d", "quality/modes_covered",
                 "noise_scale/d_b_simple", "memory/rss_bytes", "time/train_s"):  # fmt: skip
        assert name in names
    assert len(series["alternating-seed0"]["loss/d"]) == 5  # every 4 of 20 iterations


def test_live_logging_wrote_what_the_folder_holds(trained: Path) -> None:
    out = trained / "out"
    assert_matches(tensorboard_series(trained / "live-tb"), out)
    assert_matches(mlflow_series(f"sqlite:///{trained / 'live-ml' / 'mlflow.db'}", "logged"), out)
    assert_matches(wandb_series(trained / "live-wb"), out)


def test_export_to_tensorboard_twice_gives_the_same_runs(trained: Path) -> None:
    dest = trained / "tb"
    for _ in range(2):
        result = invoke("export", str(trained / "out"), "--to", "tensorboard", "--dest", str(dest))
        assert result.exit_code == 0, result.output
        assert_matches(tensorboard_series(dest), trained / "out")
        assert len(list(dest.rglob("events.out.tfevents.*"))) == 2  # replaced, not added
    assert "tensorboard --logdir" in result.output
    traces = list(dest.glob("logged/*/plugins/profile/*/*.pt.trace.json"))
    assert len(traces) == 2  # where torch-tb-profiler looks


def test_tensorboard_holds_the_config_as_hparams(trained: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    invoke("export", str(trained / "out"), "--to", "tensorboard", "--dest", str(trained / "hp"))
    acc = EventAccumulator(str(trained / "hp" / "logged" / "srfb-seed0"))
    acc.Reload()
    content = acc.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hparams = start.session_start_info.hparams
    assert hparams["strategy.name"].string_value == "srfb"
    assert hparams["configuration"].string_value == "srfb"
    assert hparams["status"].string_value == "finished"
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"])
    assert "final/images_per_s" in {m.name.tag for m in experiment.experiment.metric_infos}


def test_export_to_an_mlflow_store_twice_adds_nothing(
    trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{trained / 'ml' / 'mlflow.db'}"
    for _ in range(2):
        result = invoke("export", str(trained / "out"), "--to", "mlflow", "--dest", uri)
        assert result.exit_code == 0, result.output
        assert_matches(mlflow_series(uri, "logged"), trained / "out")  # no run, no point twice
    assert len(list((trained / "ml" / "mlartifacts").rglob("iter*.png"))) == 8
    assert not list(tmp_path.iterdir())  # not MLflow's ./mlruns in the working folder


def test_export_to_mlflow_honours_its_tracking_uri_and_file_store(
    trained: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    store = trained / "mlruns"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"file:{store}")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps it, in maintenance
    result = invoke("export", str(trained / "out"), "--to", "mlflow")
    assert result.exit_code == 0, result.output
    assert_matches(mlflow_series(f"file:{store}", "logged"), trained / "out")
    client = MlflowClient(f"file:{store}")
    run = client.search_runs(
        [client.get_experiment_by_name("logged").experiment_id],
        filter_string="tags.`ganbench.configuration` = 'srfb'",
    )[0]
    assert run.data.params["strategy.name"] == "srfb" and run.info.status == "FINISHED"
    assert run.data.tags["ganbench.seed"] == "0" and run.data.tags["ganbench.suite"] == "logged"
    assert [f.path for f in client.list_artifacts(run.info.run_id, "profile")]


def test_export_to_wandb_offline_twice_gives_the_same_runs(
    trained: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool_env(monkeypatch, trained)
    dest = trained / "wb"
    for _ in range(2):
        result = invoke("export", str(trained / "out"), "--to", "wandb", "--dest", str(dest))
        assert result.exit_code == 0, result.output
        assert_matches(wandb_series(dest), trained / "out")  # one run file per run
    assert "wandb sync" in result.output


def test_a_partly_trained_folder_exports_what_it_has(trained: Path) -> None:
    """A run killed part-way (no end event, no summary): its points so far, status
    KILLED in MLflow."""
    folder = trained / "partial"
    shutil.copytree(trained / "out", folder)
    run = folder / "srfb-seed0"
    lines = (run / "events.jsonl").read_text().splitlines()
    cut = next(i for i, line in enumerate(lines) if '"iteration": 12' in line)
    (run / "events.jsonl").write_text("\n".join(lines[:cut]) + "\n")
    (run / "summary.json").unlink()
    uri = f"sqlite:///{trained / 'partial-ml' / 'mlflow.db'}"
    result = invoke("export", str(folder), "--to", "mlflow", "--dest", uri)
    assert result.exit_code == 0, result.output
    series, _ = mlflow_series(uri, "logged")
    assert series["srfb-seed0"]["loss/d"] == [4, 8]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("logged").experiment_id])
    assert {r.data.tags["ganbench.run_id"]: r.info.status for r in runs} == {
        "alternating-seed0": "FINISHED",
        "srfb-seed0": "KILLED",
    }


@pytest.fixture
def mlflow_server(tmp_path: Path):
    """A real ``mlflow server`` on 127.0.0.1 (a free port), SQLite behind it, artifacts
    in a folder it serves."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "artifacts"), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while not _healthy(url):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start (exit {server.poll()})")
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_export_to_an_mlflow_server_twice_adds_nothing(
    trained: Path, mlflow_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    for _ in range(2):
        result = invoke("export", str(trained / "out"), "--to", "mlflow")
        assert result.exit_code == 0, result.output
        assert_matches(mlflow_series(mlflow_server, "logged"), trained / "out")
    assert f"exported 2 run(s) to {mlflow_server}" in " ".join(result.output.split())
