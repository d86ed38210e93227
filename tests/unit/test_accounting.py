"""Pair accounting: tables for each rule, and properties over arbitrary delivery orders."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.accounting import Correction, Ledger, Outcome, Verdict

E, M = "E0001", "M001"


def feed(ledger: Ledger, readings: list[tuple[str, int, int]]) -> list[Outcome]:
    """Apply (boot, seq, pairs_total) readings; ts is derived from seq."""
    return [ledger.apply(E, M, boot, seq, 1000 + seq, pt) for boot, seq, pt in readings]


@pytest.mark.parametrize(
    ("readings", "expected"),
    [
        pytest.param(
            [("a", 0, 0), ("a", 1, 5), ("a", 2, 12)],
            [(Verdict.ACCEPTED, 0), (Verdict.ACCEPTED, 5), (Verdict.ACCEPTED, 7)],
            id="in-order deltas",
        ),
        pytest.param(
            [("a", 3, 40)],
            [(Verdict.ACCEPTED, 40)],
            id="first reading of a boot counts its whole total",
        ),
        pytest.param(
            [("a", 0, 3), ("a", 1, 5), ("a", 1, 5)],
            [(Verdict.ACCEPTED, 3), (Verdict.ACCEPTED, 2), (Verdict.DUPLICATE, 0)],
            id="duplicate",
        ),
        pytest.param(
            [("a", 0, 3), ("a", 1, 9), ("b", 0, 2), ("b", 1, 4)],
            [
                (Verdict.ACCEPTED, 3),
                (Verdict.ACCEPTED, 6),
                (Verdict.ACCEPTED, 2),
                (Verdict.ACCEPTED, 2),
            ],
            id="counter reset with a new boot",
        ),
        pytest.param(
            [("a", 0, 3), ("a", 2, 9)],
            [(Verdict.ACCEPTED, 3), (Verdict.ACCEPTED, 6)],
            id="dropped reading is carried by the next one",
        ),
        pytest.param(
            [("a", 0, 3), ("a", 1, 2)],
            [(Verdict.ACCEPTED, 3), (Verdict.CONFLICT, 0)],
            id="counter decreasing within a boot is a conflict",
        ),
        pytest.param(
            [("a", 0, 3), ("a", 2, 5), ("a", 1, 6)],
            [(Verdict.ACCEPTED, 3), (Verdict.ACCEPTED, 2), (Verdict.CONFLICT, 0)],
            id="late reading above its successor is a conflict",
        ),
    ],
)
def test_rules(readings: list[tuple[str, int, int]], expected: list[tuple[Verdict, int]]) -> None:
    outcomes = feed(Ledger(), readings)
    assert [(o.verdict, o.pairs) for o in outcomes] == expected


def test_late_reading_corrects_its_successor() -> None:
    outcomes = feed(Ledger(), [("a", 0, 3), ("a", 2, 10), ("a", 1, 4)])
    assert outcomes[1] == Outcome(Verdict.ACCEPTED, 7)
    assert outcomes[2] == Outcome(Verdict.ACCEPTED, 1, Correction(ts=1002, seq=2, pairs=6))


def test_new_boot_of_known_machine_is_a_reset() -> None:
    outcomes = feed(Ledger(), [("a", 0, 3), ("b", 0, 1)])
    assert [o.reset for o in outcomes] == [False, True]


def test_reading_older_than_the_window_is_too_late() -> None:
    ledger = Ledger(window=2)
    outcomes = feed(ledger, [("a", 1, 1), ("a", 2, 2), ("a", 3, 3), ("a", 0, 0), ("a", 1, 1)])
    assert [o.verdict for o in outcomes] == [
        Verdict.ACCEPTED,
        Verdict.ACCEPTED,
        Verdict.ACCEPTED,
        Verdict.TOO_LATE,
        Verdict.DUPLICATE,
    ]


def test_closed_boot_is_too_late() -> None:
    ledger = Ledger(open_boots=1)
    outcomes = feed(ledger, [("a", 0, 1), ("b", 0, 1), ("a", 1, 5)])
    assert [o.verdict for o in outcomes] == [Verdict.ACCEPTED, Verdict.ACCEPTED, Verdict.TOO_LATE]


def test_machines_are_independent() -> None:
    ledger = Ledger()
    assert ledger.apply("E1", "M1", "a", 0, 0, 5).pairs == 5
    assert ledger.apply("E1", "M2", "a", 0, 0, 7).pairs == 7
    assert ledger.apply("E2", "M1", "a", 0, 0, 9).pairs == 9
    assert len(ledger) == 3


def test_dump_and_load_continue_identically() -> None:
    ledger = Ledger(window=3)
    feed(ledger, [("a", 0, 1), ("a", 1, 4), ("a", 3, 9), ("b", 0, 2)])
    restored = Ledger.load(ledger.dump())
    rest = [("a", 2, 6), ("b", 1, 3), ("b", 1, 3), ("a", 0, 1)]
    assert feed(restored, rest) == feed(ledger, rest)


@pytest.mark.parametrize("kwargs", [{"window": 0}, {"open_boots": 0}, {"closed_boots": -1}])
def test_invalid_limits(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be"):
        Ledger(**kwargs)


# --- properties -------------------------------------------------------------------------------

Reading = tuple[str, int, int, int]  # boot, seq, ts, pairs_total


@st.composite
def histories(draw: st.DrawFn) -> list[Reading]:
    """A machine's true readings: boots in order, each with a non-decreasing counter from 0."""
    readings: list[Reading] = []
    ts = 0
    for b in range(draw(st.integers(1, 4))):
        total = 0
        for seq in range(draw(st.integers(1, 12))):
            total += draw(st.integers(0, 30))
            ts += draw(st.integers(1, 10_000))
            readings.append((f"boot{b}", seq, ts, total))
    return readings


