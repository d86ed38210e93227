"""Rollup hours owed: hours the collector wrote late readings into, to be rolled up again.

A continuous query recomputes only its ``RESAMPLE FOR`` window (15 minutes at the raw level),
so a reading written after that window passed reaches ``raw`` but not the rollups. The
pipeline knows the time of every reading it writes: it reports the hours of readings written
more than :data:`LATE_MS` after their time (see :func:`late_hours`), and this ledger of hours
owes each a re-roll ``reroll_after`` after the first late write into it, so that a backlog
being caught up lands first. :class:`~collector.rerolling.Reroller` pays them.

The hours owed are kept in ``late-hours.json`` in the state directory, written atomically
whenever a new hour is owed or hours are paid, so they survive restarts and crashes: the
pipeline records them before it acknowledges the readings.

Why 5 minutes: a reading stamped ``ts`` falls in the 5-minute interval starting at most 5
minutes before ``ts``; the raw-level queries recompute an interval at every 5-minute boundary
until 15 minutes after its start. Written within 5 minutes of ``ts``, a reading is before the
interval's last run; later, it may not be. Hourly and daily levels recompute 2 hours and 2
days back, so they follow the 5-minute level by themselves, except when it is re-rolled here:
every level of an owed hour is rolled up again, in order.
"""

import os
import threading
from collections.abc import Iterable
from pathlib import Path

import orjson

from collector.errors import StateError

LATE_MS = 5 * 60 * 1000
"""A reading written this long after its ``ts`` may miss its continuous query's last run."""
HOUR_MS = 3_600_000
FILE = "late-hours.json"
VERSION = 1


def late_hours(fresh_ms: int, written_ms: int) -> range:
    """Hours (starts, ms) that readings of a batch can fall in that were fresh when accounted
    (the oldest stamped ``fresh_ms``) and are late by the time the batch is written (at
    ``written_ms``): a batch whose write took long (InfluxDB down). Usually none."""
    end = written_ms - LATE_MS
    if fresh_ms >= end:
        return range(0)
    return range(fresh_ms // HOUR_MS * HOUR_MS, end, HOUR_MS)


class LateHours:
    """The hours owed a re-roll (start ms -> when due, ms), persisted in ``directory``.

    Thread-safe: the pipeline's writer records, the re-roller takes and pays.
    """

    def __init__(self, directory: Path, reroll_after_ms: int, *, fsync: bool = True) -> None:
        self.path = directory / FILE
        self.reroll_after_ms = reroll_after_ms
        self.fsync = fsync
        self._due: dict[int, int] = {}
        self._taken: set[int] = set()
        self._again: set[int] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._due)

    def load(self) -> None:
        """Read the hours owed before a restart (none when the file is missing)."""
        try:
            data = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return
        except (OSError, orjson.JSONDecodeError) as exc:
            raise StateError(
                f"cannot read {self.path}: {exc}; move it away (and roll up the last days "
                "with python -m collector.reroll)"
            ) from exc
        try:
            version = data["version"]
            due = {int(hour): int(at) for hour, at in data["due"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StateError(f"{self.path} is not readable: {exc!r}; move it away") from exc
        if version != VERSION:
            raise StateError(f"{self.path} is not version {VERSION}; move it away")
        with self._lock:
            self._due = due

    def record(self, hours: Iterable[int], now_ms: int) -> bool:
        """Owe a re-roll of the hours of ``hours`` (ms in the hour) written late at ``now_ms``.

        Returns whether the file was written (a new hour owed). Raises :class:`StateError`
        when it cannot be.
        """
        with self._lock:
            new = False
            for ms in hours:
                hour = ms // HOUR_MS * HOUR_MS
                if hour in self._taken:
                    self._again.add(hour)  # being rolled up: late data may have missed it
                elif hour not in self._due:
                    self._due[hour] = now_ms + self.reroll_after_ms
                    new = True
            if new:
                self._save()
            return new

    def take(self, now_ms: int, limit: int) -> list[int]:
        """Up to ``limit`` hours due by ``now_ms``, oldest first; pay them with :meth:`paid`."""
        with self._lock:
            due = sorted(h for h, at in self._due.items() if at <= now_ms and h not in self._taken)
            taken = due[:limit]
            self._taken.update(taken)
            return taken

    def paid(self, hours: Iterable[int], now_ms: int) -> None:
        """The hours were rolled up again; those written late meanwhile are owed again."""
        with self._lock:
            for hour in hours:
                self._taken.discard(hour)
                if hour in self._again:
                    self._again.discard(hour)
                    self._due[hour] = now_ms + self.reroll_after_ms
                else:
                    self._due.pop(hour, None)
            self._save()

    def failed(self, hours: Iterable[int]) -> None:
        """Rolling the hours up failed: they stay owed (due now)."""
        with self._lock:
            for hour in hours:
                self._taken.discard(hour)
                self._again.discard(hour)

    def _save(self) -> None:
        data = orjson.dumps(
            {"version": VERSION, "due": {str(h): at for h, at in sorted(self._due.items())}}
        )
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            with tmp.open("wb") as file:
                file.write(data)
                if self.fsync:
                    file.flush()
                    os.fsync(file.fileno())
            tmp.replace(self.path)
            if self.fsync:
                fd = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError as exc:
            raise StateError(f"cannot write {self.path}: {exc}") from exc
