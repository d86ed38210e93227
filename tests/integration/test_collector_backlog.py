"""The collector starts, and drains exactly, while the broker streams a backlog at it.

Mosquitto 2.0.11 can let a session's in-flight window grow past the Receive Maximum while a
subscriber that falls behind acknowledges (how far depends on timing): after the subscriber is
killed, the broker sends that whole window right after CONNACK, ahead of the SUBACK of the
renewed subscription. A collector that waited for that SUBACK could not start while the backlog
outgrew what it takes in without writing (the deterministic form of that is in
``tests/unit/test_mqtt_client.py``). Here the collector is killed behind a growing backlog and
started again while its database hangs: it must start, and then store every reading once.
"""

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bench._workload import Workload, messages
from mqtt.client import ClientOptions, Handler, MqttClient
from mqtt.protocol import SessionOptions
from stack import InfluxServer, MosquittoServer
from stack.process import wait_until
from tests.support.collector import CollectorProcess, settings_for
from tests.support.influx import query

pytestmark = pytest.mark.integration

BACKLOG = 150_000


def publish_all(broker: MosquittoServer, workload: Workload) -> None:
    """Publish every reading of ``workload`` at QoS 1, faster than the collector drains them."""
    client = MqttClient(
        ClientOptions(broker.host, broker.port, SessionOptions("backlog-publisher")), Handler()
    )
    client.start()
    try:
        infos = [client.publish(m.topic, m.payload, 1) for m in messages(workload)]
        assert infos[-1].wait_for_publish(120)
        assert all(info.is_published() for info in infos)
    finally:
        client.stop()


def stored(influx: InfluxServer, db: str) -> tuple[int, int]:
    rows = query(influx.url, db, 'SELECT count("pairs"), sum("pairs") FROM "production"')
    if not rows:
        return 0, 0
    _ts, readings, pairs = rows[0]["values"][0]
    return int(readings), int(pairs)


def test_a_collector_killed_behind_a_growing_backlog_starts_again_and_drains_it_exactly(
    mosquitto_factory: Callable[..., MosquittoServer],
    influx_factory: Callable[..., InfluxServer],
    tmp_path: Path,
) -> None:
    broker = mosquitto_factory()
    influx = influx_factory()
    settings = settings_for(broker, influx, tmp_path / "state")
    options = ("--mqtt-connect-timeout", "10")
    first = CollectorProcess(settings, tmp_path / "first.log", options)
    first.start()
    workload = Workload(
        readings=BACKLOG, machines=4_000, tag="backlog", base_ms=time.time_ns() // 10**6 - 600_000
    )
    publishing = threading.Thread(target=publish_all, args=(broker, workload))
    publishing.start()
    second: CollectorProcess | None = None
    try:
        # The collector falls behind, acknowledging, while the backlog grows; it is killed
        # when the last reading is published, and its database hangs.
        publishing.join()
        first.kill()
        influx.pause()
        # With the database still hung, the next collector can write (and acknowledge)
        # nothing: it must start anyway while the broker streams the backlog at it.
        second = CollectorProcess(
            settings, tmp_path / "second.log", (*options, "--no-create-database")
        )
        second.start()
        influx.resume()
        wait_until(
            lambda: stored(influx, settings.influx_db)[0] >= BACKLOG,
            60,
            interval=0.5,
            what="the backlog to be written",
        )
        assert stored(influx, settings.influx_db) == (BACKLOG, workload.expected_pairs)
    finally:
        influx.resume()
        publishing.join()
        if first.proc is not None and first.proc.poll() is None:
            first.kill()
        if second is not None and second.proc is not None:
            assert second.stop() == 0, second.log_tail()
