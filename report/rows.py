"""Report rows: a period's sums as the columns managers read, with typed values."""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from influx.rollups import REASONS
from report.grouping import PeriodSums
from report.oee import oee

DOWNTIME = tuple(f"downtime_s_{reason}" for reason in REASONS)
"""Seconds stopped per stop reason (``downtime_s_yarn_break``, ...)."""
OEE = ("availability", "performance", "quality", "oee")
COLUMNS = (
    "period_start",
    "period_end",
    "enterprise",
    "period",
    "pairs",
    "running_s",
    "planned_s",
    *DOWNTIME,
    *OEE,
)
"""The report's columns, in order."""

Value = dt.datetime | str | int | float | None


@dataclass(frozen=True, slots=True)
class Row:
    """One report row: its values in :data:`COLUMNS` order."""

    values: tuple[Value, ...]

    def __getitem__(self, column: str) -> Value:
        return self.values[COLUMNS.index(column)]


def _local(ms: int, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz)


def _seconds(value: float) -> float:
    return float(round(value, 3))


def build_row(group: PeriodSums, tz: dt.tzinfo) -> Row:
    """The row of one enterprise's period; times in ``tz`` (the park's clock)."""
    sums = group.sums
    parts = oee(sums)
    values: tuple[Value, ...] = (
        _local(group.period.start, tz),
        _local(group.period.end, tz),
        group.enterprise,
        group.period.name,
        int(sums.get("pairs", 0)),
        _seconds(sums.get("running_s", 0.0)),
        _seconds(sums.get("planned_s", 0.0)),
        *(_seconds(sums.get(f"stopped_s_{reason}", 0.0)) for reason in REASONS),
        *(None if part is None else round(part, 6) for part in parts),
    )
    return Row(values)


def build_rows(groups: Iterable[PeriodSums], tz: dt.tzinfo) -> list[Row]:
    """Rows sorted by period start, then enterprise."""
    ordered = sorted(groups, key=lambda g: (g.period.start, g.enterprise))
    return [build_row(g, tz) for g in ordered]
