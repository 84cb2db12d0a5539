"""`ganbench report`, `baseline save` and `check` on generated run folders whose figures
are chosen by hand, and once on a real trained suite."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from scipy import stats
from typer.testing import CliRunner

from ganbench.cli import app
from ganbench.report.aggregate import aggregate
from ganbench.report.check import check
from ganbench.report.collect import load_suites
from ganbench.results import write_suite_meta
from tests.conftest import ROOT, tiny_suite

runner = CliRunner()
T2 = stats.t.ppf(0.975, 2)  # 4.3027: three seeds

CPU_ENV = {"device": "cpu", "gpu_name": None, "torch": "2.15.0", "cpu_model": "EPYC"}


def make_run(
    suite: Path,
    name: str,
    seed: int,
    images_per_s: float | None = 100.0,
    status: str | None = "finished",
    fd: list[float] = (300.0, 200.0),  # type: ignore[assignment]
    environment: dict[str, Any] | None = None,
    **figures: Any,
) -> Path:
    """A run folder as train-suite writes it; ``status=None`` leaves out summary.json
    (a run killed before it finished)."""
    folder = suite / f"{name}-seed{seed}"
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump({"name": name, "seed": seed}))
    evals = [
        {"event": "eval", "iteration": 50 * i, "train_s": 5.0 * i, "wall_s": 6.0 * i,
         "images_seen": 3200 * i, "fd_classifier": v}
        for i, v in enumerate(fd)
    ]  # fmt: skip
    events = [{"event": "iteration", "iteration": 10, "train_s": 1.0}, *evals]
    if name.endswith("grow"):
        events.append({"event": "batch_size", "iteration": 30, "train_s": 3.0, "batch_size": 128})
    (folder / "events.jsonl").write_text("\n".join(json.dumps(e) for e in events) + "\n")
    if status is None:
        return folder
    summary = {
        "run_id": folder.name,
        "name": name,
        "seed": seed,
        "status": status,
        "reason": "budget reached" if status == "finished" else "CUDA out of memory",
        "iterations": 100,
        "steady_s": 1.0,  # measured by this ganbench (steady-state figures)
        "images_per_s": images_per_s if status == "finished" else None,
        "iterations_per_s": images_per_s / 64 if images_per_s and status == "finished" else None,
        "peak_rss_bytes": 2**30,
        "phases": {"d_step": {"share": 0.6}, "g_step": {"share": 0.4}},
        "quality": {"fd_classifier": {"final": fd[-1], "best": min(fd)}},
        "time_to_target": {
            "fd_classifier": {
                "target": 250.0,
                "reached": True,
                "train_s": 5.0 * len(fd) - 5.0,
                "iteration": 50,
                "images_seen": 3200,
            }
        },
        "environment": environment or CPU_ENV,
        **figures,
    }
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def suite_of(root: Path, speeds: dict[str, list[float]], baseline: str | None = "a", **kw):
    root.mkdir(parents=True, exist_ok=True)
    for name, values in speeds.items():
        for seed, value in enumerate(values):
            make_run(root, name, seed, value, **kw)
    write_suite_meta(root, root.name, Path("suite.yaml"), baseline, [])
    return root


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


# ------------------------------------------------------------------- aggregation


def test_intervals_and_ratios_match_hand_computation(tmp_path: Path) -> None:
    suite = load_suites([suite_of(tmp_path / "s", {"a": [10, 12, 14], "b": [20, 22, 24]})])
    table = aggregate(suite, baseline="a")
    spread = math.exp(T2 * 2 / (12 * math.sqrt(3)))  # s = 2: log scale, delta method
    assert table.at["a", "images_per_s.mean"] == pytest.approx(12)
    assert table.at["a", "images_per_s.ci95_low"] == pytest.approx(12 / spread)
    assert table.at["a", "images_per_s.ci95_high"] == pytest.approx(12 * spread)
    assert table.at["a", "images_per_s.n"] == 3
    # Ratio b/a on the log scale: se^2 = s^2/(n mb^2) + s^2/(n ma^2), Welch df, at the
    # 95 %: images/s is b's only comparison with any spread (it/s is images/s over the
    # fixed batch, counted once; the other figures did not vary: exact).
    va, vb = 4 / (3 * 22**2), 4 / (3 * 12**2)
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 2)
    level = table.at["b", "images_per_s.ratio_level"]
    assert level == pytest.approx(0.95)
    assert table.at["b", "iterations_per_s.ratio_low"] == table.at["b", "images_per_s.ratio_low"]
    spread = stats.t.ppf(1 - (1 - level) / 2, df) * math.sqrt(va + vb)
    assert table.at["b", "images_per_s.ratio"] == pytest.approx(22 / 12)
    assert table.at["b", "images_per_s.ratio_low"] == pytest.approx(22 / 12 * math.exp(-spread))
    assert table.at["b", "images_per_s.ratio_high"] == pytest.approx(22 / 12 * math.exp(spread))
    assert table.at["b", "images_per_s.ratio_method"] == "Welch"  # not run interleaved
    assert table.at["b", "images_per_s.vs_baseline"] == "better"
    assert table.at["a", "images_per_s.vs_baseline"] == "baseline"
    assert table.at["b", "runs"] == "3 finished" and table.at["b", "seeds"] == "0,1,2"
    # Figures that did not vary: an exact ratio of 1, inside the margin.
    assert table.at["b", "peak_rss_bytes.vs_baseline"] == "equivalent"


def test_unfinished_runs_are_shown_and_kept_out_of_the_means(tmp_path: Path) -> None:
    root = suite_of(tmp_path / "s", {"a": [10, 12, 14]})
    make_run(root, "a", 3, status=None)  # killed: no summary.json
    make_run(root, "a", 4, status="oom")
    suite = load_suites([root])
    table = aggregate(suite, "a")
    assert table.at["a", "runs"] == "3 finished, 1 incomplete, 1 oom"
    assert table.at["a", "images_per_s.mean"] == pytest.approx(12)
    result = invoke("report", root)
    assert result.exit_code == 0, result.output
    markdown = (root / "report.md").read_text()
    assert "3 finished, 1 incomplete, 1 oom" in markdown
    assert "a-seed3: incomplete (no summary.json" in markdown
    assert "a-seed4: oom (CUDA out of memory); not in the means" in markdown
    make_run(root, "b", 0, status="oom")  # a configuration with no finished run at all
    assert invoke("report", root).exit_code == 0
    markdown = (root / "report.md").read_text()
    assert "| b | 1 oom | - | - |" in markdown and "(0/0)" not in markdown


class Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if tag == "img" and key == "src":
                self.sources.append(value or "")
            elif key in ("href", "src"):
                self.links.append(value or "")


def test_report_files_html_is_self_contained(tmp_path: Path) -> None:
    root = suite_of(tmp_path / "s", {"a": [10, 12, 14], "b-grow": [20, 22, 24]})
    result = invoke("report", root)
    assert result.exit_code == 0, result.output
    assert "b-grow" in result.output and "images/s vs a" in result.output
    page = (root / "report.html").read_text()
    parser = Images()
    parser.feed(page)
    # quality vs time and vs iterations, throughput/memory bars, phases
    assert len(parser.sources) == 4
    assert all(s.startswith("data:image/png;base64,") for s in parser.sources)
    assert not parser.links  # no stylesheet, script or link to fetch
    markdown = (root / "report.md").read_text()
    ratios = markdown.split("**ratio to a [interval adjusted for", 1)[1].split("\n\n**", 1)[0]
    assert "| b-grow | 1.83x [" in ratios and "] better |" in ratios  # images/s, it/s
    for png in ("quality_fd_classifier_time", "throughput_memory", "phases"):
        assert f"](report/{png}.png)" in markdown and (root / "report" / f"{png}.png").is_file()
    frame = pd.read_csv(root / "summary.csv")
    assert list(frame["configuration"]) == ["a", "b-grow"]
    assert frame.loc[1, "images_per_s.mean"] == pytest.approx(22)
    assert frame.loc[1, "quality.fd_classifier.final.mean"] == pytest.approx(200)


def test_growth_is_read_with_its_training_time(tmp_path: Path) -> None:
    suite = load_suites([suite_of(tmp_path / "s", {"a-grow": [10, 12]})])
    assert suite.growth[["iteration", "train_s", "batch_size"]].values.tolist() == [
        [30, 3.0, 128],
        [30, 3.0, 128],
    ]
    assert set(suite.curves["value"]) == {"fd_classifier"}
    assert len(suite.curves) == 4  # two evaluations per seed


def test_compare_two_configurations_and_two_suites(tmp_path: Path) -> None:
    first = suite_of(tmp_path / "first", {"a": [10, 12, 14], "b": [20, 22, 24]})
    result = invoke("report", first, "--compare", "a", "b")
    assert result.exit_code == 0, result.output
    assert "b against a" in result.output and "1.83x" in result.output
    assert "a vs b" not in result.output  # rows agree with the heading: b / a
    second = suite_of(tmp_path / "second", {"a": [20, 24, 28]})
    result = invoke("report", first, "--compare", first, second, "--output", tmp_path / "cmp")
    assert result.exit_code == 0, result.output
    assert "second against first" in result.output and "2.00x" in result.output
    result = invoke("report", first, "--compare", "a", "zzz")
    assert result.exit_code == 2 and "--compare: unknown zzz" in result.output


def test_report_bad_input_exits_2(tmp_path: Path) -> None:
    result = invoke("report", tmp_path / "nowhere")
    assert result.exit_code == 2 and "no such suite folder" in result.output
    (tmp_path / "empty").mkdir()
    result = invoke("report", tmp_path / "empty")
    assert result.exit_code == 2 and "no run folders in it" in result.output
    root = suite_of(tmp_path / "s", {"a": [1, 2]})
    result = invoke("report", root, "--baseline", "zzz")
    assert result.exit_code == 2 and "baseline: no configuration 'zzz'" in result.output
    result = invoke("report", root, "--latency", tmp_path / "empty")
    assert result.exit_code == 2 and "no readable latency.json" in result.output


# ----------------------------------------------------------------------- check


def baseline_file(tmp_path: Path, speeds: dict[str, list[float]], **kw) -> Path:
    root = suite_of(tmp_path / "base", speeds, **kw)
    out = tmp_path / "baseline.json"
    result = invoke("baseline", "save", root, "-o", out)
    assert result.exit_code == 0, result.output
    return out


SPEEDS = {"a": [1000, 1005, 995], "b": [500, 502, 498]}


def test_a_planted_10_percent_slowdown_fails_and_1_percent_passes(tmp_path: Path) -> None:
    baseline = baseline_file(tmp_path, SPEEDS)
    slow = suite_of(tmp_path / "slow", {"a": [900, 904.5, 895.5], "b": [500, 502, 498]})
    result = invoke("check", slow, "--baseline", baseline)
    assert result.exit_code == 1, result.output
    assert "regression" in result.output and "-10.0 %" in result.output and "FAIL" in result.output
    close = suite_of(tmp_path / "close", {"a": [990, 995, 985], "b": [495, 497, 493]})
    result = invoke("check", close, "--baseline", baseline)
    assert result.exit_code == 0 and "PASS" in result.output, result.output
    verdicts = {(v.configuration, v.figure): v.verdict for v in check(baseline, close).verdicts}
    # images/s and it/s at a fixed batch are one quantity: gated once, as images/s
    assert set(verdicts.values()) == {"ok"} and len(verdicts) == 2
    verdicts = {(v.configuration, v.figure): v.verdict for v in check(baseline, slow).verdicts}
    assert (
        verdicts[("a", "images_per_s")] == "regression" and verdicts[("b", "images_per_s")] == "ok"
    )


def test_a_gate_too_noisy_for_its_tolerance_fails_unless_allowed(tmp_path):
    """A 5 % tolerance means nothing when the noise is +-60 %: check says so (the smallest
    change it could see) and fails, unless --allow-blind; a tighter tolerance is honoured."""
    noisy = {"a": [1000, 1300, 700]}  # 1000 +- 745
    baseline = baseline_file(tmp_path, noisy)
    slower = suite_of(tmp_path / "slower", {"a": [920, 1220, 620]})  # -8 %, inside the noise
    result = invoke("check", slower, "--baseline", baseline)
    output = " ".join(result.output.split())
    assert result.exit_code == 1, output
    assert "a images_per_s: even an unchanged figure would not be shown within the 5 %" in output
    assert "--allow-blind" in output
    result = invoke("check", slower, "--baseline", baseline, "--allow-blind")
    assert result.exit_code == 0 and "blind (allowed)" in result.output, result.output
    steady = baseline_file(tmp_path / "steady", SPEEDS)
    slightly = suite_of(tmp_path / "slightly", {"a": [970, 975, 965], "b": [500, 502, 498]})
    assert invoke("check", slightly, "--baseline", steady).exit_code == 0  # -3 % < 5 %
    result = invoke("check", slightly, "--baseline", steady, "--tolerance", "images_per_s=2%")
    assert result.exit_code == 1, result.output


def test_a_changed_gpu_is_refused_unless_allowed_and_missing_or_failing_configurations_fail(
    tmp_path: Path,
) -> None:
    gpu = {"device": "cuda", "gpu_name": "NVIDIA H100 80GB HBM3", "torch": "2.15.0"}
    baseline = baseline_file(tmp_path, SPEEDS, environment=gpu)
    other = {**gpu, "gpu_name": "NVIDIA H200"}
    same = suite_of(tmp_path / "same", SPEEDS, environment=other)
    result = invoke("check", same, "--baseline", baseline)
    assert result.exit_code == 2, result.output
    assert "gpu_name 'NVIDIA H100 80GB HBM3' -> 'NVIDIA H200'" in result.output
    assert "--allow-mismatch gpu_name" in result.output
    result = invoke("check", same, "--baseline", baseline, "--allow-mismatch", "gpu_name")
    assert result.exit_code == 0, result.output
    assert "gpu_name 'NVIDIA H100 80GB HBM3' -> 'NVIDIA H200' (all 6 runs) (allowed)" in (
        " ".join(result.output.split())
    )
    partial = suite_of(tmp_path / "partial", {"a": SPEEDS["a"]}, environment=gpu)
    make_run(partial, "a", 3, status="oom", environment=gpu)
    result = invoke("check", partial, "--baseline", baseline)
    assert result.exit_code == 1
    assert "missing" in result.output and "3 finished, 1 oom" in result.output


def test_check_bad_input_exits_2(tmp_path: Path) -> None:
    baseline = baseline_file(tmp_path, SPEEDS)
    suite = tmp_path / "base"
    result = invoke("check", suite, "--baseline", tmp_path / "none.json")
    assert result.exit_code == 2 and "file not found (make one" in result.output
    (tmp_path / "junk.json").write_text("{not json")
    result = invoke("check", suite, "--baseline", tmp_path / "junk.json")
    assert result.exit_code == 2 and "not JSON" in result.output
    (tmp_path / "other.json").write_text("{}")
    result = invoke("check", suite, "--baseline", tmp_path / "other.json")
    assert result.exit_code == 2 and "not a ganbench baseline" in result.output
    result = invoke("check", suite, "--baseline", baseline, "--tolerance", "speed=5%")
    assert result.exit_code == 2 and "--tolerance speed: not a figure" in result.output
    result = invoke("check", suite, "--baseline", baseline, "--tolerance", "images_per_s=fast")
    assert result.exit_code == 2 and "expected figure=5%" in result.output
    result = invoke("check", tmp_path / "nowhere", "--baseline", baseline)
    assert result.exit_code == 2 and "no such suite folder" in result.output


# ---------------------------------------------------------------- end to end


def test_a_trained_two_seed_suite_reports_with_its_baseline(write_suite, tmp_path) -> None:
    suite = write_suite({**tiny_suite(), "baseline": "a", "runs": [{"name": "a"}, {"name": "b"}]})
    result = invoke("train-suite", suite, "--seeds", "0,1")
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    assert json.loads((out / "suite.json").read_text())["baseline"] == "a"
    result = invoke("report", out)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out / "summary.csv")
    assert list(frame["configuration"]) == ["a", "b"] and list(frame["runs"]) == ["2 finished"] * 2
    assert list(frame["images_per_s.vs_baseline"])[0] == "baseline"
    assert (frame["images_per_s.n"] == 2).all()


def test_the_gpu_workflow_example_uses_valid_commands(tmp_path: Path) -> None:
    """The example's training command resolves (dry run, on the CPU here) and its check
    and report steps name real commands and options."""
    import shlex

    root = ROOT
    workflow = yaml.safe_load((root / ".github/workflows/gpu-regression.yml").read_text())
    steps = {s.get("id") or s.get("name"): s for s in workflow["jobs"]["gpu"]["steps"]}
    train = shlex.split(steps["train"]["run"])
    assert train[0] == ".venv/bin/ganbench"
    out = tmp_path / "ci-gpu"
    args = [*train[1:], "--set", "device=cpu", "--set", f"output_dir={out}", "--dry-run"]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert "srfb-fixed-seed2" in result.output and "svre-seed0" in result.output
    named = ("save the baseline", "check against the committed baseline", "report")
    named += ("check against the history", "record in the history", "dashboard")
    for name in named:
        command = shlex.split(steps[name]["run"])
        group = command[1] in ("baseline", "history")
        help_text = invoke(*command[1 : 3 if group else 2], "--help")
        assert help_text.exit_code == 0
        for option in (c for c in command if c.startswith("--")):
            assert option in help_text.output, (name, option)
    ci = yaml.safe_load((root / ".github/workflows/ci.yml").read_text())
    assert ci["jobs"]["cpu"]["steps"][-1]["run"] == "bash .ci/run"


def test_configurations_keep_the_suites_order(tmp_path: Path) -> None:
    root = suite_of(tmp_path / "s", {"zeta": [1, 2], "alpha": [3, 4]})
    ids = ["zeta-seed0", "zeta-seed1", "alpha-seed0", "alpha-seed1"]
    write_suite_meta(root, "s", Path("s.yaml"), "zeta", ids)
    assert list(aggregate(load_suites([root]), "zeta").index) == ["zeta", "alpha"]
    (root / "suite.json").unlink()  # a folder from before suite.json: by name
    assert list(aggregate(load_suites([root])).index) == ["alpha", "zeta"]


# ------------------------------------------------- runs without figures, --only


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny suite (baseline a; configurations a and b, seed 0) trained for real, once;
    tests change copies of it."""
    root = tmp_path_factory.mktemp("trained")
    suite = {**tiny_suite(), "baseline": "a", "runs": [{"name": "a"}, {"name": "b"}]}
    path = root / "suite.yaml"
    path.write_text(yaml.safe_dump({"output_dir": str(root / "out"), **suite}, sort_keys=False))
    result = invoke("train-suite", path, "--seeds", "0")
    assert result.exit_code == 0, result.output
    return root / "out"


