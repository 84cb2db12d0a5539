"""Terminal rendering of results: latency rows and table, a report's tables, the
regression gate's verdicts."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from ganbench.cli.console import fmt as _fmt
from ganbench.cli.console import show
from ganbench.cli.console import table as _table
from ganbench.results.latency import ratio_text


def _ms(value: float | None) -> str:
    return _fmt(value * 1e3 if value is not None else None, ".3g")


def _rate(value: float | None) -> str:
    return _fmt(value, ".0f" if value is not None and value >= 100 else ".3g")


def latency_line(
    row: dict[str, Any], previous: dict[str, Any] | None = None, labelled: bool = False
) -> str:
    """One line as a row is measured (a reason already given for the row before is not
    repeated); ``labelled``: several generators, each row names its own and its time
    against the first's."""
    head = f"{row['precision']:>4} compile {row['compile']:<8} batch {row['batch_size']:>5}"
    head = f"{row['generator']}: {head}" if labelled else head
    if row["status"] != "ok":
        same = previous is not None and previous["reason"] == row["reason"]
        return f"{head}: {row['status']} ({'as above' if same else row['reason']})"
    against = f", {ratio_text(row)} the first's time" if labelled and row["latency_ratio"] else ""
    return (
        f"{head}: p50 {_ms(row['latency_p50_s'])} ms, {_ms(row['per_image_latency_s'])} ms/image,"
        f" {_rate(row['images_per_s'])} images/s ({row['latency_count']} calls),"
        f" {_rate(row['blocked_images_per_s'])} back to back{against}"
    )


