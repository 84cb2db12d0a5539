"""Write a report: report.md (plots beside it), a self-contained report.html (plots
embedded as data URIs: it opens offline and can be mailed as one file) and summary.csv.
"""

from __future__ import annotations

import base64
import html
import math
import os
from pathlib import Path

from ganbench.report.build import PLOTS_DIR, Report
from ganbench.report.table import Table
from ganbench.results import write_atomic

CSS = """
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}
caption{text-align:left;font-weight:600;padding:.3em 0}
img{max-width:100%;border:1px solid #eee;margin:.3em 0 1.2em}
"""


def write_report(report: Report, folder: Path) -> dict[str, Path]:
    """report.md, report.html and summary.csv in ``folder`` (plots already in
    ``folder/report/``); returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "md": folder / "report.md",
        "html": folder / "report.html",
        "csv": folder / "summary.csv",
    }
    write_atomic(paths["md"], to_markdown(report, folder))
    write_atomic(paths["html"], to_html(report))
    write_atomic(paths["csv"], report.summary.reset_index().to_csv(index=False))
    return paths


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(table: Table) -> str:
    lines = [f"**{table.title}**", ""]
    lines.append("| " + " | ".join(_md_escape(h) for h in table.headers) + " |")
    lines.append("|" + "|".join(" --- " for _ in table.headers) + "|")
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in table.rows]
    if table.note:
        lines += ["", table.note]
    return "\n".join(lines) + "\n"


def to_markdown(report: Report, folder: Path) -> str:
    parts = [f"# {report.title}", "", _environment_line(report), ""]
    parts += [markdown_table(t) for t in report.tables]
    if report.notes:
        parts += ["## Notes", "", *(f"- {n}" for n in report.notes), ""]
    if report.plots:
        parts += ["## Plots", ""]
        for caption, path in report.plots:
            parts += [f"![{caption}]({Path(os.path.relpath(path, folder)).as_posix()})", ""]
    return "\n".join(parts)


def html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
        for row in table.rows
    )
    note = f"<p>{html.escape(table.note)}</p>" if table.note else ""
    caption = html.escape(table.title)
    return f"<table><caption>{caption}</caption><tr>{head}</tr>{body}</table>{note}"


def to_html(report: Report) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(report.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(report.title)}</h1>",
        f"<p>{html.escape(_environment_line(report))}</p>",
    ]
    parts += [html_table(t) for t in report.tables]
    if report.notes:
        items = "".join(f"<li>{html.escape(n)}</li>" for n in report.notes)
        parts.append(f"<h2>Notes</h2><ul>{items}</ul>")
    if report.plots:
        parts.append("<h2>Plots</h2>")
        for caption, path in report.plots:
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            alt = html.escape(caption)
            parts.append(f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">')
            parts.append(f"<figcaption>{alt}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _environment_line(report: Report) -> str:
    runs = report.suite.runs
    envs = report.suite.environments()
    counts = runs["status"].value_counts()
    status = ", ".join(f"{n} {s}" for s, n in counts.items())
    line = f"{len(runs)} run{'s' if len(runs) != 1 else ''} ({status})"
    if envs:
        e = envs[0]
        where = e.get("gpu_name") or f"{e.get('cpu_model')}, {e.get('torch_threads')} threads"
        line += f"; {e.get('device')} ({where}); torch {e.get('torch')}"
        commits = sorted({str(x.get("git_commit")) for x in envs})
        line += f"; ganbench {', '.join(commits)}"
    return line + (f". Plots in {PLOTS_DIR}/." if report.plots else ". No plots yet.")


def as_document(report: Report, paths: dict[str, Path]) -> dict:
    """The report for machines: the per-configuration summary (numbers, null when
    missing), the tables as shown, the notes and where the files are."""
    summary = report.summary.reset_index()
    return {
        "title": report.title,
        "files": {kind: str(path) for kind, path in paths.items()},
        "summary": [
            {
                k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in row.items()
            }
            for row in summary.to_dict(orient="records")
        ],
        "tables": [
            {"title": t.title, "headers": t.headers, "rows": t.rows, "note": t.note}
            for t in report.tables
        ],
        "notes": report.notes,
    }