def copy_of(trained: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(trained, tmp_path / "suite"))


def identity_only(status: str, reason: str | None) -> Callable[[Path], str]:
    """summary.json holding only the identity fields (written before any figure)."""

    def change(run: Path) -> str:
        fields = {"run_id": run.name, "name": run.name[0], "seed": 0, "status": status}
        (run / "summary.json").write_text(json.dumps({**fields, "reason": reason}))
        return f"{run.name}: {status} ({reason or 'no reason recorded'}); not in the means"

    return change


KILLED = "no summary.json: the run stopped without finishing (killed?)"


def no_summary(run: Path) -> str:
    (run / "summary.json").unlink()  # the events say how far it got: all 6 iterations
    return f"{run.name}: incomplete ({KILLED}; last logged iteration 6); not in the means"


def config_only(run: Path) -> str:
    for path in run.iterdir():
        if path.name != "config.yaml":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    return f"{run.name}: incomplete ({KILLED}; last logged iteration 0); not in the means"


def damaged_files(run: Path) -> str:
    """config.yaml not YAML and summary.json cut short (a kill on a file system without
    atomic renames): the folder's name stands in, the run is incomplete."""
    (run / "config.yaml").write_text("name: [unclosed")
    (run / "summary.json").write_text('{"status": "fini')
    killed = KILLED.replace("no summary.json", "unreadable summary.json")
    return f"{run.name}: incomplete ({killed}; last logged iteration 6); not in the means"


