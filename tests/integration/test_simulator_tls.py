"""The simulator's gateways over TLS (``mqtts://``) to a real Mosquitto, and its errors."""

import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from contract import SUBSCRIPTION, CounterReading, TopicKind, parse_topic
from simulators import BrokerAddress, Fleet, FleetConfig
from stack import MosquittoServer
from stack.process import wait_until

pytestmark = pytest.mark.integration

HOSIERY_SIM = [sys.executable, "-m", "simulators"]


def openssl(command: str, cwd: Path) -> None:
    subprocess.run(["openssl", *command.split()], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def tls_broker(
    mosquitto_factory: Callable[..., MosquittoServer], tmp_path: Path
) -> tuple[MosquittoServer, Path]:
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
    conf = "\n".join(
        [
            "allow_anonymous true",
            f"cafile {pki / 'ca.crt'}",
            f"certfile {pki / 'server.crt'}",
            f"keyfile {pki / 'server.key'}",
        ]
    )
    return mosquitto_factory(extra_conf=conf), pki


class TlsSubscriber:
    """The highest counter per machine and boot, read over TLS by paho (QoS 1)."""

    def __init__(self, broker: MosquittoServer, ca: Path) -> None:
        self.lock = threading.Lock()
        self.highest: dict[tuple[str, str, str], int] = defaultdict(int)
        subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.tls_set(ca_certs=str(ca))
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_args: subscribed.set()
        self.client.on_connect = lambda c, *_args: c.subscribe(SUBSCRIPTION, 1)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        wait_until(subscribed.is_set, 10, what="subscribed over TLS")

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        ref = parse_topic(msg.topic)
        if ref.kind is TopicKind.COUNTER:
            reading = CounterReading.model_validate_json(msg.payload)
            with self.lock:
                key = (ref.enterprise, ref.machine, reading.boot)
                self.highest[key] = max(self.highest[key], reading.pairs_total)

    def pairs(self) -> dict[tuple[str, str], int]:
        pairs: dict[tuple[str, str], int] = defaultdict(int)
        with self.lock:
            for (enterprise, machine, _boot), total in self.highest.items():
                pairs[(enterprise, machine)] += total
        return dict(pairs)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_gateways_publish_over_tls_and_every_pair_arrives(
    tls_broker: tuple[MosquittoServer, Path],
) -> None:
    server, pki = tls_broker
    subscriber = TlsSubscriber(server, pki / "ca.crt")
    try:
        broker = BrokerAddress(server.host, server.port, tls=True, ca_file=pki / "ca.crt")
        assert broker.url == f"mqtts://127.0.0.1:{server.port}"
        config = FleetConfig(broker=broker, machines=60, interval=0.2, speed=1800.0, seed=5)
        fleet = Fleet(config)
        fleet.start()
        try:
            wait_until(lambda: len(subscriber.pairs()) == 60, 20, what="every machine over TLS")
        finally:
            truth = fleet.stop(timeout=60)
        assert truth.complete
        expected = {(m.enterprise, m.machine): m.pairs for m in truth.machines}
        wait_until(lambda: subscriber.pairs() == expected, 20, what="the truth over TLS")
    finally:
        subscriber.close()


def test_a_broker_certificate_from_another_ca_is_one_line_and_exit_code_2(
    tls_broker: tuple[MosquittoServer, Path],
) -> None:
    server, pki = tls_broker
    argv = [
        *HOSIERY_SIM, "run", "--mqtt-url", f"mqtts://127.0.0.1:{server.port}",
        "--mqtt-ca-file", str(pki / "other.crt"), "--machines", "5",
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr == (
        f"hosiery-sim: cannot connect to mqtts://127.0.0.1:{server.port}: "
        "TLS certificate not accepted: self-signed certificate in certificate chain\n"
    )


def test_plain_mqtt_to_a_tls_port_is_one_line_and_exit_code_2(
    tls_broker: tuple[MosquittoServer, Path],
) -> None:
    server, _pki = tls_broker
    argv = [*HOSIERY_SIM, "run", "--mqtt-url", server.url, "--machines", "5",
            "--connect-timeout", "5"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith(f"hosiery-sim: cannot connect to {server.url}: ")
    assert done.stderr.count("\n") == 1
