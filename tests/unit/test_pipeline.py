"""The pipeline's ordering guarantees, with an in-memory source and sink (no network)."""

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from collector.accounting import Ledger
from collector.admission import Admission
from collector.delivery import Delivery
from collector.journal import JOURNAL, Journal
from collector.late import LateHours
from collector.metrics import CollectorMetrics
from collector.pipeline import Pipeline
from collector.retry import Backoff
from collector.validate import Validator
from influx.errors import InfluxUnreachableError
from influx.lines import production_line
from influx.write import WriteResult
from stack.process import wait_until

NOW_MS = int(time.time() * 1000)


class FakeSource:
    """Hands out queued deliveries and records acknowledgements and publications."""

    def __init__(self) -> None:
        self.queue: list[Delivery] = []
        self.acked: list[int] = []
        self.published: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.connected = True

    def add(self, topic: str, payload: bytes) -> None:
        with self.lock:
            mid = len(self.queue) + len(self.acked) + 1
            self.queue.append(Delivery(topic, payload, 1, mid, False, False, 1, time.time_ns()))

    def drain(self, max_items: int, timeout: float) -> list[Delivery]:
        with self.lock:
            taken, self.queue = self.queue[:max_items], self.queue[max_items:]
        if not taken:
            time.sleep(min(timeout, 0.01))  # an idle source waits a little, as the real one does
        return taken

    def ack_many(self, deliveries: Sequence[Delivery]) -> int:
        self.acked.extend(d.mid for d in deliveries)
        return len(deliveries)

    def publish(self, topic: str, payload: bytes | str, qos: int = 1) -> None:
        assert qos == 1, "rejections are republished at QoS 1"
        self.published.append((topic, payload if isinstance(payload, bytes) else payload.encode()))


class FakeSink:
    """Records written bodies; fails while ``failing`` is set."""

    def __init__(self, source: FakeSource) -> None:
        self.source = source
        self.bodies: list[bytes] = []
        self.failing = threading.Event()
        self.acked_before_write: list[int] = []

    def write(self, lines: bytes) -> None:
        if self.failing.is_set():
            raise InfluxUnreachableError("down")
        self.acked_before_write.append(len(self.source.acked))
        self.bodies.append(lines)


def reading(machine: str, seq: int, total: int) -> tuple[str, bytes]:
    body = {"ts": NOW_MS + seq, "seq": seq, "boot": "b", "pairs_total": total, "state": "running"}
    return f"hosiery/v1/E0001/{machine}/counter", orjson.dumps(body)


def build(
    tmp_path: Path, registry: CollectorRegistry | None = None, **options: Any
) -> tuple[FakeSource, FakeSink, Journal, Pipeline]:
    """A pipeline over a fake source and sink and a real journal in ``tmp_path`` (not started)."""
    source = FakeSource()
    sink = FakeSink(source)
    journal = Journal(tmp_path)
    settings: dict[str, Any] = {"batch_size": 10, "flush_interval": 0.05, **options}
    pipeline = Pipeline(
        source=source,
        sink=sink,
        journal=journal,
        ledger=journal.open(Ledger()),
        validator=Validator(),
        metrics=CollectorMetrics(registry or CollectorRegistry()),
        **settings,
    )
    return source, sink, journal, pipeline


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[FakeSource, FakeSink, Journal, Pipeline]]:
    source, sink, journal, pipeline = build(
        tmp_path, checkpoint_interval=3600, backoff=Backoff(initial=0.01, maximum=0.01)
    )
    pipeline.start()
    yield source, sink, journal, pipeline
    pipeline.stop(5)
    journal.close()


def test_acknowledges_in_order_after_the_write(
    parts: tuple[FakeSource, FakeSink, Journal, Pipeline],
) -> None:
    source, sink, _journal, _pipeline = parts
    for seq in range(25):
        source.add(*reading("M001", seq, seq * 2))
    wait_until(lambda: len(source.acked) == 25, 10, what="all acknowledged")
    assert source.acked == list(range(1, 26))
    assert sum(body.count(b"production,") for body in sink.bodies) == 25
    # Every batch was written before any of its messages was acknowledged.
    written = 0
    for acked_then, body in zip(sink.acked_before_write, sink.bodies, strict=True):
        assert acked_then == written
        written += body.count(b"\n") + 1


