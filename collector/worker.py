"""The worker: drains deliveries from the source, validates them, accounts accepted readings in
the ledger, and hands full batches of line protocol to the writer (:mod:`collector.writer`)."""

import threading
import time
from collections.abc import Callable
from typing import Protocol, cast

from structlog.typing import FilteringBoundLogger

from collector.accounting import Ledger, Verdict
from collector.admission import Admission
from collector.batch import Batch, BatchQueue
from collector.delivery import Delivery
from collector.journal import Journal
from collector.late import HOUR_MS, LATE_MS
from collector.metrics import CollectorMetrics
from collector.observers import Observers
from collector.rejections import Rejections, implausible
from collector.validate import Reading, Reason, Rejection, Status, Validator
from contract.nominal import NominalRate
from influx.lines import (
    gateway_line,
    pairs_correction_line,
    production_line,
    production_time_ns,
    rejects_correction_line,
    stopped_correction_line,
)


class Drain(Protocol):
    """Where the worker takes deliveries from (the MQTT source)."""

    def drain(self, max_items: int, timeout: float) -> list[Delivery]: ...


class Worker:
    """The worker thread's loop (:meth:`run`); batches go to the writer through ``batches``."""

    def __init__(
        self,
        *,
        source: Drain,
        batches: BatchQueue,
        journal: Journal,
        ledger: Ledger,
        validator: Validator,
        admission: Admission,
        rejections: Rejections,
        observers: Observers,
        metrics: CollectorMetrics,
        log: FilteringBoundLogger,
        stopping: threading.Event,
        clock: Callable[[], int],
        batch_size: int,
        flush_interval: float,
        checkpoint_interval: float,
        checkpoint_bytes: int,
        tick_interval: float,
        linger: float,
        linger_below: int,
        rates: NominalRate | None = None,
    ) -> None:
        self.source = source
        self.rates = rates
        """The nominal pairs per hour of a machine's reading (its style's), when known."""
        self.batches = batches
        self.journal = journal
        self.ledger = ledger
        self.validator = validator
        self.admission = admission
        self.rejections = rejections
        self.observers = observers
        self.metrics = metrics
        self.log = log
        self.clock = clock
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.checkpoint_interval = checkpoint_interval
        self.checkpoint_bytes = checkpoint_bytes
        self.tick_interval = tick_interval
        self.linger = linger
        self.linger_below = linger_below
        self._stopping = stopping
        self._on_reading = observers.on_reading if observers else None

    def run(self) -> None:
        """Drain, process and hand off until stopping and drained (or shutdown gives up)."""
        batch = Batch()
        flush_at = 0.0
        # A journal left by an earlier run is folded into a snapshot at once (after the writer
        # has written its unconfirmed batches), so that restarts cannot grow it without bound.
        first_checkpoint = 0.0 if self.journal.size else self.checkpoint_interval
        next_checkpoint = time.monotonic() + first_checkpoint
        next_tick = 0.0
        while True:
            stopping = self._stopping.is_set()
            if batch:
                timeout = max(0.0, flush_at - time.monotonic())
            else:
                timeout = 0.0 if stopping else min(self.flush_interval, self.tick_interval)
            room = self.batch_size - len(batch.deliveries)
            deliveries = self.source.drain(room, timeout)
            if deliveries:
                if not batch:
                    flush_at = time.monotonic() + self.flush_interval
                self._process(deliveries, batch)
                if len(deliveries) < self.linger_below and not stopping:
                    # Let messages gather instead of waking per message: every wake-up costs
                    # the MQTT network thread a hand-over of the interpreter lock.
                    self._stopping.wait(self.linger)
            now = time.monotonic()
            if self.observers:
                if not batch:
                    flush_at = now + self.flush_interval
                next_tick = self._observe(batch, now, next_tick)
            # A snapshot must hold only what is journaled, so the open batch (whose readings
            # the ledger already holds) goes to the writer before a checkpoint.
            checkpoint_due = now >= next_checkpoint or self.journal.size >= self.checkpoint_bytes
            if batch and (
                len(batch.deliveries) >= self.batch_size
                or now >= flush_at
                or stopping
                or checkpoint_due
            ):
                if not self.batches.hand_off(batch):
                    return
                batch = Batch()
            if stopping and not deliveries:
                self.batches.close()
                return
            if checkpoint_due:
                self._checkpoint()
                next_checkpoint = time.monotonic() + self.checkpoint_interval

    def _observe(self, batch: Batch, now: float, next_tick: float) -> float:
        """Run the observers' timers when due and collect their events into ``batch``."""
        if now >= next_tick:
            self.observers.on_tick(self.clock() // 1_000_000)
            next_tick = now + self.tick_interval
        batch.lines.extend(self.observers.take_lines())
        return next_tick

    def _checkpoint(self) -> None:
        """Snapshot the ledger once the writer has journaled everything the ledger holds."""
        if not self.batches.wait_written():
            return
        started = time.monotonic()
        self.journal.checkpoint(self.ledger)
        self.metrics.checkpoints.inc()
        self.log.info(
            "state checkpoint written",
            machines=len(self.ledger),
            seconds=round(time.monotonic() - started, 3),
        )

    def _process(self, deliveries: list[Delivery], batch: Batch) -> None:
        now_ns = self.clock()
        now_ms = now_ns // 1_000_000
        if not batch.cut:
            batch.cut = now_ms - LATE_MS
        validate = self.validator.validate
        account = self._account
        reject = self.rejections.reject
        tally = batch.tally
        for delivery in deliveries:
            verdict = validate(delivery.topic, delivery.payload, now_ms)
            if isinstance(verdict, Reading):
                account(delivery, verdict, batch, now_ns, now_ms)
            elif isinstance(verdict, Rejection):
                reject(delivery, verdict, batch, now_ns)
            elif isinstance(verdict, Status):
                batch.lines.append(
                    gateway_line(verdict.enterprise, verdict.data.online, delivery.received_ns)
                )
                tally["status"] += 1
                self.observers.on_status(verdict, now_ms)
            else:
                tally["ignored"] += 1
        batch.deliveries.extend(deliveries)

    def _account(  # noqa: PLR0912 - the per-reading path stays in one function: a call per reading costs
        self, delivery: Delivery, reading: Reading, batch: Batch, now_ns: int, now_ms: int
    ) -> None:
        enterprise, machine, data = reading
        if (enterprise, machine) not in self.ledger:
            refused = self.admission.admit(enterprise, machine)
            if refused is not None:
                rejection = Rejection(Reason.TOO_MANY_MACHINES, refused)
                self.rejections.reject(delivery, rejection, batch, now_ns)
                return
        # (StopReason keys are str: no copy on the per-reading path; a snapshot converts them)
        totals = cast("dict[str, int] | None", data.stopped_ms_total)
        outcome = self.ledger.apply(
            enterprise,
            machine,
            data.boot,
            data.seq,
            data.ts,
            data.pairs_total,
            data.rejects_total,
            data.style,
            totals,
        )
        status = outcome.verdict
        if status is Verdict.ACCEPTED:
            batch.lines.append(
                production_line(
                    enterprise,
                    machine,
                    data.ts,
                    data.seq,
                    data.boot,
                    outcome.pairs,
                    data.pairs_total,
                    data.state,
                    data.style,
                    data.rpm,
                    outcome.counter_reset,
                    data.reason,
                    outcome.rejects,
                    data.rejects_total,
                    None if self.rates is None else self.rates(enterprise, machine, data.style),
                    outcome.stopped_ms,
                    totals,
                )
            )
            batch.readings += 1
            batch.pairs += outcome.pairs
            # Batch.note_time, inlined on the per-reading path.
            batch.newest_ts = max(batch.newest_ts, data.ts)
            if data.ts < batch.cut:
                batch.late.add(data.ts // HOUR_MS)
            elif data.ts < batch.oldest_fresh:
                batch.oldest_fresh = data.ts
            correction = outcome.correction
            if correction is not None:
                batch.lines.append(
                    pairs_correction_line(
                        enterprise,
                        machine,
                        production_time_ns(correction.ts, correction.seq),
                        correction.pairs,
                        correction.counter_reset,
                        correction.style,
                    )
                )
                batch.tally["correction"] += 1
            fix = outcome.rejects_correction
            if fix is not None:
                at = production_time_ns(fix.ts, fix.seq)
                batch.lines.append(
                    rejects_correction_line(enterprise, machine, at, fix.pairs, fix.style)
                )
            down = outcome.stopped_correction
            if down is not None:
                at = production_time_ns(down.ts, down.seq)
                batch.lines.append(
                    stopped_correction_line(enterprise, machine, at, down.stopped_ms, down.style)
                )
            if outcome.reset:
                batch.tally["reset"] += 1
            if outcome.resets_found:
                batch.tally["counter_reset"] += outcome.resets_found
            on_reading = self._on_reading
            if on_reading is not None:
                on_reading(reading, outcome.pairs, now_ms)
        elif status is Verdict.DUPLICATE:
            batch.tally["duplicate"] += 1
        elif status is Verdict.TOO_LATE:
            batch.tally["too_late"] += 1
        else:
            self.rejections.reject(delivery, implausible(data, self.ledger.limit), batch, now_ns)
