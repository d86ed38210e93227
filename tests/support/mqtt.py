"""Small MQTT clients for tests: a publisher and a recording subscriber."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import paho.mqtt.client as mqtt

from stack import MosquittoServer
from stack.process import wait_until


class Recorder:
    """Subscribes to a filter and keeps every message, (topic, payload, retain)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()

    def on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain)))

    def payloads(self, topic: str) -> list[bytes]:
        with self._lock:
            return [p for t, p, _r in self.messages if t == topic]


@contextmanager
def publisher(server: MosquittoServer) -> Iterator[mqtt.Client]:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect(server.host, server.port)
    client.loop_start()
    try:
        wait_until(client.is_connected, 10, what="publisher connected")
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


@contextmanager
def recorder(server: MosquittoServer, topic_filter: str) -> Iterator[Recorder]:
    rec = Recorder()
    subscribed = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_message = rec.on_message
    client.on_subscribe = lambda *_args: subscribed.set()
    client.on_connect = lambda c, *_args: c.subscribe(topic_filter, qos=1)
    client.connect(server.host, server.port)
    client.loop_start()
    try:
        wait_until(subscribed.is_set, 10, what=f"subscribed to {topic_filter}")
        yield rec
    finally:
        client.disconnect()
        client.loop_stop()
