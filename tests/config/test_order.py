"""The order a suite's runs go in: interleaved seed blocks by default (every configuration
once per block, rotated), random blocks from a recorded seed, or grouped; each run's
summary says where it went, and the order is the suite's, so a resume keeps it."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ganbench.cli import app
from ganbench.config import load_suite
from tests.conftest import tiny_suite


def suite_of(write_suite, **top) -> Path:
    suite = tiny_suite(budget={"iterations": 2})
    suite["runs"] = [{"name": "a"}, {"name": "b"}, {"name": "c"}]
    suite["matrix"] = {"seed": [0, 1, 2]}
    return write_suite({**suite, **top})


def ids(path: Path, *sets: str) -> list[str]:
    return [run.id for run in load_suite(path, list(sets)).runs]


def test_runs_go_in_rotated_seed_blocks_by_default(write_suite) -> None:
    path = suite_of(write_suite)
    assert ids(path) == [
        "a-seed0", "b-seed0", "c-seed0",
        "b-seed1", "c-seed1", "a-seed1",
        "c-seed2", "a-seed2", "b-seed2",
    ]  # fmt: skip
    runs = load_suite(path).runs
    assert [(r.schedule.block, r.schedule.position) for r in runs[3:5]] == [(1, 3), (1, 4)]
    assert ids(path, "order=grouped")[:3] == ["a-seed0", "a-seed1", "a-seed2"]
    shuffled = ids(path, "order=random")
    assert shuffled == ids(path, "order=random")  # a recorded seed: the same every time
    assert sorted(shuffled[:3]) == ["a-seed0", "b-seed0", "c-seed0"]  # still in blocks
    blocks = {tuple(ids(path, "order=random", f"order_seed={s}")) for s in range(6)}
    assert len(blocks) > 1
    assert ids(path, "order=grouped") == ids(suite_of(write_suite, order="grouped"))


def test_each_summary_records_its_place_and_a_resume_keeps_the_order(tmp_path, write_suite):
    path = suite_of(write_suite)
    result = CliRunner().invoke(app, ["train-suite", str(path), "--only", "a", "--only", "b"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    summaries = {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/summary.json")}
    assert len(summaries) == 6
    started = {  # each run's first event, to the microsecond
        name: json.loads((out / name / "events.jsonl").read_text().splitlines()[0])["time"]
        for name in summaries
    }
    in_time = sorted(summaries, key=started.get)
    assert in_time == sorted(summaries, key=lambda n: summaries[n]["order_position"])
    assert in_time == [i for i in ids(path) if not i.startswith("c-")]
    assert all(s["started_at"] for s in summaries.values())
    assert (
        summaries["b-seed1"]["order_block"] == 1 and summaries["b-seed1"]["order"] == "interleaved"
    )
    result = CliRunner().invoke(app, ["train-suite", str(path), "--dry-run"])  # c is still to do
    lines = [line.split()[0] for line in result.output.splitlines() if "-seed" in line]
    assert lines == ids(path)
    result = CliRunner().invoke(app, ["train-suite", str(path), "--order", "sideways"])
    assert result.exit_code == 2 and "order" in result.output
