"""The state journal: recovery after a crash at any point, and the directory lock."""

import errno
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from collector.accounting import Ledger, Verdict
from collector.errors import StateError
from collector.journal import JOURNAL, SNAPSHOT, Journal
from influx.lines import (
    Record,
    gateway_line,
    pairs_correction_line,
    parse_production,
    production_line,
    rejected_line,
)


@pytest.fixture
def journals(tmp_path: Path) -> Iterator[Callable[[], Journal]]:
    """Journals on ``tmp_path``, all closed at the end (a dead process's files close too)."""
    made: list[Journal] = []

    def make() -> Journal:
        made.append(Journal(tmp_path))
        return made[-1]

    yield make
    for journal in made:
        journal.close()


def rec(seq: int, total: int, boot: str = "a", machine: str = "M001") -> str:
    """A production line as the pipeline writes it (``pairs`` is not needed by the ledger)."""
    return production_line("E0001", machine, 1000 + seq, seq, boot, 0, total, "running", None, None)


def body(lines: list[str]) -> bytes:
    return "\n".join(lines).encode()


def journal_written(journal: Journal, lines: list[str]) -> int:
    """Journal a batch the way the pipeline does when its InfluxDB write succeeds."""
    number = journal.begin(body(lines))
    journal.confirm(number)
    return number


def apply_all(ledger: Ledger, lines: list[str]) -> None:
    for line in lines:
        record = parse_production(line.encode())
        assert record is not None
        ledger.apply(*record)


def test_parse_production_reads_back_the_reading() -> None:
    line = production_line(
        "E0001", "M007", 1_700_000_000_123, 2_000_005, "b-9", 4, 77, "idle", "terry", 12.5
    )
    assert parse_production(line.encode()) == Record(
        "E0001", "M007", "b-9", 2_000_005, 1_700_000_000_123, 77, None, "terry"
    )


@pytest.mark.parametrize(
    "line",
    [
        pairs_correction_line("E0001", "M001", 1_000_000_000, 3),
        rejected_line("malformed_json", "production,x", "bad", b"production,enterprise=x", 5),
        gateway_line("E0001", online=False, time_ns=5),
    ],
)
def test_other_lines_are_not_readings(line: str) -> None:
    assert parse_production(line.encode()) is None


def test_journaled_readings_survive_a_crash(
    tmp_path: Path, journals: Callable[[], Journal]
) -> None:
    journal = journals()
    ledger = journal.open(Ledger())
    batch = [rec(0, 3), rec(1, 8), rec(0, 4, machine="M002")]
    apply_all(ledger, batch)
    journal_written(journal, batch)
    journal.close()  # the process dies here: the kernel closes its files and drops its lock

    recovered = journals().open(Ledger())
    assert recovered.apply("E0001", "M001", "a", 1, 1001, 8).verdict is Verdict.DUPLICATE
    assert recovered.apply("E0001", "M001", "a", 2, 1002, 10).pairs == 2
    assert len(recovered) == 2


def test_checkpoint_then_more_readings(tmp_path: Path, journals: Callable[[], Journal]) -> None:
    journal = journals()
    ledger = journal.open(Ledger(window=4))
    first = [rec(i, i * 2) for i in range(6)]
    apply_all(ledger, first)
    journal_written(journal, first)
    journal.checkpoint(ledger)
    assert (tmp_path / JOURNAL).stat().st_size == 0
    second = [rec(6, 12), rec(7, 15)]
    apply_all(ledger, second)
    journal_written(journal, second)
    journal.close()

    recovered = journals().open(Ledger())
    assert recovered.dump() == ledger.dump()


def test_replay_over_a_snapshot_that_already_holds_it_is_harmless(
    tmp_path: Path, journals: Callable[[], Journal]
) -> None:
    journal = journals()
    ledger = journal.open(Ledger())
    batch = [rec(0, 1), rec(1, 5)]
    apply_all(ledger, batch)
    journal_written(journal, batch)
    (tmp_path / SNAPSHOT).write_bytes(orjson.dumps(ledger.dump()))
    journal.close()  # crash between snapshot and truncation: the journal still holds the batch

    recovered = journals().open(Ledger())
    assert recovered.dump() == ledger.dump()


def test_a_torn_last_record_is_dropped(tmp_path: Path, journals: Callable[[], Journal]) -> None:
    whole = rec(0, 3).encode() + b"\n"
    (tmp_path / JOURNAL).write_bytes(whole + rec(1, 10).encode()[:30])
    journal = journals()
    ledger = journal.open(Ledger())
    assert journal.replayed == 1
    assert (tmp_path / JOURNAL).read_bytes() == whole
    assert ledger.apply("E0001", "M001", "a", 1, 1001, 5).pairs == 2


def test_a_corrupt_record_is_a_clear_error(tmp_path: Path, journals: Callable[[], Journal]) -> None:
    (tmp_path / JOURNAL).write_bytes(
        b'production,enterprise=E0001,machine=M1 pairs=1i,pairs_total=xi,seq=1i,boot="a" 5\n'
        + rec(1, 4).encode()
    )
    with pytest.raises(StateError, match=r"journal.log:1: not a journal record"):
        journals().open(Ledger())


