"""Stopped time per reason: the ``stopped_ms_total`` counters are accounted by the rules of
``pairs_total`` (resets, duplicates, late readings, new boots), reason by reason."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.accounting import Ledger, Outcome, StoppedCorrection, Verdict
from influx.lines import (
    format_stopped,
    parse_production,
    parse_stopped,
    production_line,
    stopped_correction_line,
)
from tests.unit.test_accounting import Reading, deliveries, knitting, observable

E, M = "E0001", "M001"
YB, NB = "yarn_break", "needle_break"

Stopping = tuple[str, int, dict[str, int] | None]  # boot, seq, stopped_ms_total


def feed(ledger: Ledger, readings: list[Stopping]) -> list[Outcome]:
    return [
        ledger.apply(E, M, boot, seq, 1000 + seq, seq * 10, None, None, down)
        for boot, seq, down in readings
    ]


@pytest.mark.parametrize(
    ("readings", "expected"),
    [
        pytest.param(
            [("a", 0, {}), ("a", 1, {YB: 5000}), ("a", 2, {YB: 9000, NB: 1000})],
            [{}, {YB: 5000}, {YB: 4000, NB: 1000}],
            id="in-order deltas per reason",
        ),
        pytest.param(
            [("a", 7, {YB: 60_000})], [{YB: 60_000}], id="a boot's first reading counts it all"
        ),
        pytest.param(
            [("a", 0, {YB: 10}), ("a", 1, {YB: 30}), ("a", 1, {YB: 30})],
            [{YB: 10}, {YB: 20}, None],
            id="a redelivery counts nothing",
        ),
        pytest.param(
            [("a", 0, {YB: 100}), ("b", 0, {YB: 40})],
            [{YB: 100}, {YB: 40}],
            id="a new boot starts the counters from 0",
        ),
        pytest.param(
            [("a", 0, {YB: 100}), ("a", 3, {YB: 700})],
            [{YB: 100}, {YB: 600}],
            id="readings lost upstream are carried by the next",
        ),
        pytest.param(
            [("a", 0, {YB: 100, NB: 50}), ("a", 1, {YB: 30, NB: 80})],
            [{YB: 100, NB: 50}, {YB: 30, NB: 30}],
            id="a reason whose counter fell was reset: its whole value",
        ),
        pytest.param(
            [("a", 0, {YB: 100}), ("a", 1, None), ("a", 2, {YB: 250})],
            [{YB: 100}, None, {YB: 150}],
            id="a reading without the counters leaves them to the next with them",
        ),
    ],
)
def test_rules(readings: list[Stopping], expected: list[dict[str, int] | None]) -> None:
    outcomes = feed(Ledger(window=8), readings)
    assert [o.stopped_ms for o in outcomes] == expected


def test_a_late_reading_corrects_the_next_reading_with_counters() -> None:
    ledger = Ledger()
    feed(ledger, [("a", 0, {YB: 100}), ("a", 2, None), ("a", 3, {YB: 900, NB: 10})])
    late = feed(ledger, [("a", 1, {YB: 400})])[0]
    assert late.stopped_ms == {YB: 300}
    assert late.stopped_correction == StoppedCorrection(1003, 3, {YB: 500, NB: 10}, None)


def test_a_late_reading_without_counters_corrects_nothing() -> None:
    ledger = Ledger()
    feed(ledger, [("a", 0, {YB: 100}), ("a", 2, {YB: 900})])
    late = feed(ledger, [("a", 1, None)])[0]
    assert (late.stopped_ms, late.stopped_correction) == (None, None)


def test_the_counters_survive_dump_and_load_and_the_window() -> None:
    ledger = Ledger(window=2)
    feed(ledger, [("a", 0, {YB: 100}), ("a", 1, {YB: 200}), ("a", 2, None), ("a", 3, None)])
    restored = Ledger.load(ledger.dump())
    # The counters' newest reading left the window: its values are the floor's.
    assert feed(restored, [("a", 4, {YB: 260})])[0].stopped_ms == {YB: 60}


def test_rejects_and_stopped_time_together() -> None:
    outcome = Ledger().apply(E, M, "a", 0, 1000, 10, 2, None, {YB: 5})
    assert (outcome.pairs, outcome.rejects, outcome.stopped_ms) == (10, 2, {YB: 5})


def test_the_point_carries_the_stopped_time_and_the_journal_its_counters() -> None:
    line = production_line(
        E, M, 1000, 3, "a", 5, 50, "fault", None, None, False, "yarn_break", None, None, None,
        {YB: 1500, NB: 0}, {YB: 4000, NB: 200},
    )  # fmt: skip
    assert ",stopped_ms_yarn_break=1500i," in line
    assert "stopped_ms_needle_break=" not in line  # nothing stopped for it since
    assert ',stopped_ms_total="yarn_break:4000;needle_break:200"' in line
    record = parse_production(line.encode())
    assert record is not None
    assert record.stopped_ms_total == {YB: 4000, NB: 200}
    assert Ledger().apply(*record).stopped_ms == {YB: 4000, NB: 200}
    fix = stopped_correction_line(E, M, 1_000_000_003, {YB: 0, NB: 7})
    assert fix == (
        "production,enterprise=E0001,machine=M001 "
        "stopped_ms_yarn_break=0i,stopped_ms_needle_break=7i 1000000003"
    )
    assert parse_production(fix.encode()) is None


@given(st.dictionaries(st.sampled_from([YB, NB, "other"]), st.integers(0, 2**53)))
def test_the_counters_text_reads_back(totals: dict[str, int]) -> None:
    assert parse_stopped(format_stopped(totals)) == totals


# --- properties: each reason's counter behaves as the pairs counter -------------------------


def stored(ledger: Ledger, arrivals: list[Reading]) -> dict[str, int]:
    """Apply readings whose counters are shares of the pairs counter; sum what is stored."""
    points: dict[tuple[str, int], dict[str, int]] = {}
    for boot, seq, ts, total in arrivals:
        down = {YB: total * 7, NB: total // 3}
        outcome = ledger.apply(E, M, boot, seq, ts, total, None, None, down)
        if outcome.verdict is Verdict.ACCEPTED:
            assert outcome.stopped_ms is not None
            assert min(outcome.stopped_ms.values()) >= 0
            points[(boot, seq)] = outcome.stopped_ms
            fix = outcome.stopped_correction
            if fix is not None:
                assert (boot, fix.seq) in points
                points[(boot, fix.seq)] = fix.stopped_ms
    return {why: sum(p.get(why, 0) for p in points.values()) for why in (YB, NB)}


@settings(max_examples=300)
@given(deliveries(window=8))
def test_stored_stopped_time_adds_up_to_the_counters(
    case: tuple[list[Reading], list[Reading]],
) -> None:
    """Drops, duplicates and any order within the window: the time stored per reason is the
    counters' increase, exactly as for pairs."""
    delivered, arrivals = case
    expected = {
        YB: observable([(b, s, t, p * 7) for b, s, t, p in delivered]),
        NB: observable([(b, s, t, p // 3) for b, s, t, p in delivered]),
    }
    assert stored(Ledger(window=8), arrivals) == expected


@settings(max_examples=100)
@given(knitting(), st.integers(0, 2**32), st.integers(0, 60))
def test_a_restored_ledger_continues_the_counters_exactly(
    case: tuple[list[Reading], int], seed: int, cut: int
) -> None:
    history, _knitted = case
    arrivals = history + history[::3]
    random.Random(seed).shuffle(arrivals)
    ledger = Ledger(window=64)
    for boot, seq, ts, total in arrivals[:cut]:
        ledger.apply(E, M, boot, seq, ts, total, None, None, {YB: total})
    restored = Ledger.load(ledger.dump())
    tail = arrivals[cut:]
    assert [restored.apply(E, M, b, s, t, p, None, None, {YB: p}) for b, s, t, p in tail] == [
        ledger.apply(E, M, b, s, t, p, None, None, {YB: p}) for b, s, t, p in tail
    ]


def test_a_late_reading_that_changes_nothing_corrects_nothing() -> None:
    """No line without fields: a successor whose values stay (none stopped, or the late
    reading carries what came before) is not rewritten."""
    ledger = Ledger()
    feed(ledger, [("a", 0, {}), ("a", 2, {})])
    assert feed(ledger, [("a", 1, {})])[0].stopped_correction is None
    feed(ledger, [("a", 3, {YB: 100}), ("a", 5, {YB: 300})])
    assert feed(ledger, [("a", 4, {YB: 100})])[0].stopped_correction is None
