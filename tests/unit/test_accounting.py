"""Pair accounting: tables for each rule, and properties over arbitrary delivery orders."""

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.accounting import HOUR_MS, Correction, Ledger, Outcome, PairsLimit, Verdict

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
            [(Verdict.ACCEPTED, 3), (Verdict.ACCEPTED, 2)],
            id="counter falling within a boot is a reset: the reading counts its whole total",
        ),
        pytest.param(
            [("a", 1, 10), ("a", 2, 20), ("a", 3, 30), ("a", 4, 5), ("a", 5, 15), ("a", 6, 25)],
            [(Verdict.ACCEPTED, p) for p in (10, 10, 10, 5, 10, 10)],
            id="shift-change reset: 10 20 30 then 5 15 25 is 55 pairs",
        ),
        pytest.param(
            [("a", 0, 30), ("a", 1, 0), ("a", 2, 4)],
            [(Verdict.ACCEPTED, 30), (Verdict.ACCEPTED, 0), (Verdict.ACCEPTED, 4)],
            id="reset to zero",
        ),
        pytest.param(
            [("a", 0, 3), ("a", 2, 5), ("a", 1, 6)],
            [(Verdict.ACCEPTED, 3), (Verdict.ACCEPTED, 2), (Verdict.ACCEPTED, 3)],
            id="late reading above its successor reveals a reset after it",
        ),
        pytest.param(
            [("a", 0, 30), ("a", 1, 5), ("a", 1, 5), ("a", 1, 7)],
            [
                (Verdict.ACCEPTED, 30),
                (Verdict.ACCEPTED, 5),
                (Verdict.DUPLICATE, 0),
                (Verdict.DUPLICATE, 0),
            ],
            id="duplicate of a reset reading",
        ),
        pytest.param(
            [("a", 0, 30), ("a", 1, 5), ("a", 2, 12), ("b", 0, 4)],
            [(Verdict.ACCEPTED, p) for p in (30, 5, 7, 4)],
            id="reset inside a boot, then a new boot",
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
    assert [o.counter_reset for o in outcomes] == [False, False]


def test_reset_inside_a_boot_is_marked_and_counted() -> None:
    outcomes = feed(Ledger(), [("a", 0, 30), ("a", 1, 5), ("a", 2, 9), ("a", 3, 2)])
    assert [o.counter_reset for o in outcomes] == [False, True, False, True]
    assert [o.resets_found for o in outcomes] == [0, 1, 0, 1]
    assert not any(o.reset for o in outcomes)


# A late reading (seq 2) lands between two readings already stored (seq 1 with 30, seq 3):
# (its pairs_total, seq 3's pairs_total) -> its outcome, and the correction of seq 3.
@pytest.mark.parametrize(
    ("late", "succ", "late_outcome", "correction"),
    [
        pytest.param(
            35, 40, (5, False, 0), Correction(1003, 3, 5, None), id="no reset: shares the pairs"
        ),
        pytest.param(
            35,
            15,
            (5, False, 0),
            Correction(1003, 3, 15, None),
            id="before a known reset: the reset stays on its successor",
        ),
        pytest.param(
            5,
            15,
            (5, True, 0),
            Correction(1003, 3, 10, False),
            id="after the reset: the reset moves to the late reading",
        ),
        pytest.param(
            5,
            3,
            (5, True, 1),
            Correction(1003, 3, 3, None),
            id="two resets: the late reading shows a second one",
        ),
        pytest.param(
            5,
            40,
            (5, True, 1),
            Correction(1003, 3, 35, None),
            id="a reset only the late reading shows (below both neighbours)",
        ),
        pytest.param(
            50,
            40,
            (20, False, 1),
            Correction(1003, 3, 40, True),
            id="a reset only the late reading shows (above both neighbours)",
        ),
    ],
)
def test_late_reading_across_a_reset(
    late: int,
    succ: int,
    late_outcome: tuple[int, bool, int],
    correction: Correction,
) -> None:
    """Each reading is compared with its own predecessor; the total is the counters' increase."""
    ledger = Ledger()
    first = feed(ledger, [("a", 1, 30), ("a", 3, succ)])
    outcome = feed(ledger, [("a", 2, late)])[0]
    assert (outcome.pairs, outcome.counter_reset, outcome.resets_found) == late_outcome
    assert outcome.correction == correction
    assert first[0].pairs + outcome.pairs + correction.pairs == increase([30, late, succ])
    resets = sum(o.resets_found for o in [*first, outcome])
    assert resets == sum(b < a for a, b in itertools.pairwise([30, late, succ]))


def test_what_the_rule_cannot_tell_apart() -> None:
    """A corrupt low reading counts as a reset (over-counting), and a reset followed by more
    pairs than the counter held before it, before the next reading, is not seen (under-counting).
    """
    corrupt = feed(Ledger(), [("a", 0, 1000), ("a", 1, 0), ("a", 2, 1010)])
    assert sum(o.pairs for o in corrupt) == 2010  # 1010 knitted
    hidden = feed(Ledger(), [("a", 0, 10), ("a", 1, 15)])  # reset after 10, then 15 knitted
    assert sum(o.pairs for o in hidden) == 15  # 25 knitted


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


# --- readings missing (gaps in seq) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("readings", "missing"),
    [
        pytest.param(
            [("a", 5, 1), ("a", 6, 2)], 0, id="a machine's first boot counts from its first reading"
        ),
        pytest.param([("a", 5, 1), ("a", 8, 2)], 2, id="a skip of 3 misses 2"),
        pytest.param([("a", 5, 1), ("a", 8, 2), ("a", 7, 2)], 1, id="a late reading fills one"),
        pytest.param([("a", 5, 1), ("a", 8, 2), ("a", 7, 2), ("a", 6, 1)], 0, id="both filled"),
        pytest.param([("a", 5, 1), ("a", 3, 1)], 1, id="an earlier reading than the first seen"),
        pytest.param([("a", 5, 1), ("b", 2, 1)], 2, id="a new boot counts from seq 0"),
        pytest.param([("a", 5, 1), ("b", 2, 1), ("b", 0, 0)], 1, id="the new boot's seq 0 fills"),
        pytest.param([("a", 5, 1), ("a", 5, 1), ("a", 6, 1)], 0, id="a duplicate is no gap"),
    ],
)
def test_missing_readings(readings: list[tuple[str, int, int]], missing: int) -> None:
    ledger = Ledger()
    feed(ledger, readings)
    assert ledger.missing_readings() == ({E: missing} if missing else {})
    assert ledger.missing_total == missing


