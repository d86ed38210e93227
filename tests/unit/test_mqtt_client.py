"""The blocking client's pure parts: backoff, error wording, progress handles.

Its network behaviour is tested against a real Mosquitto in
``tests/integration/test_mqtt_client.py``.
"""

import ssl
from pathlib import Path

import pytest

from mqtt.client import ClientOptions, PublishInfo, Request, describe_os_error
from mqtt.protocol import Outgoing, SessionOptions


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
