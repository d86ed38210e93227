"""Working time: enterprise shift patterns, weekly rest days and the park's holidays.

Machines are off outside their enterprise's shift windows, on its rest days and on the park's
holidays. Times are evaluated in the park's local time (China Standard Time, UTC+8, no daylight
saving time), from epoch seconds of simulated time.
"""

import datetime as dt
import math
from dataclasses import dataclass

from contract import is_valid_id
from simulators.errors import ParameterError

_DAY = 86400.0
_EPOCH = dt.date(1970, 1, 1)
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
        try:
            dt.date(_REFERENCE_YEAR, self.month, self.day)
        except ValueError as exc:
            raise ParameterError(f"holiday {self.name}: {exc}") from exc
        if not 1 <= self.days <= 60:
            raise ParameterError(f"holiday {self.name}: days must be 1-60")


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


class WorkCalendar:
    """Staffed time of one shift pattern: pure functions of epoch seconds (with a day cache)."""

    __slots__ = ("_days", "_holidays", "_offset", "_windows", "_workdays", "pattern")

    def __init__(self, pattern: ShiftPattern, calendar: CalendarParams) -> None:
        self.pattern = pattern
        self._offset = calendar.utc_offset_hours * 3600.0
        self._windows = tuple((start * 3600.0, end * 3600.0) for start, end in pattern.windows)
        self._workdays = frozenset(pattern.workdays)
        self._holidays = calendar.holiday_dates()
        self._days: dict[int, tuple[tuple[float, float], ...]] = {}

    def _day(self, day: int) -> tuple[tuple[float, float], ...]:
        windows = self._days.get(day)
        if windows is None:
            date = _EPOCH + dt.timedelta(days=day)
            working = (
                date.weekday() in self._workdays and (date.month, date.day) not in self._holidays
            )
            windows = self._windows if working else ()
            self._days[day] = windows
        return windows

    def is_on(self, t: float) -> bool:
        """Whether the pattern is staffed at epoch second ``t``."""
        local = t + self._offset
        day = math.floor(local / _DAY)
        second = local - day * _DAY
        for start, end in self._day(day):  # noqa: SIM110 - a loop costs a third of any() here
            if start <= second < end:
                return True
        return False

    def on_seconds(self, t0: float, t1: float) -> float:
        """Staffed seconds in ``[t0, t1)``."""
        if t1 <= t0:
            return 0.0
        l0 = t0 + self._offset
        l1 = t1 + self._offset
        total = 0.0
        for day in range(math.floor(l0 / _DAY), math.floor(l1 / _DAY) + 1):
            base = day * _DAY
            for start, end in self._day(day):
                low = max(l0, base + start)
                high = min(l1, base + end)
                if high > low:
                    total += high - low
        return total
