"""A report: the aggregated tables and the plots of one or several suite folders (and of
latency results), ready to print, or to write as report.md, report.html and summary.csv.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ganbench.errors import UserError
from ganbench.report.aggregate import (
    Estimate,
    aggregate,
    estimate_all,
    overlap,
    ratio,
    verdict,
)
from ganbench.report.collect import SuiteRuns, load_suites
from ganbench.results.latency import generator_names, ratio_text, read_latency
from ganbench.results.summary import in_phase_order

PLOTS_DIR = "report"  # beside the runs: reports/<suite>/report/*.png


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]]
    note: str = ""


@dataclass
class Report:
    title: str
    suite: SuiteRuns
    summary: pd.DataFrame
    tables: list[Table] = field(default_factory=list)
    plots: list[tuple[str, Path]] = field(default_factory=list)  # (caption, png)
    notes: list[str] = field(default_factory=list)


# (column, header, scale, unit) of the speed table; memory picks CUDA when there is any.
SPEED_COLUMNS = [
    ("iterations_per_s", "it/s", 1.0, ""),
    ("images_per_s", "images/s", 1.0, ""),
    ("images_per_s_overall", "images/s incl. compile", 1.0, ""),
    ("epoch_time_mean_s", "epoch s", 1.0, ""),
    ("iter_time_p50_s", "iteration p50 ms", 1e-3, ""),
    ("train_s", "training s", 1.0, ""),
    ("energy_j_per_image", "energy J/image", 1.0, ""),
    ("grad_evals", "grad evals", 1.0, ""),
]


def fmt(value: float, scale: float = 1.0, unit: str = "", digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    v = value / scale
    text = f"{v:,.0f}" if abs(v) >= 10**digits else f"{v:.{digits}g}"
    return text + unit


def cell(e: Estimate, scale: float = 1.0, unit: str = "") -> str:
    """``mean ± half-width`` of the 95% interval (unit after), or the mean alone with one
    value."""
    if not e.n:
        return "-"
    if not e.has_interval:
        return fmt(e.mean, scale, unit)
    return f"{fmt(e.mean, scale)} ± {fmt((e.high - e.low) / 2, scale, digits=2)}{unit}"


def ratio_cell(r: tuple[float, float, float], label: str) -> str:
    value, low, high = r
    if not math.isfinite(value):
        return "-"
    interval = f" [{low:.2f}, {high:.2f}]" if math.isfinite(low) else ""
    return f"{value:.2f}x{interval} {label}".strip()


def memory_column(suite: SuiteRuns) -> tuple[str, str]:
    figures = suite.figures()
    if "peak_cuda_alloc_bytes" in figures:
        return "peak_cuda_alloc_bytes", "peak CUDA"
    return "peak_rss_bytes", "peak RSS"


def build_report(
    folders: list[Path],
    out_dir: Path,
    baseline: str | None = None,
    latency: list[Path] = (),  # type: ignore[assignment]
    compare: tuple[str, str] | None = None,
) -> Report:
    """Load, aggregate and plot; raise UserError on unusable input before writing.

    A baseline given here must name a configuration of the folders; the suite's own
    baseline (suite.json) that has no runs in them (a folder trained with ``--only``) is
    left out with a note instead."""
    suite = load_suites(folders)
    baseline, baseline_note = _choose_baseline(suite, baseline)
    latency_docs = [read_latency(p) for p in latency]
    summary = aggregate(suite, baseline)
    est = estimate_all(suite)
    title = " + ".join(f.name for f in folders)
    report = Report(title=f"ganbench report: {title}", suite=suite, summary=summary)
    loaded = loaded_configurations(suite)
    trained = summary.drop(index=[n for n in loaded if n in summary.index])
    report.tables.append(_speed_table(suite, trained, est, baseline))
    if loaded:
        report.tables.append(_loaded_table(suite, loaded))
    quality = _quality_table(suite, est)
    if quality is not None:
        report.tables.append(quality)
    ratios = _ratio_table(suite, est, baseline) if baseline and len(summary) > 1 else None
    if ratios is not None:
        report.tables.append(ratios)
    if compare is not None:
        report.tables.append(compare_table(compare, suite, est))
    for doc in latency_docs:
        report.tables.append(_latency_table(doc))
    report.notes += _notes(suite, baseline, baseline_note)
    _plots(report, est, out_dir / PLOTS_DIR, latency_docs)
    return report


def _choose_baseline(suite: SuiteRuns, given: str | None) -> tuple[str | None, str | None]:
    """The baseline the ratios compare to, and a note when the suite's own is left out."""
    if given is not None or suite.baseline is None:
        return given, None  # one given on the command line is checked by aggregate()
    known = list(dict.fromkeys(suite.runs["configuration"]))
    if suite.baseline in known:
        return suite.baseline, None
    return None, (
        f"baseline {suite.baseline!r} of the suite has no runs in this folder (trained with "
        f"--only?); ratios left out; pass --baseline NAME to compare against another "
        f"configuration ({', '.join(known)})"
    )


