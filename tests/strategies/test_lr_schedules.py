"""Learning-rate schedules: the factors they give and the settings they refuse."""

from __future__ import annotations

import math

import pytest

from ganbench.config import load_suite
from ganbench.errors import UserError
from ganbench.strategies.lr_schedules import LrSchedule, LrScheduleConfig
from tests.conftest import tiny_suite


def factor(cfg: dict, iteration: int, epoch: float = 0.0) -> float:
    return LrSchedule(LrScheduleConfig.model_validate(cfg)).factor(iteration, epoch)


def test_step_factors_apply_from_each_milestone_on() -> None:
    """The thesis' growth 64 -> 128 -> 256 at epochs 32 and 96, as a decay by the same
    factors."""
    cfg = {
        "name": "step",
        "milestones": [{"epoch": 32, "factor": 0.5}, {"epoch": 96, "factor": 0.25}],
    }
    assert [factor(cfg, 0, e) for e in (0, 31.9, 32, 95.9, 96, 200)] == [
        1.0,
        1.0,
        0.5,
        0.5,
        0.25,
        0.25,
    ]
    by_iteration = {"name": "step", "milestones": [{"iteration": 10, "factor": 0.1}]}
    assert [factor(by_iteration, i) for i in (9, 10, 11)] == [1.0, 0.1, 0.1]


def test_cosine_runs_from_one_to_final_and_stays_there() -> None:
    cfg = {"name": "cosine", "iterations": 100, "final": 0.2}
    # final + (1 - final) * 1.0: exactly 1.0 only as double rounding of 0.2 + (1 - 0.2) falls
    assert factor(cfg, 0) == pytest.approx(1.0, rel=1e-12)
    assert factor(cfg, 50) == pytest.approx(0.6)
    assert factor(cfg, 100) == pytest.approx(0.2) and factor(cfg, 500) == pytest.approx(0.2)
    by_epoch = {"name": "cosine", "epochs": 4}
    assert factor(by_epoch, 7, 1.0) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert factor({"name": "none"}, 10**6, 10**3) == 1.0


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ({"name": "step"}, "step needs milestones"),
        ("cosine", "cosine: give exactly one of iterations or epochs"),
        ({"name": "cosine", "iterations": 5, "epochs": 1}, "give exactly one of iterations"),
        ({"name": "none", "iterations": 5}, "iterations and epochs are for name: cosine"),
        (
            {"name": "cosine", "epochs": 3, "milestones": [{"epoch": 1, "factor": 0.5}]},
            "milestones are for name: step",
        ),
        (
            {
                "name": "step",
                "milestones": [{"epoch": 2, "factor": 0.5}, {"iteration": 9, "factor": 0.1}],
            },
            "either epoch or iteration for all",
        ),
        (
            {
                "name": "step",
                "milestones": [{"epoch": 2, "factor": 0.5}, {"epoch": 1, "factor": 0.1}],
            },
            "strictly increasing",
        ),
        ({"name": "step", "milestones": [{"epoch": 2, "factor": 0}]}, "greater than 0"),
        ({"name": "linear"}, "'none', 'step' or 'cosine'"),
    ],
)
def test_impossible_schedules_are_refused_naming_the_field(write_suite, schedule, message) -> None:
    path = write_suite(tiny_suite(strategy={"name": "srfb", "lr_schedule": schedule}))
    with pytest.raises(UserError) as raised:
        load_suite(path)
    text = str(raised.value)
    assert "strategy.lr_schedule" in text and message in text, text
