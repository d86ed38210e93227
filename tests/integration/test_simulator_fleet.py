"""The fleet as a library (``Fleet.start``/``stop``), a clean SIGTERM, and broker restarts."""

import datetime as dt
import signal
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from contract import SUBSCRIPTION, CounterReading, GatewayStatus, TopicKind, parse_topic
from simulators import BrokerAddress, FaultRates, Fleet, FleetConfig, Truth, read_truth
from stack import MosquittoServer
from stack.process import wait_until

pytestmark = pytest.mark.integration

WORKDAY_MORNING = dt.datetime(2025, 3, 4, 9, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()


class Subscriber:
    """Counter readings and gateway statuses seen on a broker (QoS 1)."""

    def __init__(self, broker: MosquittoServer) -> None:
        self.lock = threading.Lock()
        self.readings: list[tuple[str, str, CounterReading]] = []
        self.statuses: list[tuple[str, GatewayStatus, bool]] = []
        subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_args: subscribed.set()
        self.client.on_connect = lambda c, *_args: c.subscribe(SUBSCRIPTION, 1)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        wait_until(subscribed.is_set, 10, what="subscribed")

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        ref = parse_topic(msg.topic)
        with self.lock:
            if ref.kind is TopicKind.COUNTER:
                reading = CounterReading.model_validate_json(msg.payload)
                self.readings.append((ref.enterprise, ref.machine, reading))
            elif ref.kind is TopicKind.STATUS:
                status = GatewayStatus.model_validate_json(msg.payload)
                self.statuses.append((ref.enterprise, status, msg.retain))

    def machine_pairs(self) -> dict[tuple[str, str], int]:
        highest: dict[tuple[str, str, str], int] = defaultdict(int)
        with self.lock:
            for enterprise, machine, r in self.readings:
                key = (enterprise, machine, r.boot)
                highest[key] = max(highest[key], r.pairs_total)
        pairs: dict[tuple[str, str], int] = defaultdict(int)
        for (enterprise, machine, _boot), total in highest.items():
            pairs[(enterprise, machine)] += total
        return dict(pairs)

    def machines_seen(self) -> set[tuple[str, str]]:
        with self.lock:
            return {(e, m) for e, m, _r in self.readings}

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def subscriber(mosquitto: MosquittoServer) -> Iterator[Subscriber]:
    sub = Subscriber(mosquitto)
    yield sub
    sub.close()


def _per_machine(truth: Truth) -> dict[tuple[str, str], int]:
    return {(m.enterprise, m.machine): m.pairs for m in truth.machines}


def test_library_fleet_publishes_until_stopped_and_returns_the_truth(
    mosquitto: MosquittoServer, subscriber: Subscriber
) -> None:
    config = FleetConfig(
        broker=BrokerAddress(mosquitto.host, mosquitto.port),
        machines=60,
        interval=0.2,
        speed=1800.0,
        sim_start=WORKDAY_MORNING,
        seed=11,
    )
    fleet = Fleet(config)
    fleet.start()
    try:
        everyone = {(m.enterprise, m.id) for m in fleet.park.machines}
        wait_until(lambda: subscriber.machines_seen() == everyone, 20, what="every machine")
    finally:
        truth = fleet.stop(timeout=60)
    assert truth.complete
    assert truth.total_pairs > 0
    assert all(m.boots == 1 for m in truth.machines)
    wait_until(lambda: subscriber.machine_pairs() == _per_machine(truth), 20, what="truth")
    births = {e for e, s, _retained in subscriber.statuses if s.online}
    assert births == {e.id for e in fleet.park.enterprises}
    with subscriber.lock:
        boots = {r.boot for _e, _m, r in subscriber.readings}
        first_seqs = {r.seq for _e, _m, r in subscriber.readings if r.seq == 0}
    assert len(boots) == 1  # every machine starts the run with the run's fresh boot id
    assert first_seqs == {0}


def test_the_birth_message_is_retained_with_the_machine_list(mosquitto: MosquittoServer) -> None:
    config = FleetConfig(broker=BrokerAddress(mosquitto.host, mosquitto.port), machines=15,
                         interval=5.0, seed=2)  # fmt: skip
    with Fleet(config) as fleet:
        park_enterprise = fleet.park.enterprises[0]
        late = Subscriber(mosquitto)  # subscribes after the birth: gets the retained copy
        try:
            # The shared broker also holds other tests' retained statuses: look for this one.
            def births() -> list[tuple[GatewayStatus, bool]]:
                return [(s, r) for e, s, r in late.statuses if e == park_enterprise.id and s.online]

            wait_until(lambda: bool(births()), 10, what="retained birth")
            status, retained = births()[0]
        finally:
            late.close()
        assert retained
        assert status.machines == tuple(m.id for m in park_enterprise.machines)


def test_sigterm_publishes_final_readings_and_writes_the_truth(
    mosquitto: MosquittoServer, subscriber: Subscriber, tmp_path: Path
) -> None:
    truth_file = tmp_path / "truth.json"
    argv = [
        sys.executable, "-m", "simulators", "run", "--mqtt-url", mosquitto.url,
        "--machines", "80", "--interval", "0.3", "--speed", "1200",
        "--sim-start", "2025-03-04T10:00+08:00", "--seed", "5",
        "--fault-reboot", "0.05", "--fault-drop", "0.2",
        "--truth-file", str(truth_file),
    ]  # fmt: skip
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: len(subscriber.machines_seen()) == 80, 30, what="readings")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    truth = read_truth(truth_file)
    assert truth.complete
    assert truth.faults["reboots"] > 0
    assert truth.faults["drops"] > 0
    wait_until(lambda: subscriber.machine_pairs() == _per_machine(truth), 20, what="truth")


def test_gateways_reconnect_after_a_broker_restart(
    mosquitto_factory: Callable[..., MosquittoServer],
) -> None:
    broker = mosquitto_factory()
    config = FleetConfig(
        broker=BrokerAddress(broker.host, broker.port),
        machines=40,
        interval=0.2,
        speed=600.0,
        sim_start=WORKDAY_MORNING,
        faults=FaultRates(),
    )
    lines: list[str] = []
    fleet = Fleet(config, log=lines.append)
    fleet.start()
    try:
        broker.stop()
        broker.start()  # same port, same persistence directory
        sub = Subscriber(broker)
        try:
            everyone = {(m.enterprise, m.id) for m in fleet.park.machines}
            wait_until(lambda: sub.machines_seen() == everyone, 30, what="readings after restart")
        finally:
            sub.close()
    finally:
        truth = fleet.stop(timeout=60)
    assert truth.complete
    assert any("lost the connection" in line for line in lines)


def test_two_fleets_share_a_broker_with_their_own_client_ids(mosquitto: MosquittoServer) -> None:
    lines: list[str] = []
    fleets = [
        Fleet(
            FleetConfig(
                broker=BrokerAddress(mosquitto.host, mosquitto.port),
                machines=20,
                interval=0.2,
                seed=seed,
                client_id_prefix=prefix,
            ),
            log=lines.append,
        )
        for seed, prefix in ((1, "gw-a-"), (2, "gw-b-"))
    ]
    for fleet in fleets:
        fleet.start()
    try:
        wait_until(lambda: all(f.readings >= 40 for f in fleets), 20, what="both fleets publishing")
    finally:
        truths = [fleet.stop(timeout=60) for fleet in fleets]
    assert all(truth.complete for truth in truths)
    assert not [line for line in lines if "lost the connection" in line]
