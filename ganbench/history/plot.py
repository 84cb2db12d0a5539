"""`history show --plot`: each selected series over its commits, one axes per
configuration and figure, one line per machine (and pipeline)."""

from __future__ import annotations

from pathlib import Path

from ganbench.history.publish import commit_axis
from ganbench.history.series import Series


def plot_series(series: list[Series], path: Path) -> Path:
    """Draw ``series`` into the PNG ``path``; returns it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels: dict[tuple[str, str, str], list[Series]] = {}
    for s in series:
        panels.setdefault((s.suite, s.configuration, s.figure), []).append(s)
    rows = max(len(panels), 1)
    fig, axes = plt.subplots(rows, 1, figsize=(9, 2.6 * rows), squeeze=False)
    for ax, ((suite, configuration, figure), group) in zip(
        axes[:, 0], panels.items(), strict=False
    ):
        labels, positions = commit_axis(group)  # one commit order for every machine
        for s, xs in zip(group, positions, strict=True):
            ax.plot(xs, s.means(), marker="o", label=s.machine_label)
        ax.set_title(f"{suite}/{configuration}: {figure}", fontsize=10, loc="left")
        step = max(1, len(labels) // 20)
        ax.set_xticks(range(0, len(labels), step), labels[::step])
        ax.tick_params(axis="x", labelrotation=60, labelsize=7)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
