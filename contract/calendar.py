"""Working time by the clock: shift patterns minus holidays, statutory days and downtime.

A :class:`WorkCalendar` says whether an enterprise is working at an instant (epoch ms), and for
how long that stays so: a weekly :class:`ShiftPattern` in a time zone, minus :class:`Holiday`
closures that recur every year, :class:`Statutory` closures (a country's statutory holidays,
with make-up working days) and :class:`Downtime` between two instants. Pure: nothing reads a
clock. The calendar file and the registry that describe them are parsed by their owners.
"""

import bisect
import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from contract.holidays import StatutoryDays

DAY_MS = 86_400_000
HORIZON_MS = 8 * DAY_MS
"""How far around an instant a period is computed; longer periods are cut there (and computed
again when an instant beyond the cut is asked about)."""

ALWAYS = "always"
"""The built-in pattern: working at every hour of every day."""

_WINDOW_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_REFERENCE_YEAR = 2001  # not a leap year: recurring dates are checked against it


def time_zone(name: str) -> dt.tzinfo:
    """``UTC``, a ``zoneinfo`` name (``Asia/Shanghai``) or ``UTC+08:00``; ``ValueError`` else."""
    match = re.fullmatch(r"UTC([+-])(\d{1,2})(?::(\d{2}))?", name.strip())
    if match:
        sign = 1 if match.group(1) == "+" else -1
        hours, minutes = int(match.group(2)), int(match.group(3) or 0)
        if hours > 14 or minutes > 59:
            raise ValueError(f"time zone {name!r}: offset out of range")
        return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes))
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {name!r} (examples: UTC, Asia/Shanghai, UTC+08:00)"
        ) from exc