def no_status(run: Path) -> str:
    (run / "summary.json").write_text(json.dumps({"run_id": run.name, "name": run.name[0]}))
    return f"{run.name}: unknown (summary.json records no status); not in the means"


def assert_reported(result: Any, root: Path, *notes: str) -> str:
    """Exit 0 without a traceback, the three files written, each note in report.md and on
    the console (whose lines rich may wrap); returns report.md."""
    assert result.exit_code == 0, result.output
    assert result.exception is None and "Traceback" not in result.output, result.output
    markdown = (root / "report.md").read_text()
    assert (root / "report.html").is_file() and (root / "summary.csv").is_file()
    console = " ".join(result.output.split())
    for note in notes:
        assert f"- {note}" in markdown, (note, markdown)
        assert " ".join(note.split()) in console, (note, result.output)
    return markdown


@pytest.mark.parametrize(
    "change",
    [
        identity_only("failed", "RuntimeError: boom"),
        identity_only("interrupted", None),
        no_summary,
        damaged_files,
        config_only,
        no_status,
    ],
    ids=["failed", "interrupted", "no-summary", "damaged-files", "config-only", "no-status"],
)
def test_runs_without_figures_yet_are_reported_with_status_and_reason(
    trained: Path, tmp_path: Path, change: Callable[[Path], str]
) -> None:
    root = copy_of(trained, tmp_path)
    expected = [change(root / run) + "; no figures yet" for run in ("a-seed0", "b-seed0")]
    result = invoke("report", root)
    markdown = assert_reported(result, root, *expected)
    assert "no figures yet: none of the 2 runs" in markdown
    assert "| a |" in markdown and "| b |" in markdown  # the configurations are still listed
    assert list(pd.read_csv(root / "summary.csv")["configuration"]) == ["a", "b"]


