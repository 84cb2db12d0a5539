"""Suites that load: a run with ``load: SOURCE`` measures a pre-trained generator (quality
with the run's evaluation, generation latency) and the report shows it beside the trained
runs; a source that cannot be loaded or does not fit the data stops the suite before any
work, with one line."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from ganbench.cli import app
from ganbench.latency.sources import generator_from_checkpoint
from tests.conftest import tiny_suite

EVALUATION = {"num_samples": 16, "metrics": [{"name": "mixture", "num_samples": 256}]}
LATENCY = {"batch_sizes": [1, 8], "min_time_s": 0.05}


def train_suite(path):
    return CliRunner().invoke(app, ["train-suite", str(path)])


@pytest.fixture
def trained(tmp_path, write_suite):
    """A tiny trained run, its checkpoint, and its generator saved as a .pt2 and a
    state dict."""
    suite = tiny_suite(evaluation=EVALUATION)
    suite["runs"] = [{"name": "trained"}]
    result = train_suite(write_suite(suite, "train.yaml"))
    assert result.exit_code == 0, result.output
    folder = tmp_path / "out" / "trained-seed0"
    G = generator_from_checkpoint(folder / "checkpoint.pt").generator.eval()
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(G, (torch.randn(2, 4),), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(tmp_path / "g.pt2"))
    torch.save(G.state_dict(), tmp_path / "g_sd.pt")
    return folder


def test_loaded_generators_score_as_trained_and_sit_beside_them(tmp_path, write_suite, trained):
    suite = tiny_suite(evaluation=EVALUATION)
    suite["runs"] = [
        {"name": "trained"},
        {"name": "folder", "load": str(trained)},
        {"name": "exported", "load": {"source": str(tmp_path / "g.pt2"), **LATENCY}},
        {"name": "weights", "load": {"source": str(tmp_path / "g_sd.pt"), **LATENCY}},
    ]
    path = write_suite(suite, "load.yaml")
    result = train_suite(path)
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    final = json.loads((trained / "summary.json").read_text())["quality"]
    for name, kind in (
        ("folder", "checkpoint"),
        ("exported", "torch.export"),
        ("weights", "state dict"),
    ):
        summary = json.loads((out / f"{name}-seed0" / "summary.json").read_text())
        assert summary["status"] == "finished" and summary["strategy"] == "load", summary
        assert summary["loaded"]["kind"] == kind and summary["iterations"] == 0
        # the same evaluation noise as the trained run's: the same value, to the bit
        for value in ("modes_covered", "high_quality_fraction"):
            assert summary["quality"][value]["final"] == final[value]["final"], (name, value)
        assert summary.get("time_to_target") is None  # nothing trained: no time to a target
        rows = json.loads((out / f"{name}-seed0" / "latency.json").read_text())["rows"]
        assert [r["status"] for r in rows] == ["ok"] * len(rows)
        assert set(summary["generation"]) == {f"batch_{r['batch_size']}" for r in rows}
        assert (out / f"{name}-seed0" / "samples.png").is_file()
    report = CliRunner().invoke(app, ["report", str(out)])
    assert report.exit_code == 0, report.output
    text = (out / "report.md").read_text()
    assert "pre-trained generators" in text and "torch.export" in text
    assert "stopped at different iterations" not in text
    again = train_suite(path)  # finished loads are skipped like finished runs
    assert again.exit_code == 0 and "skip" in again.output
    torch.save(
        {k: v + 1 for k, v in torch.load(tmp_path / "g_sd.pt").items()}, tmp_path / "g_sd.pt"
    )
    suite["runs"] = suite["runs"][3:]  # the file changed: measured again, nothing refused
    changed = train_suite(write_suite(suite, "load.yaml"))
    assert changed.exit_code == 0, changed.output
    assert "measured again: load.source file changed" in " ".join(changed.output.split())


def test_a_load_that_cannot_work_stops_the_suite_before_any_work(tmp_path, write_suite) -> None:
    torch.save({"w": torch.zeros(3)}, tmp_path / "foreign.pt")
    suite = tiny_suite(evaluation=EVALUATION)
    suite["runs"] = [
        {"name": "missing", "load": str(tmp_path / "nothing.pt2")},
        {"name": "foreign", "load": str(tmp_path / "foreign.pt")},
        {"name": "wrong", "load": {"source": "torch.nn:Identity", "latent_shape": [3]}},
    ]
    result = train_suite(write_suite(suite))
    text = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "3 problems" in text and "Traceback" not in text
    assert "missing: load " in text and "no such file" in text
    assert "foreign: load " in text and "does not fit" in text
    assert "wrong: load torch.nn:Identity: the generator makes examples of shape [3]" in text
    assert not (tmp_path / "out").exists()
    nothing = tiny_suite()
    nothing["defaults"].pop("model")
    result = train_suite(write_suite(nothing))
    assert result.exit_code == 2 and "model: required to train (or load:" in result.output
