"""The MQTT source's own logic, with a simulated transport in place of the MQTT client.

The simulated transport plays the client's part the way :class:`mqtt.client.MqttClient` does:
CONNACK and SUBACK during ``start``, messages and connection changes through the handler's
callbacks, acknowledgements recorded per connection.
"""

import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import mqtt5
import pytest
from structlog.testing import capture_logs

from collector.delivery import Delivery
from collector.errors import MqttRefusedError, MqttUnavailableError
from collector.session import MAXIMUM_PACKET_SIZE, MqttSourceConfig, client_options
from collector.source import MqttSource
from contract import SUBSCRIPTION
from mqtt import errors as mqtt_errors
from mqtt.client import Handler, PublishInfo, Request
from mqtt.protocol import ConnAck, Outgoing, Publish, Session


class SimulatedClient:
    """Records what the source asks of its client and simulates the broker's answers."""

    def __init__(self) -> None:
        self.handler: Handler | None = None
        self.start_error: mqtt_errors.MqttError | None = None
        self.suback = 1
        self.broker_max_packet_size: int | None = 131_072
        self.subscriptions: list[tuple[str, int, bool]] = []
        self.acks: list[tuple[int, int]] = []  # (packet id, connection)
        self.published: list[tuple[str, bytes | str, int, bool]] = []
        self.calls: list[str] = []
        self.connection = 0
        self._live: int | None = None
        self._session_connected = False
        self._confirmed = False
        self._packet_id = 0

    # ----------------------------------------------------------------- the client's API

    @property
    def connected(self) -> bool:
        return self._session_connected and self._confirmed

    def subscribe(self, pattern: str, qos: int = 1, *, no_local: bool = False) -> None:
        self.subscriptions.append((pattern, qos, no_local))

    def start(self, timeout: float = 10.0) -> ConnAck:
        self.calls.append(f"start {timeout:g}")
        if self.start_error is not None:
            raise self.start_error
        return self.reconnect_now(session_present=False)

    def stop(self, timeout: float = 5.0) -> None:
        self.calls.append(f"stop {timeout:g}")
        if self._session_connected:
            self._end("stopped", None)

    def ack_many(self, packet_ids: Iterable[int], connection: int) -> bool:
        if connection != self._live:
            return False
        self.acks.extend((packet_id, connection) for packet_id in packet_ids)
        return True

    def publish(
        self, topic: str, payload: bytes | str, qos: int = 1, *, retain: bool = False
    ) -> PublishInfo:
        self.published.append((topic, payload, qos, retain))
        data = payload.encode() if isinstance(payload, str) else payload
        return PublishInfo(Outgoing(topic, data, qos, retain))

    def unsubscribe(self, pattern: str) -> Request:
        self.calls.append(f"unsubscribe {pattern}")
        request = Request()
        threading.Thread(target=request._finish, args=((17,),)).start()  # UNSUBACK
        return request

    # ------------------------------------------------------------- the broker's side

    def reconnect_now(self, *, session_present: bool = True) -> ConnAck:
        assert self.handler is not None
        self.connection += 1
        self._live = self.connection
        self._session_connected = True
        self._confirmed = False
        self._packet_id = 0
        connack = ConnAck(session_present, 0, None, 1000, self.broker_max_packet_size, None)
        self.handler.on_connect(connack, self.connection)
        for pattern, _qos, _no_local in self.subscriptions:
            self.handler.on_subscribe(pattern, self.suback, self.connection)
        self._confirmed = self.suback < 128
        return connack

    def deliver(
        self, topic: str, payload: bytes, *, qos: int = 1, dup: bool = False, retain: bool = False
    ) -> int:
        assert self.handler is not None
        self._packet_id += 1
        message = Publish(topic, payload, qos, retain, self._packet_id if qos else 0, dup)
        self.handler.on_message(message, self.connection)
        return self._packet_id

    def lose_connection(self, reason_code: int | None = None) -> None:
        self._end("connection lost: connection reset by peer", reason_code)

    def _end(self, reason: str, reason_code: int | None) -> None:
        assert self.handler is not None
        self._live = None
        self._session_connected = False
        self.handler.on_disconnect(reason, reason_code, self.connection)


