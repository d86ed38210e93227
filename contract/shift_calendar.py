"""The shift calendar file's model and the park's calendars by enterprise.

The file (``docs/alerting.md`` documents it) and the park registry's shift patterns are
combined by :class:`ParkCalendar`; the time algebra is :mod:`contract.calendar`'s. Pure: the
programs read the files (the collector's ``load_calendar``, the report's settings).
"""

import datetime as dt
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from contract.calendar import (
    ALWAYS,
    Closure,
    Downtime,
    Holiday,
    ShiftPattern,
    Statutory,
    WorkCalendar,
    parse_window,
    time_zone,
)
from contract.holidays import StatutoryDays
from contract.ids import Identifier
from contract.registry import Registry, RegistryShift

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

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


def read_calendar(path: Path, default_tz: dt.tzinfo = dt.UTC) -> CalendarFile:
    """Read a shift calendar (``.json``: JSON, anything else: TOML); a one-line
    ``ValueError`` naming the file when it cannot be used."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read shift calendar {path}: {exc.strerror or exc}") from None
    try:
        data = orjson.loads(raw) if path.suffix == ".json" else tomllib.loads(raw.decode())
    except (orjson.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        kind = "JSON" if path.suffix == ".json" else "TOML"
        raise ValueError(f"shift calendar {path} is not valid {kind}: {exc}") from None
    try:
        return parse_calendar(data, default_tz)
    except ValueError as exc:
        raise ValueError(f"shift calendar {path}: {exc}") from None


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


# --------------------------------------------------------------------------- from the registry


def registry_pattern(shift: RegistryShift, tz: dt.tzinfo) -> ShiftPattern:
    """A registry shift (hour windows of working days) as a :class:`ShiftPattern`."""
    windows = tuple((round(start * 60), round(end * 60)) for start, end in shift.windows)
    return ShiftPattern(shift.name, windows, frozenset(shift.workdays), tz)


def registry_calendar(
    registry: Registry | None, file: CalendarFile | None, default_tz: dt.tzinfo = dt.UTC
) -> ParkCalendar:
    """The park's calendars from a registry and a calendar file (either may be None), as the
    collector combines them: a registry's shifts, holidays and country, the file over them."""
    if registry is None:
        return ParkCalendar(file)
    tz = registry.time_zone(default_tz)
    shifts = {shift.name: registry_pattern(shift, tz) for shift in registry.shifts}
    return ParkCalendar(
        file,
        registry_patterns={e.id: shifts[e.shift] for e in registry.enterprises if e.shift},
        registry_holidays=tuple(
            Holiday(h.name, h.month, h.day, h.days, tz) for h in registry.holidays
        ),
        registry_country=registry.country,
    )