def _speed_table(suite: SuiteRuns, summary: pd.DataFrame, est, baseline: str | None) -> Table:
    memory, memory_header = memory_column(suite)
    columns = [c for c in SPEED_COLUMNS if c[0] in suite.figures()]
    if memory in suite.figures():
        columns.insert(min(len(columns), 5), (memory, f"{memory_header} MiB", 2**20, ""))
    headers = ["configuration", "runs", "iterations", *(h for _, h, _, _ in columns)]
    if baseline and "images_per_s" in suite.figures():
        headers.append(f"images/s vs {baseline}")
    rows = []
    for name in summary.index:
        row = [name, summary.at[name, "runs"], _iterations_cell(suite, name)]
        row += [cell(est[(name, col)], scale, unit) for col, _, scale, unit in columns]
        if len(headers) > len(row):
            base = est[(baseline, "images_per_s")]
            mine = est[(name, "images_per_s")]
            if name == baseline:
                row.append("baseline")
            else:
                row.append(ratio_cell(ratio(mine, base), verdict(mine, base, "max")))
        rows.append(row)
    return Table(
        "speed, memory and cost (mean ± 95% interval over finished seeds)",
        headers,
        rows,
    )


def loaded_configurations(suite: SuiteRuns) -> list[str]:
    """Configurations whose runs load a pre-trained generator (``load:``) instead of
    training: they have quality and generation figures, no training ones."""
    runs = suite.runs
    if "strategy" not in runs:
        return []
    names = runs["configuration"].drop_duplicates()
    return [n for n in names if (runs.loc[runs["configuration"] == n, "strategy"] == "load").all()]


def _loaded_table(suite: SuiteRuns, names: list[str]) -> Table:
    """The pre-trained generators: where each came from, its size, and its generation
    throughput per batch size (mean over its seeds; fp32, eval mode, one call at a time)."""
    runs = suite.runs
    pattern = re.compile(r"^generation\.batch_(\d+)\.images_per_s$")
    sizes = sorted(int(m[1]) for c in runs for m in [pattern.match(c)] if m)
    headers = ["configuration", "source", "kind", "G parameters"]
    headers += [f"img/s at {b}" for b in sizes]
    rows = []
    for name in names:
        mine = runs[(runs["configuration"] == name) & (runs["status"] == "finished")]
        first = mine.iloc[0] if len(mine) else runs[runs["configuration"] == name].iloc[0]
        rows.append(
            [
                name,
                _text(first.get("loaded.source")),
                _text(first.get("loaded.kind")),
                fmt(first.get("loaded.parameters")),
                *(fmt(mine[f"generation.batch_{b}.images_per_s"].mean()) for b in sizes),
            ]
        )
    return Table("pre-trained generators (load:): no training; quality below", headers, rows)


