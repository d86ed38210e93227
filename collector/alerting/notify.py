"""What alerts look like outside: MQTT messages, InfluxDB lines, webhook bodies, summaries.

Pure formatting; ``docs/alerting.md`` shows every payload and ``docs/schema.md`` the
measurements ``alerts`` and ``reporting``.

MQTT, per machine, on ``hosiery/v1/{enterprise}/{machine}/alert`` (QoS 1):

* a firing notification is published **retained**: the topic holds the machine's current alert;
* a resolved notification is published *not* retained (live subscribers see it), followed by
  the machine's remaining firing alert (retained, unchanged) or, when none is left, an **empty
  retained payload**, which deletes the retained message: a client that subscribes later sees
  exactly the machines with alerts;
* a gateway alert is published on the alert topic of each of its machines (``"gateway":
  true``).
"""

import datetime as dt
from collections.abc import Callable
from typing import Any

import orjson

from collector.alerting.model import Alert, Kind, Status
from collector.alerting.reporting import Report
from collector.alerting.store import Notification
from contract import alert_topic
from influx.lines import escape_string, printable

ALERTS = "alerts"
REPORTING = "reporting"
MAX_LIST_CHARS = 60_000
"""Longest comma-separated machine list stored in one InfluxDB string field."""

MqttMessage = tuple[str, bytes, bool]
"""(topic, payload, retain)"""


def iso(ms: int) -> str:
    """Epoch ms as RFC 3339 UTC with milliseconds."""
    moment = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alert_fields(alert: Alert) -> dict[str, Any]:
    """The fields every representation shares."""
    return {
        "id": alert.notification_id,
        "alert_id": alert.id,
        "status": alert.status.value,
        "kind": alert.kind.value,
        "enterprise": alert.enterprise,
        "machine": alert.machine,
        "since": iso(alert.since_ms),
        "since_ms": alert.since_ms,
        "at": iso(alert.at_ms),
        "at_ms": alert.at_ms,
        "reason": alert.reason,
        "pairs_total": alert.pairs_total,
    }


def machine_document(alert: Alert, machine: str, firing: list[Alert]) -> bytes:
    """The message on ``machine``'s alert topic for ``alert`` (its own or its gateway's);
    ``firing`` is every alert firing for the machine after this one."""
    body = alert_fields(alert)
    body["machine"] = machine
    body["gateway"] = alert.machine is None and alert.kind is Kind.OFFLINE
    if alert.machine is None:
        key = "gateway_machines" if alert.kind is Kind.OFFLINE else "enterprise_machines"
        body[key] = len(alert.machines)
    if alert.fired_ms is not None:
        body["fired_ms"] = alert.fired_ms
    body["firing"] = sorted({a.kind.value for a in firing})
    return orjson.dumps(body)


def mqtt_messages(alert: Alert, firing_of: Callable[[str, str], list[Alert]]) -> list[MqttMessage]:
    """The messages one notification publishes; ``firing_of(enterprise, machine)`` gives a
    machine's firing alerts *after* the notification."""
    machines = alert.machines if alert.machine is None else (alert.machine,)
    out: list[MqttMessage] = []
    for machine in machines:
        topic = alert_topic(alert.enterprise, machine)
        firing = firing_of(alert.enterprise, machine)
        if alert.status is Status.FIRING:
            out.append((topic, machine_document(alert, machine, firing), True))
            continue
        out.append((topic, machine_document(alert, machine, firing), False))
        if firing:
            out.append((topic, machine_document(firing[-1], machine, firing), True))
        else:
            out.append((topic, b"", True))
    return out


def retained_state(
    enterprise: str, machine: str, firing_of: Callable[[str, str], list[Alert]]
) -> MqttMessage:
    """A machine's retained message as it should be now (re-published after a crash)."""
    firing = firing_of(enterprise, machine)
    topic = alert_topic(enterprise, machine)
    if not firing:
        return (topic, b"", True)
    return (topic, machine_document(firing[-1], machine, firing), True)


def alert_line(alert: Alert) -> str:
    """An ``alerts`` point. Time: the notification's time, +1 ns for a resolution."""
    tags = f"{ALERTS},enterprise={alert.enterprise},kind={alert.kind.value}"
    if alert.machine is not None:
        tags += f",machine={alert.machine}"
    firing = alert.status is Status.FIRING
    fields = (
        f'status="{alert.status.value}",firing={1 if firing else 0}i,'
        f'id="{alert.id}",notification="{alert.notification_id}",'
        f"since_ms={alert.since_ms}i,"
        f'reason="{escape_string(printable(alert.reason))}"'
    )
    if alert.pairs_total is not None:
        fields += f",pairs_total={alert.pairs_total}i"
    if alert.machine is None:
        machines = _machine_list(alert.machines)
        fields += f',machines="{machines}",machine_count={len(alert.machines)}i'
    if alert.fired_ms is not None:
        duration = (alert.at_ms - alert.fired_ms) / 1000
        fields += f",fired_ms={alert.fired_ms}i,duration_s={duration!r}"
    return f"{tags} {fields} {alert.at_ms * 1_000_000 + (0 if firing else 1)}"


def _machine_list(machines: tuple[str, ...]) -> str:
    text = ",".join(machines)
    if len(text) > MAX_LIST_CHARS:
        text = text[:MAX_LIST_CHARS].rsplit(",", 1)[0] + ",..."
    return text


def webhook_body(notification: Notification) -> bytes:
    """The JSON a webhook receives; ``id`` is unique per notification (de-duplicate on it)."""
    alert = notification.alert
    body = alert_fields(alert)
    body["seq"] = notification.seq
    body["machines"] = list(alert.machines) if alert.machine is None else [alert.machine]
    body["fired_ms"] = alert.fired_ms
    return orjson.dumps(body)


def summary_document(report: Report) -> bytes:
    """The retained summary of machines that do not report."""
    return orjson.dumps(
        {
            "at": iso(report.at_ms),
            "at_ms": report.at_ms,
            "expected": report.expected,
            "reporting": report.reporting,
            "never_reported": report.never_reported,
            "silent": report.silent,
            "unexpected": report.unexpected,
            "enterprises": {
                r.enterprise: {
                    "expected": r.expected,
                    "reporting": r.reporting,
                    "never_reported": list(r.never_reported),
                    "silent": list(r.silent),
                }
                for r in report.enterprises
                if r.never_reported or r.silent
            },
        }
    )


def report_lines(report: Report) -> list[str]:
    """One ``reporting`` point per enterprise, all at the report's time."""
    time_ns = report.at_ms * 1_000_000
    return [
        f"{REPORTING},enterprise={r.enterprise} expected={r.expected}i,reporting={r.reporting}i,"
        f"never_reported={len(r.never_reported)}i,silent={len(r.silent)}i,"
        f"unexpected={r.unexpected}i,running={r.by_state[0]}i,idle={r.by_state[1]}i,"
        f"stopped={r.by_state[2]}i,off={r.by_state[3]}i,idle_alerts={r.alerts[0]}i,"
        f"stopped_alerts={r.alerts[1]}i,offline_alerts={r.alerts[2]}i,"
        f"missing_readings={r.missing}i,"
        f'never_reported_machines="{_machine_list(r.never_reported)}",'
        f'silent_machines="{_machine_list(r.silent)}" {time_ns}'
        for r in report.enterprises
    ]
