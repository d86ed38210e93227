"""A write batch (the lines one durable write carries and the messages it acknowledges) and the
bounded queue that hands batches from the worker to the writer."""

import queue
import threading
from collections import Counter

from collector.delivery import Delivery
from collector.late import HOUR_MS
from collector.validate import Reason


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
        "rejected",
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
        self.rejected: Counter[Reason] = Counter()
        """Rejected messages by reason."""
        self.tally: Counter[str] = Counter()
        """Other outcomes by name (duplicate, too_late, status, ...)."""
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


class BatchQueue:
    """Batches on their way from the worker to the writer; at most ``size`` wait (backpressure).

    ``None`` in the queue tells the writer to stop. ``abandon`` set: shutdown gives up waiting.
    """

    def __init__(self, abandon: threading.Event, size: int = 2) -> None:
        self._queue: queue.Queue[Batch | None] = queue.Queue(maxsize=size)
        self._abandon = abandon
        self.pending = 0
        """Messages handed to the writer and not yet acknowledged."""

    def put_first(self, batch: Batch) -> None:
        """Queue ``batch`` before the threads start (the journal's unconfirmed batches)."""
        self._queue.put_nowait(batch)

    def hand_off(self, batch: Batch) -> bool:
        """Queue ``batch``, waiting for room; False if shutdown gave up first."""
        self.pending += len(batch.deliveries)
        while not self._abandon.is_set():
            try:
                self._queue.put(batch, timeout=0.5)
            except queue.Full:
                continue
            return True
        return False

    def close(self) -> None:
        """Tell the writer to stop once it has written what is queued."""
        self._queue.put(None)

    def get(self) -> Batch | None:
        """The next batch for the writer (``None``: stop); call :meth:`done` after it."""
        return self._queue.get()

    def done(self) -> None:
        """The writer is done with the batch it got last (written and acknowledged, or not)."""
        self._queue.task_done()

    def acknowledged(self, batch: Batch) -> None:
        """``batch``'s messages are acknowledged: they are no longer pending."""
        self.pending -= len(batch.deliveries)

    def wait_written(self) -> bool:
        """Wait until the writer is done with every queued batch; False if shutdown gave up."""
        waiting = self._queue.all_tasks_done
        with waiting:
            while self._queue.unfinished_tasks and not self._abandon.is_set():
                waiting.wait(0.5)
        return not self._abandon.is_set()
