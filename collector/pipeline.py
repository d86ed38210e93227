"""The collector's pipeline: source -> validate -> account -> batch -> journal -> sink -> ack.

Two threads besides the MQTT client's network thread (:mod:`mqtt.client`):

* the **worker** drains deliveries from the source, validates them, accounts accepted readings
  in the ledger, formats line protocol, and hands full batches (by size, or every
  ``flush_interval``) to the writer through a small bounded queue;
* the **writer** appends each batch with accepted readings to the journal (write-ahead), writes
  it to InfluxDB, confirms it in the journal, and only then acknowledges its messages to the
  broker, in arrival order. Every step runs through one :class:`~collector.retry.Retrier` (the
  pipeline owns the retry policy; the writers make one attempt each), which also tells the
  health check since when a step has been failing. The journal comes first so that the
  accounting of everything InfluxDB has is durable even if the broker later loses the messages
  (see :mod:`collector.journal`); batches a crash left unconfirmed are written again at start.

Checkpoints (a snapshot of the ledger, then an empty journal) are taken at start when the
journal holds anything, every ``checkpoint_interval`` seconds, and whenever the journal reaches
``checkpoint_bytes``, so that it stays bounded however often the collector restarts.

Backpressure: when InfluxDB is down the writer keeps retrying, the batch queue fills, the worker
blocks on it and stops draining, acknowledgements stop, and the broker stops sending once the
collector holds ``ReceiveMaximum`` unacknowledged messages; it queues the rest in the persistent
session. Nothing is dropped to make room.
"""

import queue
import threading
import time
from collections import Counter as Tally
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import orjson
import structlog
from structlog.typing import FilteringBoundLogger

from collector.accounting import Ledger, Verdict
from collector.admission import Admission
from collector.errors import CollectorError, WriteAbortedError
from collector.health import INFLUX_STEP, JOURNAL_STEP
from collector.journal import Journal, Unwritten
from collector.late import HOUR_MS, LATE_MS, LateHours, late_hours
from collector.logs import RateLimit
from collector.metrics import CollectorMetrics
from collector.retry import Backoff, Failure, Retrier
from collector.source import Delivery
from collector.validate import Reading, Reason, Rejection, Status, Validator
from contract import REJECTED_TOPIC, CounterReading
from contract.nominal import NominalRate
from influx.errors import InfluxError
from influx.lines import (
    encode_payload,
    gateway_line,
    pairs_correction_line,
    parse_production,
    printable,
    production_line,
    production_time_ns,
    rejected_line,
    rejects_correction_line,
)


class Source(Protocol):
    """What the pipeline needs from the MQTT source."""

    @property
    def connected(self) -> bool: ...

    def drain(self, max_items: int, timeout: float) -> list[Delivery]: ...

    def ack_many(self, deliveries: Sequence[Delivery]) -> int: ...

    def publish(self, topic: str, payload: bytes | str, qos: int = 1) -> Any: ...


class Sink(Protocol):
    """What the pipeline needs from the InfluxDB writer."""

    def write(self, lines: bytes) -> Any: ...


class Observer(Protocol):
    """Something that watches accepted readings and gateway status (alerting).

    Called on the worker thread, so it must be quick. ``on_tick`` runs at least every
    ``tick_interval`` seconds for timers; ``take_lines`` hands over line protocol (events) that
    is written with the current batch.
    """

    def on_reading(self, reading: Reading, pairs: int, now_ms: int) -> None: ...

    def on_status(self, status: Status, now_ms: int) -> None: ...

    def on_tick(self, now_ms: int) -> None: ...

    def take_lines(self) -> list[str]: ...


