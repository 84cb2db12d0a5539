"""The static dashboard (``ganbench history publish``): one page with the change points'
table and a plot per configuration and figure, text escaped, drawn by headless Chromium
from a file:// URL."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import time
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ganbench.history.publish import change_text, commit_axis, publish
from ganbench.history.series import Change, Point, Series

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
)  # fmt: skip
LINE_RGB = ((0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E))  # the first two machines' colours
HOSTILE = '<script>alert("x")</script>'
MACHINES = (("fp-a", "NVIDIA A100-SXM4-40GB x1, driver 550.54"), ("fp-b", "AMD EPYC 7763 x2"))
FIGURES = (("images_per_s", "max", 900.0), ("fid", "min", 40.0))
COMMITS = [f"{i:x}" * 12 for i in range(1, 9)]  # "111111111111", ...
REGRESSION = Change(index=5, ratio=0.948, low=0.932, high=0.964, p_value=0.001, kind="regression")


def point(i: int, values: tuple[float, ...], commit: str | None = None) -> Point:
    when = datetime(2026, 11, 1, tzinfo=timezone.utc) + timedelta(hours=i)
    return Point(
        commit=commit or COMMITS[i],
        branch="main",
        dirty=False,
        commit_time=when.isoformat(),
        recorded_at=(when + timedelta(minutes=30)).isoformat(),
        values=values,
    )


def make_series(configuration: str, figure: str, machine: int, num_points: int = 8) -> Series:
    name, direction, level = next(f for f in FIGURES if f[0] == figure)
    points = tuple(
        point(i, tuple(level * (1 + machine / 10) * (1 + s / 100) for s in range(3)))
        for i in range(num_points)
    )
    fingerprint, label = MACHINES[machine]
    return Series(
        "nightly", configuration, hashlib.sha1(configuration.encode()).hexdigest()[:12], name,
        direction,
        fingerprint, label, None, points,
    )  # fmt: skip


def history() -> tuple[list[Series], dict[tuple, list[Change]]]:
    """2 configurations (one named like an attack) x 2 figures x 2 machines; one change
    point: alpha's images/s on the A100 at the sixth commit."""
    series = [
        make_series(configuration, figure, machine)
        for configuration in ("alpha", HOSTILE)
        for figure, _, _ in FIGURES
        for machine in range(len(MACHINES))
    ]
    regressed = next(s for s in series if (s.configuration, s.figure) == ("alpha", "images_per_s"))
    return series, {regressed.key: [REGRESSION]}


