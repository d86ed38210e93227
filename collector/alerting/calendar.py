"""Planned downtime by the clock: shift patterns, holidays and one-off downtime.

A :class:`WorkCalendar` says whether an enterprise is *working* (alerts may fire) at an instant,
and for how long that stays so. It is built from:

* a weekly :class:`ShiftPattern`: local-time windows (``06:00-22:00``; ``22:00-06:00`` runs past
  midnight) on some weekdays, in a time zone (``zoneinfo`` names such as ``Asia/Shanghai``, or a
  fixed UTC offset);
* :class:`Holiday` closures that recur every year (month, day, number of days);
* :class:`Statutory` closures: a country's statutory holidays (China's lunar ones included) and
  the site's extra closed days, with the make-up working days on which the pattern's windows run
  even on a weekend (:class:`contract.holidays.StatutoryDays`);
* :class:`Downtime` closures between two instants.

Working time is the pattern's windows minus every closure. The shift calendar file
(``--shift-calendar``, :func:`load_calendar`) and the park registry's shift patterns are combined
by :class:`ParkCalendar`; ``docs/alerting.md`` documents the file. Nothing here reads a clock.
"""

import bisect
import datetime as dt
import re
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from collector.errors import CalendarError
from contract.holidays import StatutoryDays
from contract.ids import Identifier

DAY_MS = 86_400_000
HORIZON_MS = 8 * DAY_MS
"""How far around an instant a period is computed; longer periods are cut there (and computed
again when an instant beyond the cut is asked about)."""

ALWAYS = "always"
"""The built-in pattern: working at every hour of every day."""

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
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
            # A number beyond C integers (from a registry file): the same error as any other.
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


# --------------------------------------------------------------------------- the calendar file


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _PatternSpec(_Strict):
    windows: Annotated[list[str], Field(min_length=1)]
    days: list[Annotated[str, StringConstraints(to_lower=True)]] | None = None


class _HolidaySpec(_Strict):
    name: str
    month: int
    day: int
    days: int = 1


class _DowntimeSpec(_Strict):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    start: Annotated[dt.datetime | dt.date, Field(alias="from")]
    end: Annotated[dt.datetime | dt.date, Field(alias="to")]
    enterprises: list[Identifier] | None = None
    reason: str = "planned downtime"


class _CalendarSpec(_Strict):
    timezone: str | None = None
    country: str | None = None
    closed_days: list[dt.date] = Field(default_factory=list)
    makeup_workdays: list[dt.date] = Field(default_factory=list)
    default: str | None = None
    patterns: dict[Identifier, _PatternSpec] = Field(default_factory=dict)
    enterprises: dict[Identifier, str] = Field(default_factory=dict)
    holidays: list[_HolidaySpec] = Field(default_factory=list)
    downtime: list[_DowntimeSpec] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CalendarFile:
    """A parsed shift calendar file."""

    tz: dt.tzinfo = dt.UTC
    default: str | None = None
    """The pattern of enterprises not listed (None: the registry's, else always working)."""
    patterns: dict[str, ShiftPattern | None] = field(default_factory=dict)
    """By name; None is the built-in ``always``."""
    enterprises: dict[str, str] = field(default_factory=dict)
    holidays: tuple[Holiday, ...] = ()
    downtime: tuple[Downtime, ...] = ()
    country: str | None = None
    """Statutory holidays and make-up working days of this country (``CN``)."""
    closed_days: frozenset[dt.date] = frozenset()
    makeup_workdays: frozenset[dt.date] = frozenset()


def _instant(value: dt.datetime | dt.date, tz: dt.tzinfo) -> int:
    if not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day, tzinfo=tz)
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return int(value.timestamp() * 1000)


def _days(names: list[str] | None, where: str) -> frozenset[int]:
    if names is None:
        return frozenset(range(7))
    days = set()
    for name in names:
        matches = [i for i, (short, full) in enumerate(zip(_DAYS, _DAY_NAMES, strict=True))
                   if name in (short, full)]  # fmt: skip
        if not matches:
            raise ValueError(f"{where}: day {name!r} is not one of {', '.join(_DAYS)}")
        days.add(matches[0])
    if not days:
        raise ValueError(f"{where}: days must not be empty")
    return frozenset(days)


