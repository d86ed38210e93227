"""What alerts look like on MQTT, in InfluxDB and to webhooks."""

import orjson

from collector.alerting.model import Alert, Kind, Status
from collector.alerting.notify import (
    alert_line,
    iso,
    mqtt_messages,
    report_lines,
    summary_document,
    webhook_body,
)
from collector.alerting.reporting import EnterpriseReport, Report
from collector.alerting.store import Notification

T0 = 1_767_225_600_000
IDLE = Alert("E1", "M1", Kind.IDLE, Status.FIRING, T0, T0 + 600_000, 'no "pairs", x=1 y', 42)
STOPPED = Alert("E1", "M1", Kind.STOPPED, Status.FIRING, T0, T0 + 700_000, "fault", 42)
GATEWAY = Alert("E2", None, Kind.OFFLINE, Status.FIRING, T0, T0, "gw", machines=("A", "B"))


def test_firing_is_retained_on_the_machines_alert_topic() -> None:
    [(topic, payload, retain)] = mqtt_messages(IDLE, lambda _e, _m: [IDLE])
    assert topic == "hosiery/v1/E1/M1/alert"
    assert retain
    body = orjson.loads(payload)
    assert body["status"] == "firing"
    assert body["kind"] == "idle"
    assert body["id"] == IDLE.notification_id
    assert body["alert_id"] == IDLE.id
    assert body["since"] == "2026-01-01T00:00:00.000Z"
    assert body["pairs_total"] == 42
    assert body["firing"] == ["idle"]
    assert body["gateway"] is False


def test_resolved_is_live_only_then_the_retained_message_is_cleared() -> None:
    resolved = IDLE.resolve(T0 + 900_000, "knitting again")
    messages = mqtt_messages(resolved, lambda _e, _m: [])
    assert [(t, r) for t, _p, r in messages] == [
        ("hosiery/v1/E1/M1/alert", False),
        ("hosiery/v1/E1/M1/alert", True),
    ]
    assert orjson.loads(messages[0][1])["status"] == "resolved"
    assert messages[1][1] == b""


def test_resolved_with_another_alert_left_keeps_that_one_retained() -> None:
    resolved = IDLE.resolve(T0 + 900_000, "knitting again")
    messages = mqtt_messages(resolved, lambda _e, _m: [STOPPED])
    assert messages[1][2] is True
    left = orjson.loads(messages[1][1])
    assert left["id"] == STOPPED.notification_id
    assert left["firing"] == ["stopped"]


def test_gateway_alert_goes_to_each_of_its_machines() -> None:
    messages = mqtt_messages(GATEWAY, lambda _e, _m: [GATEWAY])
    assert [t for t, _p, _r in messages] == ["hosiery/v1/E2/A/alert", "hosiery/v1/E2/B/alert"]
    body = orjson.loads(messages[1][1])
    assert body["machine"] == "B"
    assert body["gateway"] is True
    assert body["gateway_machines"] == 2
    assert body["id"] == "E2/*/offline/1767225600000/firing"


def parse_line(line: str) -> tuple[str, str, int]:
    """(series, fields, time) of a line whose strings hold escaped quotes."""
    series, rest = line.split(" ", 1)
    fields, time_ns = rest.rsplit(" ", 1)
    return series, fields, int(time_ns)


def test_alert_lines() -> None:
    series, fields, time_ns = parse_line(alert_line(IDLE))
    assert series == "alerts,enterprise=E1,kind=idle,machine=M1"
    assert 'status="firing",firing=1i,' in fields
    assert 'reason="no \\"pairs\\", x=1 y"' in fields
    assert "pairs_total=42i" in fields
    assert time_ns == (T0 + 600_000) * 1_000_000
    resolved = IDLE.resolve(T0 + 900_000, "knitting again")
    _series, fields, time_ns = parse_line(alert_line(resolved))
    assert "firing=0i" in fields
    assert f"fired_ms={T0 + 600_000}i,duration_s=300.0" in fields
    assert time_ns == (T0 + 900_000) * 1_000_000 + 1
    series, fields, _ = parse_line(alert_line(GATEWAY))
    assert series == "alerts,enterprise=E2,kind=offline"
    assert 'machines="A,B",machine_count=2i' in fields


def test_webhook_body() -> None:
    body = orjson.loads(webhook_body(Notification(7, GATEWAY)))
    assert body["id"] == GATEWAY.notification_id
    assert body["seq"] == 7
    assert body["machine"] is None
    assert body["machines"] == ["A", "B"]
    assert body["at"] == iso(T0)


def test_summary_and_reporting_lines() -> None:
    report = Report(
        T0,
        expected=3,
        reporting=1,
        never_reported=1,
        silent=1,
        unexpected=0,
        enterprises=(
            EnterpriseReport("E1", 3, 1, ("M3",), ("M2",), 0, (1, 0, 0, 0), (2, 0, 1), 4),
            EnterpriseReport("E2", 5, 5, (), (), 1),
        ),
    )
    body = orjson.loads(summary_document(report))
    assert body["never_reported"] == 1
    assert body["enterprises"] == {
        "E1": {"expected": 3, "reporting": 1, "never_reported": ["M3"], "silent": ["M2"]}
    }
    lines = report_lines(report)
    assert lines[0] == (
        "reporting,enterprise=E1 expected=3i,reporting=1i,never_reported=1i,silent=1i,"
        "unexpected=0i,running=1i,idle=0i,stopped=0i,off=0i,idle_alerts=2i,stopped_alerts=0i,"
        "offline_alerts=1i,missing_readings=4i,"
        f'never_reported_machines="M3",silent_machines="M2" {T0 * 1_000_000}'
    )
    assert len(lines) == 2
    assert ",missing_readings=0i," in lines[1]
