"""Deadlines by key, for tens of thousands of machines: a heap with lazy deletion.

Every reading moves its machine's silence deadline later. Pushing a heap entry per reading
would cost O(log n) and grow the heap with dead entries; instead :meth:`Timers.schedule` only
records the new deadline in a dict (O(1)) when the key already has an earlier entry in the heap.
When that entry comes due, :meth:`Timers.expired` finds the deadline moved and pushes the key
again at its real deadline (lazy postponement). A deadline moved *earlier* pushes a new entry at
once, and the later one is skipped when it surfaces (lazy deletion), as is a cancelled key.

Costs: ``schedule`` O(1) when postponing, O(log n) otherwise; ``cancel`` O(1); ``expired``
O(log n) per entry popped. The heap is rebuilt when dead entries outnumber live ones, so its
size stays within a constant factor of the number of keys.
"""

import heapq
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class Timers(Generic[K]):
    """Keys with a deadline (integers, e.g. epoch ms). Not thread-safe."""

    __slots__ = ("_due", "_heap", "_queued", "_seq")

    def __init__(self) -> None:
        self._due: dict[K, int] = {}
        """The deadline of every scheduled key."""
        self._queued: dict[K, int] = {}
        """The earliest heap entry of every key that has one."""
        self._heap: list[tuple[int, int, K]] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, key: object) -> bool:
        return key in self._due

    @property
    def heap_size(self) -> int:
        """Entries in the heap, dead ones included (for tests and the benchmark)."""
        return len(self._heap)

    def due(self, key: K) -> int | None:
        return self._due.get(key)

    def schedule(self, key: K, due: int) -> None:
        """Set ``key``'s deadline to ``due`` (earlier or later than before)."""
        self._due[key] = due
        queued = self._queued.get(key)
        if queued is None or due < queued:
            self._push(key, due)

    def cancel(self, key: K) -> None:
        self._due.pop(key, None)

    def expired(self, now: int) -> list[K]:
        """Remove and return the keys whose deadline is ``<= now``, earliest first."""
        heap = self._heap
        queued = self._queued
        due = self._due
        out: list[K] = []
        while heap and heap[0][0] <= now:
            when, _, key = heapq.heappop(heap)
            if queued.get(key) != when:
                continue  # an earlier entry of this key was pushed (or already handled)
            del queued[key]
            actual = due.get(key)
            if actual is None:
                continue  # cancelled
            if actual != when:
                self._push(key, actual)  # postponed since this entry was pushed
                continue
            del due[key]
            out.append(key)
        return out

    def next_due(self) -> int | None:
        """The earliest heap entry (a lower bound of the earliest deadline), or None."""
        return self._heap[0][0] if self._heap else None

    def _push(self, key: K, due: int) -> None:
        self._queued[key] = due
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, key))
        if len(self._heap) > 2 * len(self._queued) + 1024:
            self._rebuild()

    def _rebuild(self) -> None:
        """Drop dead entries: one entry per key, at the time it is queued for."""
        self._heap = [
            (when, seq, key)
            for seq, (key, when) in enumerate(self._queued.items(), start=self._seq + 1)
        ]
        self._seq += len(self._heap)
        heapq.heapify(self._heap)
