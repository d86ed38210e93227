"""The selector-driven MQTT connection (the simulator's gateways) against a real Mosquitto."""

import selectors
from collections.abc import Callable, Iterator

import pytest

from mqtt.client import ClientOptions
from mqtt.connection import Connection, ConnectionHandler
from mqtt.protocol import ConnAck, SessionOptions, Will
from stack import MosquittoServer
from stack.process import wait_until
from tests.support.mqtt import recorder

pytestmark = pytest.mark.integration

# Topics of these tests alone: the session's broker keeps other tests' retained statuses.
STATUS = "test/mqtt-connection/will/status"
TOPIC = "test/mqtt-connection/will/data"
OTHER_STATUS = "test/mqtt-connection/clean/status"
OTHER_TOPIC = "test/mqtt-connection/clean/data"
DEADLINE = 20.0


class Events(ConnectionHandler):
    def __init__(self) -> None:
        self.connacks: list[ConnAck] = []
        self.refusals: list[ConnAck] = []
        self.losses: list[str] = []

    def on_connect(self, connack: ConnAck) -> None:
        self.connacks.append(connack)

    def on_refused(self, connack: ConnAck) -> None:
        self.refusals.append(connack)

    def on_lost(self, reason: str) -> None:
        self.losses.append(reason)


class Loop:
    """One selector driving connections, as the simulator's fleet does."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()

    def until(self, done: Callable[[], bool], what: str) -> None:
        def step() -> bool:
            for key, mask in self.selector.select(0.02):
                connection: Connection = key.data
                if mask & selectors.EVENT_READ:
                    connection.handle_read()
                if mask & selectors.EVENT_WRITE:
                    connection.flush()
            return done()

        wait_until(step, DEADLINE, what=what)


@pytest.fixture
def loop() -> Iterator[Loop]:
    driver = Loop()
    yield driver
    driver.selector.close()


def connection(
    server: MosquittoServer, loop: Loop, client_id: str, **session: object
) -> tuple[Connection, Events]:
    events = Events()
    options = ClientOptions(
        server.host,
        server.port,
        SessionOptions(client_id, clean_start=True, **session),  # type: ignore[arg-type]
    )
    return Connection(options, loop.selector, events), events


def test_publications_are_acknowledged_and_an_abort_publishes_the_will(
    mosquitto: MosquittoServer, loop: Loop
) -> None:
    will = Will(STATUS, b'{"online": false}', qos=1, retain=True)
    conn, events = connection(mosquitto, loop, "conn-will", will=will)
    with recorder(mosquitto, "test/mqtt-connection/will/#") as rec:
        conn.open()
        loop.until(lambda: conn.connected, "CONNACK")
        for n in range(500):
            conn.publish(TOPIC, b"%d" % n)
        conn.flush()
        loop.until(lambda: conn.pending == 0, "every PUBACK")
        wait_until(lambda: len(rec.payloads(TOPIC)) == 500, DEADLINE, what="500 messages")
        assert rec.payloads(TOPIC) == [b"%d" % n for n in range(500)]
        conn.abort()  # no DISCONNECT: the broker publishes the Will
        wait_until(lambda: rec.payloads(STATUS) == [will.payload], DEADLINE, what="the Will")
    assert len(events.connacks) == 1
    assert events.losses == []  # an abort is not reported as a loss


def test_a_clean_disconnect_leaves_no_will_and_a_reconnect_resends(
    mosquitto: MosquittoServer, loop: Loop
) -> None:
    will = Will(OTHER_STATUS, b"will", qos=1, retain=False)
    conn, events = connection(mosquitto, loop, "conn-clean", will=will)
    with recorder(mosquitto, "test/mqtt-connection/clean/#") as rec:
        conn.publish(OTHER_TOPIC, b"before connecting")  # waits in the session
        assert conn.pending == 1
        conn.open()
        loop.until(lambda: conn.pending == 0, "the waiting publication acknowledged")
        conn.disconnect()
        loop.until(lambda: conn.closed, "closed after DISCONNECT")
        conn.open()
        loop.until(lambda: conn.connected, "second CONNACK")
        conn.disconnect()
        loop.until(lambda: conn.closed, "closed again")
        wait_until(lambda: rec.payloads(OTHER_TOPIC) == [b"before connecting"], DEADLINE, what="it")
        assert rec.payloads(OTHER_STATUS) == []
    assert len(events.connacks) == 2
    assert events.losses == []


def test_a_broker_restart_is_a_loss_and_nothing_published_is_lost(
    mosquitto_factory: Callable[..., MosquittoServer], loop: Loop
) -> None:
    server = mosquitto_factory()
    conn, events = connection(server, loop, "conn-restart")
    conn.open()
    loop.until(lambda: conn.connected, "CONNACK")
    server.stop()
    loop.until(lambda: bool(events.losses), "the loss noticed")
    for n in range(10):
        conn.publish(TOPIC, b"%d" % n)  # while away: kept by the session
    server.start()
    with recorder(server, TOPIC) as rec:
        conn.open()
        loop.until(lambda: conn.pending == 0, "resent and acknowledged")
        wait_until(lambda: len(rec.payloads(TOPIC)) == 10, DEADLINE, what="10 messages")
        assert rec.payloads(TOPIC) == [b"%d" % n for n in range(10)]
    conn.close()


def test_a_refusal_is_reported_with_its_reason(
    mosquitto_factory: Callable[..., MosquittoServer], loop: Loop
) -> None:
    server = mosquitto_factory(extra_conf="allow_anonymous false")
    conn, events = connection(server, loop, "conn-refused")
    conn.open()
    loop.until(lambda: bool(events.refusals), "the refusal")
    assert events.refusals[0].reason_code == 135  # not authorized
    assert conn.closed
    assert events.losses == []
