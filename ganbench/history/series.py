"""What the history hands to its readers: a series is one figure of one configuration
on one machine (and, for quality figures, one metric pipeline), a point per recorded
suite run in commit order, each point holding every finished seed's value."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone


def moment(text: str) -> datetime:
    """An ISO 8601 moment in UTC, without its zone (one without a zone is taken as UTC):
    commits dated in different zones compare by the instant, not by the text."""
    value = datetime.fromisoformat(text)
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value


@dataclass(frozen=True)
class Point:
    """One recorded suite run's values of a figure: every finished seed's value."""

    commit: str  # the repository's commit the suite ran from (12 hex digits)
    branch: str
    dirty: bool  # uncommitted changes in that repository
    commit_time: str | None  # ISO 8601, the commit's date (orders the series)
    recorded_at: str  # ISO 8601, when the run finished
    values: tuple[float, ...]  # one per finished seed

    @property
    def mean(self) -> float:
        """The geometric mean of the seeds' values (figures are positive ratios)."""
        positive = [v for v in self.values if v > 0]
        if not positive:
            return math.nan
        return math.exp(sum(math.log(v) for v in positive) / len(positive))

    @property
    def when(self) -> datetime:
        """The commit's instant (when recorded, for a folder outside git)."""
        return moment(self.commit_time or self.recorded_at)

    @property
    def order(self) -> tuple[datetime, datetime]:
        """Where the point falls in its series: by the commit's date, then by recording."""
        return (self.when, moment(self.recorded_at))

    @property
    def label(self) -> str:
        return self.commit[:8] + ("+" if self.dirty else "")


@dataclass(frozen=True)
class Series:
    """One figure of one configuration on one machine (and metric pipeline)."""

    suite: str
    configuration: str
    config_hash: str  # the resolved configuration without seed and paths
    figure: str
    direction: str  # "max": higher is better, "min": lower is better
    machine: str  # the machine fingerprint's id
    machine_label: str  # e.g. "NVIDIA H100 80GB HBM3 x1, driver 550.54" or "AMD EPYC x2"
    pipeline: str | None  # the metric pipeline's id, for quality figures
    points: tuple[Point, ...] = field(default_factory=tuple)

    @property
    def key(self) -> tuple[str, str, str, str, str, str | None]:
        """What a series is never pooled across: suite, configuration (name and settings),
        figure, machine and pipeline."""
        return (self.suite, self.configuration, self.config_hash, self.figure, self.machine,
                self.pipeline)  # fmt: skip

    def means(self) -> list[float]:
        return [p.mean for p in self.points]


@dataclass(frozen=True)
class Change:
    """A change point: the series' level moved between ``points[index - 1]`` and
    ``points[index]``; ``ratio`` is the mean after over the mean before (geometric,
    on the segments either side), with its 95 % interval."""

    index: int  # the first point of the new level
    ratio: float
    low: float
    high: float
    p_value: float
    kind: str  # "regression" or "improvement" (by the figure's direction)
