"""The MQTT source against a real Mosquitto running the product's broker settings.

Each test that stops, kills or restarts something gets a broker of its own.
"""

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple, Protocol

import pytest

from collector.delivery import Delivery
from collector.errors import MqttRefusedError, MqttUnavailableError
from collector.session import MqttSourceConfig
from collector.source import MqttSource
from stack import MosquittoServer
from stack.mosquitto import REPO_ROOT
from stack.process import free_port, wait_until
from tests.support.mqtt import publisher, recorder

pytestmark = pytest.mark.integration

TOPIC = "hosiery/v1/E0001/M001/counter"
PASSWORD = "right"  # noqa: S105 - the test broker's password
DEADLINE = 30.0

Sources = Callable[..., MqttSource]


class Endpoint(Protocol):
    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...


class Address(NamedTuple):
    host: str
    port: int


def broker_conf(*lines: str) -> str:
    """Broker settings for ``mosquitto_factory`` (anonymous clients allowed unless replaced).

    The harness keeps Mosquitto running as the user that started it (see stack/mosquitto.py),
    so persistence and password files in pytest's private directories work as root too.
    """
    return "\n".join(lines or ("allow_anonymous true",))


@pytest.fixture
def broker(mosquitto_factory: Callable[..., MosquittoServer]) -> Callable[..., MosquittoServer]:
    def make(*lines: str) -> MosquittoServer:
        return mosquitto_factory(extra_conf=broker_conf(*lines))

    return make


Brokers = Callable[..., MosquittoServer]


@pytest.fixture
def sources() -> Iterator[Sources]:
    """Make (not start) sources; every one is stopped at the end."""
    made: list[MqttSource] = []

    def make(server: Endpoint, client_id: str, **options: object) -> MqttSource:
        config = MqttSourceConfig(
            host=server.host,
            port=server.port,
            client_id=client_id,
            reconnect_min_delay=1,
            reconnect_max_delay=2,
            **options,  # type: ignore[arg-type]
        )
        made.append(MqttSource(config))
        return made[-1]

    yield make
    for source in made:
        source.stop()


def publish_all(server: MosquittoServer, payloads: list[bytes], topic: str = TOPIC) -> None:
    """Publish at QoS 1 and wait until the broker has acknowledged every message."""
    with publisher(server) as pub:
        infos = [pub.publish(topic, payload, qos=1) for payload in payloads]
        for info in infos:
            info.wait_for_publish(DEADLINE)


def take(source: MqttSource, count: int, *, ack: bool = True) -> list[Delivery]:
    """Drain until ``count`` deliveries arrived (acknowledging them unless told not to)."""
    got: list[Delivery] = []

    def enough() -> bool:
        batch = source.drain(count - len(got), timeout=0.2)
        if ack:
            source.ack_many(batch)
        got.extend(batch)
        return len(got) >= count

    wait_until(enough, DEADLINE, interval=0, what=f"{count} deliveries")
    return got


def numbered(count: int, start: int = 0) -> list[bytes]:
    return [str(i).encode() for i in range(start, start + count)]


# --------------------------------------------------------------------- persistent session


def test_messages_published_while_the_collector_is_stopped_arrive_when_it_starts_again(
    broker: Brokers, sources: Sources
) -> None:
    server = broker()
    first = sources(server, "collector-persist")
    first.start()
    first.stop()

    publish_all(server, numbered(50))

    second = sources(server, "collector-persist")
    second.start()
    got = take(second, 50)
    assert [d.payload for d in got] == numbered(50)
    assert all(d.topic == TOPIC and d.qos == 1 and not d.dup for d in got)
    assert second.stats().sessions_lost == 0


CRASHING_COLLECTOR = """
import sys
import structlog
from collector.session import MqttSourceConfig
from collector.source import MqttSource

structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
config = MqttSourceConfig(port=int(sys.argv[1]), client_id=sys.argv[2])
source = MqttSource(config)
source.start()
print("ready", flush=True)
while True:
    for delivery in source.drain(100, 1.0):
        print("got", delivery.payload.decode(), flush=True)
"""


