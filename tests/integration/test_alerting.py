"""Alerting end to end, against real Mosquitto and InfluxDB.

The machine under test sends readings the test controls, stamped ten seconds of machine time
apart from half an hour ago, so thresholds of a minute pass in a few readings (idle and stopped
are judged by the readings' own time). Offline is judged by arrival time, with thresholds of a
few seconds set on the command line.
"""

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest

from collector.service import Collector
from contract import alert_topic, status_topic
from dashboards import queries as q
from stack import InfluxServer, MosquittoServer
from stack.process import wait_until
from tests.support.alerting import (
    AlertingCollectorProcess,
    GatewayProcess,
    ScriptedMachine,
    WebhookReceiver,
    alert_messages,
    alert_points,
    retained,
)
from tests.support.collector import metric, running_collector, settings_for, unique
from tests.support.influx import count, query
from tests.support.mqtt import publisher, recorder
from tests.support.sim import SimRun

pytestmark = pytest.mark.integration

IDLE_NOW = """
SELECT * FROM (
  SELECT LAST("firing") AS "firing", LAST("since_ms") AS "since_ms", LAST("reason") AS "reason"
  FROM "alerts" WHERE "kind" = 'idle' AND time > now() - 7d GROUP BY "enterprise", "machine"
) WHERE "firing" = 1
"""


def written(collector: Collector, readings: int) -> Callable[[], bool]:
    """True once the collector has written (and so observed) ``readings`` readings."""
    return lambda: metric(collector, "hosiery_collector_readings_written_total") >= readings


def idle_now(influx: InfluxServer, db: str, enterprise: str) -> list[str]:
    rows = query(influx.url, db, IDLE_NOW)
    return [
        values[columns.index("machine")]
        for series in rows
        for columns in [series["columns"]]
        for values in series["values"]
        if values[columns.index("enterprise")] == enterprise
    ]


def test_idle_machine_raises_one_alert_then_resolves(
    mosquitto: MosquittoServer, influx: InfluxServer, tmp_path: Path
) -> None:
    settings = settings_for(
        mosquitto, influx, tmp_path / "state", idle_after=60, offline_after=3600
    )
    enterprise = unique("E")
    topic = alert_topic(enterprise, "M1")
    db = settings.influx_db
    with (
        recorder(mosquitto, topic) as rec,
        running_collector(settings) as collector,
        publisher(mosquitto) as client,
    ):
        machine = ScriptedMachine(client, enterprise, "M1", interval_ms=10_000)
        knitted_at = machine.send(pairs=3)
        for _ in range(5):  # 10 .. 50 s without a pair: under the threshold
            machine.send()
        wait_until(written(collector, 6), 15, what="six readings written")
        assert alert_messages(rec, topic) == []
        machine.send()  # 60 s: the threshold (at most one interval late)
        wait_until(lambda: alert_messages(rec, topic, "firing"), 15, what="idle alert")
        [fired] = alert_messages(rec, topic)
        assert fired["kind"] == "idle"
        assert fired["since_ms"] == knitted_at
        assert fired["pairs_total"] == 3
        assert "no pairs knitted for 1m" in fired["reason"]

        for _ in range(20):  # idle for another 200 s: still one alert
            machine.send()
        wait_until(written(collector, 27), 15, what="27 readings written")
        assert len(alert_messages(rec, topic)) == 1
        with retained(mosquitto, f"hosiery/v1/{enterprise}/+/alert") as now_retained:
            assert orjson.loads(now_retained[topic])["id"] == fired["id"]
        wait_until(lambda: idle_now(influx, db, enterprise) == ["M1"], 15, what="idle now")
        [point] = alert_points(influx.url, db, f"WHERE \"enterprise\" = '{enterprise}'")
        assert point["status"] == "firing"
        assert point["id"] == fired["alert_id"]

        machine.send(pairs=2)  # knitting again
        wait_until(lambda: alert_messages(rec, topic, "resolved"), 15, what="resolved")
        [resolved] = alert_messages(rec, topic, "resolved")
        assert resolved["alert_id"] == fired["alert_id"]
        assert resolved["reason"] == "knitting again"
        wait_until(lambda: b"" in rec.payloads(topic), 15, what="retained message cleared")
        with retained(mosquitto, f"hosiery/v1/{enterprise}/+/alert") as now_retained:
            assert topic not in now_retained
        wait_until(lambda: idle_now(influx, db, enterprise) == [], 15, what="not idle now")
        points = alert_points(influx.url, db, f"WHERE \"enterprise\" = '{enterprise}'")
        assert [(p["status"], p["id"]) for p in points] == [
            ("firing", fired["alert_id"]),
            ("resolved", fired["alert_id"]),
        ]
        labels = {"kind": "idle", "status": "firing"}
        assert metric(collector, "hosiery_collector_alert_notifications_total", labels) == 1


