"""A machine's state machine and the working calendar: pure functions of simulated time."""

import datetime as dt
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract import MachineState, StopReason
from simulators.errors import ParameterError
from simulators.machine import DEFAULT_MACHINE, Dynamics, MachineModel, MachineParams, StopCause
from simulators.rng import SplitMix64, derive_seed
from simulators.shifts import (
    DEFAULT_CALENDAR,
    DEFAULT_SHIFTS,
    CalendarParams,
    Holiday,
    ShiftPattern,
    WorkCalendar,
    on_fraction,
)

PARK_TZ = dt.timezone(dt.timedelta(hours=8))
AROUND, TWO_SHIFT, DAY_SHIFT = DEFAULT_SHIFTS


def at(*args: int) -> float:
    """Epoch seconds of a park-local time."""
    return dt.datetime(*args, tzinfo=PARK_TZ).timestamp()  # type: ignore[misc]


def calendar(pattern: ShiftPattern) -> WorkCalendar:
    return WorkCalendar(pattern, DEFAULT_CALENDAR)


@pytest.mark.parametrize(
    ("pattern", "when", "on"),
    [
        (AROUND, at(2025, 3, 4, 3, 0), True),  # a Tuesday night
        (AROUND, at(2025, 3, 9, 12, 0), True),  # a Sunday
        (AROUND, at(2025, 1, 30, 12, 0), False),  # Spring Festival
        (AROUND, at(2025, 10, 3, 12, 0), False),  # National Day
        (TWO_SHIFT, at(2025, 3, 4, 5, 59), False),
        (TWO_SHIFT, at(2025, 3, 4, 6, 0), True),
        (TWO_SHIFT, at(2025, 3, 4, 21, 59), True),
        (TWO_SHIFT, at(2025, 3, 4, 22, 0), False),
        (DAY_SHIFT, at(2025, 3, 8, 10, 0), True),  # Saturday
        (DAY_SHIFT, at(2025, 3, 9, 10, 0), False),  # Sunday
        (DAY_SHIFT, at(2025, 3, 4, 18, 0), False),
    ],
)
def test_staffed_times(pattern: ShiftPattern, when: float, on: object) -> None:
    assert calendar(pattern).is_on(when) is on


def test_staffed_seconds_of_a_day() -> None:
    day = at(2025, 3, 4, 0, 0)
    assert calendar(AROUND).on_seconds(day, day + 86400) == 86400
    assert calendar(TWO_SHIFT).on_seconds(day, day + 86400) == 16 * 3600
    assert calendar(DAY_SHIFT).on_seconds(day, day + 86400) == 10 * 3600
    assert calendar(DAY_SHIFT).on_seconds(day + 7 * 3600, day + 9 * 3600) == 3600
    assert calendar(DAY_SHIFT).on_seconds(day, day) == 0
    assert calendar(DAY_SHIFT).on_seconds(day + 10, day) == 0


def test_staffed_seconds_of_a_year_match_the_analytic_fraction() -> None:
    start, end = at(2025, 1, 1, 0, 0), at(2026, 1, 1, 0, 0)
    for pattern in DEFAULT_SHIFTS:
        share = calendar(pattern).on_seconds(start, end) / (365 * 86400)
        assert share == pytest.approx(on_fraction(pattern, DEFAULT_CALENDAR), rel=0.01)
    assert calendar(AROUND).on_seconds(start, end) == (365 - 26) * 86400


@settings(max_examples=200)
@given(
    a=st.floats(1.7e9, 1.8e9),
    b=st.floats(0, 3e6),
    c=st.floats(0, 3e6),
    which=st.sampled_from(DEFAULT_SHIFTS),
)
def test_staffed_seconds_add_up_over_adjacent_windows(
    a: float, b: float, c: float, which: ShiftPattern
) -> None:
    cal = calendar(which)
    whole = cal.on_seconds(a, a + b + c)
    assert cal.on_seconds(a, a + b) + cal.on_seconds(a + b, a + b + c) == pytest.approx(whole)
    assert 0 <= whole <= b + c + 1e-6


def test_holidays_are_expanded_over_the_year() -> None:
    dates = DEFAULT_CALENDAR.holiday_dates()
    assert (1, 24) in dates
    assert (2, 10) in dates
    assert (2, 11) not in dates
    assert DEFAULT_CALENDAR.holiday_days_per_year == 26


