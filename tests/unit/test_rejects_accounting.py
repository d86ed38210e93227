"""Rejects accounting: the ``rejects_total`` counter is accounted by the same rules as
``pairs_total`` (resets, duplicates, late readings, new boots), tables and properties."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.accounting import Correction, Ledger, Outcome, PairsLimit, Verdict
from influx.lines import parse_production, production_line
from tests.unit.test_accounting import Reading, deliveries, knitting, observable

E, M = "E0001", "M001"

Rejecting = tuple[str, int, int, int]  # boot, seq, pairs_total, rejects_total


def feed(ledger: Ledger, readings: list[Rejecting]) -> list[Outcome]:
    return [ledger.apply(E, M, boot, seq, 1000 + seq, pt, rt) for boot, seq, pt, rt in readings]


@pytest.mark.parametrize(
    ("readings", "expected"),
    [
        pytest.param(
            [("a", 0, 0, 0), ("a", 1, 50, 1), ("a", 2, 120, 3)],
            [(Verdict.ACCEPTED, 0), (Verdict.ACCEPTED, 1), (Verdict.ACCEPTED, 2)],
            id="in-order deltas",
        ),
        pytest.param(
            [("a", 4, 400, 6)],
            [(Verdict.ACCEPTED, 6)],
            id="first reading of a boot counts its whole total",
        ),
        pytest.param(
            [("a", 0, 30, 1), ("a", 1, 50, 2), ("a", 1, 50, 2)],
            [(Verdict.ACCEPTED, 1), (Verdict.ACCEPTED, 1), (Verdict.DUPLICATE, None)],
            id="a redelivery counts nothing",
        ),
        pytest.param(
            [("a", 0, 30, 1), ("a", 1, 90, 4), ("b", 0, 20, 2), ("b", 1, 40, 3)],
            [(Verdict.ACCEPTED, r) for r in (1, 3, 2, 1)],
            id="a new boot starts the counter from 0",
        ),
        pytest.param(
            [("a", 0, 30, 1), ("a", 2, 90, 5)],
            [(Verdict.ACCEPTED, 1), (Verdict.ACCEPTED, 4)],
            id="a reading lost upstream is carried by the next",
        ),
        pytest.param(
            [("a", 1, 100, 10), ("a", 2, 200, 20), ("a", 3, 50, 5), ("a", 4, 150, 15)],
            [(Verdict.ACCEPTED, r) for r in (10, 10, 5, 10)],
            id="a counter reset inside the boot counts the whole total",
        ),
        pytest.param(
            [("a", 1, 100, 2), ("a", 2, 50, 3)],
            [(Verdict.ACCEPTED, 2), (Verdict.ACCEPTED, 1)],
            id="rejects that go on while the pairs reset are a delta of their own",
        ),
        pytest.param(
            [("a", 0, 10, 0), ("a", 1, 20, 1)]
            + [("a", s, 20 + s, 1) for s in range(2, 11)]
            + [("a", 1, 20, 1)],
            [(Verdict.ACCEPTED, r) for r in (0, 1, *(0,) * 9)] + [(Verdict.TOO_LATE, None)],
            id="a reading older than the window is too late",
        ),
    ],
)
def test_rules(readings: list[Rejecting], expected: list[tuple[Verdict, int | None]]) -> None:
    outcomes = feed(Ledger(window=8), readings)
    assert [(o.verdict, o.rejects) for o in outcomes] == expected


def test_a_late_reading_corrects_its_successors_rejects() -> None:
    ledger = Ledger()
    feed(ledger, [("a", 0, 10, 1), ("a", 2, 90, 7)])
    late = ledger.apply(E, M, "a", 1, 1001, 40, 3)
    assert late.rejects == 2
    assert late.rejects_correction == Correction(1002, 2, 4, None)
    assert late.correction == Correction(1002, 2, 50, None)


def test_a_reading_without_rejects_leaves_the_rejects_counter_alone() -> None:
    ledger = Ledger()
    first = ledger.apply(E, M, "a", 0, 1000, 10, 1)
    bare = ledger.apply(E, M, "a", 1, 1001, 20)
    later = ledger.apply(E, M, "a", 2, 1002, 30, 4)
    assert (first.rejects, bare.rejects, later.rejects) == (1, None, 3)
    assert bare.pairs == later.pairs == 10


def test_an_implausible_reading_counts_no_rejects() -> None:
    ledger = Ledger()
    ledger.limit = PairsLimit(max_pairs_per_hour=10.0, unknown_hours=1.0)
    assert ledger.apply(E, M, "a", 0, 1000, 10_000, 5).verdict is Verdict.IMPLAUSIBLE
    assert ledger.apply(E, M, "a", 1, 1001, 12, 5).rejects == 5


def test_rejects_survive_dump_and_load() -> None:
    ledger = Ledger()
    feed(ledger, [("a", 0, 10, 1), ("a", 1, 20, 2)])
    restored = Ledger.load(ledger.dump())
    assert restored.apply(E, M, "a", 1, 1001, 20, 2).verdict is Verdict.DUPLICATE
    assert restored.apply(E, M, "a", 2, 1002, 30, 5).rejects == 3


def test_the_journal_line_carries_the_rejects_counter_for_replay() -> None:
    line = production_line(E, M, 1000, 3, "a", 5, 50, "running", None, None, False, None, 1, 4)
    assert ",rejects=1i,rejects_total=4i" in line
    record = parse_production(line.encode())
    assert record is not None
    assert record.rejects_total == 4
    ledger = Ledger()
    assert ledger.apply(*record).rejects == 4


# --- properties: the rejects counter of each reading is a share of its pairs counter ---------


def with_rejects(readings: list[Reading], divisor: int) -> list[Reading]:
    """The same readings with ``rejects_total`` in place of ``pairs_total``."""
    return [(boot, seq, ts, total // divisor) for boot, seq, ts, total in readings]


def stored_rejects(ledger: Ledger, arrivals: list[Reading], divisor: int) -> int:
    points: dict[tuple[str, int], int] = {}
    for boot, seq, ts, total in arrivals:
        outcome = ledger.apply(E, M, boot, seq, ts, total, total // divisor)
        if outcome.verdict is Verdict.ACCEPTED:
            assert outcome.rejects is not None
            assert outcome.rejects >= 0
            points[(boot, seq)] = outcome.rejects
            fix = outcome.rejects_correction
            if fix is not None:
                assert (boot, fix.seq) in points
                points[(boot, fix.seq)] = fix.pairs
    return sum(points.values())


@settings(max_examples=300)
@given(deliveries(window=8), st.integers(1, 40))
def test_stored_rejects_add_up_to_the_rejects_counters(
    case: tuple[list[Reading], list[Reading]], divisor: int
) -> None:
    """Drops, duplicates and any order within the window: the rejects stored are the counters'
    increase, exactly as for pairs."""
    delivered, arrivals = case
    assert stored_rejects(Ledger(window=8), arrivals, divisor) == observable(
        with_rejects(delivered, divisor)
    )


@settings(max_examples=200)
@given(knitting(), st.integers(0, 2**32), st.integers(0, 60))
def test_a_restored_ledger_continues_the_rejects_exactly(
    case: tuple[list[Reading], int], seed: int, cut: int
) -> None:
    history, _knitted = case
    arrivals = history + history[::3]
    random.Random(seed).shuffle(arrivals)
    ledger = Ledger(window=64)
    for boot, seq, ts, total in arrivals[:cut]:
        ledger.apply(E, M, boot, seq, ts, total, total // 3)
    restored = Ledger.load(ledger.dump())
    tail = arrivals[cut:]
    assert [restored.apply(E, M, b, s, t, p, p // 3) for b, s, t, p in tail] == [
        ledger.apply(E, M, b, s, t, p, p // 3) for b, s, t, p in tail
    ]