def test_killed_gateway_raises_one_grouped_offline_alert(
    mosquitto: MosquittoServer, influx: InfluxServer, tmp_path: Path
) -> None:
    enterprise = unique("G")
    machines = ["M1", "M2", "M3"]
    settings = settings_for(
        mosquitto,
        influx,
        tmp_path / "state",
        offline_after=2,
        summary_interval=0.5,
        summary_topic=f"hosiery/test-summary/{enterprise}",
    )
    db = settings.influx_db
    where = f"WHERE \"enterprise\" = '{enterprise}'"
    with (
        running_collector(settings) as collector,
        recorder(mosquitto, f"hosiery/v1/{enterprise}/+/alert") as rec,
    ):
        gateway = GatewayProcess(mosquitto, enterprise, machines, 0.3)
        try:
            wait_until(written(collector, 9), 15, what="the gateway's readings")
        finally:
            gateway.kill()
        killed_ms = int(time.time() * 1000)
        topics = [alert_topic(enterprise, m) for m in machines]
        wait_until(
            lambda: all(alert_messages(rec, t, "firing") for t in topics), 15, what="offline"
        )
        ids = set()
        for topic in topics:
            [message] = alert_messages(rec, topic)
            assert message["kind"] == "offline"
            assert message["gateway"] is True
            assert message["gateway_machines"] == 3
            ids.add(message["alert_id"])
        assert len(ids) == 1  # one alert for the gateway, on each machine's topic

        # Wait until the collector's own view says the machines' offline windows have passed
        # (a ``reporting`` point counting them silent, stamped 2.5 s after the kill) ...
        def silent_point() -> bool:
            rows = query(
                influx.url,
                db,
                f'SELECT "silent" FROM "reporting" {where} AND time > {killed_ms + 2500}ms',
            )
            return bool(rows) and rows[0]["values"][-1][1] == 3

        wait_until(silent_point, 20, what="the machines counted silent")
        # ... then there is still exactly one alert: no per-machine offline alerts
        points = alert_points(influx.url, db, where)
        assert [(p["kind"], p["status"], p.get("machine"), p["machine_count"]) for p in points] == [
            ("offline", "firing", None, 3)
        ]
        assert len(alert_messages(rec, topics[0])) == 1

        back = GatewayProcess(mosquitto, enterprise, machines, 0.3)  # birth: online again
        try:
            wait_until(
                lambda: all(alert_messages(rec, t, "resolved") for t in topics), 15, what="back"
            )
            resolved = {m["alert_id"] for t in topics for m in alert_messages(rec, t, "resolved")}
            assert resolved == ids
            wait_until(
                lambda: all(b"" in rec.payloads(t) for t in topics), 15, what="alerts cleared"
            )
            with retained(mosquitto, f"hosiery/v1/{enterprise}/+/alert") as now_retained:
                assert not any(now_retained.get(t) for t in topics)
        finally:
            back.kill()
        # the new gateway dies too: a new episode, with an id of its own
        wait_until(lambda: len(alert_messages(rec, topics[0], "firing")) == 2, 15, what="again")
        assert alert_messages(rec, topics[0], "firing")[1]["alert_id"] not in ids


