"""Figures, drawn with matplotlib's non-interactive Agg backend and saved as PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend is chosen first)
from matplotlib.ticker import FuncFormatter, LogLocator  # noqa: E402

from ganbench.results.latency import generator_names  # noqa: E402

PLAIN = FuncFormatter(lambda value, _: f"{value:g}")


def latency_title(document: dict[str, Any]) -> str:
    """A latency plot's title: generator, device and what it ran on."""
    env = document["environment"]
    where = env.get("gpu_name") or f"{env.get('cpu_model')}, {env.get('torch_threads')} threads"
    return f"{generator_names(document)} on {document['device']} ({where})"


def plot_latency(rows: Sequence[dict[str, Any]], title: str, path: Path) -> Path:
    """Per-image latency and throughput against batch size, one line per precision and
    compile mode; a batch size that ran out of memory is a dotted vertical line."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    series: dict[str, list[dict[str, Any]]] = {}
    several = len({row.get("generator") for row in rows}) > 1
    for row in rows:
        label = row["precision"] + ("" if row["compile"] == "off" else f" compile:{row['compile']}")
        label = f"{row['generator']} {label}" if several else label
        series.setdefault(label, []).append(row)
    sizes_seen: set[int] = set()
    for label, members in series.items():
        ok = sorted((r for r in members if r["status"] == "ok"), key=lambda r: r["batch_size"])
        if not ok and not any(r["status"] == "oom" for r in members):
            continue  # skipped or interrupted: nothing to draw
        sizes = [r["batch_size"] for r in ok]
        sizes_seen.update(r["batch_size"] for r in members)
        (line,) = left.plot(
            sizes, [r["per_image_latency_s"] * 1e3 for r in ok], marker="o", label=label
        )
        right.plot(sizes, [r["images_per_s"] for r in ok], marker="o", color=line.get_color())
        for size in (r["batch_size"] for r in members if r["status"] == "oom"):
            for axis in (left, right):
                axis.axvline(size, linestyle=":", color=line.get_color())
    for axis, ylabel in ((left, "latency per image (ms, mean)"), (right, "images / s")):
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xticks(sorted(sizes_seen), [str(n) for n in sorted(sizes_seen)])
        axis.yaxis.set_major_formatter(PLAIN)
        axis.yaxis.set_minor_formatter(PLAIN)
        axis.set_xlabel("batch size")
        axis.set_ylabel(ylabel)
        axis.grid(True, which="both", alpha=0.3)
    if left.lines:
        left.legend(fontsize="small")
    if any(r["status"] == "oom" for r in rows):
        right.annotate("dotted: out of memory", (0.01, 0.01), xycoords="axes fraction", fontsize=8)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def _colors(names: Sequence[str]) -> dict[str, Any]:
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {name: cycle[i % len(cycle)] for i, name in enumerate(names)}


def plot_quality(
    curves: Any,
    growth: Any,
    value: str,
    x: str,
    direction: str | None,
    path: Path,
    target: float | None = None,
) -> Path:
    """A quality value against training time (``x="train_s"``) or iterations: a thin line
    per seed, the mean over seeds in bold with its 95% interval shaded (where two or more
    seeds were evaluated), a dotted vertical line where a configuration's batch grew (the
    thesis' figures 4.1-4.9), and the target as a dashed line."""
    from ganbench.report.estimate import estimate

    data = curves[curves["value"] == value]
    names = list(dict.fromkeys(data["configuration"]))
    colors = _colors(names)
    fig, axis = plt.subplots(figsize=(8, 4.6), layout="constrained")
    for name in names:
        mine = data[data["configuration"] == name]
        for _, run in mine.groupby("run_id"):
            axis.plot(run[x], run["score"], color=colors[name], alpha=0.35, linewidth=0.8)
        points = []
        for _, at in mine.groupby("iteration"):
            e = estimate(at["score"].tolist())
            points.append((at[x].mean(), e.mean, e.low, e.high))
        xs, mean, low, high = (list(v) for v in zip(*sorted(points), strict=True))
        axis.plot(
            xs,
            mean,
            color=colors[name],
            linewidth=2.2,
            label=f"{name} (n={mine['run_id'].nunique()})",
        )
        axis.fill_between(xs, low, high, color=colors[name], alpha=0.15, linewidth=0)
        grew = growth[growth["configuration"] == name]
        for _, step in grew.groupby("batch_size"):
            if step[x].notna().any():
                axis.axvline(step[x].mean(), color=colors[name], linestyle=":", linewidth=1)
    if target is not None:
        axis.axhline(target, color="black", linestyle="--", linewidth=1, label=f"target {target:g}")
    label = {"train_s": "training time (s)", "iteration": "iteration"}.get(x, x)
    better = {"min": " (lower is better)", "max": " (higher is better)"}.get(direction or "", "")
    axis.set_xlabel(label)
    axis.set_ylabel(value + better)
    axis.grid(True, alpha=0.3)
    if names:
        axis.legend(fontsize="small")
    grew = bool(len(growth)) and bool(growth["configuration"].isin(names).any())
    axis.set_title(f"{value} against {label}" + ("; dotted: batch size grew" if grew else ""),
                   fontsize=10)  # fmt: skip
    return _save(fig, path)


