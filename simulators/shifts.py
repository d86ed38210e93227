"""Working time: enterprise shift patterns, weekly rest days and the park's holidays.

Machines are off outside their enterprise's shift windows, on its rest days and on the park's
holidays. Times are evaluated in the park's local time (China Standard Time, UTC+8, no daylight
saving time), from epoch seconds of simulated time.
"""

import datetime as dt
import math
from dataclasses import dataclass

from contract import calendar as contract
from contract import is_valid_id
from simulators.errors import ParameterError

_REFERENCE_YEAR = 2001  # a year that is not a leap year: holidays are expanded over its dates


@dataclass(frozen=True, slots=True)
class ShiftPattern:
    """When an enterprise's machines are staffed.

    ``windows`` are local-time hour ranges ``[start, end)`` within a day (0 <= start < end <= 24),
    ``workdays`` the weekdays worked (0 = Monday ... 6 = Sunday), ``share`` the share of the
    park's enterprises that work this pattern.
    """

    name: str
    windows: tuple[tuple[float, float], ...]
    workdays: tuple[int, ...]
    share: float

    def __post_init__(self) -> None:
        if not is_valid_id(self.name):
            raise ParameterError(f"shift pattern name {self.name!r} is not a valid identifier")
        previous_end = 0.0
        for start, end in self.windows:
            if not previous_end <= start < end <= 24.0:
                raise ParameterError(
                    f"shift pattern {self.name}: windows must be sorted, disjoint hour ranges "
                    "within 0-24"
                )
            if abs(start * 60 - round(start * 60)) > 1e-9 or abs(end * 60 - round(end * 60)) > 1e-9:
                raise ParameterError(f"shift pattern {self.name}: windows must be whole minutes")
            previous_end = end
        if not self.windows:
            raise ParameterError(f"shift pattern {self.name}: at least one window is needed")
        if not self.workdays or any(not 0 <= d <= 6 for d in self.workdays):
            raise ParameterError(f"shift pattern {self.name}: workdays must be 0 (Mon) .. 6 (Sun)")
        if len(set(self.workdays)) != len(self.workdays):
            raise ParameterError(f"shift pattern {self.name}: workdays repeat")
        if not 0.0 <= self.share <= 1.0:
            raise ParameterError(f"shift pattern {self.name}: share must be in [0, 1]")

    @property
    def hours_per_day(self) -> float:
        return sum(end - start for start, end in self.windows)


@dataclass(frozen=True, slots=True)
class Holiday:
    """A park-wide shutdown of ``days`` consecutive days starting on ``month``/``day``."""

    name: str
    month: int
    day: int
    days: int

    def __post_init__(self) -> None:
        if not 1 <= self.days <= 60:
            raise ParameterError(f"holiday {self.name}: days must be 1-60")
        try:
            self.closure(dt.UTC)
        except ValueError as exc:
            raise ParameterError(str(exc)) from None

    def closure(self, tz: dt.tzinfo) -> contract.Holiday:
        """The holiday in the park's clock ``tz``, as the contract's calendar closes it."""
        return contract.Holiday(self.name, self.month, self.day, self.days, tz)


@dataclass(frozen=True, slots=True)
class CalendarParams:
    """The park's clock and holidays."""

    utc_offset_hours: float
    holidays: tuple[Holiday, ...]

    def __post_init__(self) -> None:
        if not -14.0 <= self.utc_offset_hours <= 14.0:
            raise ParameterError("utc_offset_hours must be within -14..14")

    def holiday_dates(self) -> frozenset[tuple[int, int]]:
        """The (month, day) pairs of every holiday, expanded over a non-leap year."""
        dates: set[tuple[int, int]] = set()
        for holiday in self.holidays:
            first = dt.date(_REFERENCE_YEAR, holiday.month, holiday.day)
            for offset in range(holiday.days):
                day = first + dt.timedelta(days=offset)
                dates.add((day.month, day.day))
        return frozenset(dates)

    @property
    def holiday_days_per_year(self) -> int:
        return len(self.holiday_dates())


DEFAULT_SHIFTS: tuple[ShiftPattern, ...] = (
    # Two 12-hour shifts, every day: the usual pattern of the park's established workshops.
    ShiftPattern(
        "around-the-clock", windows=((0.0, 24.0),), workdays=(0, 1, 2, 3, 4, 5, 6), share=0.55
    ),
    # Two 8-hour shifts, 06:00-22:00, every day.
    ShiftPattern("two-shift", windows=((6.0, 22.0),), workdays=(0, 1, 2, 3, 4, 5, 6), share=0.35),
    # One long day shift, 08:00-18:00, Monday to Saturday: small family workshops.
    ShiftPattern("day-shift", windows=((8.0, 18.0),), workdays=(0, 1, 2, 3, 4, 5), share=0.10),
)

DEFAULT_CALENDAR = CalendarParams(
    utc_offset_hours=8.0,
    holidays=(
        # Spring Festival: migrant workers travel home; workshops close for about two and a
        # half weeks. The lunar date moves each year; a fixed window stands for it.
        Holiday("spring-festival", month=1, day=24, days=18),
        Holiday("labour-day", month=5, day=1, days=3),
        Holiday("national-day", month=10, day=1, days=5),
    ),
)


def on_fraction(pattern: ShiftPattern, calendar: CalendarParams) -> float:
    """The share of a 365-day year a pattern is staffed (holidays independent of weekdays)."""
    holidays = calendar.holiday_days_per_year
    return (pattern.hours_per_day / 24.0) * (len(pattern.workdays) / 7.0) * (365 - holidays) / 365


def work_calendar(pattern: ShiftPattern, calendar: CalendarParams) -> contract.WorkCalendar:
    """The pattern in the park's clock minus the park's holidays, as the contract's calendar."""
    tz = dt.timezone(dt.timedelta(hours=calendar.utc_offset_hours))
    windows = tuple((round(start * 60), round(end * 60)) for start, end in pattern.windows)
    shift = contract.ShiftPattern(pattern.name, windows, frozenset(pattern.workdays), tz)
    return contract.WorkCalendar(shift, [h.closure(tz) for h in calendar.holidays])


class WorkCalendar:
    """Staffed time of one shift pattern in float epoch seconds, as the simulator asks for it;
    the time algebra is :class:`contract.calendar.WorkCalendar`'s."""

    __slots__ = ("_calendar", "_period", "pattern")

    def __init__(self, pattern: ShiftPattern, calendar: CalendarParams) -> None:
        self.pattern = pattern
        self._calendar = work_calendar(pattern, calendar)
        self._period = contract.Period(working=False, start=0, end=0)

    def is_on(self, t: float) -> bool:
        """Whether the pattern is staffed at epoch second ``t``."""
        t_ms = math.floor(t * 1000.0)
        period = self._period
        if not period.start <= t_ms < period.end:
            period = self._period = self._calendar.period(t_ms)
        return period.working

    def on_seconds(self, t0: float, t1: float) -> float:
        """Staffed seconds in ``[t0, t1)``."""
        total = 0.0
        t = t0
        t_ms = math.floor(t0 * 1000.0)
        while t < t1:
            working, _start, end_ms = self._calendar.period(t_ms)
            end = end_ms / 1000.0
            if working:
                total += (t1 if t1 < end else end) - t
            t, t_ms = end, end_ms
        return total