def test_missing_readings_per_enterprise_survive_dump_and_load() -> None:
    ledger = Ledger(window=2)
    ledger.apply("E1", M, "a", 0, 0, 1)
    ledger.apply("E1", M, "a", 4, 1, 2)
    ledger.apply("E2", M, "a", 0, 0, 1)
    ledger.apply("E2", M, "a", 2, 1, 2)
    restored = Ledger.load(ledger.dump())
    assert restored.missing_readings() == {"E1": 3, "E2": 1}
    restored.apply("E2", M, "a", 1, 1, 1)
    assert restored.missing_readings() == {"E1": 3}
    assert restored.missing_total == 3


def test_a_gap_older_than_the_window_stays() -> None:
    ledger = Ledger(window=2)
    feed(ledger, [("a", 0, 0), ("a", 2, 2), ("a", 3, 3), ("a", 4, 4)])
    assert ledger.missing_total == 1
    assert feed(ledger, [("a", 1, 1)])[0].verdict is Verdict.TOO_LATE
    assert ledger.missing_total == 1


# --- plausibility bound ----------------------------------------------------------------------

LIMIT = PairsLimit(max_pairs_per_hour=120.0, allowance_hours=1.0, unknown_hours=100.0)


def bounded(**kwargs: int) -> Ledger:
    ledger = Ledger(**kwargs)
    ledger.limit = LIMIT
    return ledger


def test_the_limit_is_rate_times_elapsed_plus_an_allowance() -> None:
    assert LIMIT.most(0) == 120
    assert LIMIT.most(HOUR_MS) == 240
    assert LIMIT.most(-5_000) == 120  # a clock that stepped back: the allowance only
    assert LIMIT.most(None) == 120 * 101


H = HOUR_MS


