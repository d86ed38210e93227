"""The handoff between the MQTT network thread and the pipeline worker.

The network thread appends every received message to an :class:`Intake`; one pipeline worker
takes them out in batches with :meth:`Intake.drain`. The append path is what the network thread
pays per message, so it is a ``deque.append`` and two attribute reads; a lock and an event are
touched only when the worker is asleep waiting for work or the buffer is full.

Bounded, blocking when full
---------------------------
A broker that honours the collector's MQTT ``ReceiveMaximum`` never has more than that many QoS 1
messages unacknowledged, and a message leaves that window only when the pipeline acknowledges
it, so QoS 1 traffic alone cannot fill an intake whose capacity is at least ``ReceiveMaximum``.
Two things can fill it all the same: QoS 0 messages, which ``ReceiveMaximum`` does not limit,
and brokers that overshoot the window. Mosquitto before 2.0.13 does: once acknowledgements flow,
its send quota drifts upwards: with Debian 12's 2.0.11 the collector was seen holding from 2 to
over 40 times ``ReceiveMaximum`` unacknowledged messages, depending on how acknowledgements were
paced (2.0.13 lists "various fixes around inflight quota management"). The intake's capacity
is then what bounds memory.

When it is full, :meth:`Intake.put` blocks the network thread until the worker makes room:
dropping instead would lose messages without a trace, and growing without a limit would turn a
stalled database into an out-of-memory kill. Blocking also stops the MQTT client's network thread
reading the socket, so TCP flow control holds the rest back at the broker. The connection stays
up meanwhile: the client's keep-alive thread goes on sending PINGREQ, and acknowledgements are
written by the pipeline's writer thread directly (see :mod:`mqtt.client`). Should the connection
be lost all the same, unacknowledged QoS 1 messages stay queued in the persistent session and the
source reconnects (the pipeline then sees redelivered duplicates, never a gap).
"""

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Intake(Generic[T]):
    """A bounded FIFO with one producer (the network thread) and one consumer (the worker).

    ``put`` and ``drain`` must each be called from a single thread; ``close`` from any thread.
    """

    def __init__(
        self,
        capacity: int,
        *,
        max_bytes: int | None = None,
        weigh: Callable[[T], int] | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"intake capacity must be at least 1, not {capacity}")
        if (max_bytes is None) != (weigh is None):
            raise ValueError("max_bytes and weigh go together")
        if max_bytes is not None and max_bytes < 1:
            raise ValueError(f"intake max_bytes must be at least 1, not {max_bytes}")
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._weigh = weigh
        # Bytes put and bytes drained, each written by one thread only (no lock needed).
        self._bytes_in = 0
        self._bytes_out = 0
        self._items: deque[T] = deque()
        self._ready = threading.Event()
        self._waiting = False
        self._room = threading.Condition(threading.Lock())
        self._producer_blocked = False
        self._closed = False
        self.blocked_puts = 0
        """How many times ``put`` found the intake full and had to wait (for metrics)."""

    @property
    def bytes(self) -> int:
        """The weight of the items held (0 without ``weigh``)."""
        return self._bytes_in - self._bytes_out

    def _full(self) -> bool:
        items = len(self._items)
        if items >= self.capacity:
            return True
        limit = self.max_bytes
        return limit is not None and items > 0 and self._bytes_in - self._bytes_out >= limit

    def __len__(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def consumer_waiting(self) -> bool:
        """Whether the consumer is asleep in :meth:`drain`, waiting for the first item."""
        return self._waiting

    def put(self, item: T) -> None:
        """Append ``item``; block while the intake is full: ``capacity`` items, or (with
        ``weigh``) ``max_bytes`` of items held before this one (see the module docstring).

        After :meth:`close` it never blocks: items are still appended, so nothing that arrives
        during shutdown is dropped on the floor, but nobody is expected to drain them.
        """
        items = self._items
        weigh = self._weigh
        if weigh is not None:
            self._bytes_in += weigh(item)
            if self._full() and not self._closed:
                self._wait_for_room()
        elif len(items) >= self.capacity and not self._closed:
            self._wait_for_room()
        items.append(item)
        # The worker sets ``_waiting`` before it checks for items, and this runs after the
        # append, so either the worker sees the item or this sees ``_waiting`` and wakes it.
        if self._waiting:
            self._ready.set()

    def _wait_for_room(self) -> None:
        with self._room:
            self.blocked_puts += 1
            self._producer_blocked = True
            try:
                while self._full() and not self._closed:
                    self._room.wait()
            finally:
                self._producer_blocked = False

    def drain(self, max_items: int, timeout: float) -> list[T]:
        """Take up to ``max_items`` items, oldest first.

        Waits up to ``timeout`` seconds for the first item, then returns what is there without
        waiting for more; returns an empty list if nothing arrived in time or the intake is
        closed and empty.
        """
        if max_items < 1:
            raise ValueError(f"max_items must be at least 1, not {max_items}")
        items = self._items
        if not items:
            self._wait_for_items(timeout)
        count = min(max_items, len(items))
        batch = [items.popleft() for _ in range(count)]
        weigh = self._weigh
        if weigh is not None:
            self._bytes_out += sum(map(weigh, batch))
        if count and self._producer_blocked:
            with self._room:
                self._room.notify()
        return batch

    def _wait_for_items(self, timeout: float) -> None:
        items = self._items
        deadline = time.monotonic() + timeout
        try:
            while not items and not self._closed:
                # Clear first, then announce, then look: a ``set`` from a ``put`` that ran
                # before the clear is matched by the item that this check then finds.
                self._ready.clear()
                self._waiting = True
                if items or self._closed:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._ready.wait(remaining)
        finally:
            self._waiting = False

    def close(self) -> None:
        """Wake a blocked ``put`` and a waiting ``drain``; neither blocks afterwards."""
        self._closed = True
        with self._room:
            self._room.notify_all()
        self._ready.set()