def _ratio_table(suite: SuiteRuns, est, baseline: str) -> Table | None:
    """Each configuration's ratio to the baseline for the figures people decide on (None
    when no run has any of them yet)."""
    memory, memory_header = memory_column(suite)
    wanted = [
        ("iterations_per_s", "it/s"),
        ("images_per_s", "images/s"),
        ("train_s", "training time"),
        (memory, memory_header),
        ("energy_j_per_image", "energy/image"),
    ]
    wanted += [
        (f, f"{f.split('.')[1]} {'final' if f.endswith('final') else 'time to target'}")
        for f in suite.figures()
        if (f.startswith("quality.") and f.endswith(".final"))
        or (f.startswith("time_to_target.") and f.endswith(".train_s"))
    ]
    columns = [(f, h) for f, h in wanted if f in suite.figures()]
    if not columns:
        return None
    rows = []
    for name in dict.fromkeys(suite.runs["configuration"]):
        if name == baseline:
            continue
        row = [name]
        for f, _ in columns:
            mine, base = est[(name, f)], est[(baseline, f)]
            label = verdict(mine, base, suite.directions[f])
            row.append(ratio_cell(ratio(mine, base), label) if mine.n and base.n else "-")
        rows.append(row)
    return Table(
        f"ratio to {baseline} [95% interval]; better/worse only where the two means' 95% "
        "intervals do not overlap (stricter than the ratio's interval excluding 1), else no "
        "clear difference",
        ["configuration", *(h for _, h in columns)],
        rows,
    )


def _quality_table(suite: SuiteRuns, est) -> Table | None:
    values = [
        f.split(".")[1]
        for f in suite.figures()
        if f.startswith("quality.") and f.endswith(".final")
    ]
    if not values:
        return None
    runs = suite.runs
    headers = ["configuration"]
    for v in values:
        headers += [f"{v} final", f"{v} best"]
    targets = [
        v
        for v in values
        if f"time_to_target.{v}.reached" in runs
        and runs[f"time_to_target.{v}.reached"].notna().any()
        and f"time_to_target.{v}.target" in runs
        and runs[f"time_to_target.{v}.target"].notna().any()
    ]
    for v in targets:
        goal = runs[f"time_to_target.{v}.target"].dropna().iloc[0]
        headers += [f"time to {v} target {goal:g}", "iterations", "images seen"]
    rows = []
    for name in dict.fromkeys(runs["configuration"]):
        row = [name]
        for v in values:
            row += [cell(est[(name, f"quality.{v}.final")]), cell(est[(name, f"quality.{v}.best")])]
        for v in targets:
            mine = runs[(runs["configuration"] == name) & (runs["status"] == "finished")]
            reached = int(mine[f"time_to_target.{v}.reached"].fillna(False).astype(bool).sum())
            tail = f" ({reached}/{len(mine)} reached)"
            key = f"time_to_target.{v}"
            if mine.empty:  # no finished run: nothing to say about the target
                row += ["-", "-", "-"]
                continue
            row += [
                cell(est[(name, f"{key}.train_s")], unit=" s") + tail
                if reached
                else f"not reached (0/{len(mine)})",
                cell(est[(name, f"{key}.iteration")]) if reached else "-",
                cell(est[(name, f"{key}.images_seen")]) if reached else "-",
            ]
        rows.append(row)
    return Table(
        "quality at the last evaluation (final) and the best over evaluations; "
        "time to target over the seeds that reached it",
        headers,
        rows,
    )


def compare_table(pair: tuple[str, str], suite: SuiteRuns, est) -> Table:
    """B against A for every figure: two configurations of the loaded suites, or two
    suite folders (configurations matched by name)."""
    a, b = pair
    if Path(a).is_dir() and Path(b).is_dir():
        left, right = load_suites([Path(a)]), load_suites([Path(b)])
        ea, eb = estimate_all(left), estimate_all(right)
        shared = [
            c
            for c in dict.fromkeys(left.runs["configuration"])
            if c in set(right.runs["configuration"])
        ]
        if not shared:
            raise UserError(f"--compare {a} {b}: the two suites share no configuration name")
        pairs = [(f"{c}", (c, c)) for c in shared]
        directions = {**left.directions, **right.directions}
        figures = [f for f in left.figures() if f in right.figures()]
        label_a, label_b = Path(a).name, Path(b).name
    else:
        known = list(dict.fromkeys(suite.runs["configuration"]))
        unknown = [x for x in (a, b) if x not in known]
        if unknown:
            raise UserError(
                f"--compare: unknown {', '.join(unknown)} (configurations: {', '.join(known)}; "
                "or give two suite folders)"
            )
        ea = eb = est
        pairs = [("", (a, b))]
        directions, figures, label_a, label_b = suite.directions, suite.figures(), a, b
    # One pair of configurations: the title names it, so rows need no label column.
    labelled = len(pairs) > 1 or bool(pairs[0][0])
    headers = ["figure", label_a, label_b, f"{label_b} / {label_a}", "verdict"]
    headers = (["configuration"] if labelled else []) + headers
    rows = []
    for name, (ca, cb) in pairs:
        for f in figures:
            ma, mb = ea[(ca, f)], eb[(cb, f)]
            if not (ma.n or mb.n):
                continue
            label = "no clear difference" if overlap(mb, ma) else verdict(mb, ma, directions[f])
            scale, unit = (2**20, " MiB") if f.endswith("_bytes") else (1.0, "")
            rows.append(
                ([name] if labelled else [])
                + [
                    f,
                    cell(ma, scale, unit),
                    cell(mb, scale, unit),
                    ratio_cell(ratio(mb, ma), ""),
                    label,
                ]
            )
    return Table(f"{label_b} against {label_a}", headers, rows)


