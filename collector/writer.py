"""The writer: makes each batch durable (journal, then InfluxDB, then journal confirmation) and
only then acknowledges its messages to the broker; at start it writes again the batches a crash
left journaled but unconfirmed (see :mod:`collector.journal`)."""

import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from structlog.typing import FilteringBoundLogger

from collector.accounting import Ledger
from collector.batch import Batch, BatchQueue
from collector.delivery import Delivery
from collector.errors import CollectorError, WriteAbortedError
from collector.health import INFLUX_STEP, JOURNAL_STEP
from collector.journal import Journal, Unwritten
from collector.late import HOUR_MS, LATE_MS, LateHours, late_hours
from collector.metrics import CollectorMetrics
from collector.retry import Backoff, Failure, Retrier
from influx.errors import InfluxError
from influx.lines import parse_production
from influx.write import WriteResult


class Sink(Protocol):
    """What the writer needs from the InfluxDB writer (:class:`influx.write.InfluxSink`).

    ``write`` makes one attempt and raises when nothing was written; its result says which
    lines the server refused (``None``: a sink that reports nothing beyond success).
    """

    def write(self, lines: bytes) -> WriteResult | None: ...


class Acknowledge(Protocol):
    """Where the writer acknowledges durably written messages (the MQTT source)."""

    def ack_many(self, deliveries: Sequence[Delivery]) -> int: ...