@pytest.fixture
def client() -> SimulatedClient:
    return SimulatedClient()


def factory(client: SimulatedClient):  # type: ignore[no-untyped-def]
    def make(_config: MqttSourceConfig, handler: Handler) -> SimulatedClient:
        client.handler = handler
        return client

    return make


@pytest.fixture
def source(client: SimulatedClient) -> Iterator[MqttSource]:
    ticks = iter(range(1_000_000_000, 2_000_000_000))
    made = MqttSource(
        MqttSourceConfig(port=1884, client_id="collector-a", receive_maximum=100),
        client_factory=factory(client),
        clock=lambda: next(ticks),
    )
    yield made
    made.stop()


def started(source: MqttSource) -> MqttSource:
    source.start(timeout=10)
    return source


# ----------------------------------------------------------------------------- start-up


def test_start_opens_a_persistent_v5_session_with_the_backpressure_window(
    client: SimulatedClient, source: MqttSource
) -> None:
    started(source)
    options = client_options(source.config)
    assert (options.host, options.port, options.tls_ca) == ("127.0.0.1", 1884, None)
    # What goes on the wire, read back with the codec.
    connect, _size = mqtt5.read(memoryview(Session(options.session).connect()))
    assert isinstance(connect, mqtt5.ConnectPacket)
    assert connect.client_id == "collector-a"
    assert connect.clean_start is False
    assert connect.session_expiry_interval == 86_400
    assert connect.receive_max == 100
    assert connect.max_packet_size == MAXIMUM_PACKET_SIZE
    assert connect.keep_alive == 30
    assert source.connected
    assert source.generation == 1


def test_start_subscribes_at_qos1_without_receiving_its_own_messages(
    client: SimulatedClient, source: MqttSource
) -> None:
    started(source)
    assert client.subscriptions == [(SUBSCRIPTION, 1, True)]


def test_refused_connection_raises_one_line(client: SimulatedClient, source: MqttSource) -> None:
    client.start_error = mqtt_errors.MqttRefusedError(
        "mqtt://127.0.0.1:1884 refused the connection: not authorized", 135
    )
    with pytest.raises(MqttRefusedError) as caught:
        source.start(timeout=10)
    assert str(caught.value) == "mqtt://127.0.0.1:1884 refused the connection: not authorized"
    assert caught.value.__cause__ is None
    assert not source.connected
    source.stop()
    assert client.calls == ["start 10"]  # the client stopped itself when start failed


def test_refused_subscription_raises(client: SimulatedClient, source: MqttSource) -> None:
    client.start_error = mqtt_errors.MqttRefusedError(
        "mqtt://127.0.0.1:1884 refused the subscription to hosiery/v1/#: not authorized", 135
    )
    with pytest.raises(MqttRefusedError, match=r"refused the subscription to hosiery/v1/#"):
        source.start(timeout=10)


def test_unreachable_broker_raises_one_line(client: SimulatedClient, source: MqttSource) -> None:
    client.start_error = mqtt_errors.MqttUnavailableError(
        "cannot connect to mqtt://127.0.0.1:1884: connection refused"
    )
    with pytest.raises(MqttUnavailableError) as caught:
        source.start(timeout=10)
    assert str(caught.value) == "cannot connect to mqtt://127.0.0.1:1884: connection refused"


def test_a_broker_that_never_answers_raises_after_the_timeout(
    client: SimulatedClient, source: MqttSource
) -> None:
    client.start_error = mqtt_errors.MqttUnavailableError(
        "cannot connect to mqtt://127.0.0.1:1884: no answer from the broker within 0.05s"
    )
    with pytest.raises(MqttUnavailableError, match=r"no answer from the broker within 0.05s"):
        source.start(timeout=0.05)
    assert client.calls == ["start 0.05"]