def test_planned_downtime_does_not_alert(
    mosquitto: MosquittoServer, influx: InfluxServer, tmp_path: Path
) -> None:
    off_shift, working = unique("P"), unique("W")
    now = time.time()
    calendar = tmp_path / "shifts.toml"
    calendar.write_text(
        f"""
[[downtime]]
from = {time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 7200))}
to = {time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 7200))}
enterprises = ["{off_shift}"]
reason = "one shift: closed at night"
"""
    )
    settings = settings_for(
        mosquitto,
        influx,
        tmp_path / "state",
        idle_after=60,
        fault_after=30,
        offline_after=2,
        shift_calendar=calendar,
        summary_interval=0.5,
    )
    db = settings.influx_db
    with (
        running_collector(settings) as collector,
        publisher(mosquitto) as client,
        recorder(mosquitto, "hosiery/v1/+/+/alert") as rec,
    ):
        scripts = {
            (off_shift, "IDLE"): "running",  # would be idle, but the shift is over
            (off_shift, "BROKEN"): "fault",  # would be stopped
            (working, "SERVICE"): "maintenance",
            (working, "OFF"): "off",
            (working, "CONTROL"): "running",  # the same readings, working time: alerts
        }
        machines = {
            key: ScriptedMachine(client, key[0], key[1], interval_ms=10_000) for key in scripts
        }
        for machine in machines.values():
            machine.send(pairs=1)
        for _ in range(12):
            for key, machine in machines.items():
                machine.send(scripts[key])
        client.publish(status_topic(off_shift), b'{"online": false}', qos=1).wait_for_publish(5)
        wait_until(written(collector, 13 * len(machines)), 15, what="all readings written")
        control = alert_topic(working, "CONTROL")
        wait_until(lambda: alert_messages(rec, control, "firing"), 15, what="control idle")
        # every machine has gone silent now; wait until the collector has seen that
        sent_ms = int(time.time() * 1000)

        def silent_seen() -> bool:
            rows = query(
                influx.url,
                db,
                f'SELECT "silent" FROM "reporting" WHERE "enterprise" = \'{working}\' '
                f"AND time > {sent_ms + 2500}ms",
            )
            return bool(rows) and rows[0]["values"][-1][1] == 3

        wait_until(silent_seen, 20, what="silent machines counted")
        kinds = sorted(
            (p["enterprise"], p["machine"], p["kind"])
            for p in alert_points(influx.url, db)
            if p["enterprise"] in (off_shift, working)  # (other tests' gateways left Wills)
        )
        assert kinds == [(working, "CONTROL", "idle"), (working, "CONTROL", "offline")]
        mine = (f"hosiery/v1/{off_shift}/", f"hosiery/v1/{working}/")
        assert {t for t, p, _r in rec.messages if p and t.startswith(mine)} == {control}


@pytest.mark.parametrize("how", ["kill -9", "SIGTERM"])
def test_restart_does_not_repeat_notifications(
    mosquitto: MosquittoServer, influx: InfluxServer, tmp_path: Path, how: str
) -> None:
    enterprise = unique("R")
    topic = alert_topic(enterprise, "M1")
    settings = settings_for(mosquitto, influx, tmp_path / "state")
    db = settings.influx_db
    with (
        WebhookReceiver() as hooks,
        recorder(mosquitto, topic) as rec,
        publisher(mosquitto) as client,
    ):

        def received() -> Counter[str]:
            """Notifications of this test's enterprise (other tests' gateways left Wills)."""
            return Counter({k: v for k, v in hooks.ids().items() if k.startswith(enterprise)})

        extra = ["--idle-after", "60", "--offline-after", "1h", "--alert-webhook", hooks.url]
        log = tmp_path / "collector.log"
        first = AlertingCollectorProcess(settings, log, extra)
        first.start()
        machine = ScriptedMachine(client, enterprise, "M1", interval_ms=10_000)
        machine.send(pairs=4)
        for _ in range(8):
            machine.send()
        wait_until(received, 20, what="the webhook notified")
        wait_until(lambda: alert_messages(rec, topic, "firing"), 20, what="the MQTT alert")
        fired_id = alert_messages(rec, topic, "firing")[0]["id"]
        if how == "kill -9":
            first.kill()
        else:
            assert first.stop() == 0
        second = AlertingCollectorProcess(settings, log, extra)
        second.start()
        try:
            for _ in range(20):  # still idle
                machine.send()
            wait_until(
                lambda: count(influx.url, db, "production", "pairs") == 29,
                30,
                what="every reading written after the restart",
            )
            # no new notification: one firing id, in every output
            assert set(received()) == {fired_id}
            assert {m["id"] for m in alert_messages(rec, topic)} == {fired_id}
            if how == "SIGTERM":  # a clean stop leaves nothing to publish again
                assert received()[fired_id] == 1
                assert len(alert_messages(rec, topic)) == 1
            points = alert_points(influx.url, db, f"WHERE \"enterprise\" = '{enterprise}'")
            assert [p["status"] for p in points] == ["firing"]

            machine.send(pairs=1)
            wait_until(lambda: alert_messages(rec, topic, "resolved"), 20, what="resolved")
            wait_until(lambda: len(received()) == 2, 20, what="resolved sent to the webhook")
            resolved_id = fired_id.removesuffix("/firing") + "/resolved"
            assert set(received()) == {fired_id, resolved_id}
        finally:
            assert second.stop() == 0, second.log_tail()


