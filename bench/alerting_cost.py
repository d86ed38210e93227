"""The cost of alert tracking per reading, at the park's 40,000 machines.

``python -m bench.alerting_cost [--machines N] [--seconds S] [--runs R]``, from the repository
root.

A park of 1,220 enterprises (371 of 10 machines, the rest sharing the remaining machines) whose
machines report every 10 s, in time order, for ``--seconds`` of machine time after a warm-up
that creates every machine. Behaviour is mixed so that every path runs: most machines run and
knit now and then, some sit idle, some report faults, some are in maintenance or off, and a few
go silent (offline timers expire), with thresholds short enough (idle 60 s, fault 30 s) for
alerts to fire and resolve during the run. The tracker is ticked every 250 ms, as the pipeline does.

Measured: the tracker's ``reading`` plus ``tick`` and ``take`` (the amortised timer work),
divided by the readings: µs per reading, median of ``--runs`` runs.

Ceiling, measured in the same run on the same readings: the collector's own per-reading work
before alerting sees a reading (``Validator.validate`` of the JSON payload and
``Ledger.apply``). The ratio says how much alerting adds to it.
"""

import argparse
import random
import statistics
import time
from collections.abc import Sequence
from typing import NamedTuple

import orjson

from collector.accounting import Ledger
from collector.alerting.tracker import Tracker, TrackerConfig
from collector.validate import Validator
from contract import MachineState, counter_topic

INTERVAL_MS = 10_000
TICK_MS = 250
T0 = int(time.time() * 1000) - 3_600_000


class Row(NamedTuple):
    enterprise: str
    machine: str
    ts: int
    seq: int
    state: MachineState
    pairs: int
    total: int
    now: int


