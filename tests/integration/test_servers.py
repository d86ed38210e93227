"""The harness itself: the servers it starts are real and take the product's configuration."""

from collections.abc import Callable

import httpx
import paho.mqtt.client as mqtt
import pytest

from stack import InfluxServer, MosquittoServer
from stack.process import wait_until

pytestmark = pytest.mark.integration


def test_mosquitto_delivers_a_qos1_message(mosquitto: MosquittoServer) -> None:
    received: list[bytes] = []
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_message = lambda _c, _u, msg: received.append(msg.payload)
    sub.connect(mosquitto.host, mosquitto.port)
    sub.loop_start()
    try:
        sub.subscribe("harness/#", qos=1)
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        pub.connect(mosquitto.host, mosquitto.port)
        pub.loop_start()
        wait_until(sub.is_connected, 10, what="subscriber connected")

        def publish_until_received() -> bool:
            pub.publish("harness/x", b"hello", qos=1).wait_for_publish(5)
            return bool(received)

        wait_until(publish_until_received, 10, interval=0.2, what="message delivered")
        pub.loop_stop()
        pub.disconnect()
    finally:
        sub.loop_stop()
        sub.disconnect()
    assert received[0] == b"hello"


def test_mosquitto_uses_the_product_queue_limits(mosquitto: MosquittoServer) -> None:
    conf = mosquitto.conf_path.read_text()
    assert "max_queued_messages 2000000" in conf


def test_the_broker_writes_its_persistence_and_keeps_retained_messages_across_a_restart(
    mosquitto_factory: Callable[..., MosquittoServer],
) -> None:
    """Started as root (as in CI), Mosquitto would drop to its own user and fail to write its
    persistence file in a private folder; the harness and the native run keep the user."""
    server = mosquitto_factory()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.connect(server.host, server.port)
    pub.loop_start()
    pub.publish("harness/kept", b"retained", qos=1, retain=True).wait_for_publish(10)
    pub.disconnect()
    pub.loop_stop()
    server.stop()  # a graceful stop saves the in-memory database
    assert (server.workdir / "data" / "mosquitto.db").stat().st_size > 0
    server.start()
    received: list[bytes] = []
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_message = lambda _c, _u, msg: received.append(msg.payload)
    sub.on_connect = lambda c, *_args: c.subscribe("harness/kept", qos=1)
    sub.connect(server.host, server.port)
    sub.loop_start()
    try:
        wait_until(lambda: bool(received), 10, what="the retained message after the restart")
    finally:
        sub.loop_stop()
        sub.disconnect()
    assert received == [b"retained"]


def test_influxdb_answers_queries(influx: InfluxServer) -> None:
    resp = httpx.post(f"{influx.url}/query", data={"q": "CREATE DATABASE harness"})
    assert resp.status_code == 200
    resp = httpx.post(
        f"{influx.url}/write", params={"db": "harness", "precision": "ms"}, content=b"m v=1i 1000"
    )
    assert resp.status_code == 204
    resp = httpx.get(f"{influx.url}/query", params={"db": "harness", "q": "SELECT sum(v) FROM m"})
    assert resp.json()["results"][0]["series"][0]["values"][0][1] == 1
