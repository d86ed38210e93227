"""The alerting observer: what one notification does, and restarts without duplicates."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client import CollectorRegistry

from collector.alerting.model import Kind
from collector.alerting.observer import AlertingObserver, ObserverOptions
from collector.alerting.registry import ParkRegistry
from collector.alerting.store import AlertStore
from collector.alerting.tracker import Tracker, TrackerConfig
from collector.alerting.webhooks import WebhookDispatcher
from collector.metrics import CollectorMetrics
from collector.validate import Reading, Status
from contract import CounterReading, GatewayStatus, MachineState
from stack.process import wait_until

T0 = 1_767_225_600_000
E, M = "E0001", "M001"
TOPIC = f"hosiery/v1/{E}/{M}/alert"


class Info:
    """Stands for paho's MQTTMessageInfo: acknowledged by the broker when the rig says so."""

    def __init__(self, rig: "Rig") -> None:
        self.rig = rig

    def is_published(self) -> bool:
        return self.rig.broker_acks


class Rig:
    """An observer on a state directory, fed readings every 10 s, publishing into a list."""

    def __init__(
        self,
        state: Path,
        now: int,
        *,
        hooks: httpx.MockTransport | None = None,
        expected: tuple[str, ...] = (M, "M404"),
    ) -> None:
        self.now = now
        self.published: list[tuple[str, bytes, bool]] = []
        self.broker_acks = True
        self.registry = CollectorRegistry()
        self.metrics = CollectorMetrics(self.registry)
        self.store = AlertStore(state, clock=lambda: self.now / 1000)
        recovered = self.store.open()
        tracker = Tracker(
            TrackerConfig(idle_after_ms=60_000),
            registry=ParkRegistry({E: dict.fromkeys(expected)}),
            now_ms=now,
        )
        dispatcher = None
        if hooks is not None:
            dispatcher = WebhookDispatcher(
                ["http://hooks.example/a"],
                transport=hooks,
                min_backoff=0.001,
                max_backoff=0.01,
                on_done=self.store.mark_done,
            )
        self.observer = AlertingObserver(
            tracker,
            self.store,
            recovered,
            publish=self.publish,
            metrics=self.metrics,
            dispatcher=dispatcher,
            options=ObserverOptions(summary_topic="sum", summary_grace_ms=30_000),
        )
        self.observer.start()
        self.seq = 0
        self.total = 0

    def publish(self, topic: str, payload: bytes, retain: bool) -> Info:  # noqa: FBT001 - Publish
        self.published.append((topic, payload, retain))
        return Info(self)

    def read(self, state: MachineState = MachineState.RUNNING, pairs: int = 0) -> list[str]:
        """One reading 10 s after the previous one; the lines handed to the pipeline."""
        for _ in range(10):
            self.now += 1_000
            self.observer.on_tick(self.now)
        self.seq += 1
        self.total += pairs
        data = CounterReading(
            ts=self.now, seq=self.seq, boot="b1", pairs_total=self.total, state=state
        )
        self.observer.on_reading(Reading(E, M, data), pairs, self.now + 30)
        return self.observer.take_lines()

    def lines(self, count: int, pairs: int = 0) -> list[str]:
        out = []
        for _ in range(count):
            out += self.read(pairs=pairs)
        return out

    def metric(self, name: str, labels: dict[str, str]) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0

    def alerts_on_topic(self, status: str | None = None) -> list[dict[str, object]]:
        bodies = [orjson.loads(p) for t, p, _r in self.published if t == TOPIC and p]
        return [b for b in bodies if status is None or b["status"] == status]


@pytest.fixture
def rigs(tmp_path: Path) -> Iterator[list[Rig]]:
    made: list[Rig] = []
    yield made
    for rig in made:
        rig.store.close()


def alert_lines(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("alerts,")]


