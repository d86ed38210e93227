"""A collector crash followed by a broker crash that loses the messages it had not acknowledged.

The collector dies after InfluxDB has a batch and before it acknowledges the batch's messages;
the broker then dies before saving them (its persistence is gone). The readings come neither
again from the broker nor from the journal's acknowledgement: only the journal, written ahead of
InfluxDB, knows they were counted. Real Mosquitto, real InfluxDB, the collector a real process.
"""

import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from stack import InfluxServer, MosquittoServer
from stack.process import wait_until
from tests.support.collector import CollectorProcess, running_collector, settings_for
from tests.support.influx import pairs_by_machine, query
from tests.support.mqtt import publisher

pytestmark = pytest.mark.integration

TOPIC = "hosiery/v1/E0001/M001/counter"

# The collector, dying (as by kill -9) right after InfluxDB accepted the batch holding seq 1.
DIES_AFTER_THE_WRITE = """
import os
import sys

from collector import writer
from collector.cli import main

write = writer.Writer._influx


def write_then_die(self, body):
    write(self, body)
    if b"seq=1i" in body:
        os._exit(70)


writer.Writer._influx = write_then_die
sys.exit(main(sys.argv[1:]))
"""


class DyingCollector(CollectorProcess):
    def argv(self) -> list[str]:
        return [sys.executable, "-c", DIES_AFTER_THE_WRITE, *super().argv()[3:]]


def publish(server: MosquittoServer, now_ms: int, *totals: tuple[int, int]) -> None:
    with publisher(server) as client:
        for seq, total in totals:
            body = {"ts": now_ms + seq, "seq": seq, "boot": "b", "pairs_total": total,
                    "state": "running"}  # fmt: skip
            client.publish(TOPIC, orjson.dumps(body), qos=1).wait_for_publish(10)


def last_seq(influx: InfluxServer, db: str) -> int:
    rows = query(influx.url, db, 'SELECT last("seq") FROM "production"')
    return int(rows[0]["values"][0][1]) if rows else -1


def test_readings_written_then_lost_by_the_broker_are_not_counted_again(
    mosquitto_factory: Callable[..., MosquittoServer], influx: InfluxServer, tmp_path: Path
) -> None:
    broker = mosquitto_factory()
    settings = settings_for(broker, influx, tmp_path / "state")
    db = settings.influx_db
    now_ms = int(time.time() * 1000)

    dying = DyingCollector(settings, tmp_path / "dying.log")
    dying.start()
    publish(broker, now_ms, (0, 10))
    wait_until(lambda: last_seq(influx, db) == 0, 30, what="the first reading stored")
    publish(broker, now_ms, (1, 15), (2, 20))
    assert dying.proc is not None
    wait_until(lambda: dying.proc.poll() is not None, 30, what="the collector dying")
    assert dying.proc.returncode == 70, dying.log_tail()
    assert last_seq(influx, db) >= 1, "InfluxDB should have the batch the collector died after"

    # The broker crashes before its next save: the unacknowledged messages are gone, and so is
    # the collector's session.
    broker.stop(kill=True)
    for saved in (broker.workdir / "data").iterdir():
        saved.unlink()
    broker.start()

    with running_collector(settings) as collector:
        # A collector that has a state expected its session: losing it is counted.
        assert collector.source.stats().sessions_lost == 1
        publish(broker, now_ms, (3, 25))
        wait_until(lambda: last_seq(influx, db) == 3, 30, what="the next reading stored")
    # The machine knitted 25 pairs in all; without the write-ahead journal the restarted
    # collector counted seq 1 (and 2) again in seq 3: 35.
    assert pairs_by_machine(influx.url, db) == {("E0001", "M001"): 25}