def test_a_run_without_figures_beside_a_finished_one(trained: Path, tmp_path: Path) -> None:
    root = copy_of(trained, tmp_path)
    note = identity_only("failed", "RuntimeError: boom")(root / "b-seed0")
    markdown = assert_reported(invoke("report", root), root, note + "; no figures yet")
    assert "none of the" not in markdown  # a has figures
    frame = pd.read_csv(root / "summary.csv").set_index("configuration")
    assert frame.at["a", "images_per_s.n"] == 1 and frame.at["b", "images_per_s.n"] == 0
    assert frame.at["b", "runs"] == "1 failed"


def test_a_folder_trained_with_only_reports_without_the_suites_baseline(
    write_suite, tmp_path: Path
) -> None:
    suite = write_suite({**tiny_suite(), "baseline": "a", "runs": [{"name": "a"}, {"name": "b"}]})
    result = invoke("train-suite", suite, "--seeds", "0,1", "--only", "b")
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    assert json.loads((out / "suite.json").read_text())["baseline"] == "a"
    assert not (out / "a-seed0").exists()
    note = (
        "baseline 'a' of the suite has no runs in this folder (trained with --only?); ratios "
        "left out; pass --baseline NAME to compare against another configuration"
    )
    markdown = assert_reported(invoke("report", out), out, note)
    assert "ratio to" not in markdown and "vs a" not in markdown
    frame = pd.read_csv(out / "summary.csv")
    assert list(frame["runs"]) == ["2 finished"] and frame.at[0, "images_per_s.n"] == 2
    assert not [c for c in frame.columns if ".ratio" in c or ".vs_baseline" in c]
    # A baseline the user names is still checked.
    result = invoke("report", out, "--baseline", "a")
    assert result.exit_code == 2 and "baseline: no configuration 'a' (choose: b)" in result.output
    result = invoke("report", out, "--baseline", "b")
    assert result.exit_code == 0 and "has no runs in this folder" not in result.output
    assert list(pd.read_csv(out / "summary.csv")["images_per_s.vs_baseline"]) == ["baseline"]


