"""``hosiery-sim run`` against a real broker: every message checked against the contract, and the
counters a subscriber saw add up to the truth file, with every fault injection on."""

import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import ValidationError

from contract import (
    MAX_PAYLOAD_BYTES,
    SUBSCRIPTION,
    CounterReading,
    GatewayStatus,
    TopicError,
    TopicKind,
    parse_topic,
)
from simulators.truth import Truth, read_truth
from stack import MosquittoServer
from stack.process import free_port, wait_until

pytestmark = pytest.mark.integration

FAR_FUTURE_MS = 86_400_000
HOSIERY_SIM = [sys.executable, "-m", "simulators"]


@dataclass
class Observed:
    """What a subscriber saw, classified by the contract's rules."""

    readings: list[tuple[str, str, CounterReading]] = field(default_factory=list)
    statuses: list[tuple[str, GatewayStatus, bool]] = field(default_factory=list)
    malformed: list[tuple[str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, topic: str, payload: bytes, *, retained: bool, now_ms: int) -> None:
        with self.lock:
            try:
                ref = parse_topic(topic)
            except TopicError:
                self.malformed.append((topic, payload))
                return
            if ref.kind is TopicKind.STATUS:
                self.statuses.append((ref.enterprise, GatewayStatus.model_validate_json(payload),
                                      retained))  # fmt: skip
                return
            if ref.kind is not TopicKind.COUNTER or len(payload) > MAX_PAYLOAD_BYTES:
                self.malformed.append((topic, payload))
                return
            try:
                reading = CounterReading.model_validate_json(payload)
            except ValidationError:
                self.malformed.append((topic, payload))
                return
            if reading.ts > now_ms + FAR_FUTURE_MS:
                self.malformed.append((topic, payload))
                return
            self.readings.append((ref.enterprise, ref.machine, reading))

    def boot_maxima(self) -> dict[tuple[str, str, str], int]:
        """Highest pairs_total per (enterprise, machine, boot): the last count of each boot."""
        maxima: dict[tuple[str, str, str], int] = defaultdict(int)
        with self.lock:
            for enterprise, machine, r in self.readings:
                key = (enterprise, machine, r.boot)
                maxima[key] = max(maxima[key], r.pairs_total)
        return maxima

    def machine_pairs(self) -> dict[tuple[str, str], int]:
        pairs: dict[tuple[str, str], int] = defaultdict(int)
        for (enterprise, machine, _boot), total in self.boot_maxima().items():
            pairs[(enterprise, machine)] += total
        return dict(pairs)


@pytest.fixture
def observed(mosquitto: MosquittoServer) -> Iterator[Observed]:
    """A QoS 1 subscriber to everything under the contract's root, subscribed before the run."""
    seen = Observed()
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        import time  # noqa: PLC0415

        seen.add(msg.topic, msg.payload, retained=msg.retain, now_ms=time.time_ns() // 10**6)

    client.on_message = on_message
    client.on_subscribe = lambda *_args: subscribed.set()
    client.on_connect = lambda c, *_args: c.subscribe([(SUBSCRIPTION, 1), ("hosiery/#", 1)])
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    try:
        wait_until(subscribed.is_set, 10, what="subscriber subscribed")
        yield seen
    finally:
        client.loop_stop()
        client.disconnect()


def _truth_matches(seen: Observed, truth: Truth) -> bool:
    """Every machine's boots add up to its truth (every machine publishes a final reading)."""
    return seen.machine_pairs() == {(m.enterprise, m.machine): m.pairs for m in truth.machines}


def test_run_with_every_fault_matches_the_truth(
    mosquitto: MosquittoServer, observed: Observed, tmp_path: Path
) -> None:
    truth_file = tmp_path / "truth.json"
    argv = [
        *HOSIERY_SIM, "run",
        "--mqtt-url", mosquitto.url,
        "--machines", "200",
        "--interval", "0.5",
        "--duration", "8",
        "--speed", "600",
        "--sim-start", "2025-03-04T09:00:00+08:00",
        "--seed", "7",
        "--faults", "all",
        "--fault-gateway-death", "0.99",
        "--fault-gateway-downtime", "1",
        "--truth-file", str(truth_file),
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    truth = read_truth(truth_file)
    assert truth.complete
    assert len(truth.machines) == 200
    assert truth.total_pairs > 0

    wait_until(lambda: _truth_matches(observed, truth), 30, what="counters to add up to truth")
    seen = observed.machine_pairs()
    for m in truth.machines:
        assert seen.get((m.enterprise, m.machine), 0) == m.pairs, m

    faults = truth.faults
    assert faults["malformed"] > 0
    assert len(observed.malformed) >= faults["malformed"]
    assert faults["reboots"] > 0
    assert faults["gateway_deaths"] > 0
    assert faults["drops"] > 0
    boots: dict[tuple[str, str], set[str]] = defaultdict(set)
    copies: dict[tuple[str, str, str, int], int] = defaultdict(int)
    for enterprise, machine, r in observed.readings:
        boots[(enterprise, machine)].add(r.boot)
        copies[(enterprise, machine, r.boot, r.seq)] += 1
    assert sum(len(b) for b in boots.values()) == sum(m.boots for m in truth.machines)
    assert any(n > 1 for n in copies.values()), "no duplicate was seen"
    assert _out_of_order(observed) > 0

    # The Last Will of a dead gateway (no ts), then a clean offline status at the end.
    wills = [s for _e, s, _r in observed.statuses if not s.online and s.ts is None]
    assert wills
    # Retained statuses of other tests' gateways on the shared broker arrive with the retain
    # flag; this run's statuses arrive live.
    last = {
        enterprise: status for enterprise, status, retained in observed.statuses if not retained
    }
    assert set(last) == {m.enterprise for m in truth.machines}
    assert all(not s.online and s.ts is not None for s in last.values())


def _out_of_order(seen: Observed) -> int:
    """Readings that arrived after a reading of the same boot with a higher seq."""
    highest: dict[tuple[str, str, str], int] = {}
    late = 0
    for enterprise, machine, r in seen.readings:
        key = (enterprise, machine, r.boot)
        if r.seq < highest.get(key, -1):
            late += 1
        highest[key] = max(highest.get(key, -1), r.seq)
    return late


def test_pairs_total_never_decreases_with_seq_within_a_boot(
    mosquitto: MosquittoServer, observed: Observed, tmp_path: Path
) -> None:
    argv = [
        *HOSIERY_SIM, "run", "--mqtt-url", mosquitto.url, "--machines", "40",
        "--interval", "0.2", "--duration", "3", "--speed", "3600",
        "--sim-start", "2025-03-04T09:00:00+08:00", "--faults", "all",
        "--truth-file", str(tmp_path / "t.json"),
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    truth = read_truth(tmp_path / "t.json")
    wait_until(lambda: _truth_matches(observed, truth), 30, what="counters to add up to truth")
    by_boot: dict[tuple[str, str, str], list[tuple[int, int]]] = defaultdict(list)
    for enterprise, machine, r in observed.readings:
        by_boot[(enterprise, machine, r.boot)].append((r.seq, r.pairs_total))
    assert by_boot
    for readings in by_boot.values():
        totals = [total for _seq, total in sorted(set(readings))]
        assert totals == sorted(totals)


def test_unreachable_broker_is_one_line_and_exit_code_2() -> None:
    port = free_port()
    argv = [*HOSIERY_SIM, "run", "--mqtt-url", f"mqtt://127.0.0.1:{port}", "--machines", "5"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert (
        done.stderr
        == f"hosiery-sim: cannot connect to mqtt://127.0.0.1:{port}: connection refused\n"
    )


def test_bad_credentials_are_one_line_and_exit_code_2(
    mosquitto_factory: object, tmp_path: Path
) -> None:
    passwords = tmp_path / "passwords"
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(passwords), "gw", "right"], check=True, timeout=30
    )
    passwords.chmod(0o600)
    make = mosquitto_factory
    assert callable(make)
    broker: MosquittoServer = make(extra_conf=f"allow_anonymous false\npassword_file {passwords}")
    argv = [
        *HOSIERY_SIM, "run", "--mqtt-url", broker.url, "--machines", "5",
        "--mqtt-username", "gw", "--mqtt-password", "wrong",
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith(f"hosiery-sim: cannot connect to {broker.url}: ")
    assert "refused" in done.stderr
    assert done.stderr.count("\n") == 1


def test_truth_json_has_the_documented_shape(tmp_path: Path, mosquitto: MosquittoServer) -> None:
    truth_file = tmp_path / "truth.json"
    argv = [
        *HOSIERY_SIM, "run", "--mqtt-url", mosquitto.url, "--machines", "12",
        "--interval", "0.2", "--duration", "1", "--truth-file", str(truth_file),
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    data = orjson.loads(truth_file.read_bytes())
    assert {"seed", "started_ms", "ended_ms", "machines", "total_pairs"} <= set(data)
    assert data["seed"] == 1
    assert data["started_ms"] <= data["ended_ms"]
    assert {tuple(sorted(m)) for m in data["machines"]} == {
        (
            "boots", "enterprise", "machine", "pairs", "rejects", "running_s", "stop_readings",
            "stopped_ms", "stopped_s",
        )
    }  # fmt: skip
    assert data["total_pairs"] == sum(m["pairs"] for m in data["machines"])
    assert data["total_rejects"] == sum(m["rejects"] for m in data["machines"])
    assert all(0 <= m["rejects"] <= m["pairs"] for m in data["machines"])
    reasons = {"yarn_change", "waiting_material", "yarn_break", "needle_break", "maintenance"}
    assert set(data["stopped_s"]) == reasons
    for reason in reasons:
        total = sum(m["stopped_s"][reason] for m in data["machines"])
        assert data["stopped_s"][reason] == pytest.approx(total)
    assert all(set(m["stop_readings"]) <= reasons for m in data["machines"])
    # the counters' milliseconds: the seconds, cut to whole milliseconds per stop cause
    for m in data["machines"]:
        assert set(m["stopped_ms"]) <= reasons
        for reason, ms in m["stopped_ms"].items():
            assert 0 <= m["stopped_s"][reason] * 1000 - ms < 2  # at most two causes a reason
    assert data["stopped_ms"] == {
        r: sum(m["stopped_ms"].get(r, 0) for m in data["machines"])
        for r in {r for m in data["machines"] for r in m["stopped_ms"]}
    }
