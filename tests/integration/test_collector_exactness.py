"""The collector's promise: the pairs stored for a machine equal the pairs it really knitted.

The simulator runs with every fault injection on (reboots, duplicates, reordering, dropped and
malformed messages, gateways dying) and writes its truth; the collector runs as a real process
against a real Mosquitto and a real InfluxDB, and is killed, or loses its database, mid-stream.
"""

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest

from stack import InfluxServer, MosquittoServer
from stack.process import wait_until
from tests.support.collector import (
    CollectorProcess,
    metric,
    running_collector,
    settings_for,
)
from tests.support.influx import count, pairs_by_machine, query, stopped_by_machine
from tests.support.mqtt import publisher
from tests.support.sim import SimRun

pytestmark = pytest.mark.integration


def assert_stored_equals_truth(
    influx: InfluxServer, db: str, truth: dict[tuple[str, str], int], timeout: float = 60
) -> None:
    """Wait until InfluxDB holds the truth for every machine; on timeout show the differences."""
    expected = {k: v for k, v in truth.items() if v}

    def stored_nonzero() -> dict[tuple[str, str], int]:
        return {k: v for k, v in pairs_by_machine(influx.url, db).items() if v}

    def done() -> bool:
        return stored_nonzero() == expected

    try:
        wait_until(done, timeout, interval=0.5, what="stored pairs to equal the truth")
    except TimeoutError:
        stored = stored_nonzero()
        diff = {
            k: (stored.get(k), expected.get(k))
            for k in set(stored) | set(expected)
            if stored.get(k) != expected.get(k)
        }
        raise AssertionError(f"{len(diff)} machines differ (stored, truth): {diff}") from None
    assert len(expected) > len(truth) // 2, "most machines should have knitted something"


def assert_stopped_equals_truth(influx: InfluxServer, db: str, sim: SimRun) -> None:
    """The milliseconds stopped per machine and reason stored equal the truth (once the pairs
    do, the points carrying them are written)."""
    expected = {
        (m["enterprise"], m["machine"], reason): ms
        for m in sim.truth_file()["machines"]
        for reason, ms in m["stopped_ms"].items()
        if ms
    }
    assert len({key[2] for key in expected}) >= 3, "the run should stop for several reasons"
    wait_until(
        lambda: stopped_by_machine(influx.url, db) == expected,
        30,
        interval=0.5,
        what="stored stopped time to equal the truth",
    )


def readings_written(collector: CollectorProcess) -> float:
    for line in collector.metrics().splitlines():
        if line.startswith("hosiery_collector_readings_written_total "):
            return float(line.split()[1])
    return 0.0


def test_every_fault_injected_and_the_sums_are_exact(
    mosquitto: MosquittoServer, influx: InfluxServer, tmp_path: Path
) -> None:
    settings = settings_for(mosquitto, influx, tmp_path / "state")
    collector = CollectorProcess(settings, tmp_path / "collector.log")
    collector.start()
    try:
        sim = SimRun(mosquitto, tmp_path, machines=150, duration=8, seed=11)
        truth = sim.wait()
        assert_stored_equals_truth(influx, settings.influx_db, truth)
        assert_stopped_equals_truth(influx, settings.influx_db, sim)
    finally:
        assert collector.stop() == 0, collector.log_tail()


def test_kill_9_mid_stream_loses_and_doubles_nothing(
    mosquitto: MosquittoServer, influx: InfluxServer, tmp_path: Path
) -> None:
    settings = settings_for(mosquitto, influx, tmp_path / "state", checkpoint_interval=2.0)
    collector = CollectorProcess(settings, tmp_path / "collector.log")
    collector.start()
    sim = SimRun(mosquitto, tmp_path, machines=150, duration=12, seed=12)
    try:
        for round_ in range(3):
            target = readings_written(collector) + 300
            wait_until(
                lambda t=target: readings_written(collector) >= t,  # type: ignore[misc]
                30,
                what=f"progress before kill {round_ + 1}",
            )
            collector.kill()
            collector.start()
        truth = sim.wait()
        assert_stored_equals_truth(influx, settings.influx_db, truth)
        assert_stopped_equals_truth(influx, settings.influx_db, sim)
    finally:
        sim.kill()
        assert collector.stop() == 0, collector.log_tail()


