"""The state journal: recovery after a crash at any point, and the directory lock."""

from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from collector.accounting import Ledger, Verdict
from collector.errors import StateError
from collector.journal import JOURNAL, SNAPSHOT, Journal, Record


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


def rec(seq: int, total: int, boot: str = "a", machine: str = "M001") -> Record:
    return Record("E0001", machine, boot, seq, 1000 + seq, total)


def apply_all(ledger: Ledger, records: list[Record]) -> None:
    for r in records:
        ledger.apply(r.enterprise, r.machine, r.boot, r.seq, r.ts, r.pairs_total)


def test_journaled_readings_survive_a_crash(
    tmp_path: Path, journals: Callable[[], Journal]
) -> None:
    journal = journals()
    ledger = journal.open(Ledger())
    batch = [rec(0, 3), rec(1, 8), rec(0, 4, machine="M002")]
    apply_all(ledger, batch)
    journal.append(batch)
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
    journal.append(first)
    journal.checkpoint(ledger)
    assert (tmp_path / JOURNAL).stat().st_size == 0
    second = [rec(6, 12), rec(7, 15)]
    apply_all(ledger, second)
    journal.append(second)
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
    journal.append(batch)
    (tmp_path / SNAPSHOT).write_bytes(orjson.dumps(ledger.dump()))
    journal.close()  # crash between snapshot and truncation: the journal still holds the batch

    recovered = journals().open(Ledger())
    assert recovered.dump() == ledger.dump()


def test_a_torn_last_record_is_dropped(tmp_path: Path, journals: Callable[[], Journal]) -> None:
    (tmp_path / JOURNAL).write_bytes(b"E0001 M001 a 0 1000 3\nE0001 M001 a 1 10")
    journal = journals()
    ledger = journal.open(Ledger())
    assert journal.replayed == 1
    assert (tmp_path / JOURNAL).read_bytes() == b"E0001 M001 a 0 1000 3\n"
    assert ledger.apply("E0001", "M001", "a", 1, 1001, 5).pairs == 2


def test_a_corrupt_record_is_a_clear_error(tmp_path: Path, journals: Callable[[], Journal]) -> None:
    (tmp_path / JOURNAL).write_bytes(b"E0001 M001 a zero 1000 3\nE0001 M001 a 1 1001 4\n")
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
        journals().append([rec(0, 1)])