def _latency_table(doc: dict[str, Any]) -> Table:
    """A latency.json's rows; with several generators, each row's generator and its mean
    call time against the first's."""
    several = len(doc.get("generators") or []) > 1
    headers = ["generator"] if several else []
    headers += ["precision", "compile", "channels_last", "batch", "status", "calls", "p50"]
    headers += ["p99", "per image", "images/s", "images/s blocked"]
    headers += ["x 1st [95%]"] if several else []
    rows = [
        [
            *([r["generator"]] if several else []),
            r["precision"],
            r["compile"],
            "yes" if r.get("channels_last") else "no",
            str(r["batch_size"]),
            r["status"],
            fmt(r.get("latency_count")),
            fmt(r["latency_p50_s"], 1e-3, " ms"),
            fmt(r["latency_p99_s"], 1e-3, " ms"),
            fmt(r["per_image_latency_s"], 1e-3, " ms"),
            fmt(r["images_per_s"]),
            fmt(r.get("blocked_images_per_s")),  # absent in latency.json before it was kept
            *([ratio_text(r)] if several else []),
        ]
        for r in doc["rows"]
    ]
    where = doc["environment"].get("gpu_name") or doc["environment"].get("cpu_model")
    gen = doc["generator"]
    what = generator_names(doc) if several else f"{gen['model']['name']} ({gen['weights']})"
    title = f"generation latency: {what} on {doc['device']} ({where})"
    return Table(title, headers, rows)


def _notes(suite: SuiteRuns, baseline: str | None, baseline_note: str | None) -> list[str]:
    runs = suite.runs
    notes = _run_notes(suite) + device_notes(suite) + noise_notes(suite) + budget_notes(suite)
    single = [
        c
        for c, n in runs[runs["status"] == "finished"].groupby("configuration").size().items()
        if n < 2
    ]
    if single:
        notes.append(
            f"one finished seed for {', '.join(single)}: no interval, so no difference can be "
            "called clear (run more seeds: --seeds 0,1,2)"
        )
    if baseline_note is not None:
        notes.append(baseline_note)
    elif baseline is None:
        notes.append("no baseline configuration (set `baseline:` in the suite or --baseline)")
    elif (runs["status"] == "finished").any() and not (
        runs.loc[runs["configuration"] == baseline, "status"] == "finished"
    ).any():
        notes.append(
            f"baseline {baseline!r} has no finished run: no ratios to it (pass --baseline NAME "
            "to compare against another configuration)"
        )
    return notes


def device_notes(suite: SuiteRuns) -> list[str]:
    """A note per configuration whose finished seeds ran on different devices (a launcher
    spreading runs over a mixed cluster): its speed figures mix machines."""
    notes = []
    finished = suite.runs[suite.runs["status"] == "finished"]
    for name, group in finished.groupby("configuration", sort=False):
        devices = sorted({_device_of(e) for e in group.get("environment", [])} - {None})
        if len(devices) > 1:
            notes.append(
                f"{name}: its seeds ran on different devices ({', '.join(devices)}); its speed "
                "and memory figures mix them and are not comparable across seeds"
            )
    return notes


UNSTEADY_CV = 0.5  # iteration times' std over their mean
BUSY_PCT = 25.0  # CPU share other processes took while a run ran
STEAL_PCT = 5.0  # CPU time a VM's host took away


