"""The collector's memory stays bounded under floods of invented topics and machines.

Real Mosquitto and InfluxDB, the collector as a process; its peak RSS is read from /proc.
The bounds are the ones docs/reliability.md promises.
"""

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest

from stack import InfluxServer, MosquittoServer
from stack.process import wait_until
from tests.support.collector import CollectorProcess, settings_for

pytestmark = pytest.mark.integration

RSS_BOUND_MB = 300
"""docs/reliability.md: a few hundred MB, whatever the flood."""


@pytest.fixture
def publisher(mosquitto: MosquittoServer) -> Iterator[mqtt.Client]:
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id="flood", protocol=mqtt.MQTTv311
    )
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    connected = threading.Event()
    client.on_connect = lambda *_args: connected.set()
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    assert connected.wait(10)
    yield client
    client.disconnect()
    client.loop_stop()


@pytest.fixture
def collector(
    mosquitto: MosquittoServer, influx: InfluxServer, tmp_path: Path
) -> Iterator[CollectorProcess]:
    settings = settings_for(mosquitto, influx, tmp_path / "state", alerts=False)
    process = CollectorProcess(settings, tmp_path / "collector.log", ("--max-machines", "1000"))
    process.start()
    yield process
    assert process.stop() == 0, process.log_tail()


def flood(client: mqtt.Client, topics: Iterator[str], payload: bytes) -> int:
    sent = 0
    info = None
    for topic in topics:
        info = client.publish(topic, payload, qos=1)
        sent += 1
    assert info is not None
    info.wait_for_publish(120)
    return sent


def test_unique_8kb_invalid_topics_leave_the_collector_within_its_memory_bound(
    collector: CollectorProcess, publisher: mqtt.Client
) -> None:
    long_id = "x" * 8000
    topics = (f"hosiery/v1/E0001/{long_id}{i}/counter" for i in range(40_000))
    sent = flood(publisher, topics, b'{"ts": 1}')
    rejected = 'hosiery_collector_messages_rejected_total{reason="invalid_id"}'
    wait_until(lambda: collector.metric(rejected) >= sent, 300, interval=1, what="all rejected")
    assert collector.metric(rejected) == sent
    assert collector.peak_rss_mb() < RSS_BOUND_MB, collector.log_tail()


def test_invented_machines_beyond_max_machines_are_refused_and_memory_stays_bounded(
    collector: CollectorProcess, publisher: mqtt.Client
) -> None:
    now = int(time.time() * 1000)
    payload = orjson.dumps({"ts": now, "seq": 1, "boot": "b", "pairs_total": 1, "state": "running"})
    topics = (f"hosiery/v1/E{i // 900 + 1:04d}/M{i % 900 + 1:03d}/counter" for i in range(20_000))
    sent = flood(publisher, topics, payload)
    refused = 'hosiery_collector_messages_rejected_total{reason="too_many_machines"}'
    wait_until(
        lambda: collector.metric(refused) >= sent - 1000, 300, interval=1, what="all refused"
    )
    assert collector.metric(refused) == sent - 1000
    assert collector.metric("hosiery_collector_machines_tracked") == 1000
    assert collector.peak_rss_mb() < RSS_BOUND_MB, collector.log_tail()