def test_messages_received_but_never_acked_are_redelivered_after_a_crash(
    broker: Brokers, sources: Sources
) -> None:
    server = broker()
    lines: list[str] = []
    with subprocess.Popen(
        [sys.executable, "-c", CRASHING_COLLECTOR, str(server.port), "collector-crash"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    ) as crashing:
        stdout = crashing.stdout
        assert stdout is not None
        reader = threading.Thread(target=lambda: lines.extend(iter(stdout.readline, "")))
        reader.start()
        try:
            wait_until(lambda: "ready\n" in lines, DEADLINE, what="crashing collector ready")
            publish_all(server, numbered(20))
            wait_until(lambda: len(lines) == 21, DEADLINE, what="20 messages in the doomed one")
        finally:
            crashing.kill()  # SIGKILL: no acknowledgement, no DISCONNECT
            crashing.wait(DEADLINE)
            reader.join(DEADLINE)
    assert lines[1:] == [f"got {i}\n" for i in range(20)]

    survivor = sources(server, "collector-crash")
    survivor.start()
    got = take(survivor, 20)
    assert [d.payload for d in got] == numbered(20)
    assert all(d.dup for d in got)
    survivor.stop()

    # Acknowledged and cleanly stopped: a restart gets only what is new (the broker would
    # send anything still unacknowledged before it).
    publish_all(server, [b"after"])
    again = sources(server, "collector-crash")
    again.start()
    assert [(d.payload, d.dup) for d in take(again, 1)] == [(b"after", False)]


# --------------------------------------------------------------------- backpressure


def test_receive_maximum_bounds_what_the_collector_holds_and_the_rest_waits_at_the_broker(
    broker: Brokers, sources: Sources
) -> None:
    server = broker()
    source = sources(server, "collector-window", receive_maximum=5)
    source.start()
    with recorder(server, TOPIC) as control:
        publish_all(server, numbered(20))
        wait_until(lambda: len(control.payloads(TOPIC)) == 20, DEADLINE, what="control got all 20")
    # The broker has routed all 20. A round trip on the source's own connection (PUBACK of a
    # publication) comes after every message the broker sent it before, so the source has
    # now read everything it was sent.
    source.publish("hosiery/v1/_rejected", b"barrier", 1).wait_for_publish(DEADLINE)
    stats = source.stats()
    assert stats.received == 5
    assert stats.intake_depth == 5
    source_window = source.drain(20, timeout=0)
    assert len(source_window) == 5
    source.ack_many(source_window)

    # Acknowledging lets the rest come (Mosquitto 2.0.11 may then send more than 5 at a time:
    # its send quota drifts once acknowledgements flow, see collector.intake).
    rest = take(source, 15)
    assert [d.payload for d in [*source_window, *rest]] == numbered(20)
    assert not any(d.dup for d in rest)


# --------------------------------------------------------------------- broker restart


def test_the_source_reconnects_by_itself_after_a_broker_restart_and_nothing_is_lost(
    broker: Brokers, sources: Sources
) -> None:
    server = broker()
    source = sources(server, "collector-restart", receive_maximum=20)
    source.start()
    before = numbered(200)
    publish_all(server, before)
    # Mid-stream: 20 delivered and not acknowledged, 180 queued in the session.
    wait_until(lambda: source.stats().intake_depth == 20, DEADLINE, what="window filled")

    server.stop()  # Mosquitto saves sessions and their queues when it stops
    wait_until(lambda: not source.connected, DEADLINE, what="source notices the loss")
    server.start()
    wait_until(lambda: source.connected, DEADLINE, what="source reconnected by itself")
    after = numbered(200, start=200)
    publish_all(server, after)

    # The 20 from the lost connection, the session's 200 (20 again, marked dup) and the 200
    # published after the restart.
    got = take(source, 420)
    assert got[:20] == [d for d in got if d.generation == 1]
    assert [d.payload for d in got[:20]] == before[:20]
    assert [(d.payload, d.dup) for d in got[20:40]] == [(p, True) for p in before[:20]]
    assert [d.payload for d in got[40:]] == before[20:] + after
    stats = source.stats()
    assert (stats.connects, stats.disconnects, stats.sessions_lost) == (2, 1, 0)
    # The old connection's packet identifiers were never used on the new one.
    assert stats.stale_acks == 20
    assert stats.acked == 400


def test_after_a_broker_crash_that_lost_the_session_new_messages_still_arrive(
    broker: Brokers, sources: Sources
) -> None:
    server = broker()
    source = sources(server, "collector-crashed-broker", receive_maximum=20)
    source.start()
    before = numbered(200)
    publish_all(server, before)
    wait_until(lambda: source.stats().intake_depth == 20, DEADLINE, what="window filled")

    server.stop(kill=True)
    wait_until(lambda: not source.connected, DEADLINE, what="source notices the loss")
    # A crash that lost the session: whatever the last autosave kept is gone too.
    (server.workdir / "data" / "mosquitto.db").unlink(missing_ok=True)
    server.start()
    wait_until(lambda: source.connected, DEADLINE, what="source reconnected by itself")
    after = numbered(200, start=200)
    publish_all(server, after)

    # The source subscribed again on the new connection; what it had received before the
    # crash was kept for the pipeline, although it can no longer be acknowledged.
    got = take(source, 220)
    assert [d.payload for d in got] == before[:20] + after
    stats = source.stats()
    assert (stats.connects, stats.sessions_lost, stats.stale_acks) == (2, 1, 20)


# --------------------------------------------------------------------- start-up errors


def test_an_unreachable_broker_is_one_clear_error(sources: Sources) -> None:
    port = free_port()  # nothing listens there
    source = sources(Address("127.0.0.1", port), "collector-x")
    with pytest.raises(MqttUnavailableError) as caught:
        source.start(timeout=5)
    assert str(caught.value) == f"cannot connect to mqtt://127.0.0.1:{port}: connection refused"
    assert not source.connected


@pytest.fixture
def locked_broker(broker: Brokers, tmp_path: Path) -> MosquittoServer:
    passwords = tmp_path / "passwd"
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(passwords), "collector", PASSWORD],
        check=True,
        capture_output=True,
    )
    return broker("allow_anonymous false", f"password_file {passwords}")