def test_seeds_that_ran_on_different_devices_are_noted(tmp_path: Path) -> None:
    """A launcher spreading a configuration's seeds over a mixed cluster: the report says
    which configuration's speed figures mix devices."""
    h100 = {"device": "cuda", "gpu_name": "NVIDIA H100", "torch": "2.15.0", "cpu_model": "EPYC"}
    root = suite_of(tmp_path / "mixed", {"a": [100, 110]}, environment=h100)
    make_run(root, "a", 2, 300, environment={**h100, "gpu_name": "NVIDIA H200"})
    make_run(root, "b", 0, 100, environment=h100)
    make_run(root, "b", 1, 100, environment=h100)
    result = invoke("report", root)
    assert result.exit_code == 0, result.output
    note = "a: its seeds ran on different devices (NVIDIA H100, NVIDIA H200)"
    assert note in " ".join(result.output.split())
    assert note in (root / "report.md").read_text()
    assert "b: its seeds ran" not in (root / "report.md").read_text()
    # check warns likewise: the gate's speed comparison for `a` mixes two GPU models.
    baseline = tmp_path / "baseline.json"
    assert invoke("baseline", "save", root, "-o", baseline).exit_code == 0
    result = invoke("check", root, "--baseline", baseline)
    assert note in " ".join(result.output.split()), result.output