def test_failing_webhook_never_stalls_ingestion_and_gets_everything_once(
    mosquitto: MosquittoServer, influx: InfluxServer, tmp_path: Path
) -> None:
    enterprise = unique("H")
    with WebhookReceiver() as hooks:
        hooks.failing.set()
        settings = settings_for(
            mosquitto,
            influx,
            tmp_path / "state",
            idle_after=60,
            offline_after=3600,
            alert_webhook=[hooks.url],
            webhook_timeout=2,
        )
        db = settings.influx_db
        with running_collector(settings) as collector, publisher(mosquitto) as client:
            # background load: the simulator's machines, while the webhook fails
            sim = SimRun(mosquitto, tmp_path, machines=120, interval=0.5, duration=8, faults=False)
            try:
                machines = [
                    ScriptedMachine(client, enterprise, f"M{i}", interval_ms=10_000)
                    for i in range(6)
                ]
                for _ in range(8):
                    for machine in machines:
                        machine.send()
                for machine in machines[:3]:  # half of them knit again: resolved
                    machine.send(pairs=1)

                def notified() -> int:
                    return int(
                        metric(collector, "hosiery_collector_alert_notifications_total",
                               {"kind": "idle", "status": "firing"})
                        + metric(collector, "hosiery_collector_alert_notifications_total",
                                 {"kind": "idle", "status": "resolved"})
                    )  # fmt: skip

                wait_until(lambda: notified() == 9, 20, what="nine notifications decided")
                wait_until(lambda: hooks.refused >= 3, 20, what="the webhook failing")
                # ingestion goes on while the webhook fails
                before = count(influx.url, db, "production", "pairs")
                wait_until(
                    lambda: count(influx.url, db, "production", "pairs") > before + 100,
                    20,
                    what="readings written while the webhook fails",
                )
                assert hooks.accepted == []
            finally:
                truth = sim.wait()
            # the simulator's gateways said goodbye (online: false): offline alerts for them too
            sim_enterprises = {e for e, _m in truth}

            def gateways_offline() -> bool:
                points = alert_points(influx.url, db, "WHERE \"kind\" = 'offline'")
                return sim_enterprises <= {p["enterprise"] for p in points if not p.get("machine")}

            wait_until(gateways_offline, 30, what="the simulator's gateways offline")
            hooks.failing.clear()  # the webhook recovers

            def notifications() -> set[str]:
                """Everything the collector notified, from its ``alerts`` points."""
                return {p["notification"] for p in alert_points(influx.url, db)}

            wait_until(lambda: set(hooks.ids()) == notifications(), 60, what="every notification")
            assert len(notifications()) >= 9 + len(sim_enterprises)
            assert all(n == 1 for n in hooks.ids().values()), hooks.ids()
            rows = query(
                influx.url,
                db,
                'SELECT SUM("pairs") FROM "production" GROUP BY "enterprise", "machine"',
            )
            stored = {
                (s["tags"]["enterprise"], s["tags"]["machine"]): int(s["values"][0][1])
                for s in rows
            }
            assert {k: v for k, v in stored.items() if k in truth} == truth
            assert (
                metric(
                    collector,
                    "hosiery_collector_webhook_notifications_total",
                    {"outcome": "dropped"},
                )
                == 0
            )


