"""Collector health: the collector's own /metrics, as Prometheus scraped them.

Rate and lag, the write path (batches, write time, retries, lines refused), rejections by
reason, alert notifications, and the process (memory, CPU). Every query selects the scrape job
of ``config/prometheus/prometheus.yml``.
"""

from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard as dm

from dashboards.grafana import Grid, dashboard, prometheus_datasource

UID = "hosiery-collector-health"
JOB = "hosiery-collector"
"""The Prometheus job that scrapes the collector."""
RATE = "$__rate_interval"

Target = cogbuilder.Builder[cogvariants.Dataquery]


def m(name: str) -> str:
    """The collector's metric ``name``, of the collector's job."""
    return f'{name}{{job="{JOB}"}}'


def rate(name: str) -> str:
    return f"rate({m(name)}[{RATE}])"


def sum_by(labels: str, inner: str) -> str:
    return f"sum by ({labels}) ({inner})"


def _targets(queries: list[tuple[str, str]]) -> list[Target]:
    return [
        prometheus.Dataquery()
        .ref_id(chr(ord("A") + i))
        .datasource(prometheus_datasource())
        .expr(expr)
        .legend_format(legend)
        .range()
        for i, (expr, legend) in enumerate(queries)
    ]


def stat_panel(title: str, expr: str, *, unit: str = "short", description: str = "") -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(prometheus_datasource())
        .targets(_targets([(expr, title)]))
        .unit(unit)
    )


def timeseries_panel(
    title: str, queries: list[tuple[str, str]], *, unit: str = "short", description: str = ""
) -> timeseries.Panel:
    return (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(prometheus_datasource())
        .targets(_targets(queries))
        .unit(unit)
    )


def build() -> dm.Dashboard:
    grid = Grid()
    d = (
        dashboard(
            UID,
            "Collector health",
            "The collector's own metrics (Prometheus): rate, lag, writes, rejections, alerts, "
            "memory.",
            ["collector"],
        )
        .time("now-1h", "now")
        .refresh("30s")
    )
    written = f"sum({rate('hosiery_collector_readings_written_total')})"
    lag = f"max({m('hosiery_collector_consumer_lag_seconds')})"
    memory = f"max({m('process_resident_memory_bytes')})"
    panels = [
        (
            stat_panel(
                "Up",
                f"min({m('up')})",
                description="1 while Prometheus reaches the collector's /metrics.",
            ),
            4,
            4,
        ),
        (
            stat_panel(
                "MQTT connected",
                f"min({m('hosiery_collector_mqtt_connected')})",
                description="1 while the collector is connected to the broker and subscribed.",
            ),
            4,
            4,
        ),
        (stat_panel("Readings written /s", written), 4, 4),
        (
            stat_panel(
                "Consumer lag",
                lag,
                unit="s",
                description="Now minus the machine time of the newest reading in the last batch.",
            ),
            4,
            4,
        ),
        (
            stat_panel(
                "Buffered",
                f"sum({m('hosiery_collector_buffer_depth')})",
                description="Messages received and not yet acknowledged (written durably).",
            ),
            4,
            4,
        ),
        (stat_panel("Memory (resident)", memory, unit="bytes"), 4, 4),
        (
            timeseries_panel(
                "Messages per second",
                [
                    (f"sum({rate('hosiery_collector_messages_received_total')})", "received"),
                    (written, "readings written"),
                    (f"sum({rate('hosiery_collector_duplicates_dropped_total')})", "duplicates"),
                ],
            ),
            12,
            8,
        ),
        (
            timeseries_panel(
                "Lag and buffers",
                [
                    (lag, "consumer lag (s)"),
                    (f"sum({m('hosiery_collector_buffer_depth')})", "unacknowledged"),
                    (f"sum({m('hosiery_collector_intake_depth')})", "intake"),
                ],
                description="Consumer lag in seconds; buffers in messages.",
            ),
            12,
            8,
        ),
        (
            timeseries_panel(
                "Write batches per second",
                [
                    (
                        sum_by("outcome", rate("hosiery_collector_write_batches_total")),
                        "{{outcome}}",
                    )
                ],
            ),
            8,
            8,
        ),
        (
            timeseries_panel(
                "Batch write time",
                [
                    (
                        f"histogram_quantile({q}, "
                        + sum_by("le", rate("hosiery_collector_write_seconds_bucket"))
                        + ")",
                        f"p{round(q * 100)}",
                    )
                    for q in (0.5, 0.95)
                ],
                unit="s",
                description="InfluxDB, then the state journal, per batch.",
            ),
            8,
            8,
        ),
        (
            timeseries_panel(
                "Write retries and refusals per second",
                [
                    (f"sum({rate('hosiery_collector_write_retries_total')})", "retries"),
                    (
                        f"sum({rate('hosiery_collector_lines_refused_by_influxdb_total')})",
                        "lines refused by InfluxDB",
                    ),
                ],
                description="Retried durable writes (nothing is lost: the batch is written "
                "again) and lines InfluxDB refused for good (logged with its reason).",
            ),
            8,
            8,
        ),
        (
            timeseries_panel(
                "Rejections per second, by reason",
                [
                    (
                        sum_by("reason", rate("hosiery_collector_messages_rejected_total")),
                        "{{reason}}",
                    )
                ],
                description="Messages that failed validation; each is stored with its reason.",
            ),
            12,
            8,
        ),
        (
            timeseries_panel(
                "Alert notifications",
                [
                    (
                        sum_by(
                            "kind, status",
                            f"increase({m('hosiery_collector_alert_notifications_total')}[{RATE}])",
                        ),
                        "{{kind}} {{status}}",
                    ),
                    (sum_by("kind", m("hosiery_collector_alerts_firing")), "{{kind}} firing"),
                ],
                description="Notifications sent (firing, resolved) per rate interval, and the "
                "alerts firing now, by kind.",
            ),
            12,
            8,
        ),
        (
            timeseries_panel(
                "Memory",
                [
                    (memory, "resident"),
                    (f"max({m('process_virtual_memory_bytes')})", "virtual"),
                ],
                unit="bytes",
            ),
            12,
            8,
        ),
        (
            timeseries_panel(
                "CPU",
                [(f"sum({rate('process_cpu_seconds_total')})", "CPU")],
                unit="percentunit",
                description="Share of one core.",
            ),
            12,
            8,
        ),
    ]
    for panel, width, height in panels:
        d = d.with_panel(grid.place(panel, width, height))
    return d.build()
