"""The collector's pipeline: source -> worker -> batch queue -> writer -> acknowledgement.

A reading's way through the modules: :mod:`collector.source` (MQTT, a
:class:`~collector.source.Delivery`) -> :mod:`collector.worker` (:mod:`collector.validate`,
:mod:`collector.accounting`, :mod:`collector.rejections`, :mod:`collector.observers`) -> a
:class:`~collector.batch.Batch` -> :mod:`collector.writer` (:mod:`collector.journal`, InfluxDB,
:mod:`collector.journal` again) -> acknowledged to the broker. Two threads besides the MQTT
client's network thread (:mod:`mqtt.client`):

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

import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import structlog
from structlog.typing import FilteringBoundLogger

from collector.accounting import Ledger
from collector.admission import Admission
from collector.batch import BatchQueue
from collector.delivery import Delivery
from collector.journal import Journal
from collector.late import LateHours
from collector.metrics import CollectorMetrics
from collector.observers import Observer, Observers
from collector.rejections import Rejections
from collector.retry import Backoff
from collector.validate import Validator
from collector.worker import Worker
from collector.writer import Sink, Writer
from contract.nominal import NominalRate

__all__ = ["Observer", "Pipeline", "Sink", "Source"]


class Source(Protocol):
    """What the pipeline needs from the MQTT source."""

    @property
    def connected(self) -> bool: ...

    def drain(self, max_items: int, timeout: float) -> list[Delivery]: ...

    def ack_many(self, deliveries: Sequence[Delivery]) -> int: ...

    def publish(self, topic: str, payload: bytes | str, qos: int = 1) -> object: ...


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
        self.ledger = ledger
        self.log: FilteringBoundLogger = log or structlog.get_logger("collector.pipeline")
        self._stopping = threading.Event()
        self._abandon = abandon or threading.Event()
        self._batches = BatchQueue(self._abandon)
        self.worker = Worker(
            source=source,
            batches=self._batches,
            journal=journal,
            ledger=ledger,
            validator=validator,
            admission=admission
            or Admission(max_machines=100_000, unregistered=0, tracked=ledger.machines()),
            rejections=Rejections(source, self.log, notices_per_minute),
            observers=Observers(observers, metrics, self.log),
            metrics=metrics,
            log=self.log,
            stopping=self._stopping,
            clock=clock,
            batch_size=batch_size,
            flush_interval=flush_interval,
            checkpoint_interval=checkpoint_interval,
            checkpoint_bytes=checkpoint_bytes,
            tick_interval=tick_interval,
            linger=linger,
            linger_below=linger_below,
            rates=rates,
        )
        self.writer = Writer(
            source=source,
            sink=sink,
            batches=self._batches,
            journal=journal,
            ledger=ledger,
            metrics=metrics,
            log=self.log,
            clock=clock,
            abandon=self._abandon,
            backoff=backoff,
            late=late,
        )
        self._threads: tuple[threading.Thread, ...] = ()
        self.failed: BaseException | None = None

    def start(self) -> None:
        worker = threading.Thread(target=self._guard(self.worker.run), name="worker", daemon=True)
        writer = threading.Thread(target=self._guard(self.writer.run), name="writer", daemon=True)
        self._threads = (worker, writer)
        self.writer.recover()
        writer.start()
        worker.start()

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop draining, write and acknowledge what is buffered; give up after ``timeout`` s.

        Returns whether everything buffered was written. What is not written stays
        unacknowledged, and the broker delivers it again on the next start.
        """
        self._stopping.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self._threads):
            self._abandon.set()
            for thread in self._threads:
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
        return self._batches.pending

    @property
    def last_write_ok_ns(self) -> int:
        """Wall time of the last batch written and acknowledged (0: none yet)."""
        return self.writer.last_write_ok_ns

    @property
    def write_started_ns(self) -> int:
        """Wall time at which the write of the current batch began (0: the writer is idle)."""
        return self.writer.write_started_ns

    @property
    def failing_since_ns(self) -> dict[str, int]:
        """Step (INFLUX_STEP, JOURNAL_STEP) -> wall time its failing attempts began."""
        return self.writer.failing_since_ns

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