def test_registry_machines_that_do_not_report_are_counted_and_listed(
    mosquitto: MosquittoServer, influx: InfluxServer, tmp_path: Path
) -> None:
    enterprise = unique("N")
    registry = tmp_path / "registry.json"
    registry.write_bytes(
        orjson.dumps(
            {"enterprises": [{"id": enterprise, "machines": [{"id": m} for m in ("A", "B", "C")]}]}
        )
    )
    summary_topic = f"hosiery/test-summary/{enterprise}"
    settings = settings_for(
        mosquitto,
        influx,
        tmp_path / "state",
        registry=registry,
        offline_after=2,
        summary_interval=0.5,
        summary_topic=summary_topic,
    )
    db = settings.influx_db
    c_topic = alert_topic(enterprise, "C")
    with (
        recorder(mosquitto, summary_topic) as summaries,
        recorder(mosquitto, c_topic) as c_alerts,
        running_collector(settings) as collector,
        publisher(mosquitto) as client,
    ):
        a = ScriptedMachine(client, enterprise, "A", start_ago_ms=60_000)
        b = ScriptedMachine(client, enterprise, "B", start_ago_ms=60_000)
        a.send(pairs=1)
        b.send(pairs=1)  # B reports once, then falls silent; C never reports

        def latest() -> dict[str, object] | None:
            payloads = summaries.payloads(summary_topic)
            return orjson.loads(payloads[-1]) if payloads else None

        def listed() -> bool:
            a.send(pairs=1)  # A keeps reporting meanwhile
            summary = latest()
            return summary is not None and summary["enterprises"] == {  # type: ignore[index]
                enterprise: {
                    "expected": 3,
                    "reporting": 1,
                    "never_reported": ["C"],
                    "silent": ["B"],
                }
            }

        wait_until(listed, 20, interval=0.5, what="B silent and C never reported")
        assert metric(collector, "hosiery_collector_machines_expected") == 3
        labels = {"why": "never_reported"}
        assert metric(collector, "hosiery_collector_machines_not_reporting", labels) == 1
        assert metric(collector, "hosiery_collector_machines_not_reporting", {"why": "silent"}) == 1
        rows = query(
            influx.url,
            db,
            'SELECT LAST("never_reported_machines"), LAST("silent_machines") FROM "reporting" '
            f"WHERE \"enterprise\" = '{enterprise}'",
        )
        assert rows[0]["values"][0][1:] == ["C", "B"]
        # the silent machine, which Grafana would no longer see, has an offline alert, and
        # the machine never heard from one alert of its enterprise (the grace: 2 s)
        where = f"WHERE \"enterprise\" = '{enterprise}'"
        wait_until(
            lambda: len(alert_points(influx.url, db, where)) == 2, 10, what="two alert points"
        )
        points = alert_points(influx.url, db, where)
        assert sorted((p["machine"] or "", p["kind"], p["status"]) for p in points) == [
            ("", "never_reported", "firing"),
            ("B", "offline", "firing"),
        ]
        grouped = next(p for p in points if p["kind"] == "never_reported")
        assert (grouped["machines"], grouped["machine_count"]) == ("C", 1)
        [retained_c] = [orjson.loads(p) for p in c_alerts.payloads(c_topic)]
        assert (retained_c["kind"], retained_c["status"]) == ("never_reported", "firing")
        # the Grafana rule reads the same count
        rule = query(influx.url, db, q.never_reported_by_enterprise())
        assert {s["tags"]["enterprise"]: s["values"][0][1] for s in rule}[enterprise] == 1
        labels = {"kind": "never_reported"}
        assert metric(collector, "hosiery_collector_alerts_firing", labels) == 1
        ScriptedMachine(client, enterprise, "C", start_ago_ms=60_000).send(pairs=1)
        wait_until(
            lambda: any(
                p["kind"] == "never_reported" and p["status"] == "resolved"
                for p in alert_points(influx.url, db, where)
            ),
            10,
            what="the grouped alert resolved once C reports",
        )
        assert metric(collector, "hosiery_collector_alerts_firing", labels) == 0


def test_a_seq_gap_is_counted_then_filled_by_late_readings(
    mosquitto: MosquittoServer, influx: InfluxServer, tmp_path: Path
) -> None:
    """Readings 3 and 4 are held back upstream: two missing, in the metric and the enterprise's
    ``reporting`` points, until they arrive."""
    settings = settings_for(
        mosquitto, influx, tmp_path / "state", offline_after=3600, summary_interval=0.3
    )
    enterprise = unique("E")
    topic = f"hosiery/v1/{enterprise}/M1/counter"
    db = settings.influx_db
    start = int(time.time() * 1000) - 60_000

    def send(client: mqtt.Client, seq: int) -> None:
        body = {"ts": start + seq * 1000, "seq": seq, "boot": "b1", "pairs_total": seq * 2}
        payload = orjson.dumps({**body, "state": "running"})
        client.publish(topic, payload, qos=1).wait_for_publish(5)

    def reported() -> int | None:
        """The park overview panel's own query, for this enterprise."""
        rows = query(influx.url, db, q.readings_missing(f"\"enterprise\" = '{enterprise}'"))
        return int(rows[0]["values"][0][1]) if rows else None

    with running_collector(settings) as collector, publisher(mosquitto) as client:
        for seq in (1, 2, 5):
            send(client, seq)
        wait_until(
            lambda: metric(collector, "hosiery_collector_readings_missing") == 2,
            15,
            what="two readings missing",
        )
        wait_until(lambda: reported() == 2, 15, what="the enterprise's reporting point: 2")
        for seq in (4, 3):
            send(client, seq)
        wait_until(
            lambda: metric(collector, "hosiery_collector_readings_missing") == 0,
            15,
            what="the gap filled",
        )
        wait_until(lambda: reported() == 0, 15, what="the enterprise's reporting point: 0")
        rows = query(influx.url, db, 'SELECT SUM("pairs") FROM "production"')
        assert rows[0]["values"][0][1] == 10