def park(machines: int) -> list[tuple[str, str]]:
    """(enterprise, machine) for a park of ``machines``: 371 enterprises of 10, the rest shared
    by 849 more (at full size, 1,220 enterprises)."""
    college = min(371, machines // 20)
    others = max(1, round(849 * machines / 40_000))
    ids = [(f"E{e:04d}", f"M{m:03d}") for e in range(college) for m in range(10)]
    rest = machines - len(ids)
    for e in range(others):
        share = rest // others + (1 if e < rest % others else 0)
        ids += [(f"E{college + e:04d}", f"M{m:03d}") for m in range(share)]
    return ids


BEHAVIOURS = (
    (0.70, "running"),
    (0.10, "idle"),
    (0.06, "fault"),
    (0.05, "maintenance"),
    (0.05, "off"),
    (0.02, "silent"),
    (0.02, "flapping"),
)


def readings(ids: Sequence[tuple[str, str]], seconds: int, seed: int = 1) -> list[Row]:
    """Every machine's readings for ``seconds`` of machine time, in time order."""
    rng = random.Random(seed)
    kinds = [k for _p, k in BEHAVIOURS]
    weights = [p for p, _k in BEHAVIOURS]
    plan = []
    for enterprise, machine in ids:
        kind = rng.choices(kinds, weights)[0]
        plan.append((enterprise, machine, kind, rng.randrange(INTERVAL_MS)))
    rows = []
    totals = [0] * len(plan)
    for step in range(seconds * 1000 // INTERVAL_MS):
        for i, (enterprise, machine, kind, phase) in enumerate(plan):
            ts = T0 + step * INTERVAL_MS + phase
            if kind == "silent" and step > seconds * 1000 // INTERVAL_MS // 3:
                continue
            if kind == "running":  # a pair every 30 s (a fast style, sped up x4)
                state, pairs = MachineState.RUNNING, int((step + phase) % 3 == 0)
            elif kind == "flapping":
                state = MachineState.RUNNING if (step // 4) % 2 else MachineState.FAULT
                pairs = int(state is MachineState.RUNNING and rng.random() < 0.5)
            elif kind == "silent":
                state, pairs = MachineState.RUNNING, 1
            else:
                state, pairs = MachineState(kind), 0
            totals[i] += pairs
            rows.append(Row(enterprise, machine, ts, step + 1, state, pairs, totals[i], ts + 30))
    rows.sort(key=lambda r: r.now)
    return rows


def run_tracker(rows: Sequence[Row], warm: Sequence[Row]) -> tuple[float, int, Tracker]:
    """Seconds for the readings after ``warm``, and the notifications they produced."""
    tracker = Tracker(
        TrackerConfig(idle_after_ms=60_000, fault_after_ms=30_000),
        now_ms=warm[0].now if warm else rows[0].now,
    )
    reading = tracker.reading
    next_tick = 0
    for r in warm:
        reading(r.enterprise, r.machine, r.ts, r.seq, "b1", r.state, r.pairs, r.total, None, r.now)
        if r.now >= next_tick:
            tracker.tick(r.now)
            tracker.take()
            next_tick = r.now + TICK_MS
    events = 0
    started = time.perf_counter()
    for r in rows:
        reading(r.enterprise, r.machine, r.ts, r.seq, "b1", r.state, r.pairs, r.total, None, r.now)
        if r.now >= next_tick:
            tracker.tick(r.now)
            events += len(tracker.take())
            next_tick = r.now + TICK_MS
    elapsed = time.perf_counter() - started
    return elapsed, events, tracker


def run_ceiling(rows: Sequence[Row], sample: int) -> float:
    """Seconds per reading of validation and accounting of the same readings."""
    chosen = rows[:sample]
    payloads = [
        (
            counter_topic(r.enterprise, r.machine),
            orjson.dumps(
                {"ts": r.ts, "seq": r.seq, "boot": "b1", "pairs_total": r.total,
                 "state": r.state.value}
            ),
        )
        for r in chosen
    ]  # fmt: skip
    validator = Validator()
    ledger = Ledger()
    validate = validator.validate
    apply = ledger.apply
    now = chosen[-1].now
    started = time.perf_counter()
    for topic, payload in payloads:
        enterprise, machine, data = validate(topic, payload, now)  # type: ignore[misc]
        apply(enterprise, machine, data.boot, data.seq, data.ts, data.pairs_total)
    return (time.perf_counter() - started) / len(payloads)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.alerting_cost")
    parser.add_argument("--machines", type=int, default=40_000)
    parser.add_argument("--seconds", type=int, default=120, help="machine time measured")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    ids = park(args.machines)
    enterprises = len({e for e, _m in ids})
    print(f"park: {len(ids):,} machines in {enterprises:,} enterprises, a reading every 10 s")
    everything = readings(ids, 20 + args.seconds)
    cut = next(i for i, r in enumerate(everything) if r.now >= T0 + 20_000 + INTERVAL_MS)
    warm, rows = everything[:cut], everything[cut:]
    print(f"readings measured per run: {len(rows):,} ({args.seconds} s of machine time)")
    costs, ceilings = [], []
    events = 0
    tracker: Tracker | None = None
    for _ in range(args.runs):
        elapsed, events, tracker = run_tracker(rows, warm)
        costs.append(elapsed / len(rows) * 1e6)
        ceilings.append(run_ceiling(rows, min(len(rows), 200_000)) * 1e6)
    assert tracker is not None
    cost = statistics.median(costs)
    ceiling = statistics.median(ceilings)
    print(f"notifications per run: {events:,}; firing at the end: {tracker.firing_counts()}")
    heap = tracker.timer_heap_size
    print(f"timer heap entries at the end: {heap:,} for {len(tracker):,} machines")
    print(f"alert tracking: {cost:.2f} µs/reading (median of {args.runs}; runs: "
          f"{', '.join(f'{c:.2f}' for c in costs)})")  # fmt: skip
    print(f"validation + accounting of the same readings: {ceiling:.2f} µs/reading (median)")
    print(f"ratio alert tracking / validation + accounting: {cost / ceiling:.2f}")
    print(f"at 4,000 readings/s (40,000 machines every 10 s): {cost * 4000 / 1e4:.2f} % of a core")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