# (enterprise, machine, boot, seq, ts, pairs_total) readings; the verdict of the last one.
@pytest.mark.parametrize(
    ("readings", "verdict"),
    [
        pytest.param(
            [("a", 0, 0, 10**9)], Verdict.IMPLAUSIBLE, id="first reading of a machine: 10^9"
        ),
        pytest.param(
            [("a", 0, 0, 12_120)], Verdict.ACCEPTED, id="first reading: the unknown-time bound"
        ),
        pytest.param(
            [("a", 0, 0, 12_121)], Verdict.IMPLAUSIBLE, id="first reading: one above the bound"
        ),
        pytest.param(
            [("a", 0, 0, 5), ("b", 0, 60_000, 10**9)],
            Verdict.IMPLAUSIBLE,
            id="new boot a minute after the last reading: 10^9",
        ),
        pytest.param(
            [("a", 0, 0, 5), ("b", 0, 2 * H, 360)],
            Verdict.ACCEPTED,
            id="new boot two hours later: 3 hours at the rate",
        ),
        pytest.param(
            [("a", 0, 0, 5), ("b", 0, 2 * H, 361)],
            Verdict.IMPLAUSIBLE,
            id="new boot two hours later: one above",
        ),
        pytest.param(
            [("a", 0, 5 * H, 5), ("b", 0, 2 * H, 12_120)],
            Verdict.ACCEPTED,
            id="new boot stamped before every known reading: the unknown-time bound",
        ),
        pytest.param(
            [("a", 0, 0, 500), ("a", 1, 60_000, 10**9)],
            Verdict.ACCEPTED,
            id="a rising counter is not bounded",
        ),
        pytest.param(
            [("a", 0, 0, 500), ("a", 1, H, 240)],
            Verdict.ACCEPTED,
            id="reset an hour after the previous reading",
        ),
        pytest.param(
            [("a", 0, 0, 500), ("a", 1, H, 241)],
            Verdict.IMPLAUSIBLE,
            id="reset an hour after: one above",
        ),
        pytest.param(
            [("a", 0, 0, 500), ("a", 2, 2 * H, 600), ("a", 1, H, 1000)],
            Verdict.IMPLAUSIBLE,
            id="late reading that would make its successor count 600 in an hour",
        ),
        pytest.param(
            [("a", 0, 0, 500), ("a", 2, 2 * H, 200), ("a", 1, H, 1000)],
            Verdict.ACCEPTED,
            id="late reading whose successor counts 200 in an hour",
        ),
    ],
)
def test_plausibility_bound(readings: list[tuple[str, int, int, int]], verdict: Verdict) -> None:
    ledger = bounded()
    outcomes = [ledger.apply(E, M, *r) for r in readings]
    assert all(o.verdict is Verdict.ACCEPTED for o in outcomes[:-1])
    assert outcomes[-1].verdict is verdict