class Batch:
    """What one write carries, and the messages it acknowledges once durable."""

    __slots__ = (
        "cut",
        "deliveries",
        "journaled",
        "late",
        "lines",
        "newest_ts",
        "oldest_fresh",
        "pairs",
        "readings",
        "tally",
    )

    def __init__(self) -> None:
        self.cut = 0
        """Readings older than this (ms) are late for the rollups (see collector.late)."""
        self.late: set[int] = set()
        """Hours (numbers) of the readings older than ``cut``."""
        self.oldest_fresh = 2**62
        """The oldest ``ts`` of the readings not older than ``cut``."""
        self.lines: list[str] = []
        self.journaled: list[int] = []
        """Numbers of journal batches these lines already are (written again after a crash)."""
        self.deliveries: list[Delivery] = []
        self.tally: Tally[str] = Tally()
        self.readings = 0
        self.pairs = 0
        self.newest_ts = 0

    def __bool__(self) -> bool:
        """Whether there is anything to write or acknowledge."""
        return bool(self.deliveries or self.lines)

    def note_time(self, ts: int) -> None:
        """Note an accepted reading's time (ms) for the rollups (see :mod:`collector.late`)."""
        self.newest_ts = max(self.newest_ts, ts)
        if ts < self.cut:
            self.late.add(ts // HOUR_MS)
        elif ts < self.oldest_fresh:
            self.oldest_fresh = ts


_STOP = None


class Pipeline:
    """Runs the worker and writer threads; ``start`` then ``stop``."""

    def __init__(
        self,
        *,
        source: Source,
        sink: Sink,
        journal: Journal,
        ledger: Ledger,
        validator: Validator,
        metrics: CollectorMetrics,
        batch_size: int = 5000,
        flush_interval: float = 1.0,
        checkpoint_interval: float = 300.0,
        checkpoint_bytes: int = 128 * 2**20,
        observers: Sequence[Observer] = (),
        admission: Admission | None = None,
        notices_per_minute: int = 600,
        clock: Callable[[], int] = time.time_ns,
        log: FilteringBoundLogger | None = None,
        backoff: Backoff | None = None,
        abandon: threading.Event | None = None,
        tick_interval: float = 0.25,
        linger: float = 0.02,
        linger_below: int = 1000,
        late: LateHours | None = None,
        rates: NominalRate | None = None,
    ) -> None:
        self.source = source
        self.rates = rates
        """The nominal pairs per hour of a machine's reading (its style's), when known."""
        self.sink = sink
        self.journal = journal
        self.ledger = ledger
        self.validator = validator
        self.metrics = metrics
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.checkpoint_interval = checkpoint_interval
        self.checkpoint_bytes = checkpoint_bytes
        self.observers = tuple(observers)
        self.clock = clock
        self.log: FilteringBoundLogger = log or structlog.get_logger("collector.pipeline")
        self.tick_interval = tick_interval
        self.linger = linger
        self.linger_below = linger_below
        self.late = late
        self._batches: queue.Queue[Batch | None] = queue.Queue(maxsize=2)
        self._stopping = threading.Event()
        self._abandon = abandon or threading.Event()
        self._retrier = Retrier(
            retry_on=(CollectorError, InfluxError, OSError),
            backoff=backoff,
            abandon=self._abandon,
            on_failure=self._on_write_failure,
        )
        self._step = ""
        self._worker: threading.Thread | None = None
        self._writer: threading.Thread | None = None
        self._reject_log = RateLimit(burst=10, period=60.0)
        self._notices = RateLimit(burst=notices_per_minute, period=60.0)
        self.admission = admission or Admission(
            max_machines=100_000, unregistered=0, tracked=ledger.machines()
        )
        self._last_rejected_ns = 0
        self._pending = 0
        self.last_write_ok_ns = 0
        self.write_started_ns = 0
        """Wall time at which the write of the current batch began (0: the writer is idle)."""
        self.failing_since_ns: dict[str, int] = {}
        """Step (INFLUX_STEP, JOURNAL_STEP) -> wall time its failing attempts began."""
        self.failed: BaseException | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._worker = threading.Thread(target=self._guard(self._work), name="worker", daemon=True)
        self._writer = threading.Thread(target=self._guard(self._write), name="writer", daemon=True)
        unwritten = self.journal.unwritten
        if unwritten.numbers:
            # Before anything new: batches a crash left journaled but not confirmed written.
            self.log.warning(
                "writing journaled batches to InfluxDB again (not confirmed before a stop)",
                batches=len(unwritten.numbers),
                lines=len(unwritten.lines),
            )
            self._batches.put_nowait(self._rewrite(unwritten))
        self._writer.start()
        self._worker.start()

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop draining, write and acknowledge what is buffered; give up after ``timeout`` s.

        Returns whether everything buffered was written. What is not written stays
        unacknowledged, and the broker delivers it again on the next start.
        """
        self._stopping.set()
        deadline = time.monotonic() + timeout
        for thread in (self._worker, self._writer):
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
        if any(t is not None and t.is_alive() for t in (self._worker, self._writer)):
            self._abandon.set()
            for thread in (self._worker, self._writer):
                if thread is not None:
                    thread.join(10)
            return False
        return self.failed is None

    @property
    def abandoning(self) -> threading.Event:
        """Set when shutdown gives up on buffered data; the sink stops retrying."""
        return self._abandon

    @property
    def buffered(self) -> int:
        """Messages handed to the writer and not yet acknowledged."""
        return self._pending

    def _guard(self, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as exc:
                self.failed = exc
                self.log.exception("pipeline thread failed", thread=threading.current_thread().name)
                self._stopping.set()
                self._abandon.set()
                raise

        return run

    # ------------------------------------------------------------------ worker

    def _work(self) -> None:
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
                if not self._hand_off(batch):
                    return
                batch = Batch()
            if stopping and not deliveries:
                self._batches.put(_STOP)
                return
            if checkpoint_due:
                self._checkpoint()
                next_checkpoint = time.monotonic() + self.checkpoint_interval

    def _observe(self, batch: Batch, now: float, next_tick: float) -> float:
        """Run the observers' timers when due and collect their events into ``batch``."""
        if now >= next_tick:
            now_ms = self.clock() // 1_000_000
            for observer in self.observers:
                try:
                    observer.on_tick(now_ms)
                except Exception as exc:  # noqa: BLE001 - an observer\'s bug must not stop ingestion
                    self._observer_failed(observer, "on_tick", exc)
            next_tick = now + self.tick_interval
        for observer in self.observers:
            try:
                events = observer.take_lines()
            except Exception as exc:  # noqa: BLE001 - an observer\'s bug must not stop ingestion
                self._observer_failed(observer, "take_lines", exc)
                continue
            if events:
                batch.lines.extend(events)
        return next_tick

    def _hand_off(self, batch: Batch) -> bool:
        self._pending += len(batch.deliveries)
        while not self._abandon.is_set():
            try:
                self._batches.put(batch, timeout=0.5)
            except queue.Full:
                continue
            return True
        return False

    def _checkpoint(self) -> None:
        """Snapshot the ledger once the writer has journaled everything the ledger holds."""
        waiting = self._batches.all_tasks_done
        with waiting:
            while self._batches.unfinished_tasks and not self._abandon.is_set():
                waiting.wait(0.5)
        if self._abandon.is_set():
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
        tally = batch.tally
        for delivery in deliveries:
            verdict = validate(delivery.topic, delivery.payload, now_ms)
            if isinstance(verdict, Reading):
                account(delivery, verdict, batch, now_ns, now_ms)
            elif isinstance(verdict, Rejection):
                self._reject(delivery, verdict, batch, now_ns)
            elif isinstance(verdict, Status):
                batch.lines.append(
                    gateway_line(verdict.enterprise, verdict.data.online, delivery.received_ns)
                )
                tally["status"] += 1
                for observer in self.observers:
                    try:
                        observer.on_status(verdict, now_ms)
                    except Exception as exc:  # noqa: BLE001 - an observer\'s bug must not stop ingestion
                        self._observer_failed(observer, "on_status", exc)
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
                self._reject(delivery, rejection, batch, now_ns)
                return
        outcome = self.ledger.apply(
            enterprise,
            machine,
            data.boot,
            data.seq,
            data.ts,
            data.pairs_total,
            data.rejects_total,
            data.style,
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
            if outcome.reset:
                batch.tally["reset"] += 1
            if outcome.resets_found:
                batch.tally["counter_reset"] += outcome.resets_found
            for observer in self.observers:
                try:
                    observer.on_reading(reading, outcome.pairs, now_ms)
                except Exception as exc:  # noqa: BLE001 - an observer\'s bug must not stop ingestion
                    self._observer_failed(observer, "on_reading", exc)
        elif status is Verdict.DUPLICATE:
            batch.tally["duplicate"] += 1
        elif status is Verdict.TOO_LATE:
            batch.tally["too_late"] += 1
        else:
            self._reject(delivery, self._implausible(data), batch, now_ns)

    def _implausible(self, data: CounterReading) -> Rejection:
        limit = self.ledger.limit
        rate = f"{limit.max_pairs_per_hour:g}" if limit is not None else "?"
        return Rejection(
            Reason.IMPLAUSIBLE_COUNT,
            f"pairs_total {data.pairs_total} at seq {data.seq} of boot {data.boot} would count "
            f"more pairs than a machine knits at {rate} pairs/h since its previous reading",
        )

    def _observer_failed(self, observer: Observer, call: str, exc: Exception) -> None:
        """Count and log (rate-limited) an observer's exception; ingestion goes on."""
        self.metrics.observer_errors.labels(type(observer).__name__).inc()
        allowed, suppressed = self._reject_log.allow(f"observer:{call}", time.monotonic())
        if allowed:
            self.log.error(
                "observer failed; readings are still written",
                exc_info=exc,
                observer=type(observer).__name__,
                call=call,
                suppressed_since_last=suppressed,
            )

    def _reject(self, delivery: Delivery, rejection: Rejection, batch: Batch, now_ns: int) -> None:
        reason = rejection.reason.value
        batch.tally[f"rejected:{reason}"] += 1
        time_ns = max(delivery.received_ns, self._last_rejected_ns + 1)
        self._last_rejected_ns = time_ns
        batch.lines.append(
            rejected_line(reason, delivery.topic, rejection.detail, delivery.payload, time_ns)
        )
        # The stored line keeps every rejection; the MQTT notices are rate-limited, so that a
        # flood of bad input cannot queue without bound in the outgoing session.
        notice_allowed, _skipped = self._notices.allow("notice", now_ns / 1e9)
        if notice_allowed:
            self._notify(delivery, rejection)
        else:
            batch.tally["notice_skipped"] += 1
        allowed, suppressed = self._reject_log.allow(reason, now_ns / 1e9)
        if allowed:
            self.log.warning(
                "message rejected",
                reason=reason,
                detail=rejection.detail,
                topic=delivery.topic[:200],
                suppressed_since_last=suppressed,
            )

    def _notify(self, delivery: Delivery, rejection: Rejection) -> None:
        """Republish a rejection on ``hosiery/v1/_rejected`` (topic and detail cut short)."""
        text, encoding = encode_payload(delivery.payload)
        notice = orjson.dumps(
            {
                "reason": rejection.reason.value,
                "detail": printable(rejection.detail),
                "topic": printable(delivery.topic),
                "payload": text,
                "payload_encoding": encoding,
                "payload_size": len(delivery.payload),
                "received_ns": delivery.received_ns,
            }
        )
        try:
            self.source.publish(REJECTED_TOPIC, notice, 1)
        except (RuntimeError, ValueError, OSError) as exc:
            self.log.warning("cannot republish a rejected message", error=str(exc))

    # ------------------------------------------------------------------ writer

    def _write(self) -> None:
        while True:
            batch = self._batches.get()
            try:
                if batch is None:
                    return
                if not self._write_batch(batch):
                    return
            finally:
                self._batches.task_done()

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
        self._pending -= len(batch.deliveries)
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
        dropped = int(getattr(result, "dropped_lines", 0) or 0)
        if dropped:
            self.metrics.lines_dropped_by_influx.inc(dropped)
            self.log.error(
                "InfluxDB refused lines of a batch",
                dropped=dropped,
                error=str(getattr(result, "error", "")),
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
        tally = batch.tally
        for key, count in tally.items():
            if key.startswith("rejected:"):
                m.rejected.labels(key[9:]).inc(count)
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
        m.buffer_depth.set(self._pending)
        if batch.newest_ts:
            m.lag.set(max(0.0, self.clock() / 1e9 - batch.newest_ts / 1000))
