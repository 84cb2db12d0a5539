"""The history as a static dashboard (``ganbench history publish DIR``, like ``asv
publish``): one ``index.html`` that opens from a file:// URL with nothing else, no server,
no network and no script.

The page lists every change point in a table, then draws one plot per suite,
configuration and figure: one line per machine fingerprint (and metric pipeline), the
points in commit order, each point's mean with every seed's value as a faint dot, and each
change point as a vertical line, red for a regression and green for an improvement,
annotated with its size and interval.

The plots are matplotlib SVG inlined into the page rather than PNG files beside it: the
dashboard is one file to upload as a CI artifact or mail, stays sharp at any zoom, and its
text (commits, machines) can be searched and copied. Text stays text (``svg.fonttype:
none``), which also keeps drawing fast and the page small.
"""

from __future__ import annotations

import html
import io
import math
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ganbench.history.series import Change, Series

# Line colours: matplotlib's tab10 without its red and green, which mark change points.
LINE_COLORS = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
KIND_COLORS = {"regression": "#d62728", "improvement": "#2ca02c"}
MAX_TICK_LABELS = 24  # commit labels along the x axis before they are thinned out
FIGURE_SIZE_IN = (10.0, 3.4)  # without the legend
LEGEND_COLUMNS = 2
MIN_Y_SPAN = 0.1  # the y axis spans at least this share of the values' level
MAX_MARKED_POINTS = 40  # a marker on each mean up to this many points: then only the line
RC = {"svg.fonttype": "none", "svg.hashsalt": "ganbench", "text.parse_math": False}

CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;
color:#222;line-height:1.4}
h1{margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
h3{margin:1.2em 0 .3em}h4{margin:.8em 0 .2em;font-size:1em}
.meta{color:#666;margin-top:0}.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0 1em}
th,td{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td{white-space:nowrap}td.machine{white-space:normal}
td.num{text-align:right;font-variant-numeric:tabular-nums}
code{font-size:.95em}.regression{color:#b00;font-weight:600}.improvement{color:#070}
nav ul{margin:.2em 0;padding-left:1.2em}nav li{margin:.1em 0}
figure{margin:0 0 1.2em}svg{display:block;width:100%;height:auto}
"""


@dataclass(frozen=True)
class Plot:
    """One plot of the page: a figure of one configuration, a line per machine."""

    suite: str
    configuration: str
    figure: str
    anchor: str
    members: tuple[Series, ...]


def publish(
    series: Sequence[Series],
    changes: Mapping[tuple, Sequence[Change]],
    out: Path,
    title: str = "ganbench history",
) -> Path:
    """Write ``out/index.html``: the change points' table and a plot per suite,
    configuration and figure (``changes`` keyed by ``Series.key``); returns its path."""
    _check_changes(series, changes)
    plots = group_plots(series)
    colors = _machine_colors(series)
    svgs = [plot_svg(p, changes, colors, prefix=f"s{i}-") for i, p in enumerate(plots)]
    page = _page(title, plots, svgs, changes)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "index.html"
    tmp = out / f".index.html.{os.getpid()}.tmp"
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, path)  # a reader sees the old page or the new one, never a part
    return path


def _check_changes(series: Sequence[Series], changes: Mapping[tuple, Sequence[Change]]) -> None:
    for s in series:
        for change in changes.get(s.key, ()):
            if not 1 <= change.index < len(s.points):
                raise ValueError(
                    f"change point at index {change.index} outside {s.configuration} "
                    f"{s.figure} on {s.machine_label} ({len(s.points)} points)"
                )


def group_plots(series: Sequence[Series]) -> list[Plot]:
    """The plots in page order: by suite, configuration and figure; lines by machine."""
    groups: dict[tuple[str, str, str], list[Series]] = {}
    for s in series:
        groups.setdefault((s.suite, s.configuration, s.figure), []).append(s)
    plots = []
    for i, key in enumerate(sorted(groups)):
        members = sorted(groups[key], key=lambda s: (s.machine_label, s.pipeline or ""))
        anchor = f"p{i + 1}-" + _slug("-".join(key))
        plots.append(Plot(*key, anchor=anchor, members=tuple(members)))
    return plots


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def _machine_colors(series: Sequence[Series]) -> dict[tuple[str, str | None], str]:
    """One colour per machine and pipeline, the same in every plot."""
    names = {s.machine: s.machine_label for s in series}
    keys = {(s.machine, s.pipeline) for s in series}
    ordered = sorted(keys, key=lambda k: (names[k[0]], k[0], k[1] or ""))
    return {key: LINE_COLORS[i % len(LINE_COLORS)] for i, key in enumerate(ordered)}


def series_label(s: Series, others: Sequence[Series] = ()) -> str:
    """The legend's words for a series: its machine, a short pipeline id, and a short
    configuration hash where the same machine appears twice in one plot."""
    label = s.machine_label + (f" · pipeline {s.pipeline[:8]}" if s.pipeline else "")
    twins = [o for o in others if (o.machine, o.pipeline) == (s.machine, s.pipeline)]
    return label + (f" · config {s.config_hash[:8]}" if len(twins) > 1 else "")


def change_text(change: Change) -> str:
    """A change's size as a percent with its interval: ``-5.2 % [-6.8, -3.6]``."""
    size, low, high = (100 * (v - 1) for v in (change.ratio, change.low, change.high))
    return f"{size:+.1f} % [{low:+.1f}, {high:+.1f}]"


# --- the x axis: every point of a plot's series in commit order -----------------------


def _slot_keys(s: Series) -> list[tuple[str, bool, int]]:
    """Each point's place on the x axis: its commit, dirty flag and, for a commit run more
    than once on this machine, which run (so that re-runs stand side by side)."""
    seen: Counter[tuple[str, bool]] = Counter()
    keys = []
    for p in s.points:
        keys.append((p.commit, p.dirty, seen[(p.commit, p.dirty)]))
        seen[(p.commit, p.dirty)] += 1
    return keys


def _instant(text: str) -> float:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def commit_axis(members: Sequence[Series]) -> tuple[list[str], list[list[int]]]:
    """The x axis shared by a plot's series: labels of the slots in commit order (commit
    time, then when recorded), and each series' points' positions on it."""
    first: dict[tuple[str, bool, int], tuple[float, float]] = {}
    labels: dict[tuple[str, bool, int], str] = {}
    for s in members:
        for key, p in zip(_slot_keys(s), s.points, strict=True):
            when = (_instant(p.commit_time or p.recorded_at), _instant(p.recorded_at))
            first[key] = min(first.get(key, when), when)
            labels[key] = p.label
    order = sorted(first, key=lambda k: (first[k], k))
    index = {key: i for i, key in enumerate(order)}
    positions = [[index[k] for k in _slot_keys(s)] for s in members]
    return [labels[k] for k in order], positions


def _ticks(num_slots: int, marked: set[int]) -> list[int]:
    """Every slot when few, else every n-th, always with the change points' slots."""
    step = max(1, math.ceil(num_slots / MAX_TICK_LABELS))
    regular = [i for i in range(0, num_slots, step) if all(2 * abs(i - m) > step for m in marked)]
    return sorted(set(regular) | marked)


# --- drawing -------------------------------------------------------------------------


def plot_svg(
    plot: Plot,
    changes: Mapping[tuple, Sequence[Change]],
    colors: Mapping[tuple[str, str | None], str],
    prefix: str = "",
) -> str:
    """The plot as an ``<svg>`` element, its ids prefixed so that many fit in one page."""
    import matplotlib

    with matplotlib.rc_context(RC):
        fig, axis = _figure(len(plot.members))
        labels, positions = commit_axis(plot.members)
        marked: set[int] = set()
        notes = 0
        for s, xs in zip(plot.members, positions, strict=True):
            color = colors[(s.machine, s.pipeline)]
            _draw_series(axis, s, xs, color, series_label(s, plot.members))
            for change in changes.get(s.key, ()):
                x = xs[change.index]
                flip = x > 0.7 * len(labels)  # near the right edge: the words go left
                at = (x, s.points[change.index].mean)
                _mark_change(axis, change, at, (notes, flip), color)
                marked.add(x)
                notes += 1
        _style_axes(axis, plot, labels, marked)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return _inline(buffer.getvalue(), prefix)


def _figure(num_lines: int) -> tuple[Any, Any]:
    """A figure with fixed margins (in inches) for the legend above the axes and the
    commit labels below: matplotlib's layout engines would double the drawing time."""
    from matplotlib.figure import Figure  # no pyplot: no global figure state

    legend_in = 0.2 * math.ceil(num_lines / LEGEND_COLUMNS)
    width, height = FIGURE_SIZE_IN[0], FIGURE_SIZE_IN[1] + legend_in
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(
        left=0.9 / width,
        right=1 - 0.15 / width,
        bottom=0.95 / height,
        top=1 - (0.12 + legend_in) / height,
    )
    return fig, fig.add_subplot()


def _draw_series(axis: Any, s: Series, xs: Sequence[int], color: str, label: str) -> None:
    """The means as a line (left to right, whatever the points' order), every seed's
    value as a faint dot."""
    pairs = sorted(zip(xs, s.points, strict=True), key=lambda pair: pair[0])
    axis.plot(
        [x for x, _ in pairs],
        [p.mean for _, p in pairs],
        color=color,
        marker="o" if len(pairs) <= MAX_MARKED_POINTS else "",
        markersize=3,
        linewidth=1.4,
        label=label,
        zorder=3,
    )
    seeds = [(x, v) for x, p in pairs for v in p.values]
    if seeds:
        sx, sv = zip(*seeds, strict=True)
        axis.scatter(sx, sv, s=9, color=color, alpha=0.25, linewidths=0, zorder=2)


def _mark_change(
    axis: Any, change: Change, at: tuple[int, float], place: tuple[int, bool], line_color: str
) -> None:
    """A dashed vertical line at the first point of the new level, a ring on that point and
    the change's size, framed in its line's colour; ``place``: the words' row from the top
    (when a plot has several) and whether they go left of the line."""
    color = KIND_COLORS.get(change.kind, "#555555")
    (x, y), (row, flip) = at, place
    axis.axvline(x, color=color, linestyle="--", linewidth=1.2, zorder=1)
    axis.plot([x], [y], marker="o", markersize=10, fillstyle="none", color=color, mew=1.8)
    axis.annotate(
        f"{change.kind} {change_text(change)}",
        xy=(x, 0.96 - 0.11 * (row % 6)),
        xycoords=axis.get_xaxis_transform(),
        xytext=(-5 if flip else 5, 0),
        textcoords="offset points",
        color=color,
        fontsize=8,
        ha="right" if flip else "left",
        va="top",
        bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": line_color, "alpha": 0.85},
        zorder=4,
    )


def _style_axes(axis: Any, plot: Plot, labels: Sequence[str], marked: set[int]) -> None:
    ticks = _ticks(len(labels), marked)
    axis.set_xticks(
        ticks, [labels[i] for i in ticks], rotation=50, ha="right", size=7, family="monospace"
    )
    axis.set_xlim(-0.5, max(len(labels) - 0.5, 0.5))
    low, high = axis.get_ylim()
    middle = (low + high) / 2
    if high - low < MIN_Y_SPAN * abs(middle):  # noise of 0.2 % must not look like a cliff
        half = MIN_Y_SPAN * abs(middle) / 2
        axis.set_ylim(middle - half, middle + half)
    better = {"max": "higher is better", "min": "lower is better"}
    direction = better.get(plot.members[0].direction, plot.members[0].direction)
    axis.set_ylabel(f"{plot.figure}\n({direction})", fontsize=9)
    axis.set_xlabel("commit (oldest first)", fontsize=8)
    axis.grid(True, axis="y", alpha=0.3)
    axis.legend(
        loc="lower left", bbox_to_anchor=(0, 1.0), ncols=LEGEND_COLUMNS, fontsize=8, frameon=False
    )


def _inline(svg: str, prefix: str) -> str:
    """Matplotlib's SVG document as an element for an HTML page: no XML prologue, ids
    (and the references to them) prefixed so that plots never share one."""
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.S)
    svg = re.sub(r'\bid="', f'id="{prefix}', svg)
    svg = svg.replace("url(#", f"url(#{prefix}").replace('href="#', f'href="#{prefix}')
    return svg.replace("<svg ", '<svg role="img" ', 1)


# --- the page --------------------------------------------------------------------------


def _page(
    title: str,
    plots: Sequence[Plot],
    svgs: Sequence[str],
    changes: Mapping[tuple, Sequence[Change]],
) -> str:
    esc = html.escape
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    num_series = sum(len(p.members) for p in plots)
    num_points = sum(len(s.points) for p in plots for s in p.members)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="meta">Generated {esc(generated)}: {len(plots)} plots, {num_series} series, '
        f"{num_points} points.</p>",
        change_table(plots, changes),
        _contents(plots),
        _plots_html(plots, svgs),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def change_table(plots: Sequence[Plot], changes: Mapping[tuple, Sequence[Change]]) -> str:
    """Every change point, a row each, in page order; the figure links to its plot."""
    esc = html.escape
    rows = []
    for plot in plots:
        for s in plot.members:
            for c in changes.get(s.key, ()):
                before, after = s.points[c.index - 1].label, s.points[c.index].label
                rows.append(
                    f"<tr><td>{esc(plot.suite)}</td><td>{esc(plot.configuration)}</td>"
                    f'<td><a href="#{plot.anchor}">{esc(plot.figure)}</a></td>'
                    f'<td class="machine">{esc(series_label(s, plot.members))}</td>'
                    f"<td><code>{esc(before)}..{esc(after)}</code></td>"
                    f'<td class="num">{esc(change_text(c))}</td>'
                    f'<td class="num">{c.p_value:.2g}</td>'
                    f'<td class="{esc(_slug(c.kind))}">{esc(c.kind)}</td></tr>'
                )
    if not rows:
        return "<h2>Change points</h2><p>No change points.</p>"
    head = "".join(
        f"<th>{h}</th>"
        for h in ("suite", "configuration", "figure", "machine", "commits", "change", "p", "kind")
    )
    return (
        f'<h2 id="changes">Change points ({len(rows)})</h2><div class="scroll">'
        f"<table><tr>{head}</tr>{''.join(rows)}</table></div>"
    )


def _by_suite_and_configuration(plots: Sequence[Plot]) -> dict[str, dict[str, list[int]]]:
    """Suite -> configuration -> the indices of its plots, in page order."""
    grouped: dict[str, dict[str, list[int]]] = {}
    for i, plot in enumerate(plots):
        grouped.setdefault(plot.suite, {}).setdefault(plot.configuration, []).append(i)
    return grouped


def _contents(plots: Sequence[Plot]) -> str:
    """A list of suites, their configurations and links to each figure's plot."""
    esc = html.escape
    if not plots:
        return "<p>No series recorded yet: nothing to plot.</p>"
    suites = []
    for suite, configurations in _by_suite_and_configuration(plots).items():
        items = []
        for configuration, indices in configurations.items():
            links = " · ".join(
                f'<a href="#{plots[i].anchor}">{esc(plots[i].figure)}</a>' for i in indices
            )
            items.append(f"<li>{esc(configuration)}: {links}</li>")
        suites.append(f"<li>{esc(suite)}<ul>{''.join(items)}</ul></li>")
    return f"<nav><h2>Contents</h2><ul>{''.join(suites)}</ul></nav>"


def _plots_html(plots: Sequence[Plot], svgs: Sequence[str]) -> str:
    """The plots under a heading per suite and per configuration, an anchor per plot."""
    esc = html.escape
    parts = []
    for suite, configurations in _by_suite_and_configuration(plots).items():
        parts.append(f"<h2>Suite {esc(suite)}</h2>")
        for configuration, indices in configurations.items():
            hashes = sorted({s.config_hash[:8] for i in indices for s in plots[i].members})
            parts.append(
                f'<h3>{esc(configuration)} <small class="meta">config '
                f"{esc(', '.join(hashes))}</small></h3>"
            )
            for i in indices:
                plot = plots[i]
                parts.append(
                    f'<figure id="{plot.anchor}"><h4><a href="#{plot.anchor}">'
                    f"{esc(plot.figure)}</a></h4>{svgs[i]}</figure>"
                )
    return "\n".join(parts)
