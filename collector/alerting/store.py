"""The alerting state on disk: a log of notifications, a snapshot and the delivery marks.

``docs/architecture.md`` (The alert state on disk) gives the files and the recovery.
"""

import contextlib
import hashlib
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

import orjson

from collector.alerting.model import Alert, AlertKey
from collector.alerting.tracked import MachineRecord
from collector.errors import StateError
from contract.files import write_atomic

SNAPSHOT = "alerts.json"
LOG = "alerts.log"
WATERMARKS = "alerts-webhooks.json"
VERSION = 1


class Notification(NamedTuple):
    """An alert notification with its place in the store's order."""

    seq: int
    alert: Alert


@dataclass(slots=True)
class Recovered:
    """What :meth:`AlertStore.open` found."""

    firing: list[Alert] = field(default_factory=list)
    machines: list[MachineRecord] = field(default_factory=list)
    tail: list[Notification] = field(default_factory=list)
    """Notifications logged after the last snapshot: re-publish them."""
    skipped: int = 0
    """Log lines that could not be read."""


def url_key(url: str) -> str:
    """How a webhook is named on disk (its URL may hold a secret)."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


class AlertStore:
    """Owns ``alerts.*`` in ``directory``. ``open``, ``append``..., ``compact``, ``close``.

    ``append`` and ``compact`` run on the pipeline's worker thread; ``mark_done`` on webhook
    threads (it takes a lock).
    """

    def __init__(
        self,
        directory: Path,
        *,
        fsync: bool = True,
        outbox_limit: int = 10_000,
        clock: Any = time.monotonic,
    ) -> None:
        self.directory = directory
        self.fsync = fsync
        self._log: IO[bytes] | None = None
        self._seq = 0
        self._logged = 0
        self._recent: deque[Notification] = deque(maxlen=outbox_limit)
        self._marks: dict[str, int] = {}
        self._marks_lock = threading.Lock()
        self._marks_saved = 0.0
        self._marks_dirty = False
        self._clock = clock

    @property
    def seq(self) -> int:
        """The sequence number of the last notification."""
        return self._seq

    @property
    def logged(self) -> int:
        """Notifications appended since the last snapshot."""
        return self._logged

    # ------------------------------------------------------------------ open

    def open(self) -> Recovered:
        """Read the snapshot and the log; raises :class:`StateError` if the snapshot is bad."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot use state directory {self.directory}: {exc}") from exc
        recovered = Recovered()
        firing: dict[AlertKey, Alert] = {}
        self._load_snapshot(recovered, firing)
        self._replay(recovered, firing)
        recovered.firing = list(firing.values())
        self._load_marks()
        path = self.directory / LOG
        try:
            self._log = path.open("ab")
        except OSError as exc:
            raise StateError(f"cannot open {path}: {exc}") from exc
        return recovered

    def _load_snapshot(self, recovered: Recovered, firing: dict[AlertKey, Alert]) -> None:
        path = self.directory / SNAPSHOT
        try:
            data = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            return
        except (OSError, orjson.JSONDecodeError) as exc:
            raise StateError(
                f"cannot read alert snapshot {path}: {exc}; move it away to start with no "
                "firing alerts"
            ) from exc
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise StateError(
                f"alert snapshot {path} is not version {VERSION}; move it away to start with "
                "no firing alerts"
            )
        try:
            self._seq = int(data["seq"])
            for item in data["firing"]:
                alert = Alert.from_dict(item)
                firing[alert.key] = alert
            for seq, item in data["outbox"]:
                self._recent.append(Notification(int(seq), Alert.from_dict(item)))
            recovered.machines = [
                MachineRecord(str(e), str(m), int(arrival), float(interval), state, style)
                for e, m, arrival, interval, state, style in data["machines"]
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(
                f"alert snapshot {path} is not readable: {exc!r}; move it away to start with "
                "no firing alerts"
            ) from exc

    def _replay(self, recovered: Recovered, firing: dict[AlertKey, Alert]) -> None:
        path = self.directory / LOG
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StateError(f"cannot read {path}: {exc}") from exc
        good = 0
        lines = raw.split(b"\n")
        for i, line in enumerate(lines):
            last = i == len(lines) - 1
            if last:
                break  # after the final newline: empty, or a torn write
            good += len(line) + 1
            if not line:
                continue
            try:
                record = orjson.loads(line)
                notification = Notification(int(record["seq"]), Alert.from_dict(record["alert"]))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                recovered.skipped += 1
                continue
            if notification.seq <= self._seq:
                continue  # already in the snapshot (a crash between snapshot and truncation)
            self._seq = notification.seq
            alert = notification.alert
            if alert.firing:
                firing[alert.key] = alert
            elif firing.get(alert.key) is not None and firing[alert.key].id == alert.id:
                del firing[alert.key]
            recovered.tail.append(notification)
            self._recent.append(notification)
            self._logged += 1
        if good < len(raw):
            with path.open("r+b") as file:
                file.truncate(good)

    # ------------------------------------------------------------------ write

    def append(self, alerts: Sequence[Alert]) -> list[Notification]:
        """Number ``alerts``, log them and make them durable; return them numbered."""
        if self._log is None:
            raise StateError("alert store is not open")
        out = []
        chunks = []
        for alert in alerts:
            self._seq += 1
            notification = Notification(self._seq, alert)
            out.append(notification)
            chunks.append(orjson.dumps({"seq": self._seq, "alert": alert.to_dict()}))
        chunks.append(b"")
        try:
            self._log.write(b"\n".join(chunks))
            self._log.flush()
            if self.fsync:
                os.fsync(self._log.fileno())
        except OSError as exc:
            raise StateError(f"cannot append to {self.directory / LOG}: {exc}") from exc
        self._recent.extend(out)
        self._logged += len(out)
        return out

    def compact(
        self,
        firing: Iterable[Alert],
        machines: Iterable[MachineRecord],
        webhooks: Sequence[str] = (),
    ) -> None:
        """Write the snapshot atomically, then empty the log.

        The outbox keeps the notifications that one of ``webhooks`` has not confirmed.
        """
        if self._log is None:
            raise StateError("alert store is not open")
        with self._marks_lock:
            floor = min((self._marks.get(url_key(u), self._seq) for u in webhooks), default=None)
        outbox = [] if floor is None else [n for n in self._recent if n.seq > floor]
        data = {
            "version": VERSION,
            "seq": self._seq,
            "firing": [a.to_dict() for a in firing],
            "outbox": [[n.seq, n.alert.to_dict()] for n in outbox],
            "machines": [list(r) for r in machines],
        }
        path = self.directory / SNAPSHOT
        try:
            write_atomic(path, orjson.dumps(data), fsync=self.fsync)
            self._log.truncate(0)
            self._log.seek(0)
        except OSError as exc:
            raise StateError(f"cannot write alert snapshot {path}: {exc}") from exc
        self._recent = deque(outbox, maxlen=self._recent.maxlen)
        self._logged = 0
        self.save_marks()

    def close(self) -> None:
        self.save_marks()
        if self._log is not None:
            self._log.close()
            self._log = None

    # ------------------------------------------------------------------ webhook marks

    def _load_marks(self) -> None:
        path = self.directory / WATERMARKS
        try:
            data = orjson.loads(path.read_bytes())
            marks = {str(k): int(v) for k, v in data.items()}
        except FileNotFoundError:
            return
        except (OSError, orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
            return  # lost marks only mean notifications delivered again (same ids)
        with self._marks_lock:
            self._marks = marks

    def mark(self, name: str) -> int | None:
        """How far ``name`` (a webhook URL, or ``mqtt``) confirmed; None if never recorded."""
        with self._marks_lock:
            return self._marks.get(url_key(name))

    def pending(self, url: str) -> list[Notification]:
        """The notifications ``url`` has not confirmed; a new URL starts from now."""
        key = url_key(url)
        with self._marks_lock:
            mark = self._marks.get(key)
            if mark is None:
                mark = self._marks[key] = self._seq
                self._marks_dirty = True
        self.save_marks()
        return [n for n in self._recent if n.seq > mark]

    def mark_done(self, name: str, seq: int) -> None:
        """``name`` is done with every notification up to ``seq`` (delivered or given up).

        Saved at once when the last save is a second old, else by :meth:`save_marks_if_due`
        (the observer's ticks), :meth:`save_marks` (a webhook thread whose queue ran empty) or
        on close.
        """
        now = self._clock()
        with self._marks_lock:
            key = url_key(name)
            if seq <= self._marks.get(key, 0):
                return
            self._marks[key] = seq
            self._marks_dirty = True
            if now - self._marks_saved < 1.0:
                return
        self.save_marks()

    def save_marks_if_due(self) -> None:
        """Save marks changed more than a second after the last save (called on ticks)."""
        with self._marks_lock:
            if not self._marks_dirty or self._clock() - self._marks_saved < 1.0:
                return
        self.save_marks()

    def save_marks(self) -> None:
        with self._marks_lock:
            if not self._marks_dirty:
                return
            data = orjson.dumps(self._marks)
            self._marks_dirty = False
            self._marks_saved = self._clock()
            with contextlib.suppress(OSError):  # lost marks only mean deliveries again
                write_atomic(self.directory / WATERMARKS, data, fsync=self.fsync)