def _build(spec: _CalendarSpec, default_tz: dt.tzinfo) -> CalendarFile:
    tz = default_tz if spec.timezone is None else time_zone(spec.timezone)
    patterns: dict[str, ShiftPattern | None] = {ALWAYS: None}
    for name, p in spec.patterns.items():
        if name == ALWAYS:
            raise ValueError(f"patterns.{ALWAYS} is built in and cannot be redefined")
        windows = tuple(parse_window(w) for w in p.windows)
        patterns[name] = ShiftPattern(name, windows, _days(p.days, f"patterns.{name}"), tz)
    for enterprise, name in spec.enterprises.items():
        if name not in patterns:
            raise ValueError(f"enterprises.{enterprise}: unknown pattern {name!r}")
    if spec.default is not None and spec.default not in patterns:
        raise ValueError(f"default: unknown pattern {spec.default!r}")
    holidays = tuple(Holiday(h.name, h.month, h.day, h.days, tz) for h in spec.holidays)
    downtime = tuple(
        Downtime(
            d.reason,
            _instant(d.start, tz),
            _instant(d.end, tz),
            None if d.enterprises is None else frozenset(d.enterprises),
        )
        for d in spec.downtime
    )
    if spec.country is not None:
        StatutoryDays(spec.country)  # a ValueError naming an unknown country
    return CalendarFile(
        tz,
        spec.default,
        patterns,
        dict(spec.enterprises),
        holidays,
        downtime,
        spec.country,
        frozenset(spec.closed_days),
        frozenset(spec.makeup_workdays),
    )


def _first_error(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    where = ""
    for part in error["loc"]:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def parse_calendar(data: Any, default_tz: dt.tzinfo = dt.UTC) -> CalendarFile:
    """Build a calendar from parsed TOML/JSON; ``ValueError`` naming the first problem."""
    try:
        spec = _CalendarSpec.model_validate(data)
    except ValidationError as exc:
        raise ValueError(_first_error(exc)) from None
    return _build(spec, default_tz)


def load_calendar(path: Path, default_tz: dt.tzinfo = dt.UTC) -> CalendarFile:
    """Read a shift calendar (``.json``: JSON, anything else: TOML); one-line
    :class:`~collector.errors.CalendarError` when it cannot be used."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CalendarError(f"cannot read shift calendar {path}: {exc.strerror or exc}") from None
    try:
        data = orjson.loads(raw) if path.suffix == ".json" else tomllib.loads(raw.decode())
    except (orjson.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        kind = "JSON" if path.suffix == ".json" else "TOML"
        raise CalendarError(f"shift calendar {path} is not valid {kind}: {exc}") from None
    try:
        return parse_calendar(data, default_tz)
    except ValueError as exc:
        raise CalendarError(f"shift calendar {path}: {exc}") from None


# --------------------------------------------------------------------------- the whole park


class ParkCalendar:
    """Each enterprise's :class:`WorkCalendar`, from the calendar file and the registry.

    The pattern of an enterprise is, in this order: the file's ``enterprises`` entry, the
    registry's shift pattern of the enterprise, the file's ``default``, else every hour.
    Closures: the file's holidays, the registry's holidays and the statutory holidays of the
    file's ``country`` (else the registry's) with the file's ``closed_days`` apply to every
    enterprise, and so do the make-up working days (the country's and ``makeup_workdays``); the
    file's downtime applies to the enterprises it names (all when it names none).

    ``for_enterprise`` returns None for an enterprise that is always working (the fast path).
    """

    def __init__(
        self,
        file: CalendarFile | None = None,
        *,
        registry_patterns: dict[str, ShiftPattern] | None = None,
        registry_holidays: Sequence[Holiday] = (),
        registry_country: str | None = None,
    ) -> None:
        self.file = file = file or CalendarFile()
        self._registry_patterns = registry_patterns or {}
        self.statutory = StatutoryDays(
            file.country or registry_country,
            closed=file.closed_days,
            workdays=file.makeup_workdays,
        )
        statutory = (Statutory(self.statutory, file.tz),) if self.statutory else ()
        self._holidays: tuple[Closure, ...] = (*file.holidays, *registry_holidays, *statutory)
        self._makeup = self.statutory.makeup if self.statutory else None
        self._shared: dict[tuple[str, int, tuple[int, ...]], WorkCalendar | None] = {}
        self._by_enterprise: dict[str, WorkCalendar | None] = {}

    def for_enterprise(self, enterprise: str) -> WorkCalendar | None:
        try:
            return self._by_enterprise[enterprise]
        except KeyError:
            pass
        file = self.file
        pattern: ShiftPattern | None
        if enterprise in file.enterprises:
            pattern = file.patterns[file.enterprises[enterprise]]
        elif enterprise in self._registry_patterns:
            pattern = self._registry_patterns[enterprise]
        elif file.default is not None:
            pattern = file.patterns[file.default]
        else:
            pattern = None
        downtime = tuple(i for i, d in enumerate(file.downtime) if d.applies_to(enterprise))
        key = ("" if pattern is None else pattern.name, id(pattern), downtime)
        if key not in self._shared:
            closures = (*self._holidays, *(file.downtime[i] for i in downtime))
            self._shared[key] = (
                None
                if pattern is None and not closures
                else WorkCalendar(pattern, closures, self._makeup)
            )
        calendar = self._by_enterprise[enterprise] = self._shared[key]
        return calendar