def test_runs_measured_on_a_busy_machine_or_unsteadily_are_noted(tmp_path: Path) -> None:
    """The report says which runs' speed figures are unsteady, and why: other processes'
    CPU share, CPU steal, or widely varying iteration times."""
    root = suite_of(tmp_path / "noisy", {"a": [100, 110]})
    busy = {"host_load": {"others_cpu_pct": 61.0, "cpu_steal_pct": 12.0}}
    make_run(root, "a", 2, 90, environment=busy)
    make_run(root, "b", 0, 100, iter_time_mean_s=0.01, iter_time_std_s=0.02)
    make_run(root, "b", 1, 100, iter_time_mean_s=0.01, iter_time_std_s=0.001)
    result = invoke("report", root)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert (
        "a-seed2: other processes took 61 % of the CPUs meanwhile; the VM's host took 12 % "
        "of the CPU time (steal): its speed figures are unsteady" in text
    )
    assert "b-seed0: its iteration times varied widely (CV 2.00)" in text
    assert "b-seed1:" not in text and "a-seed0:" not in text


def test_ddp_communication_is_noted_per_configuration(tmp_path: Path) -> None:
    """What the gradient all-reduces moved per iteration and their share of training
    time, over the seeds; nothing for a configuration trained in one process."""
    root = suite_of(tmp_path / "ddp", {"one": [100, 110]})
    for seed, share in ((0, 0.12), (1, 0.18)):
        make_run(
            root,
            "two",
            seed,
            180,
            world_size=2,
            ddp_allreduce_bytes_per_iteration=3 * 2**20,
            ddp_allreduces_per_iteration=1.0,
            ddp_comm_share=share,
        )
    result = invoke("report", root)
    assert result.exit_code == 0, result.output
    note = (
        "two: 2 ddp processes all-reduced 3 MiB of gradients per iteration in 1 all-reduce; "
        "communication took 15% of training time (rank 0's) (12% to 18% over 2 seeds)"
    )
    assert note in " ".join(result.output.split())
    assert note in (root / "report.md").read_text()
    assert "one: " not in (root / "report.md").read_text().split("## Notes")[-1]


