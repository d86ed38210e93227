"""The alert store: the firing set survives restarts and crashes, torn writes included."""

from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from collector.alerting.model import Alert, Kind, Status
from collector.alerting.store import LOG, SNAPSHOT, AlertStore, url_key
from collector.alerting.tracked import MachineRecord
from collector.errors import StateError

T0 = 1_767_225_600_000


def firing(machine: str, kind: Kind = Kind.IDLE, since: int = T0) -> Alert:
    return Alert("E1", machine, kind, Status.FIRING, since, since + 60_000, "why", 12)


GATEWAY = Alert(
    "E2", None, Kind.OFFLINE, Status.FIRING, T0, T0, "gateway offline", machines=("A", "B")
)
RECORDS = [MachineRecord("E1", "M1", T0, 10_000.0, "running", "terry")]

Stores = Callable[..., AlertStore]


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[Stores]:
    """Stores on ``tmp_path``; a store left open stands for a process that crashed (its log is
    as it was written), closed only to release the file at the end of the test."""
    made: list[AlertStore] = []

    def make(**kwargs: object) -> AlertStore:
        store = AlertStore(tmp_path, **kwargs)  # type: ignore[arg-type]
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


def test_firing_set_recovered_from_the_log(tmp_path: Path, stores: Stores) -> None:
    store = stores()
    assert store.open().firing == []
    a, b = firing("M1"), firing("M2", Kind.STOPPED)
    numbered = store.append([a, b, GATEWAY])
    assert [n.seq for n in numbered] == [1, 2, 3]
    store.append([a.resolve(T0 + 120_000, "knitting again")])
    # crash: no close, no snapshot
    again = stores()
    recovered = again.open()
    assert {x.id for x in recovered.firing} == {b.id, GATEWAY.id}
    assert [n.seq for n in recovered.tail] == [1, 2, 3, 4]
    assert again.seq == 4
    assert again.append([a])[0].seq == 5


def test_snapshot_holds_firing_set_and_machines_and_empties_the_log(
    tmp_path: Path, stores: Stores
) -> None:
    store = stores()
    store.open()
    a = firing("M1")
    store.append([a, GATEWAY])
    store.compact([a, GATEWAY], RECORDS)
    assert (tmp_path / LOG).read_bytes() == b""
    store.close()
    recovered = stores().open()
    assert recovered.firing == [a, GATEWAY]
    assert recovered.machines == RECORDS
    assert recovered.tail == []


def test_torn_last_line_is_cut_off_and_the_log_stays_usable(tmp_path: Path, stores: Stores) -> None:
    store = stores()
    store.open()
    store.append([firing("M1")])
    with (tmp_path / LOG).open("ab") as log:
        log.write(b'{"seq": 2, "alert": {"enterpr')  # the crash happened mid-write
    again = stores()
    recovered = again.open()
    assert [a.machine for a in recovered.firing] == ["M1"]
    again.append([firing("M2")])
    assert {a.machine for a in stores().open().firing} == {"M1", "M2"}


def test_unreadable_line_in_the_middle_is_skipped_and_counted(
    tmp_path: Path, stores: Stores
) -> None:
    store = stores()
    store.open()
    store.append([firing("M1")])
    with (tmp_path / LOG).open("ab") as log:
        log.write(b"garbage\n")
    store.append([firing("M2")])
    recovered = stores().open()
    assert recovered.skipped == 1
    assert {a.machine for a in recovered.firing} == {"M1", "M2"}


def test_crash_between_snapshot_and_truncation_replays_nothing_twice(
    tmp_path: Path, stores: Stores
) -> None:
    store = stores()
    store.open()
    a = firing("M1")
    store.append([a])
    log = (tmp_path / LOG).read_bytes()
    store.compact([a], RECORDS)
    (tmp_path / LOG).write_bytes(log)  # as if the log had not been emptied
    recovered = stores().open()
    assert recovered.firing == [a]
    assert recovered.tail == []


@pytest.mark.parametrize(
    "content",
    [b"{", b'{"version": 9}', b'{"version": 1, "seq": 1}', b'{"version": 1, "seq": "x"}'],
)
def test_unreadable_snapshot_is_a_clear_error(
    tmp_path: Path, content: bytes, stores: Stores
) -> None:
    (tmp_path / SNAPSHOT).write_bytes(content)
    with pytest.raises(StateError, match="move it away to start with no firing alerts"):
        stores().open()


def test_webhook_marks_decide_what_is_sent_again(tmp_path: Path, stores: Stores) -> None:
    ticks = iter(range(100, 10_000, 10))
    store = stores(clock=lambda: float(next(ticks)))
    store.open()
    old = store.append([firing("M0")])
    assert store.pending("http://a/hook") == []  # a new webhook starts from now
    numbered = store.append([firing("M1"), firing("M2"), firing("M3")])
    assert [n.seq for n in store.pending("http://a/hook")] == [2, 3, 4]
    store.mark_done("http://a/hook", numbered[0].seq)
    store.compact([], [], ["http://a/hook"])
    store.close()
    again = stores()
    again.open()
    assert [n.seq for n in again.pending("http://a/hook")] == [3, 4]
    assert again.pending("http://b/hook") == []
    assert old[0].seq not in [n.seq for n in again.pending("http://a/hook")]
    marks = orjson.loads((tmp_path / "alerts-webhooks.json").read_bytes())
    assert marks == {url_key("http://a/hook"): 2, url_key("http://b/hook"): 4}
    assert "http" not in (tmp_path / "alerts-webhooks.json").read_text()  # URLs may hold secrets
