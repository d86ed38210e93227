"""Report periods from the shift calendar, and hourly sums grouped into them (pure)."""

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.calendar import Downtime, Holiday, ShiftPattern, WorkCalendar
from report.errors import UnalignedPeriodError
from report.grouping import group_hours
from report.periods import HOUR_MS, OFF_SHIFT, Period, check_aligned, days, months, shifts

CST = dt.timezone(dt.timedelta(hours=8))
# Monday 2026-05-04 00:00 in the park (UTC+8)
MONDAY = int(dt.datetime(2026, 5, 4, tzinfo=CST).timestamp() * 1000)
H = HOUR_MS
THREE_SHIFTS = ShiftPattern("three", ((360, 840), (840, 1320), (1320, 1800)), tz=CST)
TWO_SHIFTS_WEEKDAYS = ShiftPattern("two", ((360, 840), (840, 1320)), frozenset(range(5)), CST)


def at(hours: float) -> int:
    return MONDAY + round(hours * H)


def test_three_shifts_a_day_back_to_back() -> None:
    calendar = WorkCalendar(THREE_SHIFTS)
    got = shifts(calendar, at(6), at(30), CST)
    assert got == [
        Period(at(6), at(14), "06:00-14:00"),
        Period(at(14), at(22), "14:00-22:00"),
        Period(at(22), at(30), "22:00-06:00"),
    ]


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        # inside one shift: that shift, whole
        (7, 8, [(6, 14, "06:00-14:00")]),
        # the evening: the second shift and the off-shift night after it
        (21, 23, [(14, 22, "14:00-22:00"), (22, 30, OFF_SHIFT)]),
        # the night only: off-shift between two shifts
        (23, 24, [(22, 30, OFF_SHIFT)]),
        # Friday evening to Monday morning: the weekend is one off-shift period
        (4 * 24 + 21, 7 * 24 + 7, [
            (4 * 24 + 14, 4 * 24 + 22, "14:00-22:00"),
            (4 * 24 + 22, 7 * 24 + 6, OFF_SHIFT),
            (7 * 24 + 6, 7 * 24 + 14, "06:00-14:00"),
        ]),
    ],
)  # fmt: skip
def test_two_shifts_on_weekdays(lo: int, hi: int, expected: list[tuple[int, int, str]]) -> None:
    got = shifts(WorkCalendar(TWO_SHIFTS_WEEKDAYS), at(lo), at(hi), CST)
    assert got == [Period(at(a), at(b), name) for a, b, name in expected]


def test_a_holiday_removes_its_shifts_and_a_partial_closure_keeps_the_shift() -> None:
    holiday = Holiday("labour day", 5, 5, 1, CST)  # Tuesday 5 May
    downtime = Downtime("repairs", at(24 + 6), at(24 + 10))  # Tuesday 06:00-10:00
    calendar = WorkCalendar(TWO_SHIFTS_WEEKDAYS, (holiday,))
    got = shifts(calendar, at(20), at(2 * 24 + 8), CST)
    assert got == [
        Period(at(14), at(22), "14:00-22:00"),
        Period(at(22), at(2 * 24 + 6), OFF_SHIFT),  # through the whole holiday
        Period(at(2 * 24 + 6), at(2 * 24 + 14), "06:00-14:00"),
    ]
    partly = shifts(WorkCalendar(TWO_SHIFTS_WEEKDAYS, (downtime,)), at(24 + 7), at(24 + 8), CST)
    assert partly == [Period(at(24 + 6), at(24 + 14), "06:00-14:00")]


def test_a_shift_to_midnight_ends_at_24_00() -> None:
    late = ShiftPattern("late", ((720, 1440),), tz=CST)
    assert shifts(WorkCalendar(late), at(13), at(14), CST) == [
        Period(at(12), at(24), "12:00-24:00")
    ]


def test_no_calendar_means_park_local_days() -> None:
    assert shifts(None, at(1), at(25), CST) == [
        Period(at(0), at(24), "day"),
        Period(at(24), at(48), "day"),
    ]


