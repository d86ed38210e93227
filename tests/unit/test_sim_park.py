"""The park model: the article's figures, exact totals, valid ids, determinism."""

import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract import is_valid_id
from simulators.errors import ParameterError
from simulators.params import DEFAULT_PARK, ParkParams, SizeParams
from simulators.park import Park, build_park
from simulators.sizes import composition, fit_sizes, machines_for_scale, sample_sizes
from simulators.styles import DEFAULT_STYLES, Style


@pytest.fixture(scope="module")
def park() -> Park:
    return build_park()


def test_default_park_has_the_articles_figures(park: Park) -> None:
    assert len(park.enterprises) == 1220
    assert len(park.machines) == 40_000
    college = [e for e in park.enterprises if e.college]
    assert len(college) == 371
    assert all(len(e.machines) == 10 for e in college)
    others = [e for e in park.enterprises if not e.college]
    assert len(others) == 849
    assert sum(len(e.machines) for e in others) == 36_290


def test_other_enterprises_are_heavy_tailed_with_a_largest_of_160_to_200(park: Park) -> None:
    sizes = sorted(len(e.machines) for e in park.enterprises if not e.college)
    assert 160 <= sizes[-1] <= 200
    median = sizes[len(sizes) // 2]
    mean = sum(sizes) / len(sizes)
    assert median < mean  # right-skewed
    assert sizes[0] >= 2


def test_ids_are_valid_unique_and_numbered(park: Park) -> None:
    ids = [e.id for e in park.enterprises]
    assert ids[0] == "E0001"
    assert ids[-1] == "E1220"
    assert len(set(ids)) == len(ids)
    for enterprise in park.enterprises:
        assert is_valid_id(enterprise.id)
        machine_ids = [m.id for m in enterprise.machines]
        assert machine_ids[0] == "M001"
        assert len(set(machine_ids)) == len(machine_ids)
        assert all(is_valid_id(m) for m in machine_ids)
        assert all(m.enterprise == enterprise.id for m in enterprise.machines)
    assert [m.index for m in park.machines] == list(range(40_000))


def test_college_enterprises_are_spread_over_the_numbers(park: Park) -> None:
    numbers = [e.number for e in park.enterprises if e.college]
    assert min(numbers) < 100
    assert max(numbers) > 1100


def test_styles_and_shifts_follow_their_shares(park: Park) -> None:
    for style in DEFAULT_PARK.styles:
        count = sum(m.style is style for m in park.machines)
        assert count / 40_000 == pytest.approx(style.share, abs=0.01)
    for shift in DEFAULT_PARK.shifts:
        count = sum(e.shift is shift for e in park.enterprises)
        assert count / 1220 == pytest.approx(shift.share, abs=0.05)


def test_the_same_seed_builds_the_same_park() -> None:
    assert build_park(seed=5, machines=3000) == build_park(seed=5, machines=3000)
    assert build_park(seed=5, machines=3000) != build_park(seed=6, machines=3000)


@pytest.mark.parametrize(
    ("machines", "enterprises", "college"),
    [(1, 1, 0), (10, 1, 0), (200, 6, 2), (1000, 30, 9), (4000, 122, 37), (80_000, 2440, 742)],
)
def test_scaled_parks_keep_the_proportions(machines: int, enterprises: int, college: int) -> None:
    comp = composition(DEFAULT_PARK, machines)
    assert comp.machines == machines
    assert comp.enterprises == enterprises
    assert comp.college_enterprises == college


def test_scale_is_a_fraction_of_the_park() -> None:
    assert machines_for_scale(DEFAULT_PARK, 0.1) == 4000
    assert machines_for_scale(DEFAULT_PARK, 1e-9) == 1
    with pytest.raises(ParameterError):
        machines_for_scale(DEFAULT_PARK, 0)


@settings(max_examples=60, deadline=None)
@given(machines=st.integers(1, 6000), seed=st.integers(0, 2**32))
def test_any_scaled_park_has_exactly_its_machines(machines: int, seed: int) -> None:
    park = build_park(seed=seed, machines=machines)
    assert len(park.machines) == machines
    sizes = [len(e.machines) for e in park.enterprises]
    assert all(1 <= s <= DEFAULT_PARK.sizes.max_machines for s in sizes)
    assert sum(sizes) == machines


@settings(max_examples=200)
@given(
    raw=st.lists(st.floats(0.01, 100.0), min_size=1, max_size=60),
    data=st.data(),
)
def test_fit_sizes_hits_the_total_within_bounds(raw: list[float], data: st.DataObject) -> None:
    total = data.draw(st.integers(len(raw) * 2, len(raw) * 200))
    sizes = fit_sizes(raw, total, 2, 200)
    assert sum(sizes) == total
    assert all(2 <= s <= 200 for s in sizes)
    assert fit_sizes(raw, total, 2, 200) == sizes


def test_fit_sizes_keeps_the_order_of_the_raw_sizes() -> None:
    raw = [1.0, 5.0, 2.0, 10.0]
    sizes = fit_sizes(raw, 100, 1, 200)
    assert sizes[3] > sizes[1] > sizes[2] > sizes[0]


def test_fit_sizes_refuses_an_impossible_total() -> None:
    with pytest.raises(ParameterError):
        fit_sizes([1.0, 2.0], 500, 2, 200)


def test_sample_sizes_is_deterministic_for_a_generator_state() -> None:
    params = SizeParams()
    first = sample_sizes(random.Random(3), 849, 36_290, params)
    assert first == sample_sizes(random.Random(3), 849, 36_290, params)
    assert sum(first) == 36_290


@pytest.mark.parametrize(
    "change",
    [
        {"college_enterprises": 2000},
        {"machines": 100},
        {"styles": (*DEFAULT_STYLES[:-1],)},
        {"styles": (*DEFAULT_STYLES, Style("extra", 100.0, 200.0, 0.0), DEFAULT_STYLES[0])},
        {"annual_target_pairs": 0.0},
    ],
)
def test_inconsistent_park_parameters_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(ParameterError):
        ParkParams(**change)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "make",
    [
        lambda: Style("bad name", 100.0, 200.0, 0.1),
        lambda: Style("x", 1.0, 200.0, 0.1),
        lambda: Style("x", 100.0, 0.0, 0.1),
        lambda: SizeParams(min_machines=10, max_machines=5),
    ],
)
def test_invalid_values_are_refused_when_created(make: Callable[[], object]) -> None:
    with pytest.raises(ParameterError):
        make()


def test_style_rates() -> None:
    fastest = DEFAULT_STYLES[0]
    slowest = DEFAULT_STYLES[-1]
    assert fastest.seconds_per_sock == 90.0
    assert fastest.pairs_per_hour == 20.0
    assert slowest.seconds_per_sock == 180.0
    assert slowest.pairs_per_hour == 10.0
