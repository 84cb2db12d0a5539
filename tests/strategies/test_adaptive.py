"""Adaptive batch growth: when the plateau and noise-scale rules fire, and the settings
they refuse."""

from __future__ import annotations

import pytest

from ganbench.config import load_suite
from ganbench.errors import UserError
from ganbench.strategies.adaptive import AdaptiveGrowth, NoiseScaleGrowthConfig, PlateauConfig
from tests.conftest import tiny_suite


def plateau(**cfg) -> AdaptiveGrowth:
    settings = {"metric": "fd_classifier", "max_size": 256, **cfg}
    return AdaptiveGrowth(PlateauConfig(**settings), start=64)


def test_plateau_growth_fires_exactly_when_the_metric_plateaus() -> None:
    """Lower is better, 10 % counts, patience 3: 100 -> 80 improves; 75, 74, 73 do not
    (each under 10 % of the best, 80), so the third of them grows the batch, not before."""
    growth = plateau(min_improvement=0.1, patience=3)
    decisions = [growth.observe_quality(v, True, i) for i, v in enumerate([100, 80, 75, 74, 73])]
    assert decisions[:4] == [None] * 4 and growth.size == 128
    assert decisions[4] == (
        "fd_classifier did not improve by 10% on its best (80) over 3 evaluations (now 73)"
    )
    assert growth.state.history == [
        {"iteration": 4, "previous": 64, "size": 128, "why": decisions[4]}
    ]
    # The patience starts again; an improvement of more than 10 % on 80 resets it.
    assert [growth.observe_quality(v, True, 5 + i) for i, v in enumerate([72, 71, 60, 59])] == [
        None
    ] * 4
    assert growth.size == 128 and growth.state.best == 60
    assert growth.observe_quality(None, True, 9) is None  # a metric that failed: no vote


def test_higher_is_better_cooldown_and_the_maximum() -> None:
    growth = plateau(patience=1, cooldown=2, max_size=200)  # 64 -> 128 -> 200 (capped)
    seen = [growth.observe_quality(9.0, False, i) for i in range(6)]  # IS-like, flat
    assert [s is not None for s in seen] == [False, True, False, False, True, False]
    assert [h["size"] for h in growth.state.history] == [128, 200] and growth.size == 200
    assert growth.sizes(64) == [64, 128, 200]
    assert all(growth.observe_quality(9.0, False, i) is None for i in range(6, 12))  # at max


def test_noise_scale_growth_fires_above_threshold_times_the_batch() -> None:
    cfg = NoiseScaleGrowthConfig(threshold=2.0, max_size=512, player="max")
    growth = AdaptiveGrowth(cfg, start=64)
    assert growth.observe_noise({"d": 100.0, "g": None}, 10) is None  # G not measurable yet
    assert growth.observe_noise({"d": 100.0, "g": 128.0}, 20) is None  # 128 is not > 2 x 64
    assert growth.observe_noise({"d": 100.0, "g": 129.0}, 30) == "B_simple (max) 129 > 2 x batch 64"
    assert growth.size == 128
    mean = AdaptiveGrowth(NoiseScaleGrowthConfig(max_size=128, player="mean"), start=64)
    assert mean.observe_noise({"d": 100.0, "g": 30.0}, 1) == "B_simple (mean) 65 > 1 x batch 64"
    assert mean.size == 128
    d_only = AdaptiveGrowth(NoiseScaleGrowthConfig(max_size=128, player="d"), start=64)
    assert d_only.observe_noise({"d": 10.0, "g": 1e6}, 1) is None and d_only.size == 64


def test_warmup_holds_the_first_growth_back() -> None:
    """warmup 3: the first three observations cannot grow the batch however high B_simple
    is; the fourth can, and then the cooldown (0) applies, not the warmup."""
    cfg = NoiseScaleGrowthConfig(threshold=0.1, max_size=512, warmup=3)
    growth = AdaptiveGrowth(cfg, start=64)
    seen = [growth.observe_noise({"d": 500.0, "g": 500.0}, i) for i in range(6)]
    assert [s is not None for s in seen] == [False, False, False, True, True, True]
    assert [h["iteration"] for h in growth.state.history] == [3, 4, 5]
    patient = plateau(patience=1, warmup=2)  # flat from the start: grows at the third
    grew = [patient.observe_quality(9.0, True, i) is not None for i in range(4)]
    assert grew == [False, False, True, True]


@pytest.mark.parametrize(
    ("batch", "extra", "message"),
    [
        (
            {
                "size": 32,
                "milestones": [{"iteration": 5, "size": 64}],
                "growth": {"name": "plateau", "metric": "kl_modes", "max_size": 64},
            },
            {},
            "adaptive growth replaces milestones",
        ),
        (
            {"size": 32, "growth": {"name": "noise_scale", "max_size": 32}},
            {"measure": {"noise_scale": 5}},
            "growth.max_size: 32 must exceed size 32",
        ),
        (
            {"size": 32, "growth": {"name": "noise_scale", "max_size": 64}},
            {},
            "needs the noise scale measured: measure.noise_scale: N",
        ),
        (
            {"size": 32, "growth": {"name": "plateau", "metric": "fid", "max_size": 64}},
            {"evaluation": {"every_iterations": 5, "metrics": ["mixture"]}},
            "batch.growth.metric: 'fid' is not a value of the evaluation metrics (choose: ",
        ),
        (
            {"size": 32, "growth": {"name": "plateau", "metric": "kl_modes", "max_size": 64}},
            {"evaluation": {"metrics": ["mixture"]}},
            "plateau growth needs periodic evaluation",
        ),
        (
            {"size": 32, "growth": {"name": "plateaux", "max_size": 64}},
            {},
            "batch.growth",
        ),
        (
            {
                "size": 32,
                "growth_mode": "accumulate",
                "growth": {"name": "noise_scale", "max_size": 80},
            },
            {"measure": {"noise_scale": 5}},
            "every size must be a multiple of size 32, got [80]",
        ),
    ],
)
def test_impossible_growth_settings_are_refused_naming_the_field(
    write_suite, batch, extra, message
) -> None:
    path = write_suite(tiny_suite(batch=batch, **extra))
    with pytest.raises(UserError) as raised:
        load_suite(path)
    assert message in str(raised.value), str(raised.value)


def test_metrics_cannot_drop_the_value_a_plateau_run_watches(write_suite) -> None:
    from ganbench.config.derive import choose_metrics

    growth = {"name": "plateau", "metric": "high_quality_fraction", "max_size": 64}
    suite = tiny_suite(
        batch={"size": 32, "growth": growth},
        evaluation={"every_iterations": 2, "metrics": ["mixture"]},
    )
    loaded = load_suite(write_suite(suite))
    assert (
        choose_metrics(loaded, ["mixture"]).runs[0].batch.growth.metric == "high_quality_fraction"
    )
    with pytest.raises(UserError, match="grows its batch when high_quality_fraction plateaus"):
        choose_metrics(loaded, ["none"])