def test_a_baseline_of_another_suite_is_named_as_such(tmp_path: Path) -> None:
    baseline = baseline_file(tmp_path, SPEEDS)
    other = suite_of(tmp_path / "other", {"c": [100, 101]})
    meta = json.loads((other / "suite.json").read_text())
    (other / "suite.json").write_text(json.dumps({**meta, "name": "another"}))
    result = invoke("check", other, "--baseline", baseline)
    output = " ".join(result.output.split())
    assert result.exit_code == 2, output
    assert "this baseline is for suite" in output and "holds suite 'another'" in output


def test_iterations_are_shown_and_different_stopping_points_noted(tmp_path: Path) -> None:
    """A wall-clock limit on a busy machine stops seeds at different iterations: the
    report shows the iterations and says quality is compared at different points."""
    root = suite_of(tmp_path / "stops", {"a": [100, 110]})
    make_run(root, "b", 0, 100)
    make_run(root, "b", 1, 100, iterations=60)
    result = invoke("report", root)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "b: its seeds stopped at different iterations (60, 100)" in text
    assert "configurations stopped at different iterations (a 100, b 100)" not in text
    markdown = (root / "report.md").read_text()
    assert "| iterations |" in markdown.replace("iterations | ", "iterations |")
    assert "60-100" in markdown