def plot_noise_scale(noise: Any, path: Path) -> Path:
    """Each player's gradient noise scale B_simple against training time (mean over seeds
    per configuration, a thin line per seed) beside the batch size each seed trained at
    (dashed steps, same colour): both are numbers of examples, so one log axis shows
    whether the batch is below or above the noise scale."""
    names = list(dict.fromkeys(noise["configuration"]))
    colors = _colors(names)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained", sharey=True)
    for axis, (player, title) in zip(axes, (("d", "D"), ("g", "G")), strict=True):
        mine = noise[(noise["player"] == player) & noise["b_simple"].notna()]
        for name in names:
            runs = mine[mine["configuration"] == name]
            if runs.empty:
                continue
            for _, run in runs.groupby("run_id"):  # seeds may grow at different times
                axis.plot(run["train_s"], run["b_simple"], color=colors[name], alpha=0.3, lw=0.8)
                axis.step(
                    run["train_s"],
                    run["batch_size"],
                    where="post",
                    color=colors[name],
                    linestyle="--",
                    alpha=0.6,
                    lw=1,
                )
            mean = runs.groupby("iteration")[["train_s", "b_simple"]].mean()
            axis.plot(mean["train_s"], mean["b_simple"], color=colors[name], lw=2, label=name)
        axis.set_yscale("log")
        plain = FuncFormatter(lambda v, _: f"{v:g}")
        axis.yaxis.set_major_formatter(plain)
        axis.yaxis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))
        axis.yaxis.set_minor_formatter(plain)
        axis.set_xlabel("training time (s)")
        axis.set_title(f"{title}: B_simple (solid) and batch size (dashed)", fontsize=10)
        axis.grid(True, alpha=0.3, which="both")
    axes[0].set_ylabel("examples")
    if names:
        axes[0].legend(fontsize="small")
    return _save(fig, path)


def plot_bars(table: Any, figures: Sequence[tuple[str, str, float]], path: Path) -> Path:
    """One panel per figure ``(column, label, scale)``: a bar per configuration at its
    mean, with its 95% interval as an error bar (none with one seed)."""
    import math

    fig, axes = plt.subplots(
        1, len(figures), figsize=(4.2 * len(figures), 4), layout="constrained", squeeze=False
    )
    names = list(table.index)
    colors = _colors(names)
    for axis, (column, label, scale) in zip(axes[0], figures, strict=True):
        mean = [table.at[n, f"{column}.mean"] / scale for n in names]
        low = [table.at[n, f"{column}.ci95_low"] / scale for n in names]
        high = [table.at[n, f"{column}.ci95_high"] / scale for n in names]
        errors = [
            [m - lo if math.isfinite(lo) else 0 for m, lo in zip(mean, low, strict=True)],
            [hi - m if math.isfinite(hi) else 0 for m, hi in zip(mean, high, strict=True)],
        ]
        axis.bar(names, mean, yerr=errors, capsize=4, color=[colors[n] for n in names])
        axis.set_ylabel(label)
        axis.tick_params(axis="x", labelrotation=30)
        axis.grid(True, axis="y", alpha=0.3)
    fig.suptitle("mean over seeds; error bars: 95% interval", fontsize=10)
    return _save(fig, path)


def plot_phases(shares: Any, path: Path) -> Path:
    """Stacked bars: the mean share of measured time per phase, one bar per configuration
    (``shares``: configurations x phases, fractions)."""
    fig, axis = plt.subplots(figsize=(8, 0.6 * len(shares) + 1.6), layout="constrained")
    left = [0.0] * len(shares)
    names = list(shares.index)
    for phase in shares.columns:
        widths = [100 * (v if v == v else 0.0) for v in shares[phase]]  # NaN -> 0
        axis.barh(names, widths, left=left, label=phase)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    axis.invert_yaxis()
    axis.set_xlabel("share of measured time (%, mean over seeds)")
    axis.legend(fontsize="small", ncols=4, loc="upper center", bbox_to_anchor=(0.5, -0.25))
    return _save(fig, path)


def plot_side_by_side(images: list[Path], labels: list[str], path: Path) -> Path:
    """PNG images in one row, each under its label (first and last samples of a run)."""
    fig, axes = plt.subplots(1, len(images), figsize=(3.2 * len(images), 3.6))
    for axis, image, label in zip(axes, images, labels, strict=True):
        axis.imshow(plt.imread(image))
        axis.set_title(label, fontsize=10)
        axis.axis("off")
    fig.tight_layout()
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
