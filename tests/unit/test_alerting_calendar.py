"""Shift calendars: working periods in local time, the file format and its error messages."""

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.alerting.calendar import ParkCalendar, load_calendar, parse_calendar
from collector.capacity import working_ms
from collector.errors import CalendarError
from contract.calendar import (
    Downtime,
    Holiday,
    Period,
    ShiftPattern,
    WorkCalendar,
    parse_window,
    time_zone,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(text: str, tz: dt.tzinfo = SHANGHAI) -> int:
    """Epoch ms of a local time ``2026-05-04 21:30``."""
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=tz).timestamp() * 1000)


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("06:00-22:00", (360, 1320)),
        ("22:00-06:00", (1320, 1800)),
        ("00:00-24:00", (0, 1440)),
        ("8:30-17:45", (510, 1065)),
        ("12:00-12:00", (720, 2160)),
    ],
)
def test_parse_window(text: str, minutes: tuple[int, int]) -> None:
    assert parse_window(text) == minutes


@pytest.mark.parametrize("text", ["6-22", "25:00-26:00", "06:60-07:00", "24:00-01:00", "x"])
def test_parse_window_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="window"):
        parse_window(text)


ONE_SHIFT = ShiftPattern("one-shift", ((360, 1320),), tz=SHANGHAI)
NIGHT = ShiftPattern("night", ((1320, 1800),), frozenset({0, 1, 2, 3, 4}), SHANGHAI)


@pytest.mark.parametrize(
    ("pattern", "moment", "expected"),
    [
        # 2026-05-04 is a Monday
        (ONE_SHIFT, "2026-05-04 12:00", (True, "2026-05-04 06:00", "2026-05-04 22:00")),
        (ONE_SHIFT, "2026-05-04 22:00", (False, "2026-05-04 22:00", "2026-05-05 06:00")),
        (ONE_SHIFT, "2026-05-05 05:59", (False, "2026-05-04 22:00", "2026-05-05 06:00")),
        (ONE_SHIFT, "2026-05-04 06:00", (True, "2026-05-04 06:00", "2026-05-04 22:00")),
        # a night shift Monday to Friday evenings, across midnight
        (NIGHT, "2026-05-05 03:00", (True, "2026-05-04 22:00", "2026-05-05 06:00")),
        (NIGHT, "2026-05-08 23:00", (True, "2026-05-08 22:00", "2026-05-09 06:00")),
        (NIGHT, "2026-05-09 23:00", (False, "2026-05-09 06:00", "2026-05-11 22:00")),
    ],
)
def test_periods(pattern: ShiftPattern, moment: str, expected: tuple[bool, str, str]) -> None:
    working, start, end = expected
    assert WorkCalendar(pattern).period(at(moment)) == Period(working, at(start), at(end))


def test_holiday_and_downtime_cut_working_time() -> None:
    labour_day = Holiday("labour-day", 5, 1, 3, SHANGHAI)
    delivery = Downtime("yarn delivery", at("2026-05-04 10:00"), at("2026-05-04 12:00"))
    calendar = WorkCalendar(ONE_SHIFT, [labour_day, delivery])
    assert not calendar.working(at("2026-05-02 12:00"))
    assert calendar.period(at("2026-05-03 12:00")) == Period(
        False, at("2026-04-30 22:00"), at("2026-05-04 06:00")
    )
    assert calendar.period(at("2026-05-04 11:00")) == Period(
        False, at("2026-05-04 10:00"), at("2026-05-04 12:00")
    )
    assert calendar.period(at("2026-05-04 13:00")).start == at("2026-05-04 12:00")
    assert calendar.working(at("2027-05-04 12:00"))  # holidays recur; downtime does not
    assert not calendar.working(at("2027-05-02 12:00"))


def test_always_working_without_pattern_or_closures() -> None:
    assert ParkCalendar().for_enterprise("E0001") is None