@pytest.mark.parametrize(
    "make",
    [
        lambda: ShiftPattern("x", windows=((8.0, 7.0),), workdays=(0,), share=1.0),
        lambda: ShiftPattern("x", windows=((0.0, 25.0),), workdays=(0,), share=1.0),
        lambda: ShiftPattern("x", windows=((0.0, 8.0),), workdays=(7,), share=1.0),
        lambda: ShiftPattern("x", windows=(), workdays=(0,), share=1.0),
        lambda: Holiday("x", month=2, day=30, days=1),
        lambda: CalendarParams(utc_offset_hours=15.0, holidays=()),
        lambda: StopCause("x", MachineState.RUNNING, 1.0, 1.0),
        lambda: StopCause("x", MachineState.IDLE, -1.0, 1.0),
        lambda: MachineParams(stops=(), duration_shape=0, rpm_jitter=0.0),
    ],
)
def test_invalid_working_time_and_stops_are_refused(make: Callable[[], object]) -> None:
    with pytest.raises(ParameterError):
        make()


NO_STOPS = MachineParams(stops=(), duration_shape=2, rpm_jitter=0.0)


def model(
    pattern: ShiftPattern = AROUND,
    params: MachineParams = DEFAULT_MACHINE,
    seed: int = 1,
    start: float | None = None,
    pairs_per_second: float = 1 / 180,
) -> MachineModel:
    return MachineModel(
        pairs_per_second=pairs_per_second,
        calendar=calendar(pattern),
        dynamics=Dynamics(params),
        rng=SplitMix64(derive_seed(seed)),
        start=at(2025, 3, 4, 0, 0) if start is None else start,
    )


def test_a_machine_without_stops_knits_at_its_style_rate_while_staffed() -> None:
    machine = model(TWO_SHIFT, NO_STOPS)
    machine.advance(at(2025, 3, 5, 0, 0))
    assert machine.knitted == pytest.approx(16 * 3600 / 180)
    assert machine.state(at(2025, 3, 5, 0, 0)) is MachineState.OFF
    machine.advance(at(2025, 3, 5, 12, 0))
    assert machine.state(at(2025, 3, 5, 12, 0)) is MachineState.RUNNING


def test_a_machine_knits_nothing_off_shift() -> None:
    machine = model(DAY_SHIFT)
    machine.advance(at(2025, 3, 4, 18, 0))
    evening = machine.knitted
    machine.advance(at(2025, 3, 5, 8, 0))
    assert machine.knitted == evening
    assert machine.state(at(2025, 3, 5, 8, 0) - 1) is MachineState.OFF


def test_time_does_not_run_backwards() -> None:
    machine = model()
    machine.advance(at(2025, 3, 4, 12, 0))
    noon = machine.knitted
    machine.advance(at(2025, 3, 4, 11, 0))
    assert machine.knitted == noon
    assert machine.time == at(2025, 3, 4, 12, 0)


@settings(max_examples=50, deadline=None)
@given(steps=st.lists(st.floats(0.5, 7200.0), min_size=1, max_size=80), seed=st.integers(0, 999))
def test_the_trajectory_does_not_depend_on_how_often_it_is_sampled(
    steps: list[float], seed: int
) -> None:
    sampled = model(TWO_SHIFT, seed=seed)
    once = model(TWO_SHIFT, seed=seed)
    t = at(2025, 3, 4, 0, 0)
    for step in steps:
        t += step
        sampled.advance(t)
    once.advance(t)
    assert sampled.knitted == pytest.approx(once.knitted, rel=1e-9, abs=1e-9)
    assert sampled.state(t) is once.state(t)


def test_same_seed_same_machine_other_seed_other_machine() -> None:
    end = at(2025, 3, 11, 0, 0)
    a, b, c = model(seed=3), model(seed=3), model(seed=4)
    for m in (a, b, c):
        m.advance(end)
    assert a.knitted == b.knitted
    assert a.knitted != c.knitted


def test_states_visited_over_a_month_are_the_modelled_ones() -> None:
    machine = model(TWO_SHIFT, seed=11)
    seen = set()
    t = at(2025, 3, 3, 0, 0)
    for _ in range(31 * 24 * 12):
        t += 300
        machine.advance(t)
        seen.add(machine.state(t))
    assert seen == set(MachineState)


