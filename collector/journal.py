"""The accounting state on disk: a snapshot of the ledger and a journal of accepted readings.

The journal is the line protocol of each written batch, appended as it was sent to InfluxDB; on
replay its ``production`` points with a ``pairs_total`` field are the accepted readings (the
other lines of a batch, corrections, rejections and gateway status, are skipped). Writing the
same bytes twice costs nothing per reading on the hot path.

Order of operations per batch (see :mod:`collector.pipeline`): the batch is written to InfluxDB,
then its accepted readings are appended here and fsynced, then the messages are acknowledged to
the broker. After a crash (``kill -9`` included) the ledger is the snapshot plus the journal
replayed:

* a crash before the journal append leaves the messages unacknowledged; the broker redelivers
  them and they are accounted again against the same state, producing the same points, which
  overwrite themselves in InfluxDB;
* a crash after the append but before the acknowledgement makes the redelivered messages
  duplicates of journaled readings: they change nothing.

Replaying a reading that the snapshot already holds is harmless for the same reason, so a crash
between writing a snapshot and truncating the journal loses nothing either. The directory is
locked, so two collectors cannot share it.
"""

import contextlib
import fcntl
import os
from pathlib import Path
from typing import IO, NamedTuple

import orjson

from collector.accounting import Ledger
from collector.errors import StateError

SNAPSHOT = "ledger.json"
JOURNAL = "journal.log"
LOCK = "lock"


class Record(NamedTuple):
    """An accepted reading, as much of it as the ledger needs."""

    enterprise: str
    machine: str
    boot: str
    seq: int
    ts: int
    pairs_total: int


def parse_production(line: bytes) -> Record | None:
    """The reading in a ``production`` line written by the collector; None for other lines.

    Raises ``ValueError`` for a ``production`` line that is not of the collector's own shape.
    """
    if not line.startswith(b"production,"):
        return None
    series, fields, time_ns = line.split(b" ")
    tags = dict(tag.split(b"=", 1) for tag in series.split(b",")[1:])
    values = dict(field.split(b"=", 1) for field in fields.split(b","))
    total = values.get(b"pairs_total")
    if total is None:
        return None  # a correction of an earlier point's ``pairs``
    seq = int(values[b"seq"][:-1])
    return Record(
        tags[b"enterprise"].decode(),
        tags[b"machine"].decode(),
        values[b"boot"][1:-1].decode(),
        seq,
        (int(time_ns) - seq % 1_000_000) // 1_000_000,
        int(total[:-1]),
    )


class Journal:
    """Owns a state directory. ``open`` returns the recovered ledger."""

    def __init__(self, directory: Path, *, fsync: bool = True) -> None:
        self.directory = directory
        self.fsync = fsync
        self._file: IO[bytes] | None = None
        self._lock: IO[bytes] | None = None
        self.replayed = 0
        self.found_state = False
        """Whether ``open`` found the state of an earlier run (a snapshot or a journal)."""

    def open(self, fresh: Ledger) -> Ledger:
        """Lock the directory and rebuild the ledger (``fresh`` sets the limits of a new one)."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._lock = (self.directory / LOCK).open("wb")
        except OSError as exc:
            raise StateError(f"cannot use state directory {self.directory}: {exc}") from exc
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._lock.close()
            self._lock = None
            raise StateError(
                f"state directory {self.directory} is in use by another collector"
            ) from exc
        self.found_state = any((self.directory / name).exists() for name in (SNAPSHOT, JOURNAL))
        ledger = self._load_snapshot(fresh)
        self.replayed = self._replay(ledger)
        self._file = (self.directory / JOURNAL).open("ab")
        return ledger

    def _load_snapshot(self, fresh: Ledger) -> Ledger:
        path = self.directory / SNAPSHOT
        try:
            data = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            return fresh
        except (OSError, orjson.JSONDecodeError) as exc:
            raise StateError(f"cannot read state snapshot {path}: {exc}") from exc
        try:
            return Ledger.load(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"state snapshot {path} is not a ledger: {exc}") from exc

    def _replay(self, ledger: Ledger) -> int:
        path = self.directory / JOURNAL
        try:
            lines = path.read_bytes().split(b"\n")
        except FileNotFoundError:
            return 0
        # The last element is what follows the final newline: empty, or a record torn by a
        # crash while it was being written (its batch was never acknowledged).
        complete = lines[:-1]
        if lines[-1]:
            with path.open("r+b") as f:
                f.truncate(sum(len(line) + 1 for line in complete))
        replayed = 0
        for number, line in enumerate(complete, 1):
            try:
                record = parse_production(line)
            except (ValueError, KeyError, UnicodeDecodeError) as exc:
                raise StateError(f"{path}:{number}: not a journal record: {line[:80]!r}") from exc
            if record is not None:
                ledger.apply(*record)
                replayed += 1
        return replayed

    def append(self, body: bytes) -> None:
        """Append a written batch (line protocol) and make it durable before returning."""
        if self._file is None:
            raise StateError("journal is not open")
        if not body:
            return
        if not body.endswith(b"\n"):
            body += b"\n"
        # Written straight to the descriptor, nothing buffered: a write that fails part-way (a
        # full disk) is cut off again, so that the retry appends after whole records only.
        fd = self._file.fileno()
        try:
            start = os.fstat(fd).st_size
            view = memoryview(body)
            while view:
                view = view[os.write(fd, view) :]
            if self.fsync:
                os.fsync(fd)
        except OSError as exc:
            with contextlib.suppress(OSError, UnboundLocalError):
                os.ftruncate(fd, start)
            raise StateError(f"cannot write journal in {self.directory}: {exc}") from exc

    def checkpoint(self, ledger: Ledger) -> None:
        """Write a snapshot of ``ledger`` (which must hold exactly what was journaled) and
        start an empty journal."""
        if self._file is None:
            raise StateError("journal is not open")
        path = self.directory / SNAPSHOT
        tmp = path.with_suffix(".tmp")
        try:
            with tmp.open("wb") as f:
                f.write(orjson.dumps(ledger.dump()))
                f.flush()
                if self.fsync:
                    os.fsync(f.fileno())
            tmp.replace(path)
            self._sync_dir()
            self._file.truncate(0)
            self._file.seek(0)
            if self.fsync:
                os.fsync(self._file.fileno())
        except OSError as exc:
            raise StateError(f"cannot write state snapshot {path}: {exc}") from exc

    def _sync_dir(self) -> None:
        if not self.fsync:
            return
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._lock is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None