def latency_cells(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """The figures compared first, per row, as shown (for a Markdown table): ``calls`` is
    the number of timed calls the percentiles come from."""
    several = _several(rows)
    headers = ["precision", "compile", "batch", "status", "p50 ms", "std ms", "ms/image"]
    cells = [
        [r["precision"], r["compile"], str(r["batch_size"]), r["status"],
         _ms(r["latency_p50_s"]), _ms(r["latency_std_s"]), _ms(r["per_image_latency_s"]),
         _rate(r["images_per_s"]), _rate(r["blocked_images_per_s"]),
         _fmt(r["latency_count"], "d")]
        for r in rows
    ]  # fmt: skip
    headers += ["images/s", "images/s blocked", "calls"]
    if several:
        headers = ["generator", *headers, "x 1st [95%]"]
        cells = [[r["generator"], *c, ratio_text(r)] for r, c in zip(rows, cells, strict=True)]
    return headers, cells


UNSTEADY_CV = 0.5  # a row's call times' std over their mean


def unsteady_rows(rows: list[dict[str, Any]]) -> list[str]:
    """A line per measured row whose call times varied widely (std over half the mean):
    its figures are not to be trusted as they stand."""
    out = []
    for r in rows:
        mean, std = r.get("latency_mean_s"), r.get("latency_std_s")
        if r["status"] == "ok" and mean and std is not None and std / mean > UNSTEADY_CV:
            out.append(
                f"{_name(r, _several(rows))}: std "
                f"{_ms(std)} ms is {std / mean:.0%} of the mean; another process probably "
                "competed (re-run on a quiet machine, or with a longer --min-time)"
            )
    return out


def _several(rows: list[dict[str, Any]]) -> bool:
    return len({r.get("generator") for r in rows}) > 1


def _name(r: dict[str, Any], several: bool = False) -> str:
    head = f"{r['precision']} compile {r['compile']} batch {r['batch_size']}"
    return f"{r['generator']}: {head}" if several else head


def missing_percentiles(rows: list[dict[str, Any]]) -> list[str]:
    """A line per percentile left out of a measured row, with why (too few calls)."""
    return [
        f"{p} -: {_name(r, _several(rows))}: {r[f'latency_{p}_reason']}"
        for r in rows
        for p in ("p50", "p90", "p99")
        if r["status"] == "ok" and r[f"latency_{p}_s"] is None
    ]


def unsettled_warmups(rows: list[dict[str, Any]]) -> list[str]:
    """A line per measured row whose warm-up hit its cap before the call times settled."""
    return [
        f"warm-up unsteady: {_name(r, _several(rows))}: {r['warmup_calls']} calls, "
        f"{_fmt(r['warmup_s'], '.3g')} s, times still changing when it stopped"
        for r in rows
        if r["status"] == "ok" and r["warmup_steady"] is False
    ]


def print_latency(console: Console, result: Any, folder: Any) -> None:
    """The latency table: one row per precision x compile x batch size (x generator, with
    each one's time against the first's, when several were timed)."""
    cuda = result.device.startswith("cuda")
    memory = "peak CUDA MiB" if cuda else "RSS +MiB"
    several = len(result.generators) > 1
    # Several generators: their label and time against the first's in place of the calls,
    # mean, p90, std, min and first call (all in latency.json and latency.csv).
    times = ("p50", "p99") if several else ("p50", "mean", "p90", "p99")
    columns = ("generator",) if several else ()
    columns += ("precision", "compile", "batch", "status")
    columns += (() if several else ("calls",)) + tuple(f"{t} ms" for t in times)
    columns += (() if several else ("std ms", "min ms")) + ("ms/img", "img/s", "blk img/s")
    columns += ("x 1st [95%]",) if several else ("1st call s",)
    table = _table(_latency_title(result), (*columns, memory), left=5 if several else 4)
    for r in result.rows:
        peak = r["peak_cuda_alloc_bytes"] if cuda else r["rss_growth_bytes"]
        table.add_row(
            *((r["generator"],) if several else ()),
            r["precision"],
            r["compile"],
            str(r["batch_size"]),
            r["status"],
            *(() if several else (_fmt(r["latency_count"], "d"),)),
            *(_ms(r[f"latency_{t}_s"]) for t in times),
            *(() if several else (_ms(r["latency_std_s"]), _ms(r["latency_min_s"]))),
            _ms(r["per_image_latency_s"]),
            _rate(r["images_per_s"]),
            _rate(r["blocked_images_per_s"]),
            ratio_text(r) if several else _fmt(r["first_call_s"], ".3g"),
            _fmt(peak / 2**20 if peak is not None else None, ".1f"),
        )
    show(console, table)
    for line in unsteady_rows(result.rows):
        console.print(f"[bold yellow]unsteady:[/] {line}", highlight=False)
    for line in missing_percentiles(result.rows) + unsettled_warmups(result.rows):
        console.print(line, highlight=False)
    for status, reason in dict.fromkeys((r["status"], r["reason"]) for r in result.rows):
        if reason:
            console.print(f"{status}: {reason}", highlight=False)
    resolution = next((r["timer_resolution_s"] for r in result.rows if r["timer"]), None)
    if resolution is not None:
        console.print(f"timer resolution: {resolution * 1e9:.0f} ns", highlight=False)
    if result.generator["origin"] == "fresh":
        console.print("note: a fresh model with random weights; latency does not depend on them")
    if several:
        first = result.generators[0]["label"]
        console.print(
            f"x 1st: mean call time over {first}'s at the same precision, compile and batch "
            "(the generators took turns row by row)",
            highlight=False,
        )
    if result.interrupted:
        console.print("[bold yellow]interrupted:[/] the rows measured so far are written")
    console.print(f"results: {folder}/ (latency.json, latency.csv, latency.png)")


def _latency_title(result: Any) -> str:
    """The generator(s), their weights, the device, threads and timer."""
    if len(result.generators) > 1:
        what = "generators " + ", ".join(
            f"{g['label']} ({g['file']['kind'] if g.get('file') else g['model']['name']})"
            for g in result.generators
        )
    else:
        gen = result.generator
        what = f"{gen['model']['name']} generator, weights {gen['weights']}"
    layout = "channels_last, " if result.settings["channels_last"] else ""
    return (
        f"latency: {what}; {result.device}, {layout}{result.environment['torch_threads']} "
        f"threads; timer {next((r['timer'] for r in result.rows if r.get('timer')), '-')}"
    )


def print_table(console: Console, t: Any) -> None:
    """A report table (title, headers, rows of text: "[10, 14]" is text, not markup)."""
    table = _table(escape(t.title), tuple(escape(h) for h in t.headers))
    for row in t.rows:
        table.add_row(*(escape(str(c)) for c in row))
    show(console, table)


def print_report(console: Console, report: Any, paths: dict[str, Any]) -> None:
    """A report's tables and notes, and where its files are."""
    for t in report.tables:
        print_table(console, t)
    for note in report.notes:
        console.print(f"note: {escape(note)}", highlight=False)
    console.print(
        f"report: {paths['md']}, {paths['html']} (self-contained), {paths['csv']}", highlight=False
    )


def print_check(console: Console, err_console: Console, result: Any) -> None:
    """The regression verdicts, environment warnings on stderr, and the overall verdict."""
    shown = result.table()
    table = _table(shown.title, tuple(shown.headers), left=2)
    for v, row in zip(result.verdicts, shown.rows, strict=True):
        style = "bold red" if v.failed else ("green" if v.verdict == "improved" else "")
        cells = [escape(c) for c in row[:-1]]
        table.add_row(*cells, f"[{style}]{v.verdict}[/]" if style else v.verdict)
    show(console, table)
    for cause in result.causes:  # where the time went, from the profile windows
        print_table(console, cause)
    for warning in result.warnings:
        err_console.print(f"[bold yellow]warning:[/] {escape(warning)}", highlight=False)
    for verdict, line in result.blind_lines():
        console.print(f"[bold red]{verdict}[/]: {escape(line)}", highlight=False)
    verdict, _, rest = result.headline().partition(":")
    style = "bold red" if result.failed else "bold green"
    console.print(f"[{style}]{verdict}[/]:{rest}", highlight=False)


def print_builtin_suites(console: Console, suites: list[Any]) -> None:
    """`ganbench suites`: a line per built-in suite, its name and description (a list, not
    a table: the descriptions wrap under their name at any width)."""
    width = max((len(s.name) for s in suites), default=0)
    for suite in suites:
        console.print(f"[bold]{suite.name:<{width}}[/]  {suite.description}", highlight=False)
    console.print(
        "train one by name from any folder (ganbench train-suite quick); "
        "ganbench init NAME copies one to edit",
        highlight=False,
    )


def print_runs(console: Console, folders: list[Any]) -> None:
    """`ganbench runs`: the suite folders, newest first."""
    import time

    if not folders:
        console.print("no suite folders written yet (ganbench train-suite SUITE)")
        return
    out = _table(
        "result folders (newest first)", ("folder", "suite", "runs", "status", "changed"), 3
    )
    for f in folders:
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(f.statuses.items()))
        changed = time.strftime("%Y-%m-%d %H:%M", time.localtime(f.changed))
        out.add_row(str(f.path), f.name, str(len(f.runs)), statuses or "-", changed)
    show(console, out)


def print_registry(console: Console, kind: str, registry: Any, fields: bool) -> None:
    """A kind's names (a plugin's with its distribution); with ``fields``, each entry's
    fields, defaults and descriptions."""
    names = [
        name if registry.origin(name) == "built-in" else f"{name} ({registry.origin(name)})"
        for name in registry.names()
    ]
    console.print(f"[bold]{kind}[/]: {', '.join(names)}", highlight=False)
    if not fields:
        return
    for name in registry.names():
        console.print(f"\n[bold]{name}[/] ({registry.origin(name)})", highlight=False)
        for field, info in registry.get(name).Config.model_fields.items():
            if field == "name":
                continue
            default = "required" if info.is_required() else _default(info)
            about = f"  {info.description}" if info.description else ""
            console.print(f"  {field} = {default}{about}", highlight=False, markup=False)


def _default(info: Any) -> str:
    value = info.get_default(call_default_factory=True)
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    return repr(value)
