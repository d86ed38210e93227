"""A broker secured the way docker-compose.yml secures it: the repository's password and ACL
settings (config/mosquitto/docker.conf), accounts written by hosiery-admin."""

import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from admin.cli import main as admin
from stack import MosquittoServer
from stack.mosquitto import REPO_ROOT
from stack.process import wait_until

TLS_CONF = REPO_ROOT / "config" / "mosquitto" / "tls.conf"
COLLECTOR = "hosiery-collector"
COLLECTOR_PASSWORD = "collector-secret"  # noqa: S105 - a test account


def tls_conf(certs: Path, port: int) -> str:
    """tls.conf, listening on loopback ``port``, with the certificates in ``certs``."""
    text = TLS_CONF.read_text()
    assert "listener 8883\n" in text
    return text.replace("listener 8883\n", f"listener {port} 127.0.0.1\n").replace(
        "/mosquitto/certs", str(certs)
    )


@dataclass
class Accounts:
    """Account files written with hosiery-admin, as the compose stack's broker-init does."""

    directory: Path
    gateways: dict[str, str] = field(default_factory=dict)

    @property
    def argv(self) -> list[str]:
        return [
            "--broker-passwd-path", str(self.directory / "passwd"),
            "--acl-file", str(self.directory / "acl"),
        ]  # fmt: skip

    def init(self) -> None:
        with _env("HOSIERY_ADMIN_COLLECTOR_PASSWORD", COLLECTOR_PASSWORD):
            assert admin(["init-broker", *self.argv]) == 0

    def add_gateway(self, enterprise: str) -> str:
        password = f"pw-{enterprise}"
        with _env("HOSIERY_ADMIN_GATEWAY_PASSWORD", password):
            assert admin(["add-gateway", enterprise, *self.argv]) == 0
        self.gateways[enterprise] = password
        return password


@contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            del os.environ[name]
        else:
            os.environ[name] = old


@dataclass
class Session:
    client: mqtt.Client
    reason: ReasonCode
    messages: list[tuple[str, bytes]]
    lock: threading.Lock

    def received(self) -> list[tuple[str, bytes]]:
        with self.lock:
            return list(self.messages)


@contextmanager
def session(
    server: MosquittoServer,
    client_id: str,
    user: str | None = None,
    password: str | None = None,
    *,
    port: int | None = None,
    tls_ca: Path | None = None,
    subscribe: str | None = None,
) -> Iterator[Session]:
    """An MQTT v5 client; ``reason`` is the broker's CONNACK (check ``is_failure``)."""
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
    )
    if user is not None:
        client.username_pw_set(user, password)
    if tls_ca is not None:
        client.tls_set(ca_certs=str(tls_ca))
    results: list[ReasonCode] = []
    messages: list[tuple[str, bytes]] = []
    lock = threading.Lock()
    subscribed = threading.Event()

    def on_connect(c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        results.append(rc)
        if subscribe is not None and not rc.is_failure:
            c.subscribe(subscribe, qos=1)

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with lock:
            messages.append((msg.topic, msg.payload))

    client.on_connect = on_connect
    client.on_message = on_message
    client.on_subscribe = lambda *_args: subscribed.set()
    client.connect(server.host, port or server.port)
    client.loop_start()
    try:
        wait_until(lambda: bool(results), 10, what=f"CONNACK for {client_id}")
        if subscribe is not None and not results[0].is_failure:
            wait_until(subscribed.is_set, 10, what=f"{client_id} subscribed")
        yield Session(client, results[0], messages, lock)
    finally:
        client.disconnect()
        client.loop_stop()


def publish(s: Session, topic: str, payload: bytes) -> ReasonCode | None:
    """Publish at QoS 1 and wait for the PUBACK; its reason code (MQTT v5)."""
    codes: list[ReasonCode] = []
    previous: Callable[..., object] | None = s.client.on_publish

    def on_publish(_c: mqtt.Client, _u: object, _mid: int, rc: ReasonCode, _p: object) -> None:
        codes.append(rc)

    s.client.on_publish = on_publish
    try:
        s.client.publish(topic, payload, qos=1).wait_for_publish(10)
        wait_until(lambda: bool(codes), 10, what=f"PUBACK of {topic}")
    finally:
        s.client.on_publish = previous
    return codes[0]


def tls_refused(server: MosquittoServer, port: int) -> ssl.SSLError | None:
    """The TLS error of a client that trusts only the system's CAs (None: the handshake passed)."""
    context = ssl.create_default_context()
    try:
        with (
            socket.create_connection((server.host, port), timeout=10) as sock,
            context.wrap_socket(sock, server_hostname=server.host),
        ):
            return None
    except ssl.SSLError as exc:
        return exc
