"""The pipeline observer: feeds the tracker, persists and publishes what it decides.

``docs/architecture.md`` (The alert observer) gives the order and what a crash loses.
"""

import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import structlog
from structlog.typing import FilteringBoundLogger

from collector.alerting.model import Alert
from collector.alerting.notify import (
    MqttMessage,
    alert_line,
    mqtt_messages,
    report_lines,
    retained_state,
    summary_document,
)
from collector.alerting.store import AlertStore, Notification, Recovered
from collector.alerting.tracker import Tracker
from collector.alerting.webhooks import WebhookDispatcher
from collector.errors import StateError
from collector.logs import RateLimit
from collector.metrics import CollectorMetrics
from collector.validate import Reading, Status
from contract import SUMMARY_TOPIC

Publish = Callable[[str, bytes, bool], Any]
"""``publish(topic, payload, retain)`` at QoS 1; must not block. It may return the MQTT
client's ``PublishInfo``: its ``is_published()`` tells when the broker acknowledged the message."""

MQTT = "mqtt"
"""The store's mark name for the MQTT output."""


@dataclass(frozen=True, slots=True)
class ObserverOptions:
    summary_topic: str = SUMMARY_TOPIC
    summary_interval_ms: int = 60_000
    summary_grace_ms: int = 180_000
    """Summaries start at once, but list no machine as never reported before this long after
    the start: machines need time to report first."""
    compact_interval_ms: int = 300_000
    compact_records: int = 10_000
    """Write a snapshot when this many notifications were logged since the last one."""