def test_influxdb_outage_pauses_intake_and_catches_up(
    mosquitto: MosquittoServer,
    influx_factory: Callable[..., InfluxServer],
    tmp_path: Path,
) -> None:
    influx = influx_factory()
    settings = settings_for(mosquitto, influx, tmp_path / "state", mqtt_receive_maximum=400)
    collector = CollectorProcess(settings, tmp_path / "collector.log")
    collector.start()
    sim = SimRun(mosquitto, tmp_path, machines=150, duration=12, seed=13)
    try:
        wait_until(lambda: readings_written(collector) >= 200, 30, what="first readings written")
        influx.stop()
        wait_until(lambda: not collector.healthy() or retries(collector) > 0, 30, what="retries")
        # While the database is down the collector holds at most its receive window (twice,
        # across a reconnect); the broker queues the rest in the persistent session.
        wait_until(lambda: buffered(collector) >= 400, 30, what="the receive window to fill")
        assert buffered(collector) <= 800
        influx.start()
        truth = sim.wait()
        assert_stored_equals_truth(influx, settings.influx_db, truth)
    finally:
        sim.kill()
        assert collector.stop() == 0, collector.log_tail()


def retries(collector: CollectorProcess) -> float:
    for line in collector.metrics().splitlines():
        if line.startswith("hosiery_collector_write_retries_total "):
            return float(line.split()[1])
    return 0.0


def buffered(collector: CollectorProcess) -> int:
    resp = httpx.get(f"http://127.0.0.1:{collector.port}/healthz", timeout=5)
    return int(resp.json()["buffered"])


def test_a_counter_reset_inside_a_boot_counts_every_pair(
    mosquitto: MosquittoServer, influx: InfluxServer, tmp_path: Path
) -> None:
    """10, 20, 30, then the operator clears the counter: 5, 15, 25 in the same boot is 55 pairs.

    The reading right after the reset arrives late (after its successor) and twice; the reset
    mark moves to it, and is counted once.
    """
    settings = settings_for(mosquitto, influx, tmp_path / "state")
    topic = "hosiery/v1/E0007/M003/counter"
    start = int(time.time() * 1000) - 60_000
    totals = {1: 10, 2: 20, 3: 30, 4: 5, 5: 15, 6: 25}
    arrivals = [1, 2, 3, 5, 4, 6, 4]
    db = settings.influx_db
    with running_collector(settings) as collector, publisher(mosquitto) as pub:
        for seq in arrivals:
            body = {
                "ts": start + seq * 5000,
                "seq": seq,
                "boot": "b1",
                "pairs_total": totals[seq],
                "state": "running",
            }
            pub.publish(topic, orjson.dumps(body), qos=1).wait_for_publish(5)
        wait_until(
            lambda: metric(collector, "hosiery_collector_duplicates_dropped_total") == 1,
            15,
            what="every reading accounted",
        )
        wait_until(
            lambda: pairs_by_machine(influx.url, db).get(("E0007", "M003")) == 55,
            15,
            what="55 pairs stored",
        )
        marks = query(influx.url, db, 'SELECT "seq", "counter_reset" FROM "production"')
        by_seq = {row[1]: row[2] for row in marks[0]["values"]}
        assert by_seq == {1: None, 2: None, 3: None, 4: 1, 5: 0, 6: None}
        resets = query(influx.url, db, 'SELECT SUM("counter_reset") FROM "production"')
        assert resets[0]["values"][0][1] == 1
        assert metric(collector, "hosiery_collector_counter_resets_total", {"kind": "in_boot"}) == 1
        assert (
            metric(collector, "hosiery_collector_counter_resets_total", {"kind": "new_boot"}) == 0
        )
        assert count(influx.url, db, "rejected", "payload_size") == 0
