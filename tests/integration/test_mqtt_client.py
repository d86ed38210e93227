"""The product's MQTT client against a real Mosquitto running the product's broker settings."""

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import mqtt5
import pytest

from mqtt.client import ClientOptions, Handler, MqttClient
from mqtt.errors import MqttUnavailableError
from mqtt.protocol import ConnAck, Event, PacketReader, Publish, SessionOptions
from stack import MosquittoServer
from stack.process import wait_until
from tests.support.mqtt import publisher, recorder

pytestmark = pytest.mark.integration

TOPIC = "hosiery/v1/E0001/M001/counter"
DEADLINE = 30.0


class Recording(Handler):
    """Keeps what the client reports."""

    def __init__(self) -> None:
        self.messages: list[tuple[Publish, int]] = []
        self.connacks: list[ConnAck] = []
        self.disconnects: list[tuple[str, int | None]] = []
        self.subscriptions: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def on_connect(self, connack: ConnAck, _connection: int) -> None:
        self.connacks.append(connack)

    def on_subscribe(self, pattern: str, reason_code: int, _connection: int) -> None:
        self.subscriptions.append((pattern, reason_code))

    def on_message(self, message: Publish, connection: int) -> None:
        with self._lock:
            self.messages.append((message, connection))

    def on_disconnect(self, reason: str, reason_code: int | None, _connection: int) -> None:
        self.disconnects.append((reason, reason_code))

    def payloads(self) -> list[bytes]:
        with self._lock:
            return [m.payload for m, _c in self.messages]

    def ack_all(self, client: MqttClient) -> None:
        with self._lock:
            pending = list(self.messages)
        for connection in sorted({c for _m, c in pending}):
            client.ack_many([m.packet_id for m, c in pending if c == connection], connection)


Clients = Callable[..., tuple[MqttClient, Recording]]


@pytest.fixture
def clients() -> Iterator[Clients]:
    made: list[MqttClient] = []

    def make(
        server: MosquittoServer, client_id: str, **session: Any
    ) -> tuple[MqttClient, Recording]:
        handler = Recording()
        options = ClientOptions(
            server.host,
            server.port,
            SessionOptions(client_id, session_expiry=3600, **session),
            reconnect_min_delay=0.2,
            reconnect_max_delay=1.0,
        )
        made.append(MqttClient(options, handler))
        return made[-1], handler

    yield make
    for client in made:
        client.stop()


def publish_all(server: MosquittoServer, payloads: list[bytes], topic: str = TOPIC) -> None:
    with publisher(server) as pub:
        infos = [pub.publish(topic, payload, qos=1) for payload in payloads]
        for info in infos:
            info.wait_for_publish(DEADLINE)


def numbered(count: int) -> list[bytes]:
    return [str(i).encode() for i in range(count)]


def raw_connection(server: MosquittoServer, client_id: str) -> tuple[socket.socket, Any]:
    """A bare socket that has connected as ``client_id`` (MQTT v5, read with the codec)."""
    sock = socket.create_connection((server.host, server.port), timeout=DEADLINE)
    sock.sendall(mqtt5.ConnectPacket(client_id, session_expiry_interval=3600).write())
    return sock, next_packet(sock, PacketReader())


def next_packet(sock: socket.socket, reader: PacketReader) -> Any:
    while True:
        data = sock.recv(65_536)
        if not data:
            return None
        packets = reader.feed(data)
        if packets:
            return packets[0]


# ----------------------------------------------------------------------------- sessions


def test_a_reconnect_resumes_the_session_and_resends_what_was_not_acknowledged(
    mosquitto_factory: Callable[..., MosquittoServer], clients: Clients
) -> None:
    server = mosquitto_factory(extra_conf="allow_anonymous true")
    client, handler = clients(server, "client-resume", receive_maximum=10)
    client.subscribe("hosiery/v1/#", 1, no_local=True)
    assert client.start(10).session_present is False
    publish_all(server, numbered(30))
    wait_until(lambda: len(handler.messages) == 10, DEADLINE, what="the window of 10")

    server.stop()  # saves the session with its queue and the 10 unacknowledged messages
    wait_until(lambda: not client.connected, DEADLINE, what="the loss noticed")
    while_down = client.publish("hosiery/v1/_rejected", b"while down", 1)
    server.start()
    with recorder(server, "hosiery/v1/_rejected") as control:
        wait_until(lambda: client.connected, DEADLINE, what="reconnected by itself")
        assert while_down.wait_for_publish(DEADLINE)
        wait_until(lambda: control.payloads("hosiery/v1/_rejected") != [], DEADLINE, what="sent")
    assert [c.session_present for c in handler.connacks] == [False, True]
    assert client.connection == 2

    # The first connection's packet ids are void on the second.
    first = [m for m, c in handler.messages if c == 1]
    assert client.ack_many([m.packet_id for m in first], 1) is False

    def all_in() -> bool:
        handler.ack_all(client)
        return len(handler.messages) >= 40

    wait_until(all_in, DEADLINE, interval=0.05, what="the rest after the reconnect")
    second = [m for m, c in handler.messages if c == 2]
    assert [m.payload for m in second[:10]] == numbered(10)
    assert all(m.dup for m in second[:10])
    assert [m.payload for m in second[10:]] == numbered(30)[10:]


