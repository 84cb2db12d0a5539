"""Every table at 80 columns (a laptop terminal, a CI log with COLUMNS=80): no number
split across lines, no line wider than the terminal."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import yaml

from ganbench.cli.console import console, err_console
from tests.cli.test_commands import invoke
from tests.conftest import tiny_suite

NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?![\w.])")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """A finished suite of two configurations x two seeds, its file, and a latency run."""
    root = tmp_path_factory.mktemp("narrow")
    suite = tiny_suite(evaluation={"metrics": ["mixture"], "every_iterations": 3})
    suite.update(
        output_dir=str(root / "out"),
        baseline="alternating-configuration",
        runs=[
            {"name": "alternating-configuration"},
            {"name": "srfb-configuration", "strategy": "srfb"},
        ],
        matrix={"seed": [0, 1]},
    )
    path = root / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    assert invoke("train-suite", str(path)).exit_code == 0
    checkpoint = root / "out" / "alternating-configuration-seed0" / "checkpoint.pt"
    result = invoke(
        "latency",
        "--checkpoint",
        str(checkpoint),
        "--batch-sizes",
        "1,2",
        "--repeats",
        "3",
        "--warmup",
        "1",
        "--output",
        str(root / "lat"),
    )
    assert result.exit_code == 0, result.output
    baseline = root / "baseline.json"
    assert invoke("baseline", "save", str(root / "out"), "-o", str(baseline)).exit_code == 0
    return path, root


def at_width(monkeypatch, width: int, *args: str) -> str:
    monkeypatch.setattr(console, "width", width)
    monkeypatch.setattr(err_console, "width", width)
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return result.output


def test_every_table_fits_80_columns_without_splitting_a_number(trained, monkeypatch) -> None:
    path, root = trained
    commands = [
        ("train-suite", str(path)),  # finished: skips, and prints the stored results' tables
        ("train-suite", str(path), "--dry-run"),
        ("report", str(root / "out"), "--latency", str(root / "lat")),
        ("check", str(root / "out"), "--baseline", str(root / "baseline.json"), "--allow-blind"),
        ("runs", str(root)),
    ]
    for args in commands:
        wide = at_width(monkeypatch, 250, *args)
        for width in (60, 80, 100, 140):
            narrow = at_width(monkeypatch, width, *args)
            too_wide = [line for line in narrow.splitlines() if len(line) > width]
            assert not too_wide, (args, width, too_wide)
            split = numbers(wide) - numbers(narrow)
            assert not split, (args, width, sorted(split), narrow)
            if width >= 80:  # still tables (a rule under each header), not a block per run
                assert rules(narrow) >= rules(wide), (args, width, narrow)


def numbers(output: str) -> set[str]:
    """The numbers printed, dates and clock times left out (``runs`` shows when each
    folder changed, and the minute may turn between two invocations)."""
    return set(NUMBER.findall(WHEN.sub(" ", output)))


WHEN = re.compile(r"\d{4}-\d\d-\d\d(?:[ T]\d\d:\d\d(?::\d\d)?)?|\b\d\d:\d\d\b")


def rules(output: str) -> int:
    """Header rules: one per table printed as a table."""
    return sum(1 for line in output.splitlines() if line.strip().startswith("─"))


def test_the_progress_bar_keeps_the_times_and_the_speed_at_80_columns() -> None:
    from types import SimpleNamespace

    from rich.console import Console

    from ganbench.cli.render_train import RichObserver

    out = Console(width=80, record=True, force_terminal=False, file=io.StringIO())
    observer = RichObserver(out)
    plan = SimpleNamespace(run=SimpleNamespace(id="srfb-grow-seed2"), action="start")
    observer.run_started(plan, 11, 12)
    record = {"run_id": "srfb-grow-seed2", "iteration": 40, "train_s": 8.0, "fraction": 0.4,
              "d_loss": 1.2345, "g_loss": -0.5, "batch_size": 256}  # fmt: skip
    observer.logged(record)
    out.print(observer.progress.get_renderable())
    (line,) = [line for line in out.export_text().splitlines() if line.strip()]
    assert len(line) <= 80 and "[12/12] srfb-grow-seed2" in line
    assert len(TIME.findall(line)) == 2, line  # elapsed and remaining
    assert "5.0 it/s" in line and "bs 256" in line, line


TIME = re.compile(r"(?:\d+:\d\d:\d\d|-:--:--)")


def test_the_profile_table_explains_negative_memory() -> None:
    import pandas as pd
    from rich.console import Console

    from ganbench.cli.render_train import print_top_operators

    frame = pd.DataFrame([{
        "operator": "aten::addmm", "calls": 4, "self_cpu_s": 0.002, "cpu_total_s": 0.003,
        "self_device_s": 0.0, "device_total_s": 0.0, "self_share": 0.4,
        "self_cpu_memory_bytes": -36.3 * 2**20, "self_device_memory_bytes": 0,
    }])  # fmt: skip
    out = Console(width=100, record=True, file=io.StringIO())
    print_top_operators(out, frame, "top operators")
    text = " ".join(out.export_text().split())
    assert "CPU MiB net" in text and "-36.3" in text and "device" not in text.split("MiB net:")[0]
    assert "MiB net: what the operator itself allocated minus what it freed" in text