def test_a_corrupt_snapshot_is_a_clear_error(
    tmp_path: Path, journals: Callable[[], Journal]
) -> None:
    (tmp_path / SNAPSHOT).write_bytes(b"{")
    with pytest.raises(StateError, match="cannot read state snapshot"):
        journals().open(Ledger())


def test_two_collectors_cannot_share_a_directory(
    tmp_path: Path, journals: Callable[[], Journal]
) -> None:
    first = journals()
    first.open(Ledger())
    with pytest.raises(StateError, match="in use by another collector"):
        journals().open(Ledger())
    first.close()
    assert len(journals().open(Ledger())) == 0


def test_append_before_open_is_an_error(tmp_path: Path, journals: Callable[[], Journal]) -> None:
    with pytest.raises(StateError, match="not open"):
        journals().begin(body([rec(0, 1)]))


def test_a_write_cut_short_by_a_full_disk_leaves_no_torn_record(
    tmp_path: Path, journals: Callable[[], Journal], monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = journals()
    ledger = journal.open(Ledger())
    first = [rec(0, 3)]
    journal_written(journal, first)
    real_write = os.write

    def half_then_full(fd: int, data: bytes | memoryview) -> int:
        monkeypatch.setattr(os, "write", real_write)
        written = real_write(fd, bytes(data[: len(data) // 2]))
        assert written > 0
        raise OSError(errno.ENOSPC, "No space left on device")

    batch = [rec(1, 8), rec(0, 4, machine="M002")]
    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(StateError, match="No space left"):
        journal_written(journal, batch)
    journal_written(journal, batch)  # the pipeline's retry, once there is room again
    apply_all(ledger, first + batch)
    journal.close()

    assert (tmp_path / JOURNAL).read_bytes() == (
        b"#batch 1 1\n" + body(first) + b"\n#written 1\n"
        b"#batch 2 2\n" + body(batch) + b"\n#written 2\n"
    )
    recovered = journals().open(Ledger())
    assert recovered.apply("E0001", "M001", "a", 1, 1001, 8).verdict is Verdict.DUPLICATE
    assert len(recovered) == 2


def test_a_batch_not_confirmed_written_is_accounted_and_handed_back_to_write_again(
    journals: Callable[[], Journal],
) -> None:
    journal = journals()
    journal.open(Ledger())
    journal_written(journal, [rec(0, 3)])
    unconfirmed = [rec(1, 8), pairs_correction_line("E0001", "M001", 1_000_000_000, 3)]
    journal.begin(body(unconfirmed))
    later = [rec(2, 12)]
    journal_written(journal, later)  # confirmed, but after the unconfirmed one: written again too
    journal.close()  # crash: InfluxDB may or may not have batch 2

    recovered = journals()
    ledger = recovered.open(Ledger())
    assert recovered.replayed == 3
    assert ledger.apply("E0001", "M001", "a", 2, 1002, 12).verdict is Verdict.DUPLICATE
    assert recovered.unwritten.lines == unconfirmed + later
    assert recovered.unwritten.numbers == [2]
    with pytest.raises(StateError, match="not yet written to InfluxDB"):
        recovered.checkpoint(ledger)
    recovered.confirm(2)
    recovered.checkpoint(ledger)
    assert recovered.size == 0
    # Numbers go on after those already used, so that no marker confirms an older batch.
    assert recovered.begin(body([rec(3, 13)])) == 4


def test_a_batch_torn_by_a_crash_during_its_append_is_not_replayed(
    tmp_path: Path, journals: Callable[[], Journal]
) -> None:
    journal = journals()
    journal.open(Ledger())
    journal_written(journal, [rec(0, 3)])
    journal.close()
    whole = (tmp_path / JOURNAL).read_bytes()
    # Two of its three lines reached the disk, the last one whole: the batch is still torn.
    torn = b"#batch 2 3\n" + body([rec(1, 8), rec(2, 9)]) + b"\n"
    (tmp_path / JOURNAL).write_bytes(whole + torn)

    recovered = journals()
    ledger = recovered.open(Ledger())
    assert recovered.replayed == 1
    assert recovered.unwritten.numbers == []
    assert (tmp_path / JOURNAL).read_bytes() == whole
    assert recovered.size == len(whole)
    assert ledger.apply("E0001", "M001", "a", 1, 1001, 8).pairs == 5


def test_a_corrupt_batch_header_is_a_clear_error(
    tmp_path: Path, journals: Callable[[], Journal]
) -> None:
    (tmp_path / JOURNAL).write_bytes(b"#batch 1\n" + rec(1, 4).encode() + b"\n")
    with pytest.raises(StateError, match=r"journal.log:1: not a journal record"):
        journals().open(Ledger())


def test_the_journal_size_counts_what_it_holds(
    tmp_path: Path, journals: Callable[[], Journal]
) -> None:
    journal = journals()
    ledger = journal.open(Ledger())
    assert journal.size == 0
    journal_written(journal, [rec(0, 3)])
    assert journal.size == (tmp_path / JOURNAL).stat().st_size > 0
    journal.checkpoint(ledger)
    assert journal.size == 0
