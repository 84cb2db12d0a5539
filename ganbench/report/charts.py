"""The report's plots: quality against time and iterations, throughput and memory, where
the time goes, the gradient noise scale, sample grids and latency (drawn by
report.plots)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ganbench.report.aggregate import memory_figure
from ganbench.report.collect import SuiteRuns
from ganbench.report.steadiness import plot_machine_speed, probe_frame, unsteady_runs
from ganbench.results.latency import generator_names
from ganbench.results.summary import in_phase_order


def _target(suite: SuiteRuns, value: str) -> float | None:
    """The runs' target for a quality value (the first one set), if any."""
    column = f"time_to_target.{value}.target"
    if column not in suite.runs:
        return None
    targets = suite.runs[column].dropna()
    return float(targets.iloc[0]) if len(targets) else None


def draw_plots(
    suite: SuiteRuns, summary: pd.DataFrame, folder: Path, latency_docs: list[dict[str, Any]]
) -> list[tuple[str, Path]]:
    """(caption, png) of every plot the suite has data for."""
    from ganbench.report import plots

    drawn: list[tuple[str, Path]] = []
    curves = suite.curves
    for value in dict.fromkeys(curves["value"]):
        direction = suite.directions.get(f"quality.{value}.final")
        if direction is None:
            continue  # e.g. a std companion value
        target = _target(suite, value)
        for x, word in (("train_s", "time"), ("iteration", "iterations")):
            path = plots.plot_quality(
                curves, suite.growth, value, x, direction, folder / f"quality_{value}_{word}.png",
                target,
            )  # fmt: skip
            drawn.append((f"{value} against training {word}", path))
    memory, memory_header = memory_figure(suite)
    bars = [
        (f, label, scale)
        for f, label, scale in (
            ("images_per_s", "images/s", 1.0),
            (memory, f"{memory_header} (MiB)", 2**20),
        )
        if f"{f}.mean" in summary
    ]
    if bars:
        drawn.append(
            (
                "throughput and peak memory",
                plots.plot_bars(summary, bars, folder / "throughput_memory.png"),
            )
        )
    shares = phase_shares(suite)
    if shares is not None:
        drawn.append(("where the time goes", plots.plot_phases(shares, folder / "phases.png")))
    if suite.noise["b_simple"].notna().any():
        path = plots.plot_noise_scale(suite.noise, folder / "noise_scale.png")
        drawn.append(("gradient noise scale and batch size against training time", path))
    probes = probe_frame(suite)
    if not probes.empty:
        path = plot_machine_speed(probes, folder / "machine_speed.png", unsteady_runs(suite))
        drawn.append(("the machine-speed probe over the suite's wall time", path))
    drawn += _sample_grids(suite, folder)
    for i, doc in enumerate(latency_docs):
        title = f"{generator_names(doc)} on {doc['device']}"
        path = plots.plot_latency(doc["rows"], title, folder / f"latency_{i}.png")
        drawn.append(("generation latency and throughput against batch size", path))

    return drawn


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


def phase_shares(suite: SuiteRuns) -> pd.DataFrame | None:
    runs = suite.runs[suite.runs["status"] == "finished"]
    columns = [c for c in runs.columns if c.startswith("phases.") and c.endswith(".share")]
    if not columns:
        return None
    shares = runs.groupby("configuration", sort=False)[columns].mean()
    shares.columns = [c.split(".")[1] for c in columns]
    shares = shares[in_phase_order(list(shares.columns))]  # same order in every report
    return shares.loc[:, shares.fillna(0).sum() > 0]
