"""The blocking client's pure parts (backoff, error wording, progress handles), and how it
starts against a scripted loopback peer that sends packets a real broker sends only by timing.

Its network behaviour is tested against a real Mosquitto in
``tests/integration/test_mqtt_client.py``.
"""

import socket
import ssl
import threading
from pathlib import Path

import mqtt5
import pytest

from mqtt.client import (
    ClientOptions,
    Handler,
    MqttClient,
    PublishInfo,
    Request,
    describe_os_error,
)
from mqtt.errors import MqttUnavailableError
from mqtt.protocol import Outgoing, Publish, SessionOptions


def options(jitter: float, **fields: object) -> ClientOptions:
    return ClientOptions(
        "broker.local",
        1883,
        SessionOptions("c"),
        random=lambda: jitter,
        **fields,  # type: ignore[arg-type]
    )


def test_the_reconnect_delay_doubles_up_to_the_maximum() -> None:
    top = options(0.999_999, reconnect_min_delay=1.0, reconnect_max_delay=30.0)
    assert [round(top.reconnect_delay(n), 3) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]


def test_the_reconnect_delay_is_jittered_down_to_half() -> None:
    low = options(0.0, reconnect_min_delay=2.0, reconnect_max_delay=30.0)
    assert [low.reconnect_delay(n) for n in range(3)] == [1.0, 2.0, 4.0]
    assert low.reconnect_delay(10_000) == 15.0  # no overflow after a long outage


def test_the_url_names_tls() -> None:
    assert options(0.5).url == "mqtt://broker.local:1883"
    assert options(0.5, tls_ca=Path("/ca.pem")).url == "mqtts://broker.local:1883"


@pytest.mark.parametrize(
    ("exc", "text"),
    [
        (ConnectionRefusedError(111, "Connection refused"), "connection refused"),
        (TimeoutError("timed out"), "timed out"),
        (OSError(-2, "Name or service not known"), "name or service not known"),
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "TLS handshake"),
    ],
)
def test_os_errors_become_one_short_phrase(exc: OSError, text: str) -> None:
    assert describe_os_error(exc).startswith(text)


def test_a_publish_info_tells_when_the_broker_acknowledged() -> None:
    message = Outgoing("a", b"", 1, False)
    info = PublishInfo(message)
    assert not info.is_published()
    assert not info.wait_for_publish(0.01)
    assert info.reason_code == -1
    message.done = True
    message.reason_code = 0
    assert isinstance(message.token, object)
    message.token.set()  # type: ignore[attr-defined]
    assert info.is_published()
    assert info.wait_for_publish(0)
    assert info.reason_code == 0


def test_a_request_gives_the_reason_codes_or_none() -> None:
    request = Request()
    assert request.wait(0.01) is None
    request._finish((17,))
    assert request.wait(0) == (17,)


def scripted_broker(*, session_present: bool, publishes: int) -> socket.socket:
    """A loopback peer that answers CONNECT with CONNACK and ``publishes`` QoS 1 PUBLISHes, and
    never a SUBACK (a broker streaming a resumed session's backlog ahead of it)."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)  # CONNECT (and perhaps SUBSCRIBE)
            data = mqtt5.ConnAckPacket(session_present=session_present).write()
            data += b"".join(
                mqtt5.PublishPacket("t", b"x", qos=mqtt5.QoS.AT_LEAST_ONCE, packet_id=i + 1).write()
                for i in range(publishes)
            )
            conn.sendall(data)
            while conn.recv(65536):
                pass

    threading.Thread(target=serve, daemon=True).start()
    return server


class Blocked(Handler):
    """A handler whose first message blocks it, as a full intake blocks the network thread."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.messages = 0

    def on_message(self, _message: Publish, _connection: int) -> None:
        self.messages += 1
        self.release.wait(30)


def test_start_returns_at_connack_when_the_session_is_resumed_whatever_streams_before_suback() -> (
    None
):
    server = scripted_broker(session_present=True, publishes=1000)
    port = server.getsockname()[1]
    handler = Blocked()
    client = MqttClient(ClientOptions("127.0.0.1", port, SessionOptions("c")), handler)
    client.subscribe("hosiery/v1/#")
    try:
        connack = client.start(timeout=10)
        assert connack.session_present
        assert client.connected  # the resumed session keeps the subscription
    finally:
        handler.release.set()
        client.stop(1.0)
        server.close()
    assert handler.messages >= 1


def test_start_waits_for_suback_when_the_session_is_new() -> None:
    server = scripted_broker(session_present=False, publishes=0)
    port = server.getsockname()[1]
    client = MqttClient(ClientOptions("127.0.0.1", port, SessionOptions("c")), Handler())
    client.subscribe("hosiery/v1/#")
    try:
        with pytest.raises(MqttUnavailableError, match="no answer from the broker within"):
            client.start(timeout=0.5)
    finally:
        server.close()
