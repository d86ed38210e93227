"""Counter semantics under any fault schedule (hypothesis), and the fault injector."""

import random
from collections import defaultdict

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract import CounterReading, MachineState, StopReason
from simulators.counter import CounterChannel
from simulators.errors import ParameterError
from simulators.faults import FaultCounts, FaultInjector, FaultRates, TickFaults

TOPIC = "hosiery/v1/E0001/M001/counter"

tick_faults = st.builds(
    TickFaults, reboot=st.booleans(), drop=st.booleans(), duplicate=st.booleans(),
    hold=st.booleans(),
)  # fmt: skip
# A tick: pairs knitted since the previous one, and what happens to its reading; None means
# the gateway is away and takes no reading.
ticks = st.lists(st.tuples(st.integers(0, 40), st.one_of(st.none(), tick_faults)), max_size=120)


def run(schedule: list[tuple[int, TickFaults | None]]) -> tuple[list[bytes], int, CounterChannel]:
    """Feed a schedule to a channel; every payload published, the pairs knitted, the channel."""
    channel = CounterChannel(TOPIC, "terry-sport", "run1")
    counts = FaultCounts()
    published: list[bytes] = []
    pairs = 0
    ts = 1_700_000_000_000
    for knitted, faults in schedule:
        pairs += knitted
        ts += 500
        if faults is not None:
            published += channel.report(ts, pairs, MachineState.RUNNING, 240.0, faults, counts)
    pairs += 3
    published += channel.final(ts + 500, pairs, MachineState.IDLE, 0.0)
    return published, pairs, channel


@settings(max_examples=400)
@given(schedule=ticks)
def test_the_last_count_of_every_boot_adds_up_to_the_truth(
    schedule: list[tuple[int, TickFaults | None]],
) -> None:
    published, pairs, channel = run(schedule)
    readings = [CounterReading.model_validate_json(p) for p in published]
    highest: dict[str, int] = defaultdict(int)
    for reading in readings:
        highest[reading.boot] = max(highest[reading.boot], reading.pairs_total)
    assert sum(highest.values()) == pairs
    assert len(highest) == channel.boots
    assert not channel.holding


@settings(max_examples=400)
@given(schedule=ticks)
def test_pairs_total_is_monotone_in_seq_within_a_boot(
    schedule: list[tuple[int, TickFaults | None]],
) -> None:
    published, _, _ = run(schedule)
    by_boot: dict[str, dict[int, int]] = defaultdict(dict)
    for payload in published:
        reading = CounterReading.model_validate_json(payload)
        # A seq names one reading: duplicates carry the same counter.
        assert by_boot[reading.boot].setdefault(reading.seq, reading.pairs_total) == (
            reading.pairs_total
        )
    for readings in by_boot.values():
        totals = [readings[seq] for seq in sorted(readings)]
        assert totals == sorted(totals)


@settings(max_examples=300)
@given(schedule=ticks)
def test_a_new_boot_counts_from_zero_and_seq_restarts(
    schedule: list[tuple[int, TickFaults | None]],
) -> None:
    """Without drops and holds, each boot's first reading counts the pairs since the reboot."""
    cleaned = [(k, None if f is None else f._replace(drop=False, hold=False)) for k, f in schedule]
    published, _, _ = run(cleaned)
    first: dict[str, CounterReading] = {}
    order: list[str] = []
    for payload in published:
        reading = CounterReading.model_validate_json(payload)
        if reading.boot not in first:
            first[reading.boot] = reading
            order.append(reading.boot)
    assert all(first[boot].seq == 0 for boot in order)
    pairs = 0
    expected_first: list[int] = []
    base = 0
    new_boot = True
    for knitted, faults in cleaned:
        pairs += knitted
        if faults is None:
            continue
        if new_boot:
            expected_first.append(pairs - base)
            new_boot = False
        if faults.reboot:
            base = pairs
            new_boot = True
    if new_boot:
        expected_first.append(pairs + 3 - base)
    assert [first[boot].pairs_total for boot in order] == expected_first


def test_duplicates_are_the_same_bytes_twice() -> None:
    channel = CounterChannel(TOPIC, "terry-sport", "run1")
    out = channel.report(1, 5, MachineState.RUNNING, 240.0, TickFaults(duplicate=True))
    assert len(out) == 2
    assert out[0] == out[1]