def test_an_implausible_reading_changes_nothing() -> None:
    ledger = bounded()
    assert ledger.apply(E, M, "a", 0, 0, 10**9).verdict is Verdict.IMPLAUSIBLE
    assert len(ledger) == 0
    ledger.apply(E, M, "a", 1, 1000, 30)
    before = ledger.dump()
    assert ledger.apply(E, M, "a", 2, 2000, 10**6 // 2).verdict is Verdict.ACCEPTED
    ledger = Ledger.load(before)
    ledger.limit = LIMIT
    assert ledger.apply(E, M, "b", 0, 3000, 10**6).verdict is Verdict.IMPLAUSIBLE
    assert ledger.dump() == before


def test_a_rejected_reset_is_counted_by_a_later_plausible_reading() -> None:
    """Readings are cumulative: the next reading after a rejected one carries its pairs."""
    ledger = bounded()
    first = ledger.apply(E, M, "a", 0, 0, 1000)
    assert ledger.apply(E, M, "a", 1, 60_000, 500).verdict is Verdict.IMPLAUSIBLE
    later = ledger.apply(E, M, "a", 2, 4 * H, 510)
    assert (later.pairs, later.counter_reset) == (510, True)
    assert first.pairs + later.pairs == 1510


@pytest.mark.parametrize(("late", "verdict"), [(240, Verdict.ACCEPTED), (241, Verdict.IMPLAUSIBLE)])
def test_a_reset_after_the_floor_is_bounded_by_the_floors_time(late: int, verdict: Verdict) -> None:
    ledger = bounded(window=1)
    ledger.apply(E, M, "a", 0, 0, 1000)
    ledger.apply(E, M, "a", 2, 2 * H, 1002)  # seq 0 becomes the floor
    restored = Ledger.load(ledger.dump())
    restored.limit = LIMIT
    assert restored.apply(E, M, "a", 1, H, late).verdict is verdict


def test_a_snapshot_without_floor_times_loads() -> None:
    ledger = Ledger(window=1)
    ledger.apply(E, M, "a", 0, 0, 5)
    ledger.apply(E, M, "a", 1, 1, 6)
    data = ledger.dump()
    for _e, _m, boots, _closed in data["machines"]:
        for value in boots.values():
            del value[5:]  # a snapshot of that version ends there
    restored = Ledger.load(data)
    restored.limit = LIMIT
    assert restored.apply(E, M, "a", 0, 0, 5).verdict is Verdict.DUPLICATE
    assert restored.apply(E, M, "a", 2, 2, 7).pairs == 1


# --- properties -------------------------------------------------------------------------------

Reading = tuple[str, int, int, int]  # boot, seq, ts, pairs_total


def increase(totals: list[int]) -> int:
    """The counter's increase over readings in ``seq`` order from 0 at boot, resets included."""
    result, previous = 0, 0
    for total in totals:
        result += total - previous if total >= previous else total
        previous = total
    return result


def observable(readings: list[Reading]) -> int:
    """What the counters of ``readings`` show: the increase per boot, summed."""
    boots: dict[str, list[tuple[int, int]]] = {}
    for boot, seq, _ts, total in set(readings):
        boots.setdefault(boot, []).append((seq, total))
    return sum(increase([t for _s, t in sorted(v)]) for v in boots.values())


def resets_in(readings: list[Reading]) -> int:
    """Falls of the counter between consecutive readings of a boot."""
    boots: dict[str, list[tuple[int, int]]] = {}
    for boot, seq, _ts, total in set(readings):
        boots.setdefault(boot, []).append((seq, total))
    return sum(
        sum(b < a for a, b in itertools.pairwise([t for _s, t in sorted(v)]))
        for v in boots.values()
    )


@st.composite
def knitting(draw: st.DrawFn) -> tuple[list[Reading], int]:
    """A machine's true readings and the pairs it knitted: boots in order, each counter from 0,
    sometimes reset inside the boot (then fewer pairs knitted before the next reading than the
    counter held, so the reset shows)."""
    readings: list[Reading] = []
    knitted = 0
    ts = 0
    for b in range(draw(st.integers(1, 4))):
        total = 0
        for seq in range(draw(st.integers(1, 12))):
            if total and draw(st.integers(0, 4)) == 0:
                pairs = draw(st.integers(0, total - 1))
                total = pairs
            else:
                pairs = draw(st.integers(0, 30))
                total += pairs
            knitted += pairs
            ts += draw(st.integers(1, 10_000))
            readings.append((f"boot{b}", seq, ts, total))
    return readings, knitted


@st.composite
def histories(draw: st.DrawFn) -> list[Reading]:
    return draw(knitting())[0]


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


def stored(
    ledger: Ledger, arrivals: list[Reading]
) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], bool], int]:
    """Stored ``pairs`` and ``counter_reset`` marks per point, and the resets counted."""
    points: dict[tuple[str, int], int] = {}
    marks: dict[tuple[str, int], bool] = {}
    found = 0
    for boot, seq, ts, total in arrivals:
        outcome = ledger.apply(E, M, boot, seq, ts, total)
        assert outcome.verdict in {Verdict.ACCEPTED, Verdict.DUPLICATE, Verdict.TOO_LATE}
        if outcome.verdict is Verdict.ACCEPTED:
            assert outcome.pairs >= 0
            assert outcome.resets_found in {0, 1}
            found += outcome.resets_found
            points[(boot, seq)] = outcome.pairs
            marks[(boot, seq)] = outcome.counter_reset
            correction = outcome.correction
            if correction is not None:
                assert correction.pairs >= 0
                assert (boot, correction.seq) in points
                points[(boot, correction.seq)] = correction.pairs
                if correction.counter_reset is not None:
                    assert marks[(boot, correction.seq)] is not correction.counter_reset
                    marks[(boot, correction.seq)] = correction.counter_reset
    return points, marks, found


