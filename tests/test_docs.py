"""The documentation holds up: every ``ganbench`` command line shown in a code block of
README.md or docs/*.md parses against the real CLI (options, arguments, values; nothing
is run), every relative link points at a file and heading that exist, and the README
stays short."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup

from ganbench.cli import app
from tests.conftest import ROOT, doc_pages

README_MAX_LINES = 250
PLACEHOLDER = re.compile(r"\b[A-Z][A-Z_]{1,}\b")  # FILE, NAME, SUITE ... in a synopsis


def code_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of every line inside a fenced code block, a line continued
    with a trailing backslash joined to the next (numbered by its first line)."""
    found: list[tuple[int, str]] = []
    fenced, pending, start = False, "", 0
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("```"):
            fenced, pending = not fenced, ""
            continue
        if not fenced:
            continue
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        found.append((start, pending + line))
        pending = ""
    return found


def command_lines() -> list[tuple[str, list[str]]]:
    """("file:line", argv after "ganbench") of every command as a user would type it;
    synopsis lines ([optional], a|b, ..., placeholders in capitals) are left out."""
    commands = []
    for path in doc_pages():
        for number, line in code_lines(path):
            text = line.strip()
            if not text.startswith("ganbench "):
                continue
            argv = shlex.split(text, comments=True)
            if any(mark in text for mark in ("[", "|", "...")) or any(
                PLACEHOLDER.fullmatch(word) for word in argv
            ):
                continue
            commands.append((f"{path.relative_to(ROOT)}:{number}", argv[1:]))
    return commands


def parse(argv: list[str]) -> None:
    """Parse ``ganbench argv`` as the CLI would, down to the leaf command (``baseline
    save``: the group, then its command), without invoking anything. A usage error
    (unknown option or command, missing argument, bad value) raises Typer's click
    exception (a ``typer.TyperException``, as ganbench's app catches it)."""
    command = typer.main.get_command(app)
    ctx = command.make_context("ganbench", list(argv))
    while isinstance(command, TyperGroup):
        rest = [*ctx._protected_args, *ctx.args]  # what the group left for a command
        if not rest:  # a group alone ("ganbench weights"): nothing more to parse
            return
        name, sub, rest = command.resolve_command(ctx, rest)
        assert name is not None and sub is not None
        command, ctx = sub, sub.make_context(name, rest, parent=ctx)


COMMANDS = command_lines()


def test_the_docs_show_commands() -> None:
    assert len(COMMANDS) > 20, COMMANDS
    typed = {" ".join(argv) for _, argv in COMMANDS}
    for line in ("train-suite suites/thesis.yaml", "latency --batch-sizes 1,32,256", "report"):
        assert line in typed, f"the README's quick start lost `ganbench {line}`"


@pytest.mark.parametrize(("where", "argv"), COMMANDS, ids=[where for where, _ in COMMANDS])
def test_every_documented_command_parses(where: str, argv: list[str]) -> None:
    try:
        parse(argv)
    except typer.Exit as done:  # --version, --help: eager, then exit
        assert done.exit_code == 0, f"{where}: ganbench {shlex.join(argv)}"
    except typer.TyperException as err:
        pytest.fail(f"{where}: `ganbench {shlex.join(argv)}`: {err.format_message()}")


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["latency", "--batch-sizes", "1", "--no-such-option"], "No such option"),
        (["baseline", "sav"], "No such command 'sav'"),
        (["weights", "install"], "Missing argument"),
        (["latency", "--warmup", "0"], "Invalid value for '--warmup'"),
    ],
)
def test_a_wrong_command_fails_to_parse(argv: list[str], error: str) -> None:
    with pytest.raises(typer.TyperException) as raised:
        parse(argv)
    assert error in raised.value.format_message()


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation removed, spaces to '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a page's headings (outside code blocks), duplicates numbered."""
    seen: dict[str, int] = {}
    fenced = False
    for line in path.read_text().splitlines():
        fenced ^= line.startswith("```")
        match = re.match(r"(#{1,6}) (.+)", line)
        if fenced or match is None:
            continue
        name = anchor(match[2])
        seen[name if name not in seen else f"{name}-{seen[name]}"] = seen.get(name, 0) + 1
    return set(seen)


def links(path: Path) -> list[str]:
    """Every Markdown link target on a page, code blocks and inline code left out."""
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M)
    text = re.sub(r"`[^`]*`", "", text)
    return re.findall(r"\]\(([^()\s]+)\)", text)


@pytest.mark.parametrize("page", doc_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in links(page):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        file, _, fragment = target.partition("#")
        linked = (page.parent / file).resolve() if file else page
        if not linked.exists():
            broken.append(f"{target} (no file {linked})")
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
            broken.append(f"{target} (no heading #{fragment} in {linked.name})")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: {broken}"


def test_every_docs_page_is_linked_from_the_readme() -> None:
    readme = links(ROOT / "README.md")
    unlinked = [p.name for p in doc_pages()[1:] if f"docs/{p.name}" not in readme]
    assert not unlinked, f"docs pages the README does not link: {unlinked}"


def test_the_readme_stays_short() -> None:
    lines = len((ROOT / "README.md").read_text().splitlines())
    assert lines < README_MAX_LINES, f"README.md has {lines} lines; move detail to docs/"


def test_the_docs_use_no_hidden_option() -> None:
    """A hidden alias (latency's --json) works but is not what the docs teach."""
    for page in [ROOT / "README.md", *doc_pages()]:
        for number, line in code_lines(page):
            assert " --json" not in f"{line} ", f"{page.name}:{number}: use --format json"