class AlertingObserver:
    """Glue between the pipeline, the tracker and the outputs. ``start``, then ``close``."""

    def __init__(
        self,
        tracker: Tracker,
        store: AlertStore,
        recovered: Recovered,
        *,
        publish: Publish,
        metrics: CollectorMetrics,
        dispatcher: WebhookDispatcher | None = None,
        options: ObserverOptions | None = None,
        intake_ok: Callable[[], bool] = lambda: True,
        on_summary: Callable[[int], None] | None = None,
        missing: Callable[[], Mapping[str, int]] | None = None,
        log: FilteringBoundLogger | None = None,
    ) -> None:
        self.tracker = tracker
        self.store = store
        self.dispatcher = dispatcher
        self.options = options or ObserverOptions()
        self.metrics = metrics
        self._publish_raw = publish
        self._intake_ok = intake_ok
        self._on_summary = on_summary
        self._missing = missing
        self.log: FilteringBoundLogger = log or structlog.get_logger("collector.alerting")
        self._lines: list[str] = []
        self._mqtt: list[MqttMessage] = []
        self._unconfirmed: deque[tuple[int, list[Any]]] = deque()
        self._event_log = RateLimit(burst=20, period=60.0)
        self._started_ms = tracker.started_ms
        self._next_summary = self._started_ms
        self._never_from = self._started_ms + self.options.summary_grace_ms
        self._next_compact = self._started_ms + self.options.compact_interval_ms
        self._last_summary: bytes | None = None
        tracker.restore(recovered.firing, recovered.machines)
        self._replay(recovered.tail)
        if recovered.skipped:
            self.log.warning("alert log lines skipped (unreadable)", lines=recovered.skipped)
        self._set_gauges()

    def _replay(self, tail: Sequence[Notification]) -> None:
        """After a crash: the logged notifications' InfluxDB points, and the MQTT state of
        machines whose messages the broker had not confirmed."""
        confirmed = self.store.mark(MQTT)
        touched: dict[tuple[str, str], None] = {}
        for notification in tail:
            alert = notification.alert
            self._lines.append(alert_line(alert))
            if confirmed is not None and notification.seq <= confirmed:
                continue
            for machine in alert.machines if alert.machine is None else (alert.machine,):
                touched[(alert.enterprise, machine)] = None
        for enterprise, machine in touched:
            self._mqtt.append(retained_state(enterprise, machine, self.tracker.alerts_of))
        if tail:
            self.log.info("alert notifications published again after a restart", count=len(tail))

    def start(self) -> None:
        """Queue what the webhooks have not confirmed, start them, write a fresh snapshot."""
        if self.store.mark(MQTT) is None:
            self.store.pending(MQTT)  # records the mark
        dispatcher = self.dispatcher
        if dispatcher is not None:
            for url in dispatcher.urls:
                for notification in self.store.pending(url):
                    dispatcher.submit(notification, url)
            dispatcher.start()
        self._compact()
        self.log.info(
            "alerting started",
            firing=sum(self.tracker.firing_counts().values()),
            machines_known=len(self.tracker),
            webhooks=len(dispatcher.urls) if dispatcher else 0,
        )

    def close(self, timeout: float = 5.0) -> None:
        """Stop the webhooks (delivering for up to ``timeout`` s), snapshot, close the store."""
        if self.dispatcher is not None:
            left = self.dispatcher.stop(timeout)
            if left:
                self.log.warning(
                    "webhook notifications not delivered; they are sent on the next start",
                    count=left,
                )
        self._confirm()
        self._compact()
        self.store.close()

    # ------------------------------------------------------------------ Observer

    def on_reading(self, reading: Reading, pairs: int, now_ms: int) -> None:
        data = reading.data
        self.tracker.reading(
            reading.enterprise,
            reading.machine,
            data.ts,
            data.seq,
            data.boot,
            data.state,
            pairs,
            data.pairs_total,
            data.style,
            now_ms,
            data.reason,
        )

    def on_status(self, status: Status, now_ms: int) -> None:
        data = status.data
        self.tracker.status(
            status.enterprise, online=data.online, machines=data.machines, now=now_ms
        )

    def on_tick(self, now_ms: int) -> None:
        self.tracker.tick(now_ms, intake_ok=self._intake_ok())
        if self._unconfirmed:
            self._confirm()
        self.store.save_marks_if_due()
        if now_ms >= self._next_summary:
            self._next_summary = now_ms + self.options.summary_interval_ms
            if now_ms < self._never_from:  # list the never reported as soon as the grace ends
                self._next_summary = min(self._next_summary, self._never_from)
            if self._on_summary is not None:
                self._on_summary(now_ms)
            self._summary(now_ms)
        if now_ms >= self._next_compact or self.store.logged >= self.options.compact_records:
            self._next_compact = now_ms + self.options.compact_interval_ms
            self._compact()

    def take_lines(self) -> list[str]:
        events = self.tracker.take()
        lines = self._lines
        self._lines = []
        if self._mqtt:
            for message in self._mqtt:
                self._publish(message)
            self._mqtt = []
        if events:
            lines.extend(self._notify(events))
        return lines

    # ------------------------------------------------------------------ outputs

    def _notify(self, events: list[Alert]) -> list[str]:
        problem = None
        try:
            notifications = self.store.append(events)
        except StateError as exc:
            problem = str(exc)
            notifications = [Notification(0, alert) for alert in events]
        if problem is not None:
            self.log.error("alert notifications not persisted", error=problem)
        lines = []
        dispatcher = self.dispatcher
        alerts_of = self.tracker.alerts_of
        counter = self.metrics.alert_notifications
        for notification in notifications:
            alert = notification.alert
            sent = [self._publish(message) for message in mqtt_messages(alert, alerts_of)]
            self._unconfirmed.append((notification.seq, sent))
            if dispatcher is not None:
                dispatcher.submit(notification)
            lines.append(alert_line(alert))
            counter.labels(alert.kind.value, alert.status.value).inc()
            self._log_event(alert)
        self._set_gauges()
        return lines

    def _publish(self, message: MqttMessage) -> Any:
        topic, payload, retain = message
        try:
            return self._publish_raw(topic, payload, retain)
        except (RuntimeError, ValueError, OSError) as exc:
            self.log.warning("cannot publish an alert message", topic=topic, error=str(exc))
            return None

    def _confirm(self) -> None:
        """Move the MQTT mark past the notifications whose messages the broker acknowledged."""
        unconfirmed = self._unconfirmed
        done = 0
        while unconfirmed:
            seq, sent = unconfirmed[0]
            if not all(info is None or info.is_published() for info in sent):
                break
            unconfirmed.popleft()
            done = seq
        if done:
            self.store.mark_done(MQTT, done)

    def _log_event(self, alert: Alert) -> None:
        key = f"{alert.kind.value}:{alert.status.value}"
        allowed, suppressed = self._event_log.allow(key, time.monotonic())
        if allowed:
            self.log.info(
                "alert firing" if alert.firing else "alert resolved",
                kind=alert.kind.value,
                enterprise=alert.enterprise,
                machine=alert.machine or f"gateway ({len(alert.machines)} machines)",
                reason=alert.reason,
                suppressed_since_last=suppressed,
            )

    def _set_gauges(self) -> None:
        gauge = self.metrics.alerts_firing
        for kind, count in self.tracker.firing_counts().items():
            gauge.labels(kind.value).set(count)

    def _summary(self, now_ms: int) -> None:
        if now_ms >= self._never_from:
            self.tracker.check_never_reported(now_ms, self.options.summary_grace_ms)
        report = self.tracker.report(
            now_ms,
            self._missing() if self._missing else None,
            never_reported=now_ms >= self._never_from,
        )
        metrics = self.metrics
        metrics.machines_expected.set(report.expected)
        metrics.machines_not_reporting.labels("never_reported").set(report.never_reported)
        metrics.machines_not_reporting.labels("silent").set(report.silent)
        self._lines.extend(report_lines(report))
        unchanged = summary_document(replace(report, at_ms=0))
        if unchanged != self._last_summary:
            self._last_summary = unchanged
            self._publish((self.options.summary_topic, summary_document(report), True))

    def _compact(self) -> None:
        urls = self.dispatcher.urls if self.dispatcher is not None else ()
        problem = None
        try:
            self.store.compact(self.tracker.firing(), self.tracker.records(), urls)
        except StateError as exc:
            problem = str(exc)
        if problem is not None:
            self.log.error("alert snapshot not written", error=problem)
