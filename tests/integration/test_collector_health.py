"""/healthz against real servers: it tells an InfluxDB that hangs, within its threshold."""

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import paho.mqtt.client as mqtt
import pytest

from collector.service import Collector
from stack import InfluxServer, MosquittoServer
from stack.process import wait_until
from tests.support.collector import running_collector, settings_for
from tests.support.influx import pairs_by_machine

pytestmark = pytest.mark.integration

UNHEALTHY_AFTER = 6.0
TOPIC = "hosiery/v1/E0001/M001/counter"


def healthz(collector: Collector) -> tuple[int, dict[str, object]]:
    assert collector.http is not None
    resp = httpx.get(f"http://127.0.0.1:{collector.http.port}/healthz", timeout=5)
    details: dict[str, object] = resp.json()
    return resp.status_code, details


class Gateway(threading.Thread):
    """Publishes a reading of one machine every 0.2 s until stopped; ``sent`` is its last seq."""

    def __init__(self, mosquitto: MosquittoServer) -> None:
        super().__init__(daemon=True)
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="health-gw", protocol=mqtt.MQTTv311
        )
        self.client.connect(mosquitto.host, mosquitto.port)
        self.client.loop_start()
        self.done = threading.Event()
        self.sent = 0

    def run(self) -> None:
        while not self.done.wait(0.2):  # the gateway's reporting cadence, not synchronisation
            self.sent += 1
            reading = {
                "ts": int(time.time() * 1000),
                "seq": self.sent,
                "boot": "b1",
                "pairs_total": self.sent,
                "state": "running",
            }
            self.client.publish(TOPIC, orjson.dumps(reading), qos=1).wait_for_publish(10)

    def stop(self) -> None:
        self.done.set()
        self.join(15)
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def gateway(mosquitto: MosquittoServer) -> Iterator[Gateway]:
    gw = Gateway(mosquitto)
    gw.start()
    yield gw
    gw.stop()


def test_healthz_turns_unhealthy_within_its_threshold_of_influxdb_hanging(
    mosquitto: MosquittoServer,
    influx_factory: Callable[..., InfluxServer],
    gateway: Gateway,
    tmp_path: Path,
) -> None:
    influx = influx_factory()
    settings = settings_for(
        mosquitto,
        influx,
        tmp_path / "state",
        alerts=False,
        influx_timeout=1.0,
        unhealthy_after=UNHEALTHY_AFTER,
    )
    with running_collector(settings) as collector:
        wait_until(lambda: healthz(collector)[0] == 200, 30, what="a healthy collector")
        wait_until(lambda: gateway.sent >= 3, 30, what="readings flowing")
        influx.pause()
        try:
            hung_at = time.monotonic()
            # The first failed write shows at once, long before the threshold.
            wait_until(
                lambda: float(healthz(collector)[1]["influxdb_failing_for_s"]) > 0,  # type: ignore[arg-type]
                UNHEALTHY_AFTER,
                interval=0.2,
                what="the failing write to show",
            )
            assert healthz(collector)[0] == 200
            deadline = UNHEALTHY_AFTER + settings.flush_interval + settings.influx_timeout + 2
            wait_until(lambda: healthz(collector)[0] == 503, deadline, interval=0.2, what="503")
            status, details = healthz(collector)
            assert status == 503
            assert details["status"] == "unhealthy"
            # What passed the threshold: the failing writes, the write in hand since the hang,
            # or the messages waiting since the last acknowledgement (a little before the hang).
            durations = (
                "influxdb_failing_for_s",
                "write_pending_for_s",
                "ingest_stalled_for_s",
            )
            assert max(float(details[key]) for key in durations) >= UNHEALTHY_AFTER  # type: ignore[arg-type]
            assert float(details["influxdb_failing_for_s"]) > 0  # type: ignore[arg-type]
            assert details["mqtt_connected"] is True
            assert time.monotonic() - hung_at >= UNHEALTHY_AFTER - 1
        finally:
            influx.resume()
        wait_until(lambda: healthz(collector)[0] == 200, 60, interval=0.2, what="healthy again")
        gateway.stop()
        expected = gateway.sent
        wait_until(
            lambda: (
                pairs_by_machine(influx.url, settings.influx_db).get(("E0001", "M001")) == expected
            ),
            60,
            what="every reading stored",
        )
