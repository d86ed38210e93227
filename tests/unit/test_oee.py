"""OEE from rollup sums: a table of cases and properties of the arithmetic."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.oee import Oee, oee


@pytest.mark.parametrize(
    ("sums", "expected"),
    [
        pytest.param(
            {"running_s": 3600, "planned_s": 3600, "pairs": 20, "nominal_pairs": 20, "rejects": 0},
            Oee(1.0, 1.0, 1.0),
            id="perfect",
        ),
        pytest.param(
            {"running_s": 2700, "planned_s": 3600, "pairs": 18, "nominal_pairs": 20, "rejects": 2},
            Oee(0.75, 0.9, 16 / 18),
            id="a typical hour",
        ),
        pytest.param(
            {"running_s": 0, "planned_s": 3600, "pairs": 0, "nominal_pairs": 0, "rejects": 0},
            Oee(0.0, None, None),
            id="planned but never ran: no performance or quality to speak of",
        ),
        pytest.param(
            {"running_s": 600, "planned_s": 0, "pairs": 3, "nominal_pairs": 4, "rejects": 0},
            Oee(None, 0.75, 1.0),
            id="nothing planned: no availability",
        ),
        pytest.param(
            {"running_s": 4000, "planned_s": 3600, "pairs": 22, "nominal_pairs": 22, "rejects": 22},
            Oee(4000 / 3600, 1.0, 0.0),
            id="ran beyond the plan, all rejected",
        ),
    ],
)
def test_parts(sums: dict[str, float], expected: Oee) -> None:
    assert oee(**sums) == expected


def test_oee_is_the_product_or_none() -> None:
    assert Oee(0.75, 0.9, 0.5).oee == pytest.approx(0.3375)
    assert Oee(None, 0.9, 0.5).oee is None
    assert Oee(0.75, None, 0.5).oee is None
    assert Oee(0.75, 0.9, None).oee is None


sums = st.fixed_dictionaries(
    {
        "running_s": st.floats(0, 1e9),
        "planned_s": st.floats(1, 1e9),
        "nominal_pairs": st.floats(1e-3, 1e9),
        "pairs": st.integers(1, 10**9),
    }
).flatmap(lambda s: st.integers(0, s["pairs"]).map(lambda r: {**s, "rejects": r}))


@given(sums)
def test_oee_is_good_time_over_planned_time(s: dict[str, float]) -> None:
    """A x P x Q = running_s x good pairs / (planned_s x nominal_pairs): the parts cancel."""
    result = oee(**s)
    expected = s["running_s"] * (s["pairs"] - s["rejects"]) / (s["planned_s"] * s["nominal_pairs"])
    assert result.oee is not None
    assert math.isclose(result.oee, expected, rel_tol=1e-9, abs_tol=1e-300)


@given(sums)
def test_quality_is_a_share(s: dict[str, float]) -> None:
    quality = oee(**s).quality
    assert quality is not None
    assert 0.0 <= quality <= 1.0


@given(sums, sums)
def test_a_wider_scope_is_the_oee_of_the_summed_parts(
    a: dict[str, float], b: dict[str, float]
) -> None:
    """Summing first and dividing after: an enterprise's availability lies between its
    machines' (a ratio of sums, not a mean of ratios)."""
    both = oee(**{k: a[k] + b[k] for k in a})
    one, two = oee(**a), oee(**b)
    assert both.availability is not None
    assert one.availability is not None
    assert two.availability is not None
    low, high = sorted((one.availability, two.availability))
    assert low * (1 - 1e-12) <= both.availability <= high * (1 + 1e-12)
