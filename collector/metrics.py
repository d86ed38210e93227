"""The collector's Prometheus metrics, registered in an injected registry.

The pipeline counts per batch in plain integers and adds them here once per batch, so metrics
cost nothing per message. The registry also carries what every Prometheus exporter has: the
process (``process_*``: CPU, memory, file descriptors), the Python runtime (``python_info``,
``python_gc_*``) and ``hosiery_collector_build_info`` (the product's version).
"""

from collections.abc import Callable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from collector.alerting.model import Kind, Status
from collector.source import SourceStats
from collector.validate import Reason
from contract.version import product_version


class CollectorMetrics:
    """Every metric the collector exports, prefixed ``hosiery_collector_``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        p = "hosiery_collector"
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        self.build = Info(f"{p}_build", "The collector's version", registry=registry)
        self.build.info({"version": product_version()})
        self.received = Counter(
            f"{p}_messages_received", "MQTT messages received", registry=registry
        )
        self.readings = Counter(
            f"{p}_readings_written", "Readings durably written to InfluxDB", registry=registry
        )
        self.pairs = Counter(
            f"{p}_pairs", "Pairs counted from accepted readings", registry=registry
        )
        self.rejected = Counter(
            f"{p}_messages_rejected", "Messages rejected, by reason", ["reason"], registry=registry
        )
        for reason in Reason:
            self.rejected.labels(reason.value)
        self.duplicates = Counter(
            f"{p}_duplicates_dropped",
            "Readings already accounted (duplicates, redeliveries)",
            registry=registry,
        )
        self.too_late = Counter(
            f"{p}_late_readings_dropped",
            "Readings older than the reorder window; their pairs were carried by later readings",
            registry=registry,
        )
        self.resets = Counter(
            f"{p}_counter_resets",
            "Counter resets: new_boot (a known machine's new boot), in_boot (the counter fell)",
            ["kind"],
            registry=registry,
        )
        for kind in ("new_boot", "in_boot"):
            self.resets.labels(kind)
        self.corrections = Counter(
            f"{p}_corrections", "Stored readings corrected after a late reading", registry=registry
        )
        self.statuses = Counter(
            f"{p}_gateway_status_messages",
            "Gateway birth and Last Will messages",
            registry=registry,
        )
        self.ignored = Counter(
            f"{p}_messages_ignored", "Messages on the collector's own topics", registry=registry
        )
        self.batches = Counter(
            f"{p}_write_batches", "Write batches, by outcome", ["outcome"], registry=registry
        )
        self.batches.labels("written")  # from 0, so that Prometheus's rates see the first batch
        self.write_seconds = Histogram(
            f"{p}_write_seconds",
            "Time to write one batch durably (InfluxDB, then the state journal)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=registry,
        )
        self.write_retries = Counter(
            f"{p}_write_retries",
            "Failed durable write attempts (InfluxDB, then the state journal) that were retried",
            registry=registry,
        )
        self.notices_skipped = Counter(
            f"{p}_rejection_notices_skipped",
            "Rejections not republished on hosiery/v1/_rejected (rate limit); all are stored",
            registry=registry,
        )
        self.lines_dropped_by_influx = Counter(
            f"{p}_lines_refused_by_influxdb",
            "Lines InfluxDB refused permanently (partial writes); logged with its reason",
            registry=registry,
        )
        self.buffer_depth = Gauge(
            f"{p}_buffer_depth", "Messages received and not yet acknowledged", registry=registry
        )
        self.lag = Gauge(
            f"{p}_consumer_lag_seconds",
            "Now minus the machine timestamp of the newest reading in the last batch",
            registry=registry,
        )
        self.machines = Gauge(f"{p}_machines_tracked", "Machines in the ledger", registry=registry)
        self.readings_missing = Gauge(
            f"{p}_readings_missing",
            "Readings lost upstream: gaps in the machines' seq that no later reading filled",
            registry=registry,
        )
        self.observer_errors = Counter(
            f"{p}_observer_errors",
            "Exceptions raised by an observer (alerting); ingestion goes on",
            ["observer"],
            registry=registry,
        )
        self.checkpoints = Counter(f"{p}_checkpoints", "State snapshots written", registry=registry)
        self.reroll_hours_owed = Gauge(
            f"{p}_reroll_hours_owed",
            "Hours written late into, whose rollups are still to be run again",
            registry=registry,
        )
        self.reroll_hours = Counter(
            f"{p}_reroll_hours", "Hours whose rollups were run again (late data)", registry=registry
        )
        self.reroll_failures = Counter(
            f"{p}_reroll_failures",
            "Failed re-runs of late hours' rollups (retried), and hours owed that were not saved",
            registry=registry,
        )
        self.alerts_firing = Gauge(
            f"{p}_alerts_firing", "Alerts firing now, by kind", ["kind"], registry=registry
        )
        self.alert_notifications = Counter(
            f"{p}_alert_notifications",
            "Alert notifications (firing, resolved), by kind",
            ["kind", "status"],
            registry=registry,
        )
        for kind in Kind:  # every series from 0, so that rates count the first notification
            self.alerts_firing.labels(kind.value)
            for status in Status:
                self.alert_notifications.labels(kind.value, status.value)
        self.webhook_notifications = Counter(
            f"{p}_webhook_notifications",
            "Webhook notifications by outcome (delivered, retried, dropped, gave_up, rejected)",
            ["outcome"],
            registry=registry,
        )
        self.machines_expected = Gauge(
            f"{p}_machines_expected", "Machines in the park registry", registry=registry
        )
        self.machines_not_reporting = Gauge(
            f"{p}_machines_not_reporting",
            "Machines not reporting: never_reported (in the registry) or silent",
            ["why"],
            registry=registry,
        )


class SourceMetrics(Collector):
    """The MQTT source's own counters, read from its stats when Prometheus scrapes."""

    def __init__(self, stats: Callable[[], SourceStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        s = self._stats()
        p = "hosiery_collector_mqtt"
        yield GaugeMetricFamily(f"{p}_connected", "1 while connected and subscribed", s.connected)
        yield CounterMetricFamily(f"{p}_connects", "Connections to the broker", value=s.connects)
        yield CounterMetricFamily(
            f"{p}_disconnects", "Connections lost or closed", value=s.disconnects
        )
        yield CounterMetricFamily(
            f"{p}_sessions_lost",
            "Reconnections on which the broker no longer had the session",
            value=s.sessions_lost,
        )
        yield CounterMetricFamily(
            "hosiery_collector_acks_skipped",
            "Acknowledgements skipped because their connection was lost (redelivered instead)",
            value=s.stale_acks,
        )
        yield GaugeMetricFamily(
            "hosiery_collector_intake_depth",
            "Messages received, not yet taken by the worker",
            value=s.intake_depth,
        )
        yield CounterMetricFamily(
            "hosiery_collector_intake_full",
            "Times the network thread waited for room in the intake",
            value=s.intake_full,
        )