def test_a_notification_is_persisted_published_and_written(tmp_path: Path, rigs: list[Rig]) -> None:
    rig = Rig(tmp_path, T0, expected=(M,))
    rigs.append(rig)
    rig.read(pairs=1)
    lines = alert_lines(rig.lines(6))
    assert len(lines) == 1
    assert lines[0].startswith(f"alerts,enterprise={E},kind=idle,machine={M} ")
    [(_topic, payload, retain)] = [m for m in rig.published if m[0] == TOPIC]
    assert retain
    assert orjson.loads(payload)["status"] == "firing"
    assert b'"kind":"idle"' in (tmp_path / "alerts.log").read_bytes()
    labels = {"kind": "idle", "status": "firing"}
    assert rig.metric("hosiery_collector_alert_notifications_total", labels) == 1
    assert rig.metric("hosiery_collector_alerts_firing", {"kind": "idle"}) == 1


def test_summaries_from_the_start_never_reported_after_the_grace_period(
    tmp_path: Path, rigs: list[Rig]
) -> None:
    rig = Rig(tmp_path, T0)
    rigs.append(rig)
    lines = rig.lines(2)
    [early] = [orjson.loads(p) for t, p, r in rig.published if t == "sum" and r]
    assert (early["expected"], early["never_reported"]) == (2, 0)
    reporting = [line for line in lines if line.startswith(f"reporting,enterprise={E} ")]
    assert ",never_reported=0i," in reporting[-1]
    lines = rig.lines(3)  # 30 s after the start
    summary = orjson.loads([p for t, p, r in rig.published if t == "sum" and r][-1])
    assert summary["never_reported"] == 1
    assert summary["enterprises"][E]["never_reported"] == ["M404"]
    [reporting] = [line for line in lines if line.startswith(f"reporting,enterprise={E} ")]
    assert ",never_reported=1i," in reporting
    assert ",running=1i," in reporting
    assert rig.metric("hosiery_collector_machines_not_reporting", {"why": "never_reported"}) == 1
    rig.lines(12)
    assert len([m for m in rig.published if m[0] == "sum"]) == 2  # unchanged: not again


def test_crash_and_restart_repeat_no_notification(tmp_path: Path, rigs: list[Rig]) -> None:
    rig = Rig(tmp_path, T0)
    rigs.append(rig)
    rig.broker_acks = False  # the crash comes before the broker acknowledged the messages
    rig.read(pairs=1)
    written = alert_lines(rig.lines(6))
    rig.lines(3)
    [fired] = rig.alerts_on_topic("firing")
    # crash: the process dies without closing anything
    again = Rig(tmp_path, rig.now + 5_000)
    rigs.append(again)
    again.seq, again.total = rig.seq, rig.total
    replayed = again.observer.take_lines()
    # the logged notification's state is published again, identical (idempotent) ...
    assert alert_lines(replayed) == written
    assert [p for t, p, r in again.published if t == TOPIC and r] == [
        p for t, p, r in rig.published if t == TOPIC and r
    ]
    # ... and the machine, still idle, raises nothing new
    again.published.clear()
    assert alert_lines(again.lines(30)) == []
    assert [m for m in again.published if m[0] == TOPIC] == []
    lines = alert_lines(again.read(pairs=2))
    assert len(lines) == 1
    assert "firing=0i" in lines[0]
    [resolved] = again.alerts_on_topic("resolved")
    assert resolved["alert_id"] == fired["alert_id"]


def test_crash_after_the_broker_acknowledged_publishes_nothing_again(
    tmp_path: Path, rigs: list[Rig]
) -> None:
    rig = Rig(tmp_path, T0)
    rigs.append(rig)
    rig.read(pairs=1)
    written = alert_lines(rig.lines(6))
    rig.lines(1)  # a tick: the broker's acknowledgement is seen
    again = Rig(tmp_path, rig.now + 5_000)
    rigs.append(again)
    assert alert_lines(again.observer.take_lines()) == written  # idempotent points only
    assert [m for m in again.published if m[0] == TOPIC] == []


def test_clean_restart_publishes_nothing_again(tmp_path: Path, rigs: list[Rig]) -> None:
    rig = Rig(tmp_path, T0)
    rig.read(pairs=1)
    rig.lines(6)
    rig.observer.close()
    again = Rig(tmp_path, rig.now + 5_000)
    rigs.append(again)
    assert again.observer.take_lines() == []
    assert again.published == []
    assert again.observer.tracker.firing_counts()["idle"] == 1  # type: ignore[index]