def test_daylight_saving_time_follows_the_wall_clock() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    pattern = ShiftPattern("day", ((480, 1080),), tz=berlin)  # 08:00-18:00 local
    calendar = WorkCalendar(pattern)
    # 2026-03-29: clocks go forward at 02:00; the shift still starts at 08:00 local
    period = calendar.period(at("2026-03-29 09:00", berlin))
    assert period == Period(True, at("2026-03-29 08:00", berlin), at("2026-03-29 18:00", berlin))
    assert period.end - period.start == 10 * 3600 * 1000


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 3 * 365 * 86_400_000))
def test_period_contains_the_instant_and_agrees_with_neighbours(offset: int) -> None:
    calendar = WorkCalendar(NIGHT, [Holiday("spring", 2, 10, 5, SHANGHAI)])
    t = at("2026-01-01 00:00") + offset
    period = calendar.period(t)
    assert period.start <= t < period.end
    # a fresh calendar (no cache) says the same about both ends of the period
    fresh = WorkCalendar(NIGHT, [Holiday("spring", 2, 10, 5, SHANGHAI)])
    assert fresh.working(period.start) is period.working
    assert fresh.working(period.end - 1) is period.working


def test_time_zones() -> None:
    assert time_zone("UTC+08:00").utcoffset(None) == dt.timedelta(hours=8)
    assert time_zone("UTC-5").utcoffset(None) == dt.timedelta(hours=-5)
    assert str(time_zone("Asia/Shanghai")) == "Asia/Shanghai"
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        time_zone("Mars/Olympus")


CALENDAR_TOML = """
timezone = "Asia/Shanghai"
default = "always"

[patterns.one-shift]
windows = ["06:00-22:00"]

[patterns.weekdays]
windows = ["08:00-12:00", "13:00-18:00"]
days = ["mon", "tue", "wed", "thu", "friday"]

[enterprises]
E0001 = "one-shift"
E0002 = "weekdays"

[[holidays]]
name = "national-day"
month = 10
day = 1
days = 5

[[downtime]]
from = 2026-05-04T10:00:00
to = "2026-05-04 12:00"
enterprises = ["E0002"]
reason = "yarn delivery"
"""


def test_calendar_file(tmp_path: Path) -> None:
    path = tmp_path / "shifts.toml"
    path.write_text(CALENDAR_TOML)
    park = ParkCalendar(load_calendar(path))
    one, weekdays, other = (park.for_enterprise(e) for e in ("E0001", "E0002", "E0003"))
    assert one is not None
    assert weekdays is not None
    assert other is not None
    assert not one.working(at("2026-05-04 23:00"))
    assert one.working(at("2026-05-04 07:00"))
    assert not weekdays.working(at("2026-05-04 12:30"))  # lunch
    assert not weekdays.working(at("2026-05-04 11:00"))  # the downtime
    assert weekdays.working(at("2026-05-05 11:00"))
    assert not weekdays.working(at("2026-05-09 11:00"))  # Saturday
    assert other.working(at("2026-05-04 23:00"))
    assert not other.working(at("2026-10-03 12:00"))  # holiday
    assert park.for_enterprise("E0004") is other  # enterprises with the same rules share one


def test_calendar_file_in_json_and_default_time_zone(tmp_path: Path) -> None:
    path = tmp_path / "shifts.json"
    path.write_text('{"patterns": {"day": {"windows": ["08:00-18:00"]}}, "default": "day"}')
    calendar = ParkCalendar(load_calendar(path, time_zone("UTC+08:00"))).for_enterprise("E1")
    assert calendar is not None
    assert calendar.working(at("2026-05-04 09:00"))
    assert not calendar.working(at("2026-05-04 19:00"))


