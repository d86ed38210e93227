"""Report periods: an enterprise's shifts from its calendar, park-local days and months.

Pure (``now`` is passed in). A period is ``[start, end)`` in epoch ms; every boundary falls on
a whole UTC hour, so the hourly rollups add up into periods exactly
(:class:`~report.errors.UnalignedPeriodError` otherwise).
"""

import datetime as dt
from dataclasses import dataclass

from contract.calendar import WorkCalendar
from report.errors import UnalignedPeriodError

HOUR_MS = 3_600_000
OFF_SHIFT = "off-shift"
"""The name of the time between two shifts (output knitted then is reported, not lost)."""


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """``[start, end)`` epoch ms, and what it is: a shift's window (``06:00-14:00``),
    ``off-shift``, ``day`` or ``month``."""

    start: int
    end: int
    name: str


def _local_midnight(day: dt.date, tz: dt.tzinfo) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=tz).timestamp() * 1000)


def _date(t_ms: int, tz: dt.tzinfo) -> dt.date:
    return dt.datetime.fromtimestamp(t_ms / 1000, tz).date()


def days(lo: int, hi: int, tz: dt.tzinfo) -> list[Period]:
    """The park-local days that overlap ``[lo, hi)``."""
    out = []
    day = _date(lo, tz)
    while (start := _local_midnight(day, tz)) < hi:
        day += dt.timedelta(days=1)
        out.append(Period(start, _local_midnight(day, tz), "day"))
    return out


def months(lo: int, hi: int, tz: dt.tzinfo) -> list[Period]:
    """The park-local calendar months that overlap ``[lo, hi)``."""
    out = []
    first = _date(lo, tz).replace(day=1)
    while (start := _local_midnight(first, tz)) < hi:
        first = (first + dt.timedelta(days=32)).replace(day=1)
        out.append(Period(start, _local_midnight(first, tz), "month"))
    return out


def _name(start: int, end: int, tz: dt.tzinfo) -> str:
    a = dt.datetime.fromtimestamp(start / 1000, tz)
    b = dt.datetime.fromtimestamp(end / 1000, tz)
    until = "24:00" if b.time() == dt.time() else f"{b:%H:%M}"  # a window to midnight
    return f"{a:%H:%M}-{until}"


def shifts(calendar: WorkCalendar | None, lo: int, hi: int, tz: dt.tzinfo) -> list[Period]:
    """The shifts that overlap ``[lo, hi)`` and the off-shift time between them, in order.

    A shift is one window of the calendar's pattern on one day (overlapping windows count as
    one), kept while any of it is working time: a holiday or downtime that closes part of a
    shift shortens its planned time, not the shift. The time between shifts is ``off-shift``
    (so that output knitted then is reported too); at the window's ends it runs to the hours
    around ``lo`` and ``hi``. Shifts are named by their window in the pattern's time zone. A
    calendar without a pattern (always working) has one shift a park-local day (in ``tz``).
    """
    if calendar is None or calendar.pattern is None:
        return days(lo, hi, tz)
    pattern = calendar.pattern
    windows: list[tuple[int, int]] = []
    # one day more on both sides, so that the gaps at the ends are bounded by shifts
    for a, b in sorted(pattern.intervals(lo - 86_400_000, hi + 86_400_000, calendar.makeup)):
        if windows and a < windows[-1][1]:
            windows[-1] = (windows[-1][0], max(b, windows[-1][1]))
        else:
            windows.append((a, b))
    kept = [(a, b) for a, b in windows if calendar.working_ms(a, b) > 0]
    first, last = lo // HOUR_MS * HOUR_MS, -(-hi // HOUR_MS) * HOUR_MS
    out: list[Period] = []
    previous_end = min(first, kept[0][0]) if kept else first
    for a, b in kept:
        if previous_end < a:
            out.append(Period(previous_end, a, OFF_SHIFT))
        out.append(Period(a, b, _name(a, b, pattern.tz)))
        previous_end = b
    if previous_end < last:  # a long closure at the end: off-shift up to the window's end
        out.append(Period(previous_end, last, OFF_SHIFT))
    return [p for p in out if p.end > lo and p.start < hi]


def check_aligned(periods: list[Period], enterprise: str) -> None:
    """Raise :class:`UnalignedPeriodError` for a period that does not start and end on an hour."""
    for p in periods:
        if p.start % HOUR_MS or p.end % HOUR_MS:
            moment = dt.datetime.fromtimestamp(
                (p.start if p.start % HOUR_MS else p.end) / 1000, dt.UTC
            )
            raise UnalignedPeriodError(
                f"enterprise {enterprise}: {p.name} has a boundary at {moment:%Y-%m-%d %H:%M}Z, "
                "inside an hour; the hourly rollups can be grouped only into periods of whole "
                "hours (shift windows on the hour in a time zone of whole hours)"
            )