class Cells(HTMLParser):
    """The text of every table cell, row by row."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_rows(page: str) -> list[list[str]]:
    parser = Cells()
    parser.feed(page)
    return parser.rows


def test_publish_writes_one_page_with_a_plot_per_configuration_and_figure(tmp_path) -> None:
    series, changes = history()
    index = publish(series, changes, tmp_path / "site")
    assert index == tmp_path / "site" / "index.html"
    assert [p.name for p in index.parent.iterdir()] == ["index.html"]  # no temp file left
    page = index.read_text(encoding="utf-8")
    assert page.count("<svg ") == 4  # 2 configurations x 2 figures, a line per machine
    anchors = re.findall(r'<figure id="([^"]+)"', page)
    assert len(anchors) == len(set(anchors)) == 4
    for anchor in anchors:
        assert f'href="#{anchor}"' in page  # the contents list links to every plot
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # the inlined SVGs share no id
    for _, label in MACHINES:
        assert page.count(f"{label}</text>") == 4  # a legend entry per plot, as text
    assert "http://" not in page.replace("http://www.w3.org/", "")  # nothing to fetch
    assert "<script" not in page  # no script at all: the page works wherever it opens


def test_change_table_lists_each_change_point(tmp_path) -> None:
    series, changes = history()
    page = publish(series, changes, tmp_path).read_text(encoding="utf-8")
    header, *rows = table_rows(page.split("<h2>Contents</h2>")[0])
    assert header == [
        "suite", "configuration", "figure", "machine", "commits", "change", "p", "kind",
    ]  # fmt: skip
    assert rows == [
        [
            "nightly", "alpha", "images_per_s", MACHINES[0][1], "55555555..66666666",
            "-5.2 % [-6.8, -3.6]", "0.001", "regression",
        ]
    ]  # fmt: skip
    assert "regression -5.2 % [-6.8, -3.6]</text>" in page  # annotated in its plot


def test_no_change_points_and_no_series_say_so(tmp_path) -> None:
    series, _ = history()
    page = publish(series, {}, tmp_path).read_text(encoding="utf-8")
    assert "No change points." in page and page.count("<svg ") == 4
    empty = publish([], {}, tmp_path / "empty").read_text(encoding="utf-8")
    assert "No series recorded yet" in empty and "<svg" not in empty


def test_every_text_is_escaped(tmp_path) -> None:
    series, changes = history()
    series.append(
        Series("<b>suite</b>", "x&y", "c" * 12, "<i>fig</i>", "max", "fp-c", "<img src=x>",
               "pipe<line>", (point(0, (1.0,)), point(1, (1.1,))))
    )  # fmt: skip
    page = publish(series, changes, tmp_path, title="<h1>t</h1>").read_text(encoding="utf-8")
    for raw in ("<script", "<b>suite", "<i>fig", "<img", "<h1>t", "pipe<line"):
        assert raw not in page
    for escaped in ("&lt;script&gt;alert(", "&lt;b&gt;suite", "x&amp;y", "&lt;h1&gt;t"):
        assert escaped in page
    assert "&lt;img src=x&gt; · pipeline pipe&lt;lin</text>" in page  # the pipeline, short


def test_change_text_is_a_percent_with_its_interval() -> None:
    assert change_text(REGRESSION) == "-5.2 % [-6.8, -3.6]"
    better = Change(index=1, ratio=1.103, low=1.05, high=1.2, p_value=0.0, kind="improvement")
    assert change_text(better) == "+10.3 % [+5.0, +20.0]"


def test_commit_axis_puts_every_machine_on_one_axis_in_commit_order() -> None:
    full = make_series("alpha", "fid", 0, num_points=4)
    # the other machine missed the second commit, ran the third twice and recorded
    # its points out of order
    sparse = Series(
        "nightly", "alpha", full.config_hash, "fid", "min", "fp-b", "b", None,
        (point(3, (1.0,)), point(0, (1.0,)), point(2, (1.0,)), point(2, (2.0,))),
    )  # fmt: skip
    labels, positions = commit_axis([full, sparse])
    assert labels == [c[:8] for c in (COMMITS[0], COMMITS[1], COMMITS[2], COMMITS[2], COMMITS[3])]
    assert positions == [[0, 1, 2, 4], [4, 0, 2, 3]]


def test_a_change_outside_its_series_is_refused(tmp_path) -> None:
    series, _ = history()
    bad = {series[0].key: [Change(8, 0.9, 0.8, 0.95, 0.01, "regression")]}
    with pytest.raises(ValueError, match="index 8 outside alpha images_per_s on NVIDIA A100"):
        publish(series, bad, tmp_path)


@pytest.mark.slow
def test_fifty_series_of_a_hundred_points_publish_in_seconds(tmp_path) -> None:
    series = [_long_series(f"config-{i // 2}", i % 2) for i in range(50)]
    start = time.perf_counter()
    page = publish(series, {}, tmp_path).read_text(encoding="utf-8")
    elapsed_s = time.perf_counter() - start
    assert page.count("<svg ") == 25
    assert elapsed_s < 30, f"{elapsed_s:.1f} s"  # about 3 s on 2 shared CPU cores


def _long_series(configuration: str, machine: int) -> Series:
    points = tuple(
        Point(f"{i:012x}", "main", False, f"2026-11-01T{i // 60:02d}:{i % 60:02d}:00+00:00",
              "2026-11-02T00:00:00+00:00", (1.0 + i / 1000, 1.01, 0.99, 1.02, 0.98))
        for i in range(100)
    )  # fmt: skip
    return Series("s", configuration, "c" * 12, "images_per_s", "max", f"fp-{machine}",
                  f"machine {machine}", None, points)  # fmt: skip


def chromium(binary: str, profile: Path, *args: str) -> str:
    """Headless Chromium's stdout, with a profile folder of its own and a time limit."""
    try:
        done = subprocess.run(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium {args[0]} took over 60 s")
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_page_renders_in_headless_chromium_from_a_file_url(tmp_path) -> None:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium): not drawn here")
    series, changes = history()
    url = publish(series, changes, tmp_path / "site").as_uri()
    dom = chromium(binary, tmp_path / "profile-dom", "--dump-dom", url)
    figures = re.findall(r"<figure id=.*?</figure>", dom, flags=re.S)
    assert len(figures) == 4
    for figure in figures:  # each plot is an SVG the browser parsed, lines and all
        assert figure.count("<svg") == 1 and figure.count("<path") > 20
    assert "Change points (1)" in dom
    png = tmp_path / "page.png"
    chromium(binary, tmp_path / "profile-png", f"--screenshot={png}", "--window-size=1280,1600",
             url)  # fmt: skip
    import numpy as np
    from PIL import Image

    with Image.open(png) as image:
        assert image.size == (1280, 1600)
        pixels = np.asarray(image.convert("RGB"), dtype=int)
    for rgb in LINE_RGB:  # the machines' lines were painted, not only parsed
        near = int((np.abs(pixels - rgb).sum(axis=2) < 30).sum())
        assert near > 200, (rgb, near)