@st.composite
def deliveries(draw: st.DrawFn, window: int) -> tuple[list[Reading], list[Reading]]:
    """A history and how it arrives: some readings dropped, some duplicated, locally shuffled."""
    history = draw(histories())
    delivered = [r for r in history if not draw(st.booleans()) or draw(st.integers(0, 3))]
    duplicated: list[Reading] = []
    for r in delivered:
        duplicated.append(r)
        if draw(st.integers(0, 4)) == 0:
            duplicated.append(r)
    # Shuffle within blocks smaller than the window, so no reading is displaced beyond it.
    rng = random.Random(draw(st.integers(0, 2**32)))
    block = max(1, window // 2)
    shuffled: list[Reading] = []
    for start in range(0, len(duplicated), block):
        chunk = duplicated[start : start + block]
        rng.shuffle(chunk)
        shuffled.extend(chunk)
    return delivered, shuffled


def stored_pairs(ledger: Ledger, arrivals: list[Reading]) -> dict[tuple[str, int], int]:
    """What the sink would hold: one point per reading, corrections overwrite ``pairs``."""
    points: dict[tuple[str, int], int] = {}
    for boot, seq, ts, total in arrivals:
        outcome = ledger.apply(E, M, boot, seq, ts, total)
        assert outcome.verdict in {Verdict.ACCEPTED, Verdict.DUPLICATE, Verdict.TOO_LATE}
        if outcome.verdict is Verdict.ACCEPTED:
            assert outcome.pairs >= 0
            points[(boot, seq)] = outcome.pairs
            if outcome.correction is not None:
                assert outcome.correction.pairs >= 0
                assert (boot, outcome.correction.seq) in points
                points[(boot, outcome.correction.seq)] = outcome.correction.pairs
    return points


@settings(max_examples=400)
@given(deliveries(window=8))
def test_stored_pairs_add_up_to_the_counters(case: tuple[list[Reading], list[Reading]]) -> None:
    delivered, arrivals = case
    points = stored_pairs(Ledger(window=8), arrivals)
    observable: dict[str, int] = {}
    for boot, _seq, _ts, total in delivered:
        observable[boot] = max(observable.get(boot, 0), total)
    assert sum(points.values()) == sum(observable.values())


@settings(max_examples=200)
@given(deliveries(window=8))
def test_each_point_holds_the_pairs_since_its_predecessor(
    case: tuple[list[Reading], list[Reading]],
) -> None:
    delivered, arrivals = case
    points = stored_pairs(Ledger(window=8), arrivals)
    previous: dict[str, int] = {}
    for boot, seq, _ts, total in sorted(set(delivered), key=lambda r: (r[0], r[1])):
        assert points[(boot, seq)] == total - previous.get(boot, 0)
        previous[boot] = total


@settings(max_examples=200)
@given(deliveries(window=8), st.integers(0, 60))
def test_a_restored_ledger_continues_exactly(
    case: tuple[list[Reading], list[Reading]], cut: int
) -> None:
    _delivered, arrivals = case
    ledger = Ledger(window=8)
    head, tail = arrivals[:cut], arrivals[cut:]
    for boot, seq, ts, total in head:
        ledger.apply(E, M, boot, seq, ts, total)
    restored = Ledger.load(ledger.dump())
    assert [restored.apply(E, M, *r) for r in tail] == [ledger.apply(E, M, *r) for r in tail]


@settings(max_examples=200)
@given(histories(), st.integers(0, 2**32))
def test_any_order_never_counts_more_than_the_counters(history: list[Reading], seed: int) -> None:
    """Arbitrary reordering (beyond the window too) never over-counts and never goes negative."""
    arrivals = history + history[: len(history) // 2]
    random.Random(seed).shuffle(arrivals)
    ledger = Ledger(window=4, open_boots=2)
    points: dict[tuple[str, int], int] = {}
    for boot, seq, ts, total in arrivals:
        outcome = ledger.apply(E, M, boot, seq, ts, total)
        if outcome.verdict is Verdict.ACCEPTED:
            points[(boot, seq)] = outcome.pairs
            if outcome.correction is not None:
                points[(boot, outcome.correction.seq)] = outcome.correction.pairs
    observable: dict[str, int] = {}
    for boot, _seq, _ts, total in history:
        observable[boot] = max(observable.get(boot, 0), total)
    assert all(v >= 0 for v in points.values())
    assert sum(points.values()) <= sum(observable.values())
