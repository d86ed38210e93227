"""Capacity that adds up: the enterprises' shares of the park's, and planned time per year."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.capacity import machine_planned_lines, planned_lines, planned_per_year, year_bounds
from contract.calendar import ShiftPattern, WorkCalendar
from contract.registry import Registry, RegistryEnterprise, RegistryMachine
from influx.capacity import capacity_lines

SHANGHAI = ZoneInfo("Asia/Shanghai")
YEAR_2026 = year_bounds(int(dt.datetime(2026, 6, 1, tzinfo=SHANGHAI).timestamp() * 1000), SHANGHAI)


def enterprise(name: str, *rates: float) -> RegistryEnterprise:
    machines = tuple(
        RegistryMachine(id=f"M{i:03d}", nominal_pairs_per_hour=rate)
        for i, rate in enumerate(rates, 1)
    )
    return RegistryEnterprise(id=name, machines=machines)


def fields(line: str) -> dict[str, float]:
    """The numeric fields of a line of protocol."""
    _key, field_set, _time = line.split(" ")
    return {k: float(v.rstrip("i")) for k, v in (f.split("=") for f in field_set.split(","))}


PARK = Registry(
    target_pairs_per_year=3.5e9,
    enterprises=(enterprise("E0001", 10.0, 10.0, 20.0), enterprise("E0002", 20.0)),
)


def test_the_enterprises_share_the_parks_stated_capacity_by_nominal_rate() -> None:
    park, *rest = capacity_lines(PARK, 0)
    assert fields(park)["pairs_per_year"] == 3.5e9
    shares = [fields(line)["pairs_per_year"] for line in rest]
    assert shares == pytest.approx([3.5e9 * 40 / 60, 3.5e9 * 20 / 60])
    assert sum(shares) == pytest.approx(3.5e9)


@given(
    st.lists(
        st.lists(st.floats(min_value=0, max_value=500), min_size=1, max_size=5),
        min_size=1,
        max_size=20,
    ),
    st.one_of(st.none(), st.floats(min_value=1, max_value=1e10)),
)
def test_enterprise_capacities_always_sum_to_the_parks(
    rates: list[list[float]], target: float | None
) -> None:
    park = Registry(
        target_pairs_per_year=target,
        enterprises=tuple(enterprise(f"E{i:04d}", *r) for i, r in enumerate(rates, 1)),
    )
    park_line, *rest = capacity_lines(park, 0)
    total = sum(fields(line).get("pairs_per_year", 0.0) for line in rest)
    assert total == pytest.approx(fields(park_line).get("pairs_per_year", 0.0), rel=1e-9)


def test_planned_time_per_year_follows_each_enterprises_calendar() -> None:
    # 2026: 365 days, of which 261 are Monday to Friday
    day_shift = WorkCalendar(
        ShiftPattern("day", ((480, 1080),), frozenset(range(5)), SHANGHAI)  # 08:00-18:00
    )
    calendars = {"E0001": day_shift, "E0002": None}
    planned = planned_per_year(PARK, calendars.get, YEAR_2026)
    assert planned == {"E0001": 3 * 261 * 10 * 3600, "E0002": 1 * 365 * 24 * 3600}
    # January: 22 workdays of 10 hours, 31 days of 24
    january = (YEAR_2026[0], YEAR_2026[0] + 31 * 86_400_000)
    so_far = planned_per_year(PARK, calendars.get, january)
    assert so_far == {"E0001": 3 * 22 * 10 * 3600, "E0002": 31 * 24 * 3600}
    park, first, second = capacity_lines(PARK, 0, planned, so_far)
    assert fields(first)["planned_s_per_year"] == planned["E0001"]
    assert fields(second)["planned_s_to_date"] == so_far["E0002"]
    assert fields(park)["planned_s_per_year"] == sum(planned.values())
    assert fields(park)["planned_s_to_date"] == sum(so_far.values())


def test_the_year_is_the_parks_calendar_year() -> None:
    start, end = YEAR_2026
    assert dt.datetime.fromtimestamp(start / 1000, SHANGHAI) == dt.datetime(
        2026, 1, 1, tzinfo=SHANGHAI
    )
    assert (end - start) == 365 * 86_400_000
    new_years_eve = int(dt.datetime(2026, 12, 31, 23, 59, tzinfo=SHANGHAI).timestamp() * 1000)
    assert year_bounds(new_years_eve, SHANGHAI) == YEAR_2026
    assert year_bounds(end, SHANGHAI)[0] == end


def test_each_machine_gets_its_enterprises_planned_seconds_per_hour() -> None:
    day_shift = WorkCalendar(
        ShiftPattern("day", ((480, 1080),), frozenset(range(5)), SHANGHAI)  # 08:00-18:00
    )
    calendars = {"E0001": day_shift, "E0002": None}
    # Monday 2 March 2026, 07:30 to 08:30 Shanghai: the shift starts at 08:00
    start = int(dt.datetime(2026, 3, 2, 7, 0, tzinfo=SHANGHAI).timestamp() * 1000)
    lines = machine_planned_lines(PARK, calendars.get, start + 1_800_000, start + 5_400_000)
    planned = {
        line.split(" ")[0] + "@" + line.split(" ")[2]: fields(line)["planned_s"] for line in lines
    }
    seven, eight = f"{start}000000", f"{start + 3_600_000}000000"
    assert planned == {
        **{f"machine_1h,enterprise=E0001,machine=M00{i}@{seven}": 0.0 for i in (1, 2, 3)},
        **{f"machine_1h,enterprise=E0001,machine=M00{i}@{eight}": 1800.0 for i in (1, 2, 3)},
        "machine_1h,enterprise=E0002,machine=M001@" + seven: 3600.0,
        "machine_1h,enterprise=E0002,machine=M001@" + eight: 1800.0,
    }
    enterprise_sums = planned_lines(PARK, calendars.get, start + 1_800_000, start + 5_400_000)
    by_enterprise = {
        line.split(" ")[0] + "@" + line.split(" ")[2]: fields(line)["planned_s"]
        for line in enterprise_sums
    }
    assert by_enterprise[f"enterprise_1h,enterprise=E0001@{eight}"] == 3 * 1800.0