def test_registry_pattern_applies_unless_the_file_names_the_enterprise() -> None:
    file = parse_calendar(
        {"patterns": {"x": {"windows": ["00:00-01:00"]}}, "enterprises": {"A": "x"}}
    )
    park = ParkCalendar(file, registry_patterns={"A": ONE_SHIFT, "B": ONE_SHIFT})
    a, b = park.for_enterprise("A"), park.for_enterprise("B")
    assert a is not None
    assert b is not None
    assert a.pattern is not None
    assert a.pattern.name == "x"
    assert b.pattern is ONE_SHIFT


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("timezone = 'Mars/Olympus'", "unknown time zone 'Mars/Olympus'"),
        ("[patterns.a]\nwindows = ['6-22']", "window '6-22' is not HH:MM-HH:MM"),
        ("[patterns.a]\nwindows = []", "patterns.a.windows: List should have at least 1 item"),
        ("[patterns.a]\nwindows = ['06:00-22:00']\ndays = ['mo']", "day 'mo' is not one of"),
        ("[enterprises]\nE1 = 'nope'", "enterprises.E1: unknown pattern 'nope'"),
        ("default = 'nope'", "default: unknown pattern 'nope'"),
        ("[patterns.always]\nwindows = ['06:00-22:00']", "patterns.always is built in"),
        ("[[holidays]]\nname = 'x'\nmonth = 2\nday = 30", "holiday x: day is out of range"),
        ("[[downtime]]\nfrom = 2026-05-04\nto = 2026-05-03", "it must end after it starts"),
        ("[[downtime]]\nfrom = 2026-05-04", "downtime[0].to: Field required"),
        ("shifts = 3", "shifts: Extra inputs are not permitted"),
        ("[patterns", "is not valid TOML"),
    ],
)
def test_calendar_file_errors_are_one_clear_line(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "shifts.toml"
    path.write_text(content)
    with pytest.raises(CalendarError) as caught:
        load_calendar(path)
    text = str(caught.value)
    assert message in text
    assert str(path) in text
    assert "\n" not in text


def test_missing_calendar_file(tmp_path: Path) -> None:
    with pytest.raises(CalendarError, match=r"cannot read shift calendar .*No such file"):
        load_calendar(tmp_path / "nope.toml")


# --------------------------------------------------------------------- China's real calendar

WEEKDAYS = ShiftPattern("weekdays", ((480, 1080),), frozenset(range(5)), SHANGHAI)  # 08-18


def china(**file: object) -> WorkCalendar:
    calendar_file = parse_calendar({"timezone": "Asia/Shanghai", "country": "CN", **file}, SHANGHAI)
    park = ParkCalendar(calendar_file, registry_patterns={"E0001": WEEKDAYS})
    found = park.for_enterprise("E0001")
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("moment", "working"),
    [
        ("2027-02-04 10:00", True),  # Thursday before the Spring Festival
        ("2027-02-05 10:00", False),  # New Year's Eve (lunar), a Friday
        ("2027-02-08 10:00", False),  # Spring Festival, a Monday
        ("2027-02-10 10:00", False),  # Spring Festival (observed), a Wednesday
        ("2027-02-11 10:00", True),  # back at work
        ("2026-02-17 10:00", False),  # Spring Festival 2026, a Tuesday
        ("2026-02-20 10:00", False),  # a Friday off, made up on Saturday 14 February
        ("2026-02-14 10:00", True),  # that make-up Saturday is worked
        ("2026-02-28 10:00", True),  # another make-up Saturday
        ("2026-02-21 10:00", False),  # an ordinary Saturday
        ("2026-06-19 10:00", False),  # Dragon Boat Festival, a Friday
        ("2026-09-25 10:00", False),  # Mid-Autumn Festival, a Friday
        ("2026-04-06 10:00", False),  # Qingming (observed), a Monday
    ],
)
def test_chinas_statutory_holidays_and_make_up_days(moment: str, working: bool) -> None:  # noqa: FBT001 - a table
    assert china().working(at(moment)) is working


def test_the_calendar_file_adds_days_the_package_does_not_know_yet() -> None:
    # 2027's make-up days are announced in November 2026: the site adds them, and its own
    # longer Spring Festival break.
    calendar = china(closed_days=["2027-02-11", "2027-02-12"], makeup_workdays=["2027-02-20"])
    assert not calendar.working(at("2027-02-11 10:00"))
    assert not calendar.working(at("2027-02-12 10:00"))
    assert calendar.working(at("2027-02-15 10:00"))
    assert calendar.working(at("2027-02-20 10:00"))  # a Saturday, made up
    assert not calendar.working(at("2027-02-27 10:00"))


def test_planned_time_of_february_2026_follows_the_statutory_calendar() -> None:
    # 20 weekdays, less 6 closed (16-20 and 23 February), plus 2 make-up Saturdays (14, 28)
    planned = working_ms(china(), at("2026-02-01 00:00"), at("2026-03-01 00:00"))
    assert planned == (20 - 6 + 2) * 10 * 3_600_000


def test_an_unknown_country_is_refused_with_its_name() -> None:
    with pytest.raises(ValueError, match="country 'XX'"):
        parse_calendar({"country": "XX"})