def test_a_broker_that_closes_the_connection_at_once_is_one_clear_error(
    client: SimulatedClient, source: MqttSource
) -> None:
    client.start_error = mqtt_errors.MqttDisconnectedError(
        "cannot connect to mqtt://127.0.0.1:1884: "
        "the broker closed the connection before accepting it",
        136,
    )
    with pytest.raises(MqttUnavailableError) as caught:
        source.start(timeout=10)
    assert str(caught.value) == (
        "cannot connect to mqtt://127.0.0.1:1884: "
        "the broker closed the connection before accepting it"
    )
    assert source.stats().disconnects == 0


def test_a_source_starts_only_once(source: MqttSource) -> None:
    started(source)
    with pytest.raises(RuntimeError, match="only once"):
        source.start()


# ----------------------------------------------------------------------------- intake


def test_messages_become_deliveries_in_arrival_order(
    client: SimulatedClient, source: MqttSource
) -> None:
    started(source)
    client.deliver("hosiery/v1/E1/M1/counter", b'{"a":1}')
    client.deliver("hosiery/v1/E1/status", b'{"online":true}', retain=True, dup=True)
    client.deliver("hosiery/v1/E1/M2/counter", b"x", qos=0)
    batch = source.drain(10, timeout=0)
    assert batch == [
        Delivery("hosiery/v1/E1/M1/counter", b'{"a":1}', 1, 1, False, False, 1, 1_000_000_000),
        Delivery("hosiery/v1/E1/status", b'{"online":true}', 1, 2, True, True, 1, 1_000_000_001),
        Delivery("hosiery/v1/E1/M2/counter", b"x", 0, 0, False, False, 1, 1_000_000_002),
    ]
    assert source.stats().received == 3


def test_drain_batches_deliveries(client: SimulatedClient, source: MqttSource) -> None:
    started(source)
    for i in range(5):
        client.deliver("hosiery/v1/E1/M1/counter", str(i).encode())
    assert [d.payload for d in source.drain(3, timeout=0)] == [b"0", b"1", b"2"]
    assert source.stats().intake_depth == 2
    assert [d.payload for d in source.drain(3, timeout=0)] == [b"3", b"4"]


def test_the_intake_holds_twice_the_receive_window_by_default() -> None:
    assert MqttSourceConfig(receive_maximum=500).capacity == 1000
    assert MqttSourceConfig(receive_maximum=500, intake_capacity=700).capacity == 700


def test_a_failing_callback_never_escapes_into_the_network_thread(client: SimulatedClient) -> None:
    def broken_clock() -> int:
        raise OverflowError("clock broke")

    source = MqttSource(
        MqttSourceConfig(client_id="c"), client_factory=factory(client), clock=broken_clock
    )
    started(source)
    with capture_logs() as logs:
        client.deliver("hosiery/v1/E1/M1/counter", b"{}")
    assert [e["event"] for e in logs] == ["mqtt on_message failed"]
    source.stop()


# ----------------------------------------------------------------------------- acks


def test_acks_go_out_in_the_order_given(client: SimulatedClient, source: MqttSource) -> None:
    started(source)
    for i in range(4):
        client.deliver("hosiery/v1/E1/M1/counter", str(i).encode())
    batch = source.drain(10, timeout=0)
    assert source.ack(batch[0]) is True
    assert source.ack_many(batch[1:]) == 3
    assert client.acks == [(1, 1), (2, 1), (3, 1), (4, 1)]  # (packet id, connection)
    assert source.stats().acked == 4


def test_qos0_deliveries_need_no_ack(client: SimulatedClient, source: MqttSource) -> None:
    started(source)
    client.deliver("hosiery/v1/E1/M1/counter", b"0", qos=0)
    client.deliver("hosiery/v1/E1/M1/counter", b"1", qos=1)
    batch = source.drain(10, timeout=0)
    assert source.ack(batch[0]) is True
    assert source.ack_many(batch) == 1
    assert client.acks == [(2, 1)]