@pytest.mark.parametrize(
    "credentials",
    [{}, {"username": "collector", "password": "wrong"}, {"username": "stranger"}],
    ids=["anonymous", "wrong-password", "unknown-user"],
)
def test_a_broker_that_refuses_the_collector_is_one_clear_error(
    locked_broker: MosquittoServer, sources: Sources, credentials: dict[str, str]
) -> None:
    source = sources(locked_broker, "collector-x", **credentials)
    with pytest.raises(MqttRefusedError) as caught:
        source.start(timeout=10)
    # Mosquitto 2.0 answers "not authorized" for a wrong password as well.
    assert str(caught.value) == f"{locked_broker.url} refused the connection: not authorized"


def test_the_right_credentials_are_accepted(
    locked_broker: MosquittoServer, sources: Sources
) -> None:
    source = sources(locked_broker, "collector-x", username="collector", password=PASSWORD)
    source.start(timeout=10)
    assert source.connected


def openssl(command: str, cwd: Path) -> None:
    subprocess.run(["openssl", *command.split()], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def tls_broker(broker: Brokers, tmp_path: Path) -> tuple[MosquittoServer, Path]:
    """A broker speaking only TLS, with a certificate for 127.0.0.1 from a throw-away CA."""
    pki = tmp_path / "pki"
    pki.mkdir()
    new_key = "-newkey rsa:2048 -nodes -days 2"
    openssl(f"req -x509 {new_key} -keyout ca.key -out ca.crt -subj /CN=test-ca", pki)
    openssl(f"req -x509 {new_key} -keyout other.key -out other.crt -subj /CN=other-ca", pki)
    openssl(f"req {new_key} -keyout server.key -out server.csr -subj /CN=127.0.0.1", pki)
    (pki / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(
        "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2"
        " -out server.crt -extfile san.cnf",
        pki,
    )
    server = broker(
        "allow_anonymous true",
        f"cafile {pki / 'ca.crt'}",
        f"certfile {pki / 'server.crt'}",
        f"keyfile {pki / 'server.key'}",
    )
    return server, pki


def test_tls_with_the_brokers_ca_delivers(
    tls_broker: tuple[MosquittoServer, Path], sources: Sources
) -> None:
    server, pki = tls_broker
    source = sources(server, "collector-tls", tls_ca=pki / "ca.crt")
    source.start(timeout=10)
    assert source.config.url == f"mqtts://127.0.0.1:{server.port}"
    source.publish("hosiery/v1/_rejected", b"over tls", 1).wait_for_publish(DEADLINE)


def test_tls_with_an_unknown_ca_is_one_clear_error(
    tls_broker: tuple[MosquittoServer, Path], sources: Sources
) -> None:
    server, pki = tls_broker
    source = sources(server, "collector-tls", tls_ca=pki / "other.crt")
    with pytest.raises(MqttUnavailableError) as caught:
        source.start(timeout=10)
    assert str(caught.value) == (
        f"cannot connect to mqtts://127.0.0.1:{server.port}: "
        "TLS certificate not accepted: self-signed certificate in certificate chain"
    )


def test_plain_mqtt_to_a_tls_port_is_one_clear_error(
    tls_broker: tuple[MosquittoServer, Path], sources: Sources
) -> None:
    server, _pki = tls_broker
    source = sources(server, "collector-tls")
    with pytest.raises(MqttUnavailableError, match="closed the connection before accepting it"):
        source.start(timeout=10)


# --------------------------------------------------------------------- own publications


def test_the_source_does_not_receive_its_own_publications(
    broker: Brokers, sources: Sources
) -> None:
    server = broker()
    source = sources(server, "collector-nolocal")
    source.start()
    with recorder(server, "hosiery/v1/#") as control:
        source.publish("hosiery/v1/_rejected", b"own-rejected", 1).wait_for_publish(DEADLINE)
        source.publish("hosiery/v1/E0001/M001/alert", b"own-alert", 1).wait_for_publish(DEADLINE)
        # Published after the source's own messages were accepted, so it arrives after them.
        publish_all(server, [b"marker"])
        got = take(source, 1)
        wait_until(lambda: len(control.messages) == 3, DEADLINE, what="control got all three")
    assert [d.payload for d in got] == [b"marker"]
    assert [p for _t, p, _r in control.messages] == [b"own-rejected", b"own-alert", b"marker"]


def test_own_retained_messages_do_come_back_when_the_source_subscribes(
    broker: Brokers, sources: Sources
) -> None:
    """No Local does not cover retained messages sent on subscribing (Mosquitto 2.0).

    The pipeline therefore sees the collector's own retained alerts after every (re)connect
    and must ignore alert topics.
    """
    server = broker()
    first = sources(server, "collector-retained")
    first.start()
    first.publish("hosiery/v1/E0001/M001/alert", b"own", 1, retain=True).wait_for_publish(DEADLINE)
    first.stop()
    second = sources(server, "collector-retained")
    second.start()
    (delivery,) = take(second, 1)
    assert (delivery.topic, delivery.payload, delivery.retain) == (
        "hosiery/v1/E0001/M001/alert",
        b"own",
        True,
    )
