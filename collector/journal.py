"""The accounting state on disk: a snapshot of the ledger and a write-ahead journal of batches.

The journal holds the line protocol of each batch that accepted readings, framed by two markers
(comment lines in line protocol)::

    #batch 17 3        <- the batch's number and its line count, then its lines
    production,...
    rejected,...
    production,...
    #written 17        <- InfluxDB has the batch

On replay its ``production`` points with a ``pairs_total`` field are the accepted readings (the
other lines of a batch, corrections, rejections and gateway status, are skipped).

Order of operations per batch (see :mod:`collector.writer`): the batch is appended here and
fsynced (write-ahead), then written to InfluxDB, then confirmed (``#written``, not fsynced), then
its messages are acknowledged to the broker. After a crash (``kill -9`` included) the ledger is
the snapshot plus every complete batch of the journal, and the batches not confirmed (with every
batch after the first of them, in order) are written to InfluxDB again before anything new
(:attr:`Journal.unwritten`):

* a crash during the append leaves a batch with fewer lines than its header says: it is cut off
  and not replayed; its messages were not acknowledged, so the broker delivers them again;
* a crash after the append, before or after the InfluxDB write: the ledger holds the batch and
  InfluxDB gets it (again): points of the same series and time overwrite themselves. The
  messages come again as duplicates of journaled readings and change nothing; if the broker lost
  them (a broker crash before its save), the ledger still knows the readings, so the machine's
  next reading does not count their pairs a second time.

Replaying a reading that the snapshot already holds is harmless, so a crash between writing a
snapshot and truncating the journal loses nothing either. Lines without a ``#batch`` header
(journals of earlier versions, written after the InfluxDB write) are readings already written.
The directory is locked, so two collectors cannot share it.
"""

import contextlib
import fcntl
import os
import threading
from pathlib import Path
from typing import IO, NamedTuple

import orjson

from collector.accounting import Ledger
from collector.errors import StateError
from influx.lines import parse_production

SNAPSHOT = "ledger.json"
JOURNAL = "journal.log"
LOCK = "lock"
BATCH = b"#batch "
WRITTEN = b"#written "


class Unwritten(NamedTuple):
    """Journaled batches that InfluxDB may not have: the lines to write again, in order, and the
    numbers of the batches to confirm once they are written."""

    lines: list[str]
    numbers: list[int]


class Journal:
    """Owns a state directory. ``open`` returns the recovered ledger."""

    def __init__(self, directory: Path, *, fsync: bool = True) -> None:
        self.directory = directory
        self.fsync = fsync
        self._file: IO[bytes] | None = None
        self._lock: IO[bytes] | None = None
        self.replayed = 0
        self.unwritten = Unwritten([], [])
        """What ``open`` found journaled but not confirmed written to InfluxDB."""
        self.size = 0
        """Bytes in the journal since the last checkpoint."""
        self._next = 1
        self._open_batches: set[int] = set()
        self._mutex = threading.Lock()
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
        replayed = 0
        batches: list[tuple[int, int]] = []  # (number, index of its header)
        written: set[int] = set()
        index = 0
        offset = 0
        while index < len(complete):
            line = complete[index]
            if line.startswith(BATCH):
                number, count = self._header(path, index, line)
                if index + 1 + count > len(complete):
                    break  # torn by a crash during the append: never written, never acknowledged
                batches.append((number, index))
                body = complete[index + 1 : index + 1 + count]
                replayed += self._apply(ledger, path, index + 2, body)
                index += 1 + count
                offset += sum(len(b) + 1 for b in body) + len(line) + 1
                continue
            if line.startswith(WRITTEN):
                written.add(self._number(path, index, line[len(WRITTEN) :]))
            else:
                replayed += self._apply(ledger, path, index + 1, [line])
            index += 1
            offset += len(line) + 1
        if offset < sum(len(line) + 1 for line in lines) - 1:
            with path.open("r+b") as f:
                f.truncate(offset)
        self.size = offset
        self._next = max((number for number, _ in batches), default=0) + 1
        self._unwritten(complete, batches, written)
        return replayed

    def _unwritten(
        self, lines: list[bytes], batches: list[tuple[int, int]], written: set[int]
    ) -> None:
        """From the first batch not confirmed on: its lines and those of every later batch."""
        first = next((at for number, at in batches if number not in written), None)
        if first is None:
            return
        tail = [
            line.decode()
            for line in lines[first:]
            if not line.startswith((BATCH, WRITTEN)) and line
        ]
        numbers = [number for number, at in batches if at >= first and number not in written]
        self.unwritten = Unwritten(tail, numbers)
        self._open_batches.update(numbers)

    @staticmethod
    def _number(path: Path, index: int, text: bytes) -> int:
        try:
            return int(text)
        except ValueError:
            raise StateError(f"{path}:{index + 1}: not a journal record: {text[:80]!r}") from None

    def _header(self, path: Path, index: int, line: bytes) -> tuple[int, int]:
        parts = line[len(BATCH) :].split(b" ")
        if len(parts) != 2:
            raise StateError(f"{path}:{index + 1}: not a journal record: {line[:80]!r}")
        return self._number(path, index, parts[0]), self._number(path, index, parts[1])

    @staticmethod
    def _apply(ledger: Ledger, path: Path, first: int, lines: list[bytes]) -> int:
        applied = 0
        for number, line in enumerate(lines, first):
            try:
                record = parse_production(line)
            except (ValueError, KeyError, UnicodeDecodeError) as exc:
                raise StateError(f"{path}:{number}: not a journal record: {line[:80]!r}") from exc
            if record is not None:
                ledger.apply(*record)
                applied += 1
        return applied

    def begin(self, body: bytes) -> int:
        """Append a batch (line protocol) before it is written to InfluxDB, durable before
        returning; its number, for :meth:`confirm`."""
        if not body.endswith(b"\n"):
            body += b"\n"
        with self._mutex:
            number = self._next
            header = b"%s%d %d\n" % (BATCH, number, body.count(b"\n"))
            self._append(header + body, sync=self.fsync)
            self._next += 1
            self._open_batches.add(number)
        return number

    def confirm(self, number: int) -> None:
        """Record that InfluxDB has batch ``number``. Not fsynced: if the record is lost, the
        batch is written again after a crash, which changes nothing."""
        with self._mutex:
            self._append(b"%s%d\n" % (WRITTEN, number), sync=False)
            self._open_batches.discard(number)

    def _append(self, data: bytes, *, sync: bool) -> None:
        if self._file is None:
            raise StateError("journal is not open")
        # Written straight to the descriptor, nothing buffered: a write that fails part-way (a
        # full disk) is cut off again, so that the retry appends after whole records only.
        fd = self._file.fileno()
        try:
            start = os.fstat(fd).st_size
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if sync:
                os.fsync(fd)
        except OSError as exc:
            with contextlib.suppress(OSError, UnboundLocalError):
                os.ftruncate(fd, start)
            raise StateError(f"cannot write journal in {self.directory}: {exc}") from exc
        self.size = start + len(data)

    def checkpoint(self, ledger: Ledger) -> None:
        """Write a snapshot of ``ledger`` (which must hold exactly what was journaled) and
        start an empty journal. Every batch must be confirmed written first."""
        with self._mutex:
            self._checkpoint(ledger)

    def _checkpoint(self, ledger: Ledger) -> None:
        if self._file is None:
            raise StateError("journal is not open")
        if self._open_batches:
            raise StateError(
                f"cannot checkpoint: {len(self._open_batches)} journaled batches are not yet "
                "written to InfluxDB"
            )
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
        self.size = 0

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