def test_acks_of_deliveries_from_a_lost_connection_are_skipped(
    client: SimulatedClient, source: MqttSource
) -> None:
    started(source)
    client.deliver("hosiery/v1/E1/M1/counter", b"old-1")
    client.deliver("hosiery/v1/E1/M1/counter", b"old-2")
    old = source.drain(10, timeout=0)

    client.lose_connection()
    assert not source.connected
    # Still lost: nothing may be acknowledged, the packet identifiers are void.
    assert source.ack(old[0]) is False

    client.reconnect_now(session_present=True)
    assert source.generation == 2
    # The broker redelivers the unacknowledged messages with new packet identifiers.
    client.deliver("hosiery/v1/E1/M1/counter", b"old-1", dup=True)
    client.deliver("hosiery/v1/E1/M1/counter", b"old-2", dup=True)
    new = source.drain(10, timeout=0)
    assert [d.generation for d in new] == [2, 2]
    assert [d.dup for d in new] == [True, True]

    assert source.ack_many([*old, *new]) == 2
    assert client.acks == [(1, 2), (2, 2)]
    stats = source.stats()
    assert stats.stale_acks == 3
    assert stats.acked == 2
    assert (stats.connects, stats.disconnects, stats.sessions_lost) == (2, 1, 0)


def test_a_reconnect_without_the_session_is_counted_and_logged(
    client: SimulatedClient, source: MqttSource
) -> None:
    started(source)
    client.lose_connection()
    with capture_logs() as logs:
        client.reconnect_now(session_present=False)
    assert source.stats().sessions_lost == 1
    assert any(e["event"].startswith("mqtt session lost") for e in logs)


def test_a_first_connection_without_the_session_is_lost_only_for_a_collector_with_a_state(
    client: SimulatedClient,
) -> None:
    def first_start(*, expect_session: bool) -> MqttSource:
        source = MqttSource(
            MqttSourceConfig(port=1884, client_id="collector-a"), client_factory=factory(client)
        )
        source.start(timeout=10, expect_session=expect_session)
        source.stop()
        return source

    # The simulated broker answers the first CONNECT without a session.
    assert first_start(expect_session=False).stats().sessions_lost == 0
    with capture_logs() as logs:
        restarted = first_start(expect_session=True)
    assert restarted.stats().sessions_lost == 1
    assert any(e["event"].startswith("mqtt session lost") for e in logs)


def test_connected_means_the_subscription_is_confirmed_too(
    client: SimulatedClient, source: MqttSource
) -> None:
    started(source)
    client.lose_connection()
    client.suback = 135
    with capture_logs() as logs:
        client.reconnect_now()
    assert not source.connected
    assert source.stats().connects == 2
    assert [(e["event"], e["log_level"]) for e in logs if e["log_level"] == "error"] == [
        ("mqtt subscription refused; nothing arrives until the next reconnect", "error")
    ]


def test_losing_the_connection_is_logged_as_a_warning(
    client: SimulatedClient, source: MqttSource
) -> None:
    started(source)
    with capture_logs() as logs:
        client.lose_connection()
    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("mqtt connection lost; reconnecting", "warning")
    ]


# ----------------------------------------------------------------------------- stop, publish


def test_stop_confirms_acks_with_a_round_trip_before_disconnecting(
    client: SimulatedClient, source: MqttSource
) -> None:
    started(source)
    client.deliver("hosiery/v1/E1/M1/counter", b"x")
    source.ack_many(source.drain(1, timeout=0))
    source.stop()
    assert client.calls[-2:] == ["unsubscribe hosiery/v1/_collector/ack-barrier", "stop 5"]
    assert not source.connected
    assert source.stats().disconnects == 1


