"""The MQTT source's own logic, with a paho client whose network side is simulated.

The simulated client plays the broker's part the way paho's network thread would: CONNACK and
SUBACK after ``loop_start``, UNSUBACK from another thread, messages through ``on_message``.
"""

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from structlog.testing import capture_logs

from collector.errors import MqttRefusedError, MqttUnavailableError
from collector.source import Delivery, MqttSource, MqttSourceConfig, paho_client
from contract import SUBSCRIPTION

SUCCESS = MQTTErrorCode.MQTT_ERR_SUCCESS


class SimulatedClient(mqtt.Client):
    """A real paho client whose network operations are recorded or simulated."""

    def __init__(self) -> None:
        super().__init__(
            CallbackAPIVersion.VERSION2,
            client_id="simulated",
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        self.connect_error: OSError | None = None
        self.connack = "Success"
        self.suback = "Granted QoS 1"
        self.answer_connect = True
        self.close_before_connack = False
        self.connect_calls: list[dict[str, Any]] = []
        self.subscriptions: list[tuple[str, SubscribeOptions | None]] = []
        self.acks: list[tuple[int, int]] = []
        self.published: list[tuple[str, object, int, bool]] = []
        self.calls: list[str] = []
        self._next_mid = 0
        self._pending_subacks: list[int] = []
        self._threads: list[threading.Thread] = []
        self._message_mid = 0

    # ------------------------------------------------------------- paho API, simulated

    def connect(  # type: ignore[override]
        self,
        host: str,
        port: int = 1883,
        keepalive: int = 60,
        *,
        clean_start: object = None,
        properties: Properties | None = None,
    ) -> MQTTErrorCode:
        self.calls.append("connect")
        self.connect_calls.append(
            {
                "host": host,
                "port": port,
                "keepalive": keepalive,
                "clean_start": clean_start,
                "properties": properties,
            }
        )
        self.start_connection_attempt()
        if self.connect_error is not None:
            raise self.connect_error
        return SUCCESS

    def loop_start(self) -> MQTTErrorCode:
        self.calls.append("loop_start")
        if self.close_before_connack:
            self.lose_connection()
        elif self.answer_connect:
            self.broker_connack(session_present=False)
        return SUCCESS

    def loop_stop(self) -> MQTTErrorCode:
        self.calls.append("loop_stop")
        for thread in self._threads:
            thread.join(10)
        return SUCCESS

    def subscribe(  # type: ignore[override]
        self, topic: str, *, options: SubscribeOptions | None = None
    ) -> tuple[MQTTErrorCode, int | None]:
        self.subscriptions.append((topic, options))
        mid = self._mid()
        self._pending_subacks.append(mid)
        return SUCCESS, mid

    def unsubscribe(self, topic: str) -> tuple[MQTTErrorCode, int | None]:  # type: ignore[override]
        self.calls.append(f"unsubscribe {topic}")
        mid = self._mid()
        code = ReasonCode(PacketTypes.UNSUBACK, "Success")

        def unsuback() -> None:
            cast(mqtt.CallbackOnUnsubscribe_v2, self.on_unsubscribe)(self, None, mid, [code], None)

        thread = threading.Thread(target=unsuback)
        self._threads.append(thread)
        thread.start()
        return SUCCESS, mid

    def ack(self, mid: int, qos: int) -> MQTTErrorCode:
        self.acks.append((mid, qos))
        return SUCCESS

    def publish(  # type: ignore[override]
        self, topic: str, payload: bytes | str | None = None, qos: int = 0, *, retain: bool = False
    ) -> mqtt.MQTTMessageInfo:
        self.published.append((topic, payload, qos, retain))
        return mqtt.MQTTMessageInfo(self._mid())

    def disconnect(self) -> MQTTErrorCode:  # type: ignore[override]
        self.calls.append("disconnect")
        self._disconnected(ReasonCode(PacketTypes.DISCONNECT, "Success"))
        return SUCCESS

    # --------------------------------------------------------- the broker's side

    def broker_connack(self, *, session_present: bool) -> None:
        code = ReasonCode(PacketTypes.CONNACK, self.connack)
        on_connect = cast(mqtt.CallbackOnConnect_v2, self.on_connect)
        on_connect(self, None, mqtt.ConnectFlags(session_present), code, None)
        on_subscribe = cast(mqtt.CallbackOnSubscribe_v2, self.on_subscribe)
        while self._pending_subacks:
            mid = self._pending_subacks.pop(0)
            on_subscribe(self, None, mid, [ReasonCode(PacketTypes.SUBACK, self.suback)], None)

    def deliver(
        self, topic: str, payload: bytes, *, qos: int = 1, dup: bool = False, retain: bool = False
    ) -> int:
        self._message_mid += 1
        message = mqtt.MQTTMessage(self._message_mid, topic.encode())
        message.payload = payload
        message.qos = qos
        message.dup = dup
        message.retain = retain
        cast(mqtt.CallbackOnMessage, self.on_message)(self, None, message)
        return self._message_mid

    def lose_connection(self) -> None:
        self._disconnected(ReasonCode(PacketTypes.DISCONNECT, "Unspecified error"))

    def reconnect_now(self, *, session_present: bool = True) -> None:
        self.start_connection_attempt()
        self._message_mid = 0
        self.broker_connack(session_present=session_present)

    def start_connection_attempt(self) -> None:
        if self.on_pre_connect is not None:
            self.on_pre_connect(self, None)

    def _disconnected(self, code: ReasonCode) -> None:
        on_disconnect = cast(mqtt.CallbackOnDisconnect_v2, self.on_disconnect)
        on_disconnect(self, None, mqtt.DisconnectFlags(False), code, None)

    def _mid(self) -> int:
        self._next_mid += 1
        return self._next_mid


@pytest.fixture
def client() -> SimulatedClient:
    return SimulatedClient()


@pytest.fixture
def source(client: SimulatedClient) -> Iterator[MqttSource]:
    ticks = iter(range(1_000_000_000, 2_000_000_000))
    made = MqttSource(
        MqttSourceConfig(port=1884, client_id="collector-a", receive_maximum=100),
        client_factory=lambda _config: client,
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
    (call,) = client.connect_calls
    assert call["host"] == "127.0.0.1"
    assert call["port"] == 1884
    assert call["clean_start"] is False
    properties = call["properties"]
    assert properties.SessionExpiryInterval == 86_400
    assert properties.ReceiveMaximum == 100
    assert source.connected
    assert source.generation == 1


def test_start_subscribes_at_qos1_without_receiving_its_own_messages(
    client: SimulatedClient, source: MqttSource
) -> None:
    started(source)
    ((topic, options),) = client.subscriptions
    assert topic == SUBSCRIPTION
    assert options is not None
    assert options.QoS == 1
    assert options.noLocal is True


def test_refused_connection_raises_one_line_and_stops_the_client(
    client: SimulatedClient, source: MqttSource
) -> None:
    client.connack = "Not authorized"
    with pytest.raises(MqttRefusedError) as caught:
        source.start(timeout=10)
    assert str(caught.value) == "mqtt://127.0.0.1:1884 refused the connection: not authorized"
    assert caught.value.__cause__ is None
    assert "loop_stop" in client.calls
    assert not source.connected


def test_refused_subscription_raises(client: SimulatedClient, source: MqttSource) -> None:
    client.suback = "Not authorized"
    with pytest.raises(MqttRefusedError, match=r"refused the subscription to hosiery/v1/#"):
        source.start(timeout=10)


def test_unreachable_broker_raises_one_line(client: SimulatedClient, source: MqttSource) -> None:
    client.connect_error = ConnectionRefusedError(111, "Connection refused")
    with pytest.raises(MqttUnavailableError) as caught:
        source.start(timeout=10)
    assert str(caught.value) == "cannot connect to mqtt://127.0.0.1:1884: connection refused"
    assert "loop_start" not in client.calls


def test_a_broker_that_never_answers_raises_after_the_timeout(
    client: SimulatedClient, source: MqttSource
) -> None:
    client.answer_connect = False
    with pytest.raises(MqttUnavailableError, match=r"no answer from the broker within 0.05s"):
        source.start(timeout=0.05)
    assert client.calls[-2:] == ["disconnect", "loop_stop"]


def test_a_broker_that_closes_the_connection_at_once_is_one_clear_error(
    client: SimulatedClient, source: MqttSource
) -> None:
    client.close_before_connack = True
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
        Delivery("hosiery/v1/E1/M2/counter", b"x", 0, 3, False, False, 1, 1_000_000_002),
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
        MqttSourceConfig(client_id="c"), client_factory=lambda _c: client, clock=broken_clock
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
    assert client.acks == [(1, 1), (2, 1), (3, 1), (4, 1)]
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
    assert client.acks == [(1, 1), (2, 1)]
    stats = source.stats()
    assert stats.stale_acks == 3
    assert stats.acked == 2
    assert (stats.connects, stats.disconnects, stats.sessions_lost) == (2, 1, 0)


def test_a_connection_attempt_voids_earlier_packet_identifiers_even_without_on_disconnect(
    client: SimulatedClient, source: MqttSource
) -> None:
    started(source)
    client.deliver("hosiery/v1/E1/M1/counter", b"x")
    (delivery,) = source.drain(1, timeout=0)
    # paho can start a new connection after a socket error without calling on_disconnect.
    client.start_connection_attempt()
    assert source.ack(delivery) is False
    assert client.acks == []


def test_a_reconnect_without_the_session_is_counted_and_logged(
    client: SimulatedClient, source: MqttSource
) -> None:
    started(source)
    client.lose_connection()
    with capture_logs() as logs:
        client.reconnect_now(session_present=False)
    assert source.stats().sessions_lost == 1
    assert any(e["event"].startswith("mqtt session lost") for e in logs)
    # And the source subscribed again, so messages published from now on still arrive.
    assert len(client.subscriptions) == 2


def test_connected_means_the_subscription_is_confirmed_too(
    client: SimulatedClient, source: MqttSource
) -> None:
    started(source)
    client.lose_connection()
    client.suback = "Not authorized"
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
    assert client.calls[-3:] == [
        "unsubscribe hosiery/v1/_collector/ack-barrier",
        "disconnect",
        "loop_stop",
    ]
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
    assert isinstance(info, mqtt.MQTTMessageInfo)
    assert client.published == [("hosiery/v1/_rejected", b"{}", 1, False)]


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


def test_the_default_factory_builds_a_v5_client_with_manual_acks() -> None:
    secret = "p"  # noqa: S105 - a test credential
    made = paho_client(MqttSourceConfig(client_id="collector-x", username="u", password=secret))
    assert made.protocol == mqtt.MQTTv5
    assert made.username == "u"
    assert made.password == secret
    assert made._manual_ack is True
    assert made._client_id == b"collector-x"
