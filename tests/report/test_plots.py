"""The quality plot says what it shows: the target as a line, batch growth only where a
batch grew."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ganbench.report import plots


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list:
    """The figures the plots would save."""
    figures: list = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig) or path)
    return figures


def curves() -> pd.DataFrame:
    rows = [
        {"configuration": name, "run_id": f"{name}-seed{seed}", "value": "fid",
         "iteration": it, "train_s": it / 10, "score": 300 - it + seed}
        for name in ("a", "b") for seed in (0, 1) for it in (0, 50, 100)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_the_target_is_a_line_and_no_growth_is_claimed(drawn: list, tmp_path: Path) -> None:
    growth = pd.DataFrame(columns=["configuration", "run_id", "batch_size", "train_s"])
    plots.plot_quality(curves(), growth, "fid", "train_s", "min", tmp_path / "q.png", 250.0)
    (axis,) = drawn[0].axes
    assert "batch size grew" not in axis.get_title()
    dashed = [line for line in axis.get_lines() if line.get_linestyle() == "--"]
    assert len(dashed) == 1 and set(dashed[0].get_ydata()) == {250.0}
    assert "target 250" in [t.get_text() for t in axis.get_legend().get_texts()]


def test_growth_is_named_where_a_batch_grew(drawn: list, tmp_path: Path) -> None:
    growth = pd.DataFrame(
        [{"configuration": "b", "run_id": "b-seed0", "batch_size": 128, "train_s": 5.0}]
    )
    plots.plot_quality(curves(), growth, "fid", "train_s", "min", tmp_path / "q.png")
    (axis,) = drawn[0].axes
    assert axis.get_title().endswith("dotted: batch size grew")
    assert not [line for line in axis.get_lines() if line.get_linestyle() == "--"]