def test_nothing_is_acked_after_stop(client: SimulatedClient, source: MqttSource) -> None:
    started(source)
    client.deliver("hosiery/v1/E1/M1/counter", b"x")
    batch = source.drain(1, timeout=0)
    source.stop()
    assert source.ack_many(batch) == 0
    assert client.acks == []


def test_stop_releases_a_worker_waiting_in_drain(source: MqttSource) -> None:
    started(source)
    got: list[list[Delivery]] = []
    worker = threading.Thread(target=lambda: got.append(source.drain(10, timeout=60)))
    worker.start()
    source.stop()
    worker.join(10)
    assert got == [[]]


def test_publish_goes_through_the_client(client: SimulatedClient, source: MqttSource) -> None:
    started(source)
    info = source.publish("hosiery/v1/_rejected", b"{}", 1)
    assert isinstance(info, PublishInfo)
    assert not info.is_published()
    assert client.published == [("hosiery/v1/_rejected", b"{}", 1, False)]


def test_a_broker_that_accepts_larger_packets_than_the_collector_is_a_warning(
    client: SimulatedClient, source: MqttSource
) -> None:
    client.broker_max_packet_size = None  # Mosquitto without max_packet_size: no limit
    with capture_logs() as logs:
        started(source)
    (warning,) = [e for e in logs if e["log_level"] == "warning"]
    assert warning["event"].startswith("mqtt broker accepts larger messages than the collector")
    assert warning["broker_max_packet_size"] == "unlimited"
    assert warning["collector_max_packet_size"] == MAXIMUM_PACKET_SIZE


def test_a_broker_limit_below_the_collectors_is_no_warning(
    client: SimulatedClient, source: MqttSource
) -> None:
    with capture_logs() as logs:
        started(source)
    assert [e for e in logs if e["log_level"] != "info"] == []


def test_a_disconnect_by_the_broker_is_logged_with_its_reason(
    client: SimulatedClient, source: MqttSource
) -> None:
    started(source)
    with capture_logs() as logs:
        client._end("disconnected by the broker: session taken over", 142)
    assert [(e["event"], e["reason_code"]) for e in logs] == [
        ("mqtt broker closed the connection; reconnecting", 142)
    ]
    assert source.stats().disconnects == 1


# ----------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("host", "", "host"),
        ("port", 0, "port"),
        ("client_id", "", "client id"),
        ("keepalive", 0, "keepalive"),
        ("session_expiry", -1, "session expiry"),
        ("receive_maximum", 0, "receive maximum"),
        ("receive_maximum", 65_536, "receive maximum"),
        ("qos", 3, "qos"),
        ("reconnect_min_delay", 0, "reconnect"),
        ("intake_capacity", 10, "intake capacity"),
    ],
)
def test_config_rejects_bad_values(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MqttSourceConfig(**{field: value})  # type: ignore[arg-type]


def test_config_hides_the_password_and_names_the_url() -> None:
    secret = "s3cret"  # noqa: S105 - a test credential
    config = MqttSourceConfig(username="collector", password=secret, tls_ca=Path("/ca.pem"))
    assert secret not in repr(config)
    assert config.url == "mqtts://127.0.0.1:1883"
    with pytest.raises(ValueError, match="password given without a username"):
        MqttSourceConfig(password=secret)


def test_config_accepts_qos_0_and_1_only() -> None:
    assert MqttSourceConfig(qos=0).qos == 0
    with pytest.raises(ValueError, match="qos 2 is not 0 or 1"):
        MqttSourceConfig(qos=2)


def test_the_default_maximum_packet_size_is_above_the_brokers_limit() -> None:
    """The product's broker refuses larger packets than the collector accepts."""
    conf = (Path(__file__).parents[2] / "config" / "mosquitto" / "hosiery.conf").read_text()
    (line,) = [x for x in conf.splitlines() if x.startswith("max_packet_size ")]
    assert int(line.split()[1]) <= MqttSourceConfig().maximum_packet_size