def test_no_acknowledgement_while_the_database_is_down(
    parts: tuple[FakeSource, FakeSink, Journal, Pipeline],
) -> None:
    source, sink, _journal, _pipeline = parts
    sink.failing.set()
    for seq in range(5):
        source.add(*reading("M001", seq, seq))
    wait_until(lambda: not source.queue, 10, what="deliveries taken")
    assert source.acked == []
    sink.failing.clear()
    wait_until(lambda: len(source.acked) == 5, 10, what="acknowledged after recovery")


def test_duplicates_alone_are_acknowledged(
    parts: tuple[FakeSource, FakeSink, Journal, Pipeline],
) -> None:
    source, _sink, _journal, _pipeline = parts
    source.add(*reading("M001", 1, 5))
    wait_until(lambda: len(source.acked) == 1, 10, what="first acknowledged")
    for _ in range(3):
        source.add(*reading("M001", 1, 5))
    wait_until(lambda: len(source.acked) == 4, 10, what="duplicates acknowledged")


def test_rejections_are_republished_and_written(
    parts: tuple[FakeSource, FakeSink, Journal, Pipeline],
) -> None:
    source, sink, _journal, _pipeline = parts
    source.add("hosiery/v1/E0001/M001/counter", b"not json")
    wait_until(lambda: len(source.acked) == 1, 10, what="rejection acknowledged")
    assert source.published[0][0] == "hosiery/v1/_rejected"
    assert orjson.loads(source.published[0][1])["reason"] == "malformed_json"
    assert any(b"rejected,reason=malformed_json" in body for body in sink.bodies)


def test_the_database_failing_shows_from_the_first_failed_write(
    parts: tuple[FakeSource, FakeSink, Journal, Pipeline],
) -> None:
    source, sink, _journal, pipeline = parts
    sink.failing.set()
    source.add(*reading("M001", 1, 1))
    wait_until(lambda: "InfluxDB write" in pipeline.failing_since_ns, 10, what="failing shown")
    assert pipeline.failing_since_ns["InfluxDB write"] <= time.time_ns()
    assert pipeline.write_started_ns > 0
    sink.failing.clear()
    wait_until(lambda: source.acked == [1], 10, what="acknowledged after recovery")
    assert pipeline.failing_since_ns == {}
    assert pipeline.write_started_ns == 0