def test_webhook_notifications_not_confirmed_before_a_stop_are_sent_after_it(
    tmp_path: Path, rigs: list[Rig]
) -> None:
    accepted: list[str] = []
    up = {"ok": False}

    def hook(request: httpx.Request) -> httpx.Response:
        if not up["ok"]:
            return httpx.Response(502)
        accepted.append(orjson.loads(request.content)["id"])
        return httpx.Response(200)

    rig = Rig(tmp_path, T0, hooks=httpx.MockTransport(hook), expected=(M,))
    rig.read(pairs=1)
    rig.lines(6)  # fires while the receiver is down
    rig.read(pairs=1)  # resolves
    rig.observer.close(timeout=0.1)
    assert accepted == []
    up["ok"] = True
    again = Rig(tmp_path, rig.now + 5_000, hooks=httpx.MockTransport(hook), expected=(M,))
    rigs.append(again)
    wait_until(lambda: len(accepted) == 2, 10, what="both notifications delivered")
    assert [a.rsplit("/", 1)[1] for a in accepted] == ["firing", "resolved"]
    again.observer.close()
    third = Rig(tmp_path, again.now + 5_000, hooks=httpx.MockTransport(hook), expected=(M,))
    rigs.append(third)
    third.observer.close()
    assert len(accepted) == 2  # delivered once each, not again after the next restart


def test_gateway_alert_on_each_machine_topic(tmp_path: Path, rigs: list[Rig]) -> None:
    rig = Rig(tmp_path, T0)
    rigs.append(rig)
    rig.read(pairs=1)
    rig.observer.on_status(Status(E, GatewayStatus(online=False)), rig.now + 100)
    lines = alert_lines(rig.observer.take_lines())
    assert len(lines) == 1
    assert f'machines="{M},M404"' in lines[0]
    topics = [t for t, p, r in rig.published if r and p and t != "sum"]
    assert topics == [TOPIC, f"hosiery/v1/{E}/M404/alert"]


def never_lines(lines: list[str]) -> list[str]:
    return [line for line in alert_lines(lines) if ",kind=never_reported " in line]


def test_never_reported_machines_raise_one_alert_per_enterprise(
    tmp_path: Path, rigs: list[Rig]
) -> None:
    rig = Rig(tmp_path, T0, expected=(M, "M404", "M405"))
    rigs.append(rig)
    assert not never_lines(rig.lines(2))  # within the grace period (30 s)
    lines = never_lines(rig.lines(2))
    assert len(lines) == 1
    assert lines[0].startswith(f"alerts,enterprise={E},kind=never_reported ")
    assert 'machines="M404,M405",machine_count=2i' in lines[0]
    topics = sorted(t for t, p, r in rig.published if r and p and t != "sum")
    assert topics == [f"hosiery/v1/{E}/M404/alert", f"hosiery/v1/{E}/M405/alert"]
    body = orjson.loads(next(p for t, p, _r in rig.published if t.endswith("/M404/alert")))
    assert (body["kind"], body["gateway"], body["enterprise_machines"]) == (
        "never_reported",
        False,
        2,
    )
    assert not never_lines(rig.lines(12))  # fires once
    assert rig.metric("hosiery_collector_alerts_firing", {"kind": "never_reported"}) == 1
    for machine in ("M404", "M405"):
        data = CounterReading(ts=rig.now, seq=1, boot="b1", pairs_total=0, state=MachineState.IDLE)
        rig.observer.on_reading(Reading(E, machine, data), 0, rig.now)
    lines = never_lines(rig.lines(6))
    assert len(lines) == 1
    assert 'kind=never_reported status="resolved"' in lines[0]
    assert rig.metric("hosiery_collector_alerts_firing", {"kind": "never_reported"}) == 0


def test_a_firing_never_reported_alert_survives_a_restart(tmp_path: Path, rigs: list[Rig]) -> None:
    rig = Rig(tmp_path, T0)
    rig.lines(5)
    rig.observer.close()
    again = Rig(tmp_path, rig.now + 5_000)
    rigs.append(again)
    assert again.observer.tracker.firing_counts()[Kind.NEVER_REPORTED] == 1
    assert not never_lines(again.lines(8))  # not again after the restart's grace period