def test_a_held_reading_follows_the_next_one() -> None:
    channel = CounterChannel(TOPIC, "terry-sport", "run1")
    assert channel.report(1, 5, MachineState.RUNNING, 1.0, TickFaults(hold=True)) == []
    out = channel.report(2, 9, MachineState.RUNNING, 1.0)
    assert [orjson.loads(p)["seq"] for p in out] == [1, 0]


def test_a_dropped_reading_is_carried_by_the_next() -> None:
    channel = CounterChannel(TOPIC, "terry-sport", "run1")
    assert channel.report(1, 5, MachineState.RUNNING, 1.0, TickFaults(drop=True)) == []
    (payload,) = channel.report(2, 9, MachineState.RUNNING, 1.0)
    assert orjson.loads(payload) | {"rpm": 0} == {
        "ts": 2, "seq": 1, "boot": "run1-1", "pairs_total": 9, "rejects_total": 0,
        "state": "running", "style": "terry-sport", "rpm": 0,
    }  # fmt: skip


def test_a_reading_before_a_reboot_is_never_dropped() -> None:
    channel = CounterChannel(TOPIC, "terry-sport", "run1")
    counts = FaultCounts()
    faults = TickFaults(reboot=True, drop=True)
    (payload,) = channel.report(1, 5, MachineState.RUNNING, 1.0, faults, counts)
    assert orjson.loads(payload)["pairs_total"] == 5
    assert channel.boot == "run1-2"
    assert counts.reboots == 1
    assert counts.drops == 0


def test_fault_rates_all_preset_and_validation() -> None:
    rates = FaultRates.all()
    assert rates.enabled
    assert all(0 < value < 1 for value in rates.as_dict().values() if value < 1)
    assert not FaultRates().enabled
    with pytest.raises(ParameterError):
        FaultRates(drop=1.5)
    with pytest.raises(ParameterError):
        FaultRates(gateway_downtime=0.0)


def test_injector_rates_are_the_configured_probabilities() -> None:
    rates = FaultRates(reboot=0.1, drop=0.2, duplicate=0.3, reorder=0.4, malformed=0.5)
    injector = FaultInjector(rates, random.Random(1), random.Random(2))
    draws = [injector.draw() for _ in range(20_000)]
    assert sum(d.reboot for d in draws) / 20_000 == pytest.approx(0.1, abs=0.01)
    assert sum(d.drop for d in draws) / 20_000 == pytest.approx(0.2, abs=0.01)
    assert sum(d.duplicate for d in draws) / 20_000 == pytest.approx(0.3, abs=0.01)
    assert sum(d.hold for d in draws) / 20_000 == pytest.approx(0.4, abs=0.01)
    kinds = [injector.malformed() for _ in range(20_000)]
    assert sum(k is not None for k in kinds) / 20_000 == pytest.approx(0.5, abs=0.01)
    assert injector.time_to_death() is None


def test_gateway_deaths_per_minute() -> None:
    injector = FaultInjector(FaultRates(gateway_death=0.5), random.Random(1), random.Random(2))
    delays = [injector.time_to_death() or 0.0 for _ in range(20_000)]
    within_a_minute = sum(d < 60.0 for d in delays) / len(delays)
    assert within_a_minute == pytest.approx(0.5, abs=0.02)
    again = FaultInjector(FaultRates(gateway_death=0.5), random.Random(9), random.Random(2))
    assert [again.time_to_death() for _ in range(5)] == delays[:5]


def test_a_stopped_reading_carries_its_reason_and_others_omit_it() -> None:
    channel = CounterChannel(TOPIC, "terry-sport", "run1")
    stopped = channel.report(1_000, 5, MachineState.FAULT, 0.0, reason=StopReason.NEEDLE_BREAK)
    running = channel.report(2_000, 9, MachineState.RUNNING, 240.0)
    last = channel.final(3_000, 9, MachineState.IDLE, 0.0, StopReason.YARN_CHANGE)
    readings = [CounterReading.model_validate_json(p) for p in (*stopped, *running, *last)]
    assert [r.reason for r in readings] == [
        StopReason.NEEDLE_BREAK, None, StopReason.YARN_CHANGE
    ]  # fmt: skip
    assert "reason" not in orjson.loads(running[0])