def test_days_and_months_in_the_parks_clock() -> None:
    assert days(at(-1), at(1), CST) == [Period(at(-24), at(0), "day"), Period(at(0), at(24), "day")]
    may = int(dt.datetime(2026, 5, 1, tzinfo=CST).timestamp() * 1000)
    june = int(dt.datetime(2026, 6, 1, tzinfo=CST).timestamp() * 1000)
    july = int(dt.datetime(2026, 7, 1, tzinfo=CST).timestamp() * 1000)
    assert months(at(0), june + 1, CST) == [
        Period(may, june, "month"),
        Period(june, july, "month"),
    ]


def test_a_shift_inside_an_hour_is_refused() -> None:
    half = ShiftPattern("half", ((390, 870),), tz=CST)  # 06:30-14:30
    periods = shifts(WorkCalendar(half), at(7), at(8), CST)
    with pytest.raises(UnalignedPeriodError, match=r"E0001: 06:30-14:30 .* inside an hour"):
        check_aligned(periods, "E0001")
    check_aligned(shifts(WorkCalendar(THREE_SHIFTS), at(0), at(48), CST), "E0001")


def test_grouping_sums_the_hours_of_each_period_and_cuts_the_current_one_at_now() -> None:
    periods = shifts(WorkCalendar(TWO_SHIFTS_WEEKDAYS), at(6), at(24), CST)
    hours = {
        at(6): {"pairs": 10, "running_s": 3000.0},
        at(13): {"pairs": 5, "planned_s": 3600},
        at(14): {"pairs": 7},
        at(23): {"pairs": 2},  # knitted off shift: reported, not lost
        at(30): {"pairs": 100},  # the next day: after now
    }
    now = at(23) + 60_000
    got = group_hours("E0001", hours, periods, now)
    assert [(g.period, g.sums) for g in got] == [
        (Period(at(6), at(14), "06:00-14:00"),
         {"pairs": 15, "running_s": 3000.0, "planned_s": 3600}),
        (Period(at(14), at(22), "14:00-22:00"), {"pairs": 7}),
        (Period(at(22), now, OFF_SHIFT), {"pairs": 2}),
    ]  # fmt: skip


def test_empty_shifts_are_rows_and_empty_off_shift_time_is_not() -> None:
    periods = shifts(WorkCalendar(TWO_SHIFTS_WEEKDAYS), at(6), at(31), CST)
    got = group_hours("E0001", {}, periods, at(100))
    assert [g.period.name for g in got] == ["06:00-14:00", "14:00-22:00", "06:00-14:00"]


windows = st.lists(st.tuples(st.integers(0, 23), st.integers(1, 24)), min_size=1, max_size=4).map(
    lambda ws: tuple(sorted({(a * 60, (a + d) * 60) for a, d in ws}))
)


@given(
    windows=windows,
    workdays=st.frozensets(st.integers(0, 6), min_size=1),
    lo_h=st.integers(0, 24 * 14),
    span_h=st.integers(1, 24 * 10),
    now_h=st.integers(0, 24 * 30),
    data=st.dictionaries(st.integers(-48, 24 * 30), st.integers(0, 1000), max_size=60),
)
def test_periods_tile_the_window_and_every_pair_lands_in_exactly_one_row(
    windows: tuple[tuple[int, int], ...],
    workdays: frozenset[int],
    lo_h: int,
    span_h: int,
    now_h: int,
    data: dict[int, int],
) -> None:
    calendar = WorkCalendar(ShiftPattern("p", windows, workdays, CST))
    lo, hi = at(lo_h), at(lo_h + span_h)
    periods = shifts(calendar, lo, hi, CST)
    check_aligned(periods, "E")
    # contiguous, ordered, covering [lo, hi)
    assert periods[0].start <= lo
    assert periods[-1].end >= hi
    assert all(a.end == b.start for a, b in itertools.pairwise(periods))
    assert all(p.start < p.end for p in periods)
    # a shift holds working time; off-shift time holds none
    assert all(
        (p.name != OFF_SHIFT) == any(calendar.working(t) for t in range(p.start, p.end, H))
        for p in periods
    )
    now = at(now_h)
    hours = {at(h): {"pairs": float(n)} for h, n in data.items()}
    groups = group_hours("E", hours, periods, now)
    inside = sum(
        n for h, n in data.items() if periods[0].start <= at(h) < min(periods[-1].end, now)
    )
    assert sum(g.sums.get("pairs", 0) for g in groups) == inside
    assert all(g.period.end <= now for g in groups)
