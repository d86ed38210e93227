"""What measured stop counters (``stopped_ms_total``) cost the collector per reading and machine.

    python -m bench.stopped_counters [--machines 2000] [--readings 200000] [--rounds 3]

Runs the per-reading path that the counters touch (validation, accounting, the reading's line)
over the same readings with and without counters for three reasons, alternating, in one
process, and prints the medians and their ratio; then the ledger's memory per machine with and
without them (``tracemalloc``, ``--window`` readings kept per boot).
"""

import argparse
import statistics
import time
import tracemalloc
from typing import cast

import orjson

from collector.accounting import Ledger
from collector.validate import Reading, Validator
from influx.lines import production_line

NOW_MS = 1_796_600_000_000


def _counters(machine: int, seq: int) -> dict[str, int]:
    """Three reasons' counters of a machine's reading."""
    return {"yarn_break": seq * 1000 + machine, "needle_break": 7000, "yarn_change": 20_000 + seq}


def _payloads(machines: int, readings: int, *, counters: bool) -> list[tuple[str, bytes]]:
    out = []
    for i in range(readings):
        machine, seq = i % machines, i // machines
        body: dict[str, object] = {
            "ts": NOW_MS - 100_000_000 + seq * 10_000, "seq": seq, "boot": "b-1",
            "pairs_total": seq * 5, "rejects_total": seq // 10, "state": "running",
            "style": "terry-sport", "rpm": 200.5,
        }  # fmt: skip
        if counters:
            body["stopped_ms_total"] = {
                "yarn_break": seq * 1000 + machine,
                "needle_break": 7000,
                "yarn_change": 20_000 + seq,
            }
        out.append((f"hosiery/v1/E0001/M{machine:05d}/counter", orjson.dumps(body)))
    return out


def per_reading_us(payloads: list[tuple[str, bytes]]) -> float:
    """Microseconds per reading: validate, account, format its line."""
    validator, ledger = Validator(), Ledger()
    started = time.perf_counter()
    for topic, payload in payloads:
        reading = cast("Reading", validator.validate(topic, payload, NOW_MS))
        data = reading.data
        totals = cast("dict[str, int] | None", data.stopped_ms_total)
        outcome = ledger.apply(
            reading.enterprise, reading.machine, data.boot, data.seq, data.ts, data.pairs_total,
            data.rejects_total, data.style, totals,
        )  # fmt: skip
        production_line(
            reading.enterprise, reading.machine, data.ts, data.seq, data.boot, outcome.pairs,
            data.pairs_total, data.state, data.style, data.rpm, outcome.counter_reset,
            data.reason, outcome.rejects, data.rejects_total, None, outcome.stopped_ms, totals,
        )  # fmt: skip
    return (time.perf_counter() - started) / len(payloads) * 1e6


def ledger_bytes_per_machine(machines: int, readings: int, *, counters: bool) -> float:
    tracemalloc.start()
    ledger = Ledger()
    for i in range(readings):
        machine, seq = i % machines, i // machines
        down = _counters(machine, seq) if counters else None
        ledger.apply(
            "E0001", f"M{machine:05d}", "b-1", seq, NOW_MS + seq * 10_000, seq * 5, seq,
            "terry-sport", down,
        )  # fmt: skip
    size = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return size / machines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stopped_counters")
    parser.add_argument("--machines", type=int, default=2000)
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    plain = _payloads(args.machines, args.readings, counters=False)
    counted = _payloads(args.machines, args.readings, counters=True)
    without, with_ = [], []
    for _ in range(args.rounds):
        without.append(per_reading_us(plain))
        with_.append(per_reading_us(counted))
    a, b = statistics.median(without), statistics.median(with_)
    print(
        f"per reading: {a:.1f} us without counters, {b:.1f} us with ({b / a:.2f}x, +{b - a:.1f} us)"
    )
    m_a = ledger_bytes_per_machine(args.machines, 20 * args.machines, counters=False)
    m_b = ledger_bytes_per_machine(args.machines, 20 * args.machines, counters=True)
    print(f"ledger per machine: {m_a:,.0f} B without, {m_b:,.0f} B with (+{m_b - m_a:,.0f} B)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