@settings(max_examples=400)
@given(deliveries(window=8))
def test_stored_pairs_add_up_to_the_counters(case: tuple[list[Reading], list[Reading]]) -> None:
    delivered, arrivals = case
    points, marks, found = stored(Ledger(window=8), arrivals)
    assert sum(points.values()) == observable(delivered)
    assert sum(marks.values()) == found == resets_in(delivered)


@settings(max_examples=300)
@given(knitting(), st.integers(0, 2**32))
def test_every_pair_knitted_is_stored_whatever_the_order_within_the_window(
    case: tuple[list[Reading], int], seed: int
) -> None:
    """Nothing dropped upstream: resets, duplicates and any order within the window store
    exactly the pairs knitted."""
    history, knitted = case
    arrivals = history + history[::3]
    rng = random.Random(seed)
    shuffled: list[Reading] = []
    for start in range(0, len(arrivals), 4):
        chunk = arrivals[start : start + 4]
        rng.shuffle(chunk)
        shuffled.extend(chunk)
    points, marks, found = stored(Ledger(window=8), shuffled)
    assert sum(points.values()) == knitted
    assert sum(marks.values()) == found == resets_in(history)


@settings(max_examples=300)
@given(deliveries(window=8))
def test_missing_readings_are_the_gaps_between_the_readings_delivered(
    case: tuple[list[Reading], list[Reading]],
) -> None:
    """Whatever the order and duplicates within the window: the first boot to arrive counts
    from its lowest reading delivered, later boots from seq 0."""
    delivered, arrivals = case
    ledger = Ledger(window=8)
    for boot, seq, ts, total in arrivals:
        ledger.apply(E, M, boot, seq, ts, total)
    seqs: dict[str, set[int]] = {}
    for boot, seq, _ts, _total in delivered:
        seqs.setdefault(boot, set()).add(seq)
    first = arrivals[0][0] if arrivals else None
    expected = sum(
        max(s) + 1 - (min(s) if boot == first else 0) - len(s) for boot, s in seqs.items()
    )
    assert ledger.missing_total == expected
    assert ledger.missing_readings() == ({E: expected} if expected else {})


@settings(max_examples=200)
@given(deliveries(window=8))
def test_each_point_holds_the_pairs_since_its_predecessor(
    case: tuple[list[Reading], list[Reading]],
) -> None:
    delivered, arrivals = case
    points, marks, _found = stored(Ledger(window=8), arrivals)
    previous: dict[str, int] = {}
    for boot, seq, _ts, total in sorted(set(delivered), key=lambda r: (r[0], r[1])):
        before = previous.get(boot, 0)
        assert points[(boot, seq)] == (total - before if total >= before else total)
        assert marks[(boot, seq)] is (total < before)
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
@given(knitting(), st.integers(0, 2**32))
def test_any_order_never_counts_more_than_was_knitted(
    case: tuple[list[Reading], int], seed: int
) -> None:
    """Arbitrary reordering (beyond the window too) never over-counts and never goes negative."""
    history, knitted = case
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
    assert all(v >= 0 for v in points.values())
    assert sum(points.values()) <= knitted


def test_a_correction_names_the_style_of_the_reading_it_rewrites() -> None:
    """Style is a tag of the stored point: a correction written without it would be a point of
    another series, counted twice."""
    ledger = Ledger()
    ledger.apply(E, M, "a", 0, 1000, 3, None, "terry")
    ledger.apply(E, M, "a", 2, 1002, 9, None, "plain")
    late = ledger.apply(E, M, "a", 1, 1001, 5, None, "terry")
    assert late.correction == Correction(1002, 2, 4, None, "plain")
    restored = Ledger.load(ledger.dump())
    assert restored.apply(E, M, "a", 4, 1004, 12, None, "plain").pairs == 3
    again = restored.apply(E, M, "a", 3, 1003, 10, None, "plain")
    assert again.correction == Correction(1004, 4, 2, None, "plain")


def test_a_snapshot_without_styles_loads_with_none() -> None:
    ledger = Ledger()
    ledger.apply(E, M, "a", 0, 1000, 3)
    ledger.apply(E, M, "a", 2, 1002, 9)
    data = ledger.dump()
    for _e, _m, boots, _closed in data["machines"]:
        for value in boots.values():
            del value[7:]  # a snapshot of that version ends there
    late = Ledger.load(data).apply(E, M, "a", 1, 1001, 5)
    assert late.correction == Correction(1002, 2, 4, None, None)