def test_new_machines_beyond_the_bound_are_rejected_not_tracked(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    source, sink, journal, pipeline = build(
        tmp_path, registry=registry, admission=Admission(max_machines=2, unregistered=0)
    )
    pipeline.start()
    try:
        for machine in ("M001", "M002", "M003", "M004"):
            source.add(*reading(machine, 1, 7))
        source.add(*reading("M001", 2, 9))
        wait_until(lambda: len(source.acked) == 5, 10, what="all acknowledged")
    finally:
        pipeline.stop(5)
        journal.close()
    assert sorted(pipeline.ledger.machines()) == [("E0001", "M001"), ("E0001", "M002")]
    reasons = [orjson.loads(payload)["reason"] for _topic, payload in source.published]
    assert reasons == ["too_many_machines", "too_many_machines"]
    rejected = "hosiery_collector_messages_rejected_total"
    assert registry.get_sample_value(rejected, {"reason": "too_many_machines"}) == 2
    assert sum(body.count(b"rejected,reason=too_many_machines") for body in sink.bodies) == 2


def test_rejection_notices_are_rate_limited_and_every_rejection_is_stored(
    tmp_path: Path,
) -> None:
    registry = CollectorRegistry()
    source, sink, journal, pipeline = build(
        tmp_path, registry=registry, notices_per_minute=3, batch_size=100
    )
    pipeline.start()
    try:
        for i in range(10):
            source.add(f"hosiery/v1/E0001/{'x' * 5000}{i}/counter", b"{}")
        wait_until(lambda: len(source.acked) == 10, 10, what="all acknowledged")
    finally:
        pipeline.stop(5)
        journal.close()
    assert len(source.published) == 3
    notice = orjson.loads(source.published[0][1])
    assert len(notice["topic"]) <= 1024
    assert len(notice["detail"]) <= 1024
    skipped = "hosiery_collector_rejection_notices_skipped_total"
    assert registry.get_sample_value(skipped) == 7
    assert sum(body.count(b"rejected,reason=invalid_id") for body in sink.bodies) == 10


class RefusingSink(FakeSink):
    """InfluxDB takes the batch but refuses two of its lines for good (a partial write)."""

    def write(self, lines: bytes) -> WriteResult:
        super().write(lines)
        count = lines.count(b"\n") + 1
        return WriteResult(count, len(lines), 1, 0.0, 2, "partial write: field type conflict")


def test_lines_influxdb_refuses_are_counted_and_the_batch_acknowledged(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    source = FakeSource()
    journal = Journal(tmp_path)
    pipeline = Pipeline(
        source=source,
        sink=RefusingSink(source),
        journal=journal,
        ledger=journal.open(Ledger()),
        validator=Validator(),
        metrics=CollectorMetrics(registry),
        batch_size=10,
        flush_interval=0.05,
    )
    pipeline.start()
    try:
        for seq in range(3):
            source.add(*reading("M001", seq, seq))
        wait_until(lambda: len(source.acked) == 3, 10, what="all acknowledged")
    finally:
        pipeline.stop(5)
        journal.close()
    refused = registry.get_sample_value("hosiery_collector_lines_refused_by_influxdb_total")
    assert refused is not None
    assert refused >= 2
    assert refused % 2 == 0


def test_a_checkpoint_holds_only_what_is_journaled(tmp_path: Path) -> None:
    """Readings of a batch still open at checkpoint time are written before the snapshot."""
    source, sink, journal, pipeline = build(
        tmp_path,
        batch_size=1000,
        flush_interval=3600,  # the batch never closes by time or size
        checkpoint_interval=0.05,
    )
    for seq in range(3):
        source.add(*reading("M001", seq, seq))
    pipeline.start()
    try:
        wait_until(lambda: len(source.acked) == 3, 10, what="batch closed by the checkpoint")
        wait_until((tmp_path / "ledger.json").exists, 10, what="snapshot")
    finally:
        pipeline.stop(5)
        journal.close()
    recovered = Journal(tmp_path)
    try:
        restored = recovered.open(Ledger())
        assert restored.dump() == pipeline.ledger.dump()
        assert sum(body.count(b"production,") for body in sink.bodies) == 3
    finally:
        recovered.close()


class BrokenObserver:
    """An observer whose every call fails."""

    def on_reading(self, *_args: object) -> None:
        raise RuntimeError("bug")

    def on_status(self, *_args: object) -> None:
        raise RuntimeError("bug")

    def on_tick(self, *_args: object) -> None:
        raise RuntimeError("bug")

    def take_lines(self) -> list[str]:
        raise RuntimeError("bug")


def test_a_failing_observer_does_not_stop_ingestion(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    source, _sink, journal, pipeline = build(tmp_path, registry, observers=(BrokenObserver(),))
    pipeline.start()
    try:
        for seq in range(5):
            source.add(*reading("M001", seq, seq))
        wait_until(lambda: len(source.acked) == 5, 10, what="readings acknowledged")
        assert pipeline.failed is None
        errors = registry.get_sample_value(
            "hosiery_collector_observer_errors_total", {"observer": "BrokenObserver"}
        )
        assert errors is not None
        assert errors >= 5
    finally:
        pipeline.stop(5)
        journal.close()


def test_hours_written_late_into_are_owed_before_the_acknowledgement(tmp_path: Path) -> None:
    late = LateHours(tmp_path, 60_000, fsync=False)
    # The clock stays at NOW_MS: the fresh reading must stay fresh however late the test runs.
    source, _sink, journal, pipeline = build(tmp_path, late=late, clock=lambda: NOW_MS * 1_000_000)
    owed_at_ack: list[int] = []
    acknowledge = source.ack_many

    def ack_many(deliveries: Sequence[Delivery]) -> int:
        owed_at_ack.append(len(late))
        return acknowledge(deliveries)

    source.ack_many = ack_many  # type: ignore[method-assign]
    three_hours_ago = NOW_MS - 3 * 3_600_000
    for seq in range(3):
        body = {"ts": three_hours_ago + seq, "seq": seq, "boot": "b", "pairs_total": seq,
                "state": "running"}  # fmt: skip
        source.add("hosiery/v1/E0001/M001/counter", orjson.dumps(body))
    # A fresh reading owes nothing: fresh now, not when the module was imported (the full suite
    # runs this test more than LATE_MS later).
    fresh = {"ts": time.time_ns() // 1_000_000, "seq": 1, "boot": "b", "pairs_total": 1,
             "state": "running"}  # fmt: skip
    source.add("hosiery/v1/E0001/M002/counter", orjson.dumps(fresh))
    pipeline.start()
    try:
        wait_until(lambda: len(source.acked) == 4, 10, what="all acknowledged")
    finally:
        pipeline.stop(5)
        journal.close()
    assert owed_at_ack[0] == 1
    assert late.take(NOW_MS + 3_600_000, 10) == [three_hours_ago // 3_600_000 * 3_600_000]


def test_fresh_readings_written_late_after_an_outage_are_owed(tmp_path: Path) -> None:
    late = LateHours(tmp_path, 60_000, fsync=False)
    # 20 minutes into an hour: ten minutes on, the readings' hour is the only one owed (in the
    # last minutes of an hour the next one is owed too, rightly: see test_late.py)
    start_ms = NOW_MS // 3_600_000 * 3_600_000 + 20 * 60_000
    now = {"ns": start_ms * 1_000_000}
    source, sink, journal, pipeline = build(
        tmp_path, late=late, clock=lambda: now["ns"], backoff=Backoff(initial=0.01, maximum=0.01)
    )
    sink.failing.set()
    body = {"ts": start_ms + 1, "seq": 1, "boot": "b", "pairs_total": 1, "state": "running"}
    source.add("hosiery/v1/E0001/M001/counter", orjson.dumps(body))  # fresh when accounted
    pipeline.start()
    try:
        wait_until(lambda: bool(pipeline.failing_since_ns), 10, what="InfluxDB down")
        now["ns"] += 10 * 60_000 * 1_000_000  # ten minutes later, InfluxDB is back
        sink.failing.clear()
        wait_until(lambda: len(source.acked) == 1, 10, what="acknowledged")
    finally:
        pipeline.stop(5)
        journal.close()
    assert late.take(start_ms + 3_600_000, 10) == [start_ms // 3_600_000 * 3_600_000]


def checkpoints(registry: CollectorRegistry) -> float:
    return registry.get_sample_value("hosiery_collector_checkpoints_total") or 0.0


def test_a_batch_is_journaled_before_influxdb_has_it(tmp_path: Path) -> None:
    source, sink, journal, pipeline = build(tmp_path)
    journaled_at_write: list[bytes] = []
    write = sink.write

    def journal_then_write(lines: bytes) -> None:
        journaled_at_write.append((tmp_path / JOURNAL).read_bytes())
        write(lines)

    sink.write = journal_then_write  # type: ignore[method-assign]
    for seq in range(3):
        source.add(*reading("M001", seq, seq))
    pipeline.start()
    try:
        wait_until(lambda: len(source.acked) == 3, 10, what="all acknowledged")
    finally:
        pipeline.stop(5)
        journal.close()
    for body, journaled in zip(sink.bodies, journaled_at_write, strict=True):
        assert body in journaled
        assert b"#written" not in journaled.rsplit(body, 1)[1]


def test_batches_a_crash_left_unconfirmed_are_written_first_and_then_folded_into_a_snapshot(
    tmp_path: Path,
) -> None:
    earlier = Journal(tmp_path)
    earlier.open(Ledger())
    line = production_line("E0001", "M001", NOW_MS + 1, 1, "b", 5, 5, "running", None, None)
    earlier.begin(line.encode())  # the crash: InfluxDB may have it, the journal did not learn
    earlier.close()

    registry = CollectorRegistry()
    source, sink, journal, pipeline = build(tmp_path, registry, checkpoint_interval=3600)
    pipeline.start()
    try:
        wait_until(lambda: checkpoints(registry) == 1, 10, what="checkpoint at start")
        assert sink.bodies == [line.encode()]
        assert journal.size == 0
        source.add(*reading("M001", 2, 9))
        wait_until(lambda: source.acked == [1], 10, what="acknowledged")
    finally:
        pipeline.stop(5)
        journal.close()
    # The ledger had the unconfirmed reading: the next one counts only its own pairs.
    assert b" pairs=4i," in sink.bodies[1]


def test_the_journal_is_checkpointed_when_it_reaches_its_size_bound(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    source, _sink, journal, pipeline = build(
        tmp_path, registry, checkpoint_interval=3600, checkpoint_bytes=4096
    )
    largest = 0

    def sample() -> bool:
        nonlocal largest
        largest = max(largest, journal.size)
        return len(source.acked) == 300

    for seq in range(300):
        source.add(*reading("M001", seq, seq))
    pipeline.start()
    try:
        wait_until(sample, 20, interval=0.001, what="all acknowledged")
    finally:
        pipeline.stop(5)
        journal.close()
    assert checkpoints(registry) >= 5
    # Bounded: at most the bound plus the batches in flight (two of ten readings) past it.
    assert largest < 4096 + 2 * 10 * 300
    recovered = Journal(tmp_path)
    try:
        assert recovered.open(Ledger()).dump() == pipeline.ledger.dump()
    finally:
        recovered.close()