class Writer:
    """The writer thread's loop (:meth:`run`), taking batches from ``batches`` in order."""

    def __init__(
        self,
        *,
        source: Acknowledge,
        sink: Sink,
        batches: BatchQueue,
        journal: Journal,
        ledger: Ledger,
        metrics: CollectorMetrics,
        log: FilteringBoundLogger,
        clock: Callable[[], int],
        abandon: threading.Event,
        backoff: Backoff | None,
        late: LateHours | None,
    ) -> None:
        self.source = source
        self.sink = sink
        self.batches = batches
        self.journal = journal
        self.ledger = ledger
        self.metrics = metrics
        self.log = log
        self.clock = clock
        self.late = late
        self._retrier = Retrier(
            retry_on=(CollectorError, InfluxError, OSError),
            backoff=backoff,
            abandon=abandon,
            on_failure=self._on_write_failure,
        )
        self._step = ""
        self.last_write_ok_ns = 0
        self.write_started_ns = 0
        """Wall time at which the write of the current batch began (0: the writer is idle)."""
        self.failing_since_ns: dict[str, int] = {}
        """Step (INFLUX_STEP, JOURNAL_STEP) -> wall time its failing attempts began."""

    def recover(self) -> None:
        """Queue, before anything new, the batches a crash left journaled but not confirmed."""
        unwritten = self.journal.unwritten
        if unwritten.numbers:
            self.log.warning(
                "writing journaled batches to InfluxDB again (not confirmed before a stop)",
                batches=len(unwritten.numbers),
                lines=len(unwritten.lines),
            )
            self.batches.put_first(self._rewrite(unwritten))

    def run(self) -> None:
        """Write and acknowledge batches until told to stop (or shutdown gives up)."""
        while True:
            batch = self.batches.get()
            try:
                if batch is None:
                    return
                if not self._write_batch(batch):
                    return
            finally:
                self.batches.done()

    def _rewrite(self, unwritten: Unwritten) -> Batch:
        """The batch that writes journaled, unconfirmed lines again (see collector.journal)."""
        batch = Batch()
        batch.cut = self.clock() // 1_000_000 - LATE_MS
        batch.lines = unwritten.lines
        batch.journaled = unwritten.numbers
        for line in unwritten.lines:
            record = parse_production(line.encode())
            if record is not None:
                batch.note_time(record.ts)
        return batch

    def _write_batch(self, batch: Batch) -> bool:
        started = time.monotonic()
        self.write_started_ns = self.clock()
        try:
            body = "\n".join(batch.lines).encode()
            numbers = list(batch.journaled)
            if batch.readings:
                # Write-ahead: the accounting is durable before InfluxDB can hold the points.
                numbers = []
                if not self._durable(
                    lambda: numbers.append(self.journal.begin(body)), JOURNAL_STEP
                ):
                    return False
            if body and not self._durable(lambda: self._influx(body), INFLUX_STEP):
                return False
            if numbers and not self._durable(lambda: self._confirm(numbers), JOURNAL_STEP):
                return False
            if self.late is not None and (batch.readings or batch.journaled):
                self._owe_late(batch)
        finally:
            self.write_started_ns = 0
        self.source.ack_many(batch.deliveries)
        self.batches.acknowledged(batch)
        self.last_write_ok_ns = self.clock()
        self._record(batch, time.monotonic() - started)
        return True

    def _confirm(self, numbers: list[int]) -> None:
        """Confirm journal batches (an attempt that fails part-way goes on where it stopped)."""
        while numbers:
            self.journal.confirm(numbers[0])
            numbers.pop(0)

    def _owe_late(self, batch: Batch) -> None:
        """Owe a re-roll of the hours this batch wrote late into (before acknowledging it)."""
        assert self.late is not None  # noqa: S101 - the caller checks
        now_ms = self.clock() // 1_000_000
        hours = [hour * HOUR_MS for hour in batch.late]
        hours.extend(late_hours(batch.oldest_fresh, now_ms))
        if not hours:
            return
        problem = None
        try:
            self.late.record(hours, now_ms)
        except CollectorError as exc:
            problem = str(exc)
        if problem is not None:
            self.metrics.reroll_failures.inc()
            self.log.error("late hours not saved; roll them up by hand", error=problem)

    def _influx(self, body: bytes) -> None:
        result = self.sink.write(body)
        if result is not None and result.dropped_lines:
            self.metrics.lines_dropped_by_influx.inc(result.dropped_lines)
            self.log.error(
                "InfluxDB refused lines of a batch",
                dropped=result.dropped_lines,
                error=str(result.error),
            )

    def _durable(self, action: Callable[[], None], step: str) -> bool:
        """Run ``action`` through the retrier until it succeeds; False if shutdown gave up."""
        self._step = step
        try:
            self._retrier.run(action, step)
        except WriteAbortedError:
            return False
        finally:
            self.failing_since_ns.pop(step, None)
        return True

    def _on_write_failure(self, failure: Failure) -> None:
        step = self._step
        if failure.attempt == 1:
            # Failing since the first failed attempt began: a hung server counts from the hang.
            ago_ns = int((time.monotonic() - failure.since) * 1e9)
            self.failing_since_ns[step] = self.clock() - ago_ns
        self.metrics.write_retries.inc()
        if failure.attempt == 1 or failure.attempt % 10 == 0:
            self.log.warning(
                "durable write failed; retrying",
                step=step,
                attempt=failure.attempt,
                delay=round(failure.delay, 2),
                error=str(failure.error),
            )

    def _record(self, batch: Batch, seconds: float) -> None:
        m = self.metrics
        m.batches.labels("written").inc()
        m.write_seconds.observe(seconds)
        m.received.inc(len(batch.deliveries))
        m.readings.inc(batch.readings)
        m.pairs.inc(batch.pairs)
        for reason, count in batch.rejected.items():
            m.rejected.labels(reason.value).inc(count)
        tally = batch.tally
        m.duplicates.inc(tally["duplicate"])
        m.too_late.inc(tally["too_late"])
        m.resets.labels("new_boot").inc(tally["reset"])
        m.resets.labels("in_boot").inc(tally["counter_reset"])
        m.corrections.inc(tally["correction"])
        m.statuses.inc(tally["status"])
        m.ignored.inc(tally["ignored"])
        m.notices_skipped.inc(tally["notice_skipped"])
        m.machines.set(len(self.ledger))
        m.readings_missing.set(self.ledger.missing_total)
        m.buffer_depth.set(self.batches.pending)
        if batch.newest_ts:
            m.lag.set(max(0.0, self.clock() / 1e9 - batch.newest_ts / 1000))