def _stopped_at(suite: SuiteRuns, name: str) -> list[int]:
    """The iterations a configuration's finished seeds stopped at, sorted."""
    runs = suite.runs
    mine = runs[(runs["configuration"] == name) & (runs["status"] == "finished")]
    if "iterations" not in mine:
        return []
    return sorted(int(i) for i in mine["iterations"] if _number(i))


def _iterations_cell(suite: SuiteRuns, name: str) -> str:
    stopped = _stopped_at(suite, name)
    if not stopped:
        return "-"
    low, high = stopped[0], stopped[-1]
    return f"{low:,}" if low == high else f"{low:,}-{high:,}"


def budget_notes(suite: SuiteRuns) -> list[str]:
    """Seeds, or configurations, that stopped at different iterations (a wall-clock
    limit on a busy machine ...): their quality figures are at different points."""
    notes = []
    ends = {}
    loaded = loaded_configurations(suite)
    for name in suite.runs["configuration"].drop_duplicates():
        if name in loaded:
            continue  # nothing trained: no point of training to compare
        stopped = _stopped_at(suite, name)
        if stopped:
            ends[name] = stopped
        if len(set(stopped)) > 1:
            notes.append(
                f"{name}: its seeds stopped at different iterations "
                f"({', '.join(f'{i:,}' for i in stopped)}); their quality figures are "
                "not at the same point of training"
            )
    finals = {name: stopped[-1] for name, stopped in ends.items()}
    if len(set(finals.values())) > 1:
        shown = ", ".join(f"{n} {i:,}" for n, i in finals.items())
        notes.append(
            f"configurations stopped at different iterations ({shown}): quality is compared "
            "at different points of training (a wall_seconds or epoch limit?)"
        )
    return notes


def noise_notes(suite: SuiteRuns) -> list[str]:
    """A note per finished run measured on a busy machine (other processes' CPU share,
    CPU steal) or whose iteration times varied widely: its speed figures are unsteady."""
    notes = []
    finished = suite.runs[suite.runs["status"] == "finished"]
    grew = set(suite.growth["run_id"]) if "run_id" in suite.growth else set()
    for _, r in finished.iterrows():
        said = []
        mean, std = r.get("iter_time_mean_s"), r.get("iter_time_std_s")
        # Iterations that differ by design (SVRE's full passes, a growing batch) vary.
        by_design = r["run_id"] in grew or (
            _number(r.get("full_batch_passes")) and r.get("full_batch_passes") > 0
        )
        cv = std / mean if _number(mean) and _number(std) and mean > 0 else None
        if cv is not None and cv > UNSTEADY_CV and not by_design:
            said.append(f"its iteration times varied widely (CV {cv:.2f})")
        env = r.get("environment")
        load = env.get("host_load") if isinstance(env, dict) else None
        if isinstance(load, dict):
            others, steal = load.get("others_cpu_pct"), load.get("cpu_steal_pct")
            if _number(others) and others > BUSY_PCT:
                said.append(f"other processes took {others:.0f} % of the CPUs meanwhile")
            if _number(steal) and steal > STEAL_PCT:
                said.append(f"the VM's host took {steal:.0f} % of the CPU time (steal)")
        if said:
            notes.append(
                f"{r['run_id']}: {'; '.join(said)}: its speed figures are unsteady, "
                "compare them with care (or re-run it on a quiet machine)"
            )
    return notes


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not math.isnan(value)


def _device_of(environment: Any) -> str | None:
    """The GPU model a run trained on, or its CPU model for a CPU run."""
    if not isinstance(environment, dict) or not environment:
        return None
    return environment.get("gpu_name") or environment.get("cpu_model")


def _run_notes(suite: SuiteRuns) -> list[str]:
    """A note per run that is not in the means or has no figures yet (its status and
    reason), led by one saying so when no run has any figure (the tables are then empty)."""
    runs, figures = suite.runs, suite.figures()
    has_figures = (
        runs[figures].notna().any(axis=1) if figures else pd.Series(False, index=runs.index)
    )
    notes = []
    for i, r in runs.iterrows():
        reason = _text(r.get("reason")) or "no reason recorded"
        empty = "; no figures yet" if not has_figures[i] else ""
        if r["status"] != "finished":
            notes.append(f"{r['run_id']}: {r['status']} ({reason}); not in the means{empty}")
        elif empty:
            notes.append(f"{r['run_id']}: finished ({reason}) but its summary has no figures")
    if not has_figures.any():
        counts = ", ".join(f"{n} {s}" for s, n in runs["status"].value_counts().items())
        notes.insert(
            0,
            f"no figures yet: none of the {len(runs)} runs ({counts}) has any, so the tables "
            "list the configurations only; re-run the suite to resume them (ganbench "
            "train-suite), then report again",
        )
    return notes


