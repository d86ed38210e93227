"""The collector's pipeline: source -> validate -> account -> batch -> sink -> journal -> ack.

Two threads besides the MQTT client's network thread (:mod:`mqtt.client`):

* the **worker** drains deliveries from the source, validates them, accounts accepted readings
  in the ledger, formats line protocol, and hands full batches (by size, or every
  ``flush_interval``) to the writer through a small bounded queue;
* the **writer** writes each batch to InfluxDB (retrying until it succeeds), appends its accepted
  readings to the journal, and only then acknowledges its messages to the broker, in arrival
  order.

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
from collector.errors import CollectorError, WriteAbortedError
from collector.journal import Journal
from collector.lines import (
    encode_payload,
    gateway_line,
    pairs_correction_line,
    production_line,
    production_time_ns,
    rejected_line,
)
from collector.logs import RateLimit
from collector.metrics import CollectorMetrics
from collector.source import Delivery
from collector.validate import Reading, Reason, Rejection, Status, Validator
from contract import REJECTED_TOPIC


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

    __slots__ = ("deliveries", "lines", "newest_ts", "pairs", "readings", "tally")

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.deliveries: list[Delivery] = []
        self.tally: Tally[str] = Tally()
        self.readings = 0
        self.pairs = 0
        self.newest_ts = 0

    def __bool__(self) -> bool:
        """Whether there is anything to write or acknowledge."""
        return bool(self.deliveries or self.lines)


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
        observers: Sequence[Observer] = (),
        clock: Callable[[], int] = time.time_ns,
        log: FilteringBoundLogger | None = None,
        retry_delay: float = 1.0,
        abandon: threading.Event | None = None,
        tick_interval: float = 0.25,
        linger: float = 0.02,
        linger_below: int = 1000,
    ) -> None:
        self.source = source
        self.sink = sink
        self.journal = journal
        self.ledger = ledger
        self.validator = validator
        self.metrics = metrics
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.checkpoint_interval = checkpoint_interval
        self.observers = tuple(observers)
        self.clock = clock
        self.log: FilteringBoundLogger = log or structlog.get_logger("collector.pipeline")
        self.retry_delay = retry_delay
        self.tick_interval = tick_interval
        self.linger = linger
        self.linger_below = linger_below
        self._batches: queue.Queue[Batch | None] = queue.Queue(maxsize=2)
        self._stopping = threading.Event()
        self._abandon = abandon or threading.Event()
        self._worker: threading.Thread | None = None
        self._writer: threading.Thread | None = None
        self._reject_log = RateLimit(burst=10, period=60.0)
        self._last_rejected_ns = 0
        self._pending = 0
        self.last_write_ok_ns = 0
        self.write_failing_since_ns = 0
        self.failed: BaseException | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._worker = threading.Thread(target=self._guard(self._work), name="worker", daemon=True)
        self._writer = threading.Thread(target=self._guard(self._write), name="writer", daemon=True)
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
        next_checkpoint = time.monotonic() + self.checkpoint_interval
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
            checkpoint_due = now >= next_checkpoint
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

    def _account(
        self, delivery: Delivery, reading: Reading, batch: Batch, now_ns: int, now_ms: int
    ) -> None:
        enterprise, machine, data = reading
        outcome = self.ledger.apply(
            enterprise, machine, data.boot, data.seq, data.ts, data.pairs_total
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
                )
            )
            batch.readings += 1
            batch.pairs += outcome.pairs
            batch.newest_ts = max(batch.newest_ts, data.ts)
            correction = outcome.correction
            if correction is not None:
                batch.lines.append(
                    pairs_correction_line(
                        enterprise,
                        machine,
                        production_time_ns(correction.ts, correction.seq),
                        correction.pairs,
                    )
                )
                batch.tally["correction"] += 1
            if outcome.reset:
                batch.tally["reset"] += 1
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
            conflict = Rejection(
                Reason.COUNTER_CONFLICT,
                f"pairs_total {data.pairs_total} at seq {data.seq} of boot {data.boot} "
                "contradicts the readings around it",
            )
            self._reject(delivery, conflict, batch, now_ns)

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
        text, encoding = encode_payload(delivery.payload)
        notice = orjson.dumps(
            {
                "reason": reason,
                "detail": rejection.detail,
                "topic": delivery.topic,
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
        allowed, suppressed = self._reject_log.allow(reason, now_ns / 1e9)
        if allowed:
            self.log.warning(
                "message rejected",
                reason=reason,
                detail=rejection.detail,
                topic=delivery.topic[:200],
                suppressed_since_last=suppressed,
            )

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

    def _write_batch(self, batch: Batch) -> bool:
        started = time.monotonic()
        body = "\n".join(batch.lines).encode()
        if body and not self._durable(lambda: self._influx(body), "InfluxDB write"):
            return False
        if batch.readings and not self._durable(lambda: self.journal.append(body), "journal"):
            return False
        self.source.ack_many(batch.deliveries)
        self._pending -= len(batch.deliveries)
        self._record(batch, time.monotonic() - started)
        return True

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

    def _durable(self, action: Callable[[], None], what: str) -> bool:
        """Run ``action`` until it succeeds; False if shutdown gave up first."""
        failing_since = 0.0
        while True:
            try:
                action()
            except WriteAbortedError:
                return False
            except CollectorError as exc:
                now = time.monotonic()
                if not failing_since:
                    failing_since = now
                    self.write_failing_since_ns = self.clock()
                self.metrics.batches.labels("retry").inc()
                self.log.warning("durable write failed; retrying", step=what, error=str(exc))
                if self._abandon.wait(self.retry_delay):
                    return False
                continue
            self.write_failing_since_ns = 0
            self.last_write_ok_ns = self.clock()
            return True

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
        m.resets.inc(tally["reset"])
        m.corrections.inc(tally["correction"])
        m.statuses.inc(tally["status"])
        m.ignored.inc(tally["ignored"])
        m.machines.set(len(self.ledger))
        m.buffer_depth.set(self._pending)
        if batch.newest_ts:
            m.lag.set(max(0.0, self.clock() / 1e9 - batch.newest_ts / 1000))