def test_stationary_shares_follow_the_renewal_reward_ratio() -> None:
    params = MachineParams(
        stops=(
            StopCause("a", MachineState.IDLE, per_running_hour=1.0, mean_minutes=30.0),
            StopCause("b", MachineState.FAULT, per_running_hour=0.5, mean_minutes=60.0),
        ),
        duration_shape=2,
        rpm_jitter=0.0,
    )
    shares = Dynamics(params).shares
    assert shares == pytest.approx((1 / 2, 1 / 4, 1 / 4))


def test_time_share_running_converges_to_the_stationary_share() -> None:
    """Over many staffed hours, a machine's running share is the analytic one."""
    start = at(2025, 3, 4, 0, 0)
    hours = 24 * 365
    total = 0.0
    for seed in range(10):
        machine = model(AROUND, DEFAULT_MACHINE, seed=seed, start=start, pairs_per_second=1.0)
        machine.advance(start + hours * 3600)
        total += machine.knitted
    staffed = calendar(AROUND).on_seconds(start, start + hours * 3600)
    running = Dynamics(DEFAULT_MACHINE).running_share
    assert total / (10 * staffed) == pytest.approx(running, rel=0.01)


def test_splitmix_draws_are_uniform_and_reproducible() -> None:
    first = SplitMix64(42)
    draws = [first.random() for _ in range(20_000)]
    assert all(0.0 <= d < 1.0 for d in draws)
    assert sum(draws) / len(draws) == pytest.approx(0.5, abs=0.01)
    again = SplitMix64(42)
    assert [again.random() for _ in range(20_000)] == draws
    exp = SplitMix64(7)
    assert sum(exp.erlang(2, 10.0) for _ in range(20_000)) / 20_000 == pytest.approx(10.0, rel=0.03)
    assert derive_seed(1, 2) != derive_seed(2, 1)


def test_stop_reasons_follow_the_stop_causes_and_their_seconds_add_up() -> None:
    """Every default cause maps to its own reason; a machine says its reason only while
    stopped, and its stopped seconds per reason plus its running seconds are its staffed time."""
    reasons = [cause.reason for cause in DEFAULT_MACHINE.stops]
    assert len(set(reasons)) == len(reasons)
    assert StopReason.OTHER not in reasons
    start = at(2025, 3, 3, 0, 0)
    machine = model(TWO_SHIFT, DEFAULT_MACHINE, seed=11, start=start, pairs_per_second=1.0)
    seen: dict[MachineState, set[StopReason | None]] = {}
    t = start
    for _ in range(31 * 24 * 12):
        t += 300
        machine.advance(t)
        seen.setdefault(machine.state(t), set()).add(machine.reason(t))
    assert seen[MachineState.RUNNING] == {None}
    assert seen[MachineState.OFF] == {None}
    by_state = {cause.state: set() for cause in DEFAULT_MACHINE.stops}
    for cause in DEFAULT_MACHINE.stops:
        by_state[cause.state].add(cause.reason)
    for state, expected in by_state.items():
        assert seen[state] == expected
    stopped = machine.stopped_by_reason()
    assert set(stopped) == {r.value for r in reasons}
    assert all(seconds > 0 for seconds in stopped.values())
    staffed = calendar(TWO_SHIFT).on_seconds(start, t)
    assert machine.knitted + sum(stopped.values()) == pytest.approx(staffed)


def test_causes_sharing_a_reason_add_up_in_it() -> None:
    params = MachineParams(
        stops=(
            StopCause("a", MachineState.IDLE, 1.0, 30.0, reason=StopReason.OTHER),
            StopCause("b", MachineState.FAULT, 0.5, 60.0, reason=StopReason.OTHER),
        ),
        duration_shape=2,
        rpm_jitter=0.0,
    )
    start = at(2025, 3, 4, 0, 0)
    machine = model(AROUND, params, seed=3, start=start, pairs_per_second=1.0)
    machine.advance(start + 7 * 86400)
    assert machine.stopped_by_reason() == {"other": pytest.approx(sum(machine.stopped))}
    assert min(machine.stopped) > 0
