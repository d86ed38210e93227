"""A report from its request: the periods of each enterprise, their hourly sums, the rows."""

import datetime as dt
from dataclasses import dataclass, field

import httpx

from contract.shift_calendar import ParkCalendar
from influx.config import InfluxConfig
from report.fetch import Progress, read_hours
from report.grouping import PeriodSums, group_hours
from report.periods import HOUR_MS, Period, check_aligned, days, months, shifts
from report.rows import Row, build_rows

DEFAULT_CALENDAR = ""
"""An id no enterprise has: its calendar is the default one (of enterprises the files omit)."""


@dataclass(frozen=True, slots=True)
class Request:
    """What to report: ``[since, until)`` epoch ms by ``shift``, ``day`` or ``month``."""

    since: int
    until: int
    by: str
    tz: dt.tzinfo
    calendar: ParkCalendar = field(default_factory=ParkCalendar)
    enterprises: tuple[str, ...] = ()
    """Enterprises reported even without data (the registry's); ``only`` wins."""
    only: str | None = None
    raw_recent_ms: int = HOUR_MS


def periods_for(request: Request, enterprise: str) -> list[Period]:
    """The periods of ``enterprise`` that overlap the window (whole periods)."""
    lo, hi, tz = request.since, request.until, request.tz
    if request.by == "day":
        return days(lo, hi, tz)
    if request.by == "month":
        return months(lo, hi, tz)
    return shifts(request.calendar.for_enterprise(enterprise), lo, hi, tz)


def _candidates(request: Request) -> list[str]:
    if request.only is not None:
        return [request.only]
    file = request.calendar.file
    return sorted({*request.enterprises, *file.enterprises})


def report_rows(
    client: httpx.Client,
    config: InfluxConfig,
    request: Request,
    now: int,
    progress: Progress | None = None,
) -> list[Row]:
    """Every row of the report, sorted by period, then enterprise.

    Raises :class:`~report.errors.UnalignedPeriodError` for a calendar the hourly rollups
    cannot be grouped into, and :mod:`influx.errors`' errors.
    """
    candidates = _candidates(request)
    periods = {e: periods_for(request, e) for e in [*candidates, DEFAULT_CALENDAR]}
    if request.only is not None:
        del periods[DEFAULT_CALENDAR]
    for enterprise, found in periods.items():
        check_aligned(found, enterprise or "(default calendar)")
    lo = min((p[0].start for p in periods.values() if p), default=now)
    hi = min(max((p[-1].end for p in periods.values() if p), default=now), now)
    raw_from = (now - request.raw_recent_ms) // HOUR_MS * HOUR_MS
    hours = read_hours(client, config, lo, hi, raw_from, request.only, progress) if lo < hi else {}
    groups: list[PeriodSums] = []
    for enterprise in sorted({*candidates, *hours}):
        if request.only is not None and enterprise != request.only:
            continue
        mine = periods.get(enterprise)
        if mine is None:
            mine = periods_for(request, enterprise)
            check_aligned(mine, enterprise)
        groups += group_hours(enterprise, hours.get(enterprise, {}), mine, now)
    return build_rows(groups, request.tz)
