"""Figures, drawn with matplotlib's non-interactive Agg backend and saved as PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend is chosen first)
from matplotlib.ticker import FuncFormatter  # noqa: E402

PLAIN = FuncFormatter(lambda value, _: f"{value:g}")


def plot_latency(rows: Sequence[dict[str, Any]], title: str, path: Path) -> Path:
    """Per-image latency and throughput against batch size, one line per precision and
    compile mode; a batch size that ran out of memory is a dotted vertical line."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    series: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        label = row["precision"] + ("" if row["compile"] == "off" else f" compile:{row['compile']}")
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
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