def test_a_session_taken_over_ends_the_connection_and_the_client_comes_back(
    mosquitto_factory: Callable[..., MosquittoServer], clients: Clients
) -> None:
    """Mosquitto 2.0.11 closes the old connection without a DISCONNECT (no reason 142)."""
    server = mosquitto_factory(extra_conf="allow_anonymous true")
    client, handler = clients(server, "client-twin")
    client.subscribe("hosiery/v1/#", 1)
    client.start(10)
    twin, connack = raw_connection(server, "client-twin")
    try:
        assert isinstance(connack, mqtt5.ConnAckPacket)
        wait_until(lambda: handler.disconnects != [], DEADLINE, what="the takeover noticed")
    finally:
        twin.close()
    assert handler.disconnects[0] == ("connection closed by the broker", None)
    wait_until(lambda: client.connected, DEADLINE, what="back after the takeover")
    publish_all(server, [b"after"])
    wait_until(lambda: handler.payloads() == [b"after"], DEADLINE, what="delivery afterwards")


def test_a_disconnect_with_a_reason_code_is_reported_and_the_client_comes_back(
    mosquitto: MosquittoServer, clients: Clients
) -> None:
    """The product's broker answers a packet over its max_packet_size with DISCONNECT 149."""
    client, handler = clients(mosquitto, "client-kicked")
    client.subscribe("hosiery/v1/E0008/#", 1)
    client.start(10)
    # Written past the session (which refuses such a publication itself, see below), as a
    # misbehaving client would.
    big = mqtt5.PublishPacket("hosiery/v1/_rejected", b"x" * 140_000).write()
    with client._lock:
        assert client._sock is not None
        client._sock.sendall(big)
    wait_until(lambda: handler.disconnects != [], DEADLINE, what="the broker's DISCONNECT")
    assert handler.disconnects[0] == ("disconnected by the broker: packet too large", 149)
    wait_until(lambda: client.connected, DEADLINE, what="reconnected")
    publish_all(mosquitto, [b"after"], topic="hosiery/v1/E0008/M001/counter")
    wait_until(lambda: handler.payloads() == [b"after"], DEADLINE, what="delivery afterwards")


def test_a_publication_over_the_brokers_limit_is_refused_without_costing_the_connection(
    mosquitto: MosquittoServer, clients: Clients
) -> None:
    client, handler = clients(mosquitto, "client-big-publisher")
    client.start(10)
    info = client.publish("hosiery/v1/_rejected", b"x" * 140_000, 1)
    assert info.wait_for_publish(DEADLINE)
    assert info.reason_code == 149
    small = client.publish("hosiery/v1/_rejected", b"small", 1)
    assert small.wait_for_publish(DEADLINE)
    assert small.reason_code in (0, 16)  # 16: accepted, no subscriber
    assert handler.disconnects == []


# ----------------------------------------------------------------------------- reading


def test_a_backlog_arrives_complete_in_order_with_hundreds_of_packets_per_read(
    mosquitto_factory: Callable[..., MosquittoServer], clients: Clients
) -> None:
    server = mosquitto_factory(extra_conf="allow_anonymous true")
    client, handler = clients(server, "client-backlog", receive_maximum=65_535)
    client.subscribe("hosiery/v1/#", 1)
    client.start(10)
    client.stop()
    count = 20_000
    payloads = [b'{"seq":%d,"padding":"%s"}' % (i, b"x" * 100) for i in range(count)]
    publish_all(server, payloads)

    client, handler = clients(server, "client-backlog", receive_maximum=65_535)
    per_read: list[int] = []
    buffered: list[int] = []
    receive = client.session.receive

    def recording(data: bytes | bytearray | memoryview) -> list[Event]:
        events = receive(data)
        per_read.append(len(events))
        buffered.append(client.session.reader.buffered)
        return events

    client.session.receive = recording  # type: ignore[method-assign]
    client.subscribe("hosiery/v1/#", 1)
    assert client.start(10).session_present is True

    def all_in() -> bool:
        handler.ack_all(client)
        return len(handler.messages) >= count

    wait_until(all_in, 60, interval=0.05, what=f"{count} messages")
    assert handler.payloads() == payloads
    assert max(per_read) >= 200
    # Reads end in the middle of packets, which are completed by the next read.
    assert any(buffered)


def test_the_broker_drops_messages_above_a_clients_maximum_packet_size(
    mosquitto: MosquittoServer, clients: Clients
) -> None:
    """Why the collector's Maximum Packet Size must exceed the broker's: no error, no trace."""
    small, small_handler = clients(mosquitto, "client-small", maximum_packet_size=1024)
    large, large_handler = clients(mosquitto, "client-large")
    for client in (small, large):
        client.subscribe("hosiery/v1/E0778/#", 1)
        client.start(10)
    publish_all(mosquitto, [b"x" * 2000, b"small"], topic="hosiery/v1/E0778/M001/counter")
    wait_until(lambda: len(large_handler.messages) == 2, DEADLINE, what="both at the large one")
    wait_until(lambda: small_handler.payloads() == [b"small"], DEADLINE, what="the small one")
    assert small_handler.disconnects == []