def _text(value: Any) -> str:
    """A note's text for a summary field that may be missing (NaN in the table)."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _plots(report: Report, est, folder: Path, latency_docs: list[dict[str, Any]]) -> None:
    from ganbench.report import plots

    suite, summary = report.suite, report.summary
    curves = suite.curves
    for value in dict.fromkeys(curves["value"]):
        direction = suite.directions.get(f"quality.{value}.final")
        if direction is None:
            continue  # e.g. a std companion value
        for x, word in (("train_s", "time"), ("iteration", "iterations")):
            path = plots.plot_quality(
                curves, suite.growth, value, x, direction, folder / f"quality_{value}_{word}.png"
            )
            report.plots.append((f"{value} against training {word}", path))
    memory, memory_header = memory_column(suite)
    bars = [
        (f, label, scale)
        for f, label, scale in (
            ("images_per_s", "images/s", 1.0),
            (memory, f"{memory_header} (MiB)", 2**20),
        )
        if f"{f}.mean" in summary
    ]
    if bars:
        report.plots.append(
            (
                "throughput and peak memory",
                plots.plot_bars(summary, bars, folder / "throughput_memory.png"),
            )
        )
    shares = _phase_shares(suite)
    if shares is not None:
        report.plots.append(
            ("where the time goes", plots.plot_phases(shares, folder / "phases.png"))
        )
    if suite.noise["b_simple"].notna().any():
        path = plots.plot_noise_scale(suite.noise, folder / "noise_scale.png")
        report.plots.append(("gradient noise scale and batch size against training time", path))
    report.plots += _sample_grids(suite, folder)
    for i, doc in enumerate(latency_docs):
        title = f"{generator_names(doc)} on {doc['device']}"
        path = plots.plot_latency(doc["rows"], title, folder / f"latency_{i}.png")
        report.plots.append(("generation latency and throughput against batch size", path))


def _sample_grids(suite: SuiteRuns, folder: Path) -> list[tuple[str, Path]]:
    """Each configuration's fixed-noise samples (its first seed that has them): at the
    first and the last evaluation side by side, or the last alone: what the GAN draws,
    beside the figures."""
    if "samples_png" not in suite.runs:
        return []
    grids = []
    for i, (name, runs) in enumerate(suite.runs.groupby("configuration", sort=False)):
        with_samples = runs[runs["samples_png"].notna()]
        if with_samples.empty:
            continue
        run = with_samples.iloc[0]
        last = Path(run["samples_png"])
        evaluations = sorted((last.parent / "samples").glob("iter*.png"))
        if len(evaluations) < 2:
            caption = f"samples of {name} ({run['run_id']}, fixed noise, last evaluation)"
            grids.append((caption, last))
            continue
        from ganbench.report import plots  # matplotlib only when drawing

        first, final = evaluations[0], evaluations[-1]
        labels = [f"iteration {int(p.stem.removeprefix('iter'))}" for p in (first, final)]
        path = plots.plot_side_by_side([first, final], labels, folder / f"samples_{i}.png")
        caption = f"samples of {name} ({run['run_id']}, fixed noise): first and last evaluation"
        grids.append((caption, path))
    return grids


def _phase_shares(suite: SuiteRuns) -> pd.DataFrame | None:
    runs = suite.runs[suite.runs["status"] == "finished"]
    columns = [c for c in runs.columns if c.startswith("phases.") and c.endswith(".share")]
    if not columns:
        return None
    shares = runs.groupby("configuration", sort=False)[columns].mean()
    shares.columns = [c.split(".")[1] for c in columns]
    shares = shares[in_phase_order(list(shares.columns))]  # same order in every report
    return shares.loc[:, shares.fillna(0).sum() > 0]
