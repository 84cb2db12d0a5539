"""gpu_check.md and gpu_check.json: what the GPU check measured, against its targets."""

from __future__ import annotations

import json
from pathlib import Path

from ganbench.selftest.gpu_check import CheckResult, Figure

MD_FILE, JSON_FILE = "gpu_check.md", "gpu_check.json"
ENVIRONMENT = ("gpu", "driver", "torch", "cuda", "cudnn", "python", "ganbench_commit", "date")


def write_check(result: CheckResult, folder: Path) -> Path:
    """Both files in ``folder``; the Markdown's path."""
    (folder / JSON_FILE).write_text(
        json.dumps(result.as_dict(), indent=2, default=str) + "\n", encoding="utf-8"
    )
    path = folder / MD_FILE
    path.write_text(check_markdown(result), encoding="utf-8")
    return path


def check_markdown(result: CheckResult) -> str:
    env = result.environment
    title = "ganbench GPU check" + (
        " (dry run: smallest sizes, not figures)" if env["dry_run"] else ""
    )
    lines = [f"# {title}", ""]
    lines += ["| " + " | ".join(ENVIRONMENT) + " |", "|" + " --- |" * len(ENVIRONMENT)]
    lines += ["| " + " | ".join(str(env.get(k)) for k in ENVIRONMENT) + " |", ""]
    lines += [
        f"Device {env['device']}; {result.seconds:.0f} s of a {env['budget_s']:.0f} s budget.",
        "",
    ]
    lines += [
        "## Figures",
        "",
        "| step | figure | value | target | met |",
        "| --- | --- | --- | --- | --- |",
    ]
    for step in result.steps:
        lines += [f"| {step.name} | {_row(f, not env['dry_run'])} |" for f in step.figures]
    lines += ["", "## Steps", "", "| step | status | seconds | note |", "| --- | --- | --- | --- |"]
    for step in result.steps:
        note = (step.note or "").replace("|", "/").replace("\n", " ")
        lines.append(f"| {step.name}: {step.title} | {step.status} | {step.seconds:.0f} | {note} |")
    failed = [s for s in result.steps if s.error]
    if failed:
        lines += ["", "## Failures"]
        for step in failed:
            lines += ["", f"### {step.name} ({step.status})", "", "```", step.error or "", "```"]
    lines += ["", "## Commands", ""]
    for step in result.steps:
        lines += [f"- {step.name}: `{c}`" for c in step.commands]
    return "\n".join(lines) + "\n"


def _row(figure: Figure, judged: bool = True) -> str:
    """A figure's cells; a dry run's figures are not held to the targets."""
    value = "" if figure.value is None else f"{figure.value} {figure.unit}".strip()
    met = {True: "yes", False: "**no**", None: ""}[figure.met] if judged else "-"
    cells = (figure.name, value, figure.target or "", met)
    return " | ".join(str(c).replace("|", "/") for c in cells)