def test_a_publisher_over_the_brokers_packet_limit_is_refused_visibly(
    mosquitto: MosquittoServer,
) -> None:
    """The product's broker (max_packet_size 131072) disconnects it with reason 149."""
    sock, connack = raw_connection(mosquitto, "oversized-publisher")
    with sock:
        assert isinstance(connack, mqtt5.ConnAckPacket)
        assert connack.max_packet_size == 131_072
        big = mqtt5.PublishPacket(TOPIC, b"x" * 140_000, qos=mqtt5.QoS.AT_LEAST_ONCE, packet_id=1)
        sock.sendall(big.write())
        answer = next_packet(sock, PacketReader())
    assert isinstance(answer, mqtt5.DisconnectPacket)
    assert int(answer.reason_code) == 149  # packet too large


def test_a_message_at_the_brokers_limit_reaches_the_collectors_default_limit_only(
    mosquitto: MosquittoServer, clients: Clients
) -> None:
    """Why the collector's default Maximum Packet Size is above the broker's, not equal to it.

    The broker (max_packet_size 131072) accepts a packet of up to 131071 bytes after its fixed
    header byte; what it sends a subscriber of that message is as large, and it checks the
    subscriber's limit on that, so a subscriber announcing exactly 131072 never gets it.
    """
    equal, equal_handler = clients(mosquitto, "client-equal", maximum_packet_size=131_072)
    collector, collector_handler = clients(
        mosquitto,
        "client-collector",
        maximum_packet_size=262_144,  # the collector's default
    )
    for client in (equal, collector):
        # Not hosiery/v1/#: the session-wide broker keeps other tests' retained messages.
        client.subscribe("hosiery/v1/E0777/#", 1)
        client.start(10)
    payload = b"x" * 65_536  # message_size_limit
    # remaining length: topic (2 + n) + packet id (2) + properties (1) + payload = 131071
    topic = "hosiery/v1/E0777/" + "M" * (131_071 - 5 - len(payload) - 17 - 8) + "/counter"
    sock, _connack = raw_connection(mosquitto, "edge-publisher")
    with sock:
        packet = mqtt5.PublishPacket(topic, payload, qos=mqtt5.QoS.AT_LEAST_ONCE, packet_id=1)
        sock.sendall(packet.write())
        answer = next_packet(sock, PacketReader())
    assert isinstance(answer, mqtt5.PubAckPacket)
    assert int(answer.reason_code) == 0  # accepted
    publish_all(mosquitto, [b"after"], topic="hosiery/v1/E0777/M001/counter")
    wait_until(lambda: len(collector_handler.messages) == 2, DEADLINE, what="both at the collector")
    wait_until(lambda: equal_handler.payloads() == [b"after"], DEADLINE, what="the small one")
    assert collector_handler.messages[0][0].payload == payload


# ----------------------------------------------------------------------------- keep alive


def test_keep_alive_holds_a_connection_whose_network_thread_is_blocked(
    mosquitto_factory: Callable[..., MosquittoServer], clients: Clients
) -> None:
    """A handler blocked for longer than 1.5 keep-alive periods does not cost the connection."""
    server = mosquitto_factory(extra_conf="allow_anonymous true")
    release = threading.Event()
    blocked = threading.Event()

    class Blocking(Recording):
        def on_message(self, message: Publish, connection: int) -> None:
            blocked.set()
            release.wait(DEADLINE)
            super().on_message(message, connection)

    handler = Blocking()
    options = ClientOptions(server.host, server.port, SessionOptions("client-blocked", keepalive=1))
    client = MqttClient(options, handler)
    client.subscribe("hosiery/v1/#", 1)
    client.start(10)
    try:
        publish_all(server, [b"first"])
        wait_until(blocked.is_set, DEADLINE, what="the handler blocked")
        # Mosquitto closes a connection silent for 1.5 s; wait for 3 PINGREQs' worth of time
        # by waiting for a round trip that needs the broker's answer to later packets.
        done = client.publish("hosiery/v1/_rejected", b"x", 1)
        assert not done.wait_for_publish(3.5)  # the PUBACK waits unread behind the handler
        release.set()
        assert done.wait_for_publish(DEADLINE)
        assert handler.disconnects == []
        assert client.connection == 1
    finally:
        release.set()
        client.stop()


# ----------------------------------------------------------------------------- start-up


def test_a_broker_that_accepts_tcp_but_never_answers_is_a_timeout() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    with listener:
        port = listener.getsockname()[1]
        options = ClientOptions("127.0.0.1", port, SessionOptions("client-silent"))
        client = MqttClient(options, Handler())
        with pytest.raises(MqttUnavailableError) as caught:
            client.start(0.5)
    assert str(caught.value) == (
        f"cannot connect to mqtt://127.0.0.1:{port}: no answer from the broker within 0.5s"
    )
