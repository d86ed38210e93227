"""The broker as deployed: every account logs in, each gateway publishes only its own
enterprise's topics, the collector reads them all; TLS refuses clients without the park's CA."""

import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from stack import InfluxServer, MosquittoServer
from stack.mosquitto import REPO_ROOT, auth_conf
from stack.process import free_port, port_open, wait_until
from tests.support.broker_auth import (
    COLLECTOR,
    COLLECTOR_PASSWORD,
    Accounts,
    publish,
    session,
    tls_conf,
    tls_refused,
)
from tests.support.collector import running_collector, settings_for
from tests.support.influx import pairs_by_machine

pytestmark = pytest.mark.integration

NOT_AUTHORIZED = 135
OWN_COUNTER = "hosiery/v1/E0001/M001/counter"


@pytest.fixture
def accounts(tmp_path: Path) -> Accounts:
    found = Accounts(tmp_path / "auth")
    found.init()
    found.add_gateway("E0001")
    found.add_gateway("E0002")
    return found


@pytest.fixture
def secured(accounts: Accounts, mosquitto_factory: object) -> MosquittoServer:
    server: MosquittoServer = mosquitto_factory(extra_conf=auth_conf(accounts.directory))  # type: ignore[operator]
    return server


def test_anonymous_clients_and_wrong_passwords_are_refused(
    secured: MosquittoServer, accounts: Accounts
) -> None:
    with session(secured, "anon") as anon:
        assert anon.reason.is_failure
    with session(secured, "gw-E0001", "E0001", "wrong") as wrong:
        assert wrong.reason.is_failure
    with session(secured, "gw-E0001", "E0001", accounts.gateways["E0001"]) as right:
        assert not right.reason.is_failure


def test_a_gateway_cannot_publish_under_another_enterprise(
    secured: MosquittoServer, accounts: Accounts
) -> None:
    with (
        session(secured, "c", COLLECTOR, COLLECTOR_PASSWORD, subscribe="hosiery/v1/#") as coll,
        session(secured, "gw-E0001", "E0001", accounts.gateways["E0001"]) as gw,
    ):
        forged = publish(gw, "hosiery/v1/E0002/M001/counter", b"forged counter")
        forged_status = publish(gw, "hosiery/v1/E0002/status", b"forged status")
        own_alert = publish(gw, "hosiery/v1/E0001/M001/alert", b"forged alert")
        outside = publish(gw, "hosiery/v1/_rejected", b"forged rejection")
        mine = publish(gw, "hosiery/v1/E0001/M001/counter", b"own counter")
        # Messages of one publisher arrive in order: once its last one is here, none is in flight.
        wait_until(lambda: (OWN_COUNTER, b"own counter") in coll.received(), 10, what="own counter")
    assert coll.received() == [(OWN_COUNTER, b"own counter")]
    assert [c.value if c else None for c in (forged, forged_status, own_alert, outside)] == [
        NOT_AUTHORIZED
    ] * 4
    assert mine is not None
    assert not mine.is_failure


def test_the_collector_reads_every_enterprise_and_publishes_alerts(
    secured: MosquittoServer, accounts: Accounts
) -> None:
    with (
        session(secured, "c1", COLLECTOR, COLLECTOR_PASSWORD, subscribe="hosiery/v1/#") as coll,
        session(secured, "gw-E0001", "E0001", accounts.gateways["E0001"]) as one,
        session(secured, "gw-E0002", "E0002", accounts.gateways["E0002"]) as two,
    ):
        sent = [
            (one, "hosiery/v1/E0001/status", b"s1"),
            (one, "hosiery/v1/E0001/M001/counter", b"c1"),
            (two, "hosiery/v1/E0002/status", b"s2"),
            (two, "hosiery/v1/E0002/M007/counter", b"c2"),
            (coll, "hosiery/v1/E0002/M007/alert", b"a2"),
            (coll, "hosiery/v1/_summary", b"summary"),
        ]
        for client, topic, payload in sent:
            code = publish(client, topic, payload)
            assert code is not None
            assert not code.is_failure, topic
        expected = {(t, p) for _c, t, p in sent if t.startswith("hosiery/v1/")}
        wait_until(lambda: expected <= set(coll.received()), 10, what="every message")
    assert sorted(coll.received()) == sorted(expected)


