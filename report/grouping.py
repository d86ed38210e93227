"""Hourly sums grouped into report periods: the shift-level (and day, month) rollup.

Pure (``now`` is passed in). The input is one enterprise's exact hourly sums (its
``enterprise_1h`` points, the recent hours from raw readings); every field is a sum, so the sum
of the hours inside a period is the period's value, exactly.
"""

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from report.periods import HOUR_MS, OFF_SHIFT, Period

Sums = dict[str, float]


@dataclass(slots=True)
class PeriodSums:
    """One period of one enterprise: the period (cut at ``now``) and its fields' sums."""

    period: Period
    enterprise: str
    sums: Sums = field(default_factory=dict)
    hours: int = 0
    """Hours with data."""


def group_hours(
    enterprise: str,
    hours: Mapping[int, Mapping[str, float]],
    periods: Sequence[Period],
    now: int,
) -> list[PeriodSums]:
    """Sum ``hours`` (hour start ms -> field -> value) into ``periods`` (sorted, disjoint, whole
    hours).

    Periods starting at or after ``now`` are left out and the current one ends at ``now``.
    Off-shift periods without data are left out; shifts, days and months are kept even empty
    (a planned shift that knitted nothing is worth a row). Hours outside every period are
    ignored, as are fields whose value is None.
    """
    groups = [
        PeriodSums(Period(p.start, min(p.end, now), p.name), enterprise)
        for p in periods
        if p.start < now
    ]
    starts = [g.period.start for g in groups]
    for hour, values in hours.items():
        i = bisect.bisect_right(starts, hour) - 1
        if i < 0 or hour >= groups[i].period.end or hour % HOUR_MS:
            continue
        group = groups[i]
        group.hours += 1
        sums = group.sums
        for name, value in values.items():
            if value is not None:
                sums[name] = sums.get(name, 0) + value
    return [g for g in groups if g.hours or g.period.name != OFF_SHIFT]