def test_iteration_times_that_vary_by_design_are_not_called_unsteady(tmp_path: Path) -> None:
    """SVRE's full-batch passes and a growing batch make some iterations longer on
    purpose: no unsteadiness note for them."""
    root = suite_of(tmp_path / "design", {"a": [100, 110]})
    make_run(root, "svre", 0, 100, iter_time_mean_s=0.01, iter_time_std_s=0.02,
             full_batch_passes=3)  # fmt: skip
    make_run(root, "srfb-grow", 0, 100, iter_time_mean_s=0.01, iter_time_std_s=0.02)
    result = invoke("report", root)
    assert result.exit_code == 0, result.output
    assert "varied widely" not in result.output


def test_phases_keep_one_order_in_every_report(tmp_path: Path) -> None:
    """Strategies time different phases; the report shows them in the summary's phase
    order (data, d_step, g_step, joint_step ...), whatever order the runs came in."""
    from ganbench.report.charts import phase_shares

    root = tmp_path / "s"
    make_run(root, "srfb", 0, phases={"joint_step": {"share": 0.7}, "data": {"share": 0.3}})
    make_run(root, "alt", 0, phases={"g_step": {"share": 0.5}, "d_step": {"share": 0.5}})
    write_suite_meta(root, "s", Path("suite.yaml"), "srfb", [])
    shares = phase_shares(load_suites([root]))
    assert list(shares.columns) == ["data", "d_step", "g_step", "joint_step"]


def test_the_report_s_phase_order_is_the_summary_s() -> None:
    from ganbench.results.summary import PHASE_ORDER
    from ganbench.run.summary import PHASES

    assert PHASES == PHASE_ORDER
