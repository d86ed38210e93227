"""Calibration: the park's expected output is 3.5 billion pairs a year, and simulation agrees."""

import datetime as dt

import pytest

from contract import MachineState
from contract.registry import HOURS_PER_YEAR
from simulators.calibration import (
    expected_pairs_between,
    expected_pairs_per_hour,
    expected_pairs_per_year,
    machine_pairs_per_hour,
    mix_pairs_per_year,
    running_share,
    staffed_state_shares,
    target_pairs_per_year,
)
from simulators.machine import Dynamics, MachineModel, MachineParams, StopCause
from simulators.params import DEFAULT_PARK
from simulators.park import Park, build_park
from simulators.rng import SplitMix64, derive_seed
from simulators.shifts import DEFAULT_SHIFTS, ShiftPattern, WorkCalendar, on_fraction
from simulators.styles import DEFAULT_STYLES, Style

PARK_TZ = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture(scope="module")
def park() -> Park:
    return build_park()


def test_default_park_expects_3_5_billion_pairs_a_year(park: Park) -> None:
    assert expected_pairs_per_year(park) == pytest.approx(3.5e9, rel=0.03)
    assert target_pairs_per_year(park) == 3.5e9


def test_the_parameter_mix_itself_is_calibrated_to_3_5_billion() -> None:
    assert mix_pairs_per_year(DEFAULT_PARK) == pytest.approx(3.5e9, rel=0.005)


@pytest.mark.parametrize("seed", range(8))
def test_every_seed_stays_within_3_percent(seed: int) -> None:
    assert expected_pairs_per_year(build_park(seed=seed)) == pytest.approx(3.5e9, rel=0.03)


def test_the_park_knits_about_ten_pairs_per_machine_hour(park: Park) -> None:
    per_hour = expected_pairs_per_hour(park)
    assert per_hour * HOURS_PER_YEAR == expected_pairs_per_year(park)
    assert per_hour / 40_000 == pytest.approx(3.5e9 / 8760 / 40_000, rel=0.03)


def test_running_share_is_the_renewal_reward_ratio() -> None:
    params = MachineParams(
        stops=(StopCause("a", MachineState.FAULT, per_running_hour=2.0, mean_minutes=15.0),),
        duration_shape=1,
        rpm_jitter=0.0,
    )
    assert running_share(params) == pytest.approx(1 / 1.5)
    assert staffed_state_shares(params) == pytest.approx(
        {MachineState.RUNNING: 2 / 3, MachineState.FAULT: 1 / 3}
    )


def test_default_state_shares() -> None:
    shares = staffed_state_shares(DEFAULT_PARK.machine)
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares[MachineState.RUNNING] == pytest.approx(0.8556, abs=1e-4)
    assert set(shares) == {
        MachineState.RUNNING,
        MachineState.IDLE,
        MachineState.FAULT,
        MachineState.MAINTENANCE,
    }


@pytest.mark.parametrize(
    ("style", "shift", "pairs_per_hour"),
    [
        (DEFAULT_STYLES[0], DEFAULT_SHIFTS[0], 20.0 * 339 / 365),
        (DEFAULT_STYLES[-1], DEFAULT_SHIFTS[1], 10.0 * 16 / 24 * 339 / 365),
        (DEFAULT_STYLES[-1], DEFAULT_SHIFTS[2], 10.0 * 10 / 24 * 6 / 7 * 339 / 365),
    ],
)
def test_a_machines_expected_rate(style: Style, shift: ShiftPattern, pairs_per_hour: float) -> None:
    share = running_share(DEFAULT_PARK.machine)
    assert machine_pairs_per_hour(style, shift, DEFAULT_PARK) == pytest.approx(
        pairs_per_hour * share
    )
    assert on_fraction(shift, DEFAULT_PARK.calendar) * 24 * share * style.pairs_per_hour == (
        pytest.approx(machine_pairs_per_hour(style, shift, DEFAULT_PARK) * 24)
    )


def test_a_simulated_year_of_a_sample_converges_to_the_analytic_expectation() -> None:
    """60 machines knit through 2025 (a 365-day year) machine by machine."""
    sample = build_park(seed=3, machines=60)
    params = sample.params
    calendars = {s.name: WorkCalendar(s, params.calendar) for s in params.shifts}
    by_enterprise = {e.id: calendars[e.shift.name] for e in sample.enterprises}
    dynamics = Dynamics(params.machine)
    start = dt.datetime(2025, 1, 1, tzinfo=PARK_TZ).timestamp()
    end = dt.datetime(2026, 1, 1, tzinfo=PARK_TZ).timestamp()
    knitted = 0.0
    for machine in sample.machines:
        model = MachineModel(
            pairs_per_second=machine.style.pairs_per_second,
            calendar=by_enterprise[machine.enterprise],
            dynamics=dynamics,
            rng=SplitMix64(derive_seed(sample.seed, machine.index)),
            start=start,
        )
        t = start
        while t < end:
            t = min(end, t + 6 * 3600)
            model.advance(t)
        knitted += model.knitted
    window = expected_pairs_between(sample.machines, by_enterprise, params.machine, start, end)
    assert knitted == pytest.approx(window, rel=0.015)
    assert knitted == pytest.approx(expected_pairs_per_year(sample), rel=0.03)