def test_the_simulator_logs_in_as_each_gateway_with_its_own_password(
    accounts: Accounts, mosquitto_factory: object, tmp_path: Path
) -> None:
    registry = tmp_path / "registry.json"
    sim = [sys.executable, "-m", "simulators"]
    park = ["--machines", "60", "--seed", "3"]
    subprocess.run([*sim, "park", "--registry", str(registry), *park], check=True)
    creds = tmp_path / "gateways.txt"
    admin = [sys.executable, "-m", "admin", "add-gateways", "--registry", str(registry)]
    subprocess.run([*admin, *accounts.argv, "--credentials-file", str(creds)], check=True)
    enterprises = {line.split(":")[0] for line in creds.read_text().splitlines()[1:]}
    assert len(enterprises) > 1
    server: MosquittoServer = mosquitto_factory(extra_conf=auth_conf(accounts.directory))  # type: ignore[operator]
    run = [*sim, "run", "--mqtt-url", server.url, *park, "--interval", "0.5", "--duration", "3"]
    counters = "hosiery/v1/+/+/counter"
    with session(server, "c", COLLECTOR, COLLECTOR_PASSWORD, subscribe=counters) as c:
        done = subprocess.run(
            [*run, "--credentials-file", str(creds)],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        wait_until(
            lambda: {t.split("/")[2] for t, _p in c.received()} == enterprises,
            10,
            what="counters of every enterprise",
        )
    # Without the file every gateway would log in as one user: refused by this broker.
    anonymous = subprocess.run(run, check=False, capture_output=True, text=True, timeout=120)
    assert anonymous.returncode == 2
    assert "refused the connection (not authorized)" in anonymous.stderr


def test_with_tls_on_a_client_without_the_parks_ca_is_refused(
    accounts: Accounts, mosquitto_factory: object, tmp_path: Path
) -> None:
    certs = tmp_path / "certs"
    subprocess.run([REPO_ROOT / "scripts" / "make-certs", "--dir", str(certs)], check=True)
    tls_port = free_port()
    conf = auth_conf(accounts.directory) + "\n" + tls_conf(certs, tls_port)
    server: MosquittoServer = mosquitto_factory(extra_conf=conf)  # type: ignore[operator]
    wait_until(lambda: port_open("127.0.0.1", tls_port), 10, what="TLS listener")
    error = tls_refused(server, tls_port)
    assert error is not None
    assert "CERTIFICATE_VERIFY_FAILED" in str(error)
    gateway = ("gw-E0001", "E0001", accounts.gateways["E0001"])
    with session(server, *gateway, port=tls_port, tls_ca=certs / "ca.crt") as trusted:
        assert not trusted.reason.is_failure
        code = publish(trusted, "hosiery/v1/E0001/M001/counter", b"over tls")
        assert code is not None
        assert not code.is_failure
    with session(server, "anon", port=tls_port, tls_ca=certs / "ca.crt") as anon:
        assert anon.reason.is_failure


def _reading(seq: int) -> bytes:
    return orjson.dumps(
        {"ts": int(time.time() * 1000), "seq": seq, "boot": "b1", "pairs_total": 10 * seq}
        | {"state": "running"}
    )


def test_a_gateway_with_the_collectors_client_id_neither_wipes_its_queue_nor_kicks_it_off(
    secured: MosquittoServer, accounts: Accounts, influx: InfluxServer, tmp_path: Path
) -> None:
    """Client ids are bound to accounts: a gateway asking for the collector's id gets its own."""
    password = accounts.gateways["E0001"]
    settings = settings_for(
        secured,
        influx,
        tmp_path / "state",
        mqtt_username=COLLECTOR,
        mqtt_password=COLLECTOR_PASSWORD,
        mqtt_client_id=COLLECTOR,
        alerts=False,
    )
    stored = lambda: pairs_by_machine(influx.url, settings.influx_db)  # noqa: E731
    with running_collector(settings) as collector:
        with session(secured, COLLECTOR, "E0001", password) as attacker:
            assert not attacker.reason.is_failure
            assert publish(attacker, OWN_COUNTER, _reading(1)) is not None
        wait_until(lambda: stored() == {("E0001", "M001"): 10}, 30, what="first reading stored")
        stats = collector.source.stats()
        assert (stats.connects, stats.disconnects) == (1, 0)
    # The collector is down: its session queues what the gateway publishes ...
    with session(secured, "gw-E0001", "E0001", password) as gateway:
        for seq in range(2, 6):
            assert publish(gateway, OWN_COUNTER, _reading(seq)) is not None
    # ... and a clean start under the collector's id opens the gateway's own session instead.
    with session(secured, COLLECTOR, "E0001", password) as attacker:
        assert not attacker.reason.is_failure
    with running_collector(settings) as collector:
        wait_until(lambda: stored() == {("E0001", "M001"): 50}, 30, what="queued readings stored")
        assert collector.source.stats().sessions_lost == 0