def parse_window(text: str) -> tuple[int, int]:
    """``"06:00-22:00"`` -> minutes ``(360, 1320)``; an end at or before the start runs past
    midnight (``"22:00-06:00"`` -> ``(1320, 1800)``); ``"00:00-24:00"`` is the whole day."""
    match = _WINDOW_RE.match(text)
    if match is None:
        raise ValueError(f"window {text!r} is not HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
        raise ValueError(f"window {text!r} has an invalid time")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end <= start:
        end += 1440
    return start, end


def _local_ms(day: dt.date, minutes: int, tz: dt.tzinfo) -> int:
    """Epoch ms of ``minutes`` past local midnight of ``day`` (wall-clock arithmetic)."""
    extra, minute = divmod(minutes, 1440)
    date = day + dt.timedelta(days=extra)
    moment = dt.datetime(date.year, date.month, date.day, minute // 60, minute % 60, tzinfo=tz)
    return int(moment.timestamp() * 1000)


def _local_date(t_ms: int, tz: dt.tzinfo) -> dt.date:
    return dt.datetime.fromtimestamp(t_ms / 1000, tz).date()


@dataclass(frozen=True, slots=True)
class ShiftPattern:
    """Weekly working windows in a time zone. ``windows`` are minutes ``(start, end)`` after
    local midnight of a workday, ``0 <= start < 1440``, ``start < end <= start + 1440``."""

    name: str
    windows: tuple[tuple[int, int], ...]
    workdays: frozenset[int] = frozenset(range(7))
    """0 = Monday ... 6 = Sunday: the days a window *starts* on."""
    tz: dt.tzinfo = dt.UTC

    def __post_init__(self) -> None:
        if not self.windows:
            raise ValueError(f"pattern {self.name}: at least one window is needed")
        for start, end in self.windows:
            if not (0 <= start < 1440 and start < end <= start + 1440):
                raise ValueError(f"pattern {self.name}: window {start}-{end} is out of range")
        if not self.workdays or any(not 0 <= d <= 6 for d in self.workdays):
            raise ValueError(f"pattern {self.name}: workdays must be 0 (Mon) .. 6 (Sun)")

    def intervals(
        self, lo: int, hi: int, makeup: Callable[[dt.date], bool] | None = None
    ) -> list[tuple[int, int]]:
        """Working intervals (epoch ms) that overlap ``[lo, hi)``, unmerged; ``makeup`` days
        run the windows whatever their weekday (make-up working days)."""
        first = _local_date(lo, self.tz) - dt.timedelta(days=1)
        last = _local_date(hi, self.tz)
        out = []
        day = first
        while day <= last:
            if day.weekday() in self.workdays or (makeup is not None and makeup(day)):
                for start, end in self.windows:
                    a, b = _local_ms(day, start, self.tz), _local_ms(day, end, self.tz)
                    if b > lo and a < hi:
                        out.append((a, b))
            day += dt.timedelta(days=1)
        return out


@dataclass(frozen=True, slots=True)
class Holiday:
    """Closed for ``days`` local days from ``month``/``day``, every year."""

    name: str
    month: int
    day: int
    days: int = 1
    tz: dt.tzinfo = dt.UTC

    def __post_init__(self) -> None:
        try:
            dt.date(_REFERENCE_YEAR, self.month, self.day)
        except ValueError as exc:
            raise ValueError(f"holiday {self.name}: {exc}") from exc
        except OverflowError:
            # A number beyond C integers: the same error as any other.
            in_year = 1 <= self.month <= 12
            part = "day is out of range" if in_year else "month must be in 1..12"
            raise ValueError(f"holiday {self.name}: {part}") from None
        if not 1 <= self.days <= 366:
            raise ValueError(f"holiday {self.name}: days must be 1-366")

    def intervals(self, lo: int, hi: int) -> list[tuple[int, int]]:
        out = []
        for year in range(_local_date(lo, self.tz).year - 1, _local_date(hi, self.tz).year + 1):
            first = dt.date(year, self.month, self.day)
            a = _local_ms(first, 0, self.tz)
            b = _local_ms(first + dt.timedelta(days=self.days), 0, self.tz)
            if b > lo and a < hi:
                out.append((a, b))
        return out


@dataclass(frozen=True, slots=True)
class Statutory:
    """Closed on the local dates ``days`` says are closed (statutory holidays, extra days)."""

    days: StatutoryDays
    tz: dt.tzinfo = dt.UTC

    def intervals(self, lo: int, hi: int) -> list[tuple[int, int]]:
        out = []
        day = _local_date(lo, self.tz)
        last = _local_date(hi, self.tz)
        while day <= last:
            if self.days.closed(day):
                a = _local_ms(day, 0, self.tz)
                b = _local_ms(day + dt.timedelta(days=1), 0, self.tz)
                if b > lo and a < hi:
                    out.append((a, b))
            day += dt.timedelta(days=1)
        return out


@dataclass(frozen=True, slots=True)
class Downtime:
    """Closed from ``start_ms`` to ``end_ms`` (epoch ms), for some enterprises or all (None)."""

    reason: str
    start_ms: int
    end_ms: int
    enterprises: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.end_ms <= self.start_ms:
            raise ValueError(f"downtime {self.reason!r}: it must end after it starts")

    def intervals(self, lo: int, hi: int) -> list[tuple[int, int]]:
        if self.end_ms > lo and self.start_ms < hi:
            return [(self.start_ms, self.end_ms)]
        return []

    def applies_to(self, enterprise: str) -> bool:
        return self.enterprises is None or enterprise in self.enterprises


Closure = Holiday | Statutory | Downtime


class Period(NamedTuple):
    """``[start, end)`` (epoch ms) during which the calendar is working, or is not."""

    working: bool
    start: int
    end: int


def _merge(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(intervals):
        if merged and a <= merged[-1][1]:
            if b > merged[-1][1]:
                merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def _subtract(
    working: list[tuple[int, int]], closed: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in working:
        start = a
        for c, d in closed:
            if d <= start or c >= b:
                continue
            if c > start:
                out.append((start, c))
            start = max(start, d)
            if start >= b:
                break
        if start < b:
            out.append((start, b))
    return out


class WorkCalendar:
    """One enterprise's working time: a pattern (None: every hour) minus closures.

    :meth:`period` caches the last two periods it computed, so asking about instants that move
    forward costs a comparison or two until the period ends.
    """

    __slots__ = ("_cache", "_previous", "closures", "makeup", "pattern")

    def __init__(
        self,
        pattern: ShiftPattern | None,
        closures: Sequence[Closure] = (),
        makeup: Callable[[dt.date], bool] | None = None,
    ) -> None:
        self.pattern = pattern
        self.closures = tuple(closures)
        self.makeup = makeup
        """Make-up working days: the pattern's windows run on them whatever their weekday."""
        self._cache = Period(working=True, start=0, end=0)
        self._previous = self._cache

    def period(self, t_ms: int) -> Period:
        cache = self._cache
        if cache.start <= t_ms < cache.end:
            return cache
        previous = self._previous
        if previous.start <= t_ms < previous.end:
            return previous  # readings stamped just before a boundary still arrive after it
        lo, hi = t_ms - HORIZON_MS, t_ms + HORIZON_MS
        pattern = self.pattern
        working = [(lo, hi)] if pattern is None else pattern.intervals(lo, hi, self.makeup)
        closed = _merge(i for c in self.closures for i in c.intervals(lo, hi))
        spans = [(max(a, lo), min(b, hi)) for a, b in _subtract(_merge(working), closed)]
        spans = [(a, b) for a, b in spans if a < b]
        starts = [a for a, _ in spans]
        i = bisect.bisect_right(starts, t_ms) - 1
        if i >= 0 and t_ms < spans[i][1]:
            period = Period(True, spans[i][0], spans[i][1])
        else:
            gap_start = spans[i][1] if i >= 0 else lo
            gap_end = spans[i + 1][0] if i + 1 < len(spans) else hi
            period = Period(False, gap_start, gap_end)
        self._previous = cache
        self._cache = period
        return period

    def working(self, t_ms: int) -> bool:
        return self.period(t_ms).working

    def working_ms(self, lo: int, hi: int) -> int:
        """Milliseconds of ``[lo, hi)`` the calendar plans as working."""
        total, t = 0, lo
        while t < hi:
            period = self.period(t)
            end = min(period.end, hi)
            if period.working:
                total += end - t
            t = end
        return total
