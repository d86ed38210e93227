"""The "Collector health" dashboard (Prometheus): it loads, its queries name metrics the
collector exports, of the job Prometheus scrapes, with Grafana's macros as Grafana expands them."""

import json
import re

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard
from prometheus_client import CollectorRegistry, generate_latest

from collector.metrics import CollectorMetrics, SourceMetrics
from collector.source import SourceStats
from dashboards import build, health, promql
from dashboards.grafana import PROMETHEUS_UID

PATHS = list(build.PROMETHEUS_DASHBOARDS)
SELECTOR = re.compile(r"\b([a-z_:][a-z0-9_:]*)\{([^}]*)\}")
NOT_METRICS = {"histogram_quantile", "__rate_interval"}


def exported_names() -> set[str]:
    """Every sample name on the collector's /metrics once it has sent an alert notification,
    plus Prometheus's own ``up``."""
    registry = CollectorRegistry()
    metrics = CollectorMetrics(registry)
    metrics.alert_notifications.labels("idle", "firing").inc()
    metrics.alerts_firing.labels("idle").set(1)
    registry.register(SourceMetrics(lambda: SourceStats(True, 1, 0, 0, 0, 0, 0, 0, 0)))
    text = generate_latest(registry).decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"} | {
        "up"
    }


def load(path: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((build.ROOT / path).read_text(encoding="utf-8"))
    return data


def expressions(path: str) -> list[str]:
    return [item.query for item in promql.panel_queries(path, load(path))]


@pytest.mark.parametrize("path", PATHS)
def test_the_dashboard_round_trips_through_the_sdk_model(path: str) -> None:
    register_default_plugins()
    data = load(path)
    model = Dashboard.from_json(data)
    again = json.loads(json.dumps(model, cls=JSONEncoder))
    keys = ("type", "id", "title", "targets", "gridPos", "datasource")
    panels = data["panels"]
    assert isinstance(panels, list)
    assert [{k: p.get(k) for k in keys} for p in again["panels"]] == [
        {k: p.get(k) for k in keys} for p in panels
    ]
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": PROMETHEUS_UID}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == PROMETHEUS_UID
            assert target["expr"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24


@pytest.mark.parametrize("path", PATHS)
def test_every_query_names_an_exported_metric_of_the_collectors_job(path: str) -> None:
    exported = exported_names()
    seen = set()
    for expr in expressions(path):
        selectors = SELECTOR.findall(expr)
        assert selectors, expr
        for name, labels in selectors:
            assert name in exported, f"{name} is not on the collector's /metrics: {expr}"
            assert labels == f'job="{health.JOB}"', expr
            seen.add(name)
        bare = set(re.findall(r"\b[a-z_]+_[a-z_]+\b", SELECTOR.sub("", expr))) - NOT_METRICS
        assert not bare, f"a metric without the job's selector: {expr}"
    wanted = {
        "hosiery_collector_readings_written_total",
        "hosiery_collector_consumer_lag_seconds",
        "hosiery_collector_write_batches_total",
        "hosiery_collector_write_retries_total",
        "hosiery_collector_messages_rejected_total",
        "hosiery_collector_alert_notifications_total",
        "process_resident_memory_bytes",
    }
    assert wanted <= seen


def test_grafanas_macros_expand_as_grafana_does() -> None:
    hour = 3_600_000
    # An hour over 1000 points is 3.6 s, 5 s on Grafana's ladder; never below the scrape
    # interval; $__rate_interval is four scrape intervals at least.
    expr = "rate(x[$__rate_interval]) / $__interval_ms + y[${__range}] + $__range_s"
    assert promql.expand(expr, from_ms=0, to_ms=hour, scrape_interval="15s") == (
        "rate(x[1m]) / 15000 + y[1h] + 3600"
    )
    assert promql.expand(expr, from_ms=0, to_ms=hour, scrape_interval="1s") == (
        "rate(x[6s]) / 5000 + y[1h] + 3600"
    )
    week = 7 * 24 * hour  # 604.8 s a point: 30 min on the ladder, plus one scrape interval
    assert promql.expand("$__rate_interval", from_ms=0, to_ms=week, scrape_interval="15s") == (
        "1815s"
    )
    with pytest.raises(ValueError, match="unknown macro"):
        promql.expand("$__nothing", from_ms=0, to_ms=hour, scrape_interval="15s")
    with pytest.raises(ValueError, match="unexpanded"):
        promql.expand("x{job=$job}", from_ms=0, to_ms=hour, scrape_interval="15s")


@pytest.mark.parametrize("path", PATHS)
def test_every_query_expands(path: str) -> None:
    for expr in expressions(path):
        text = promql.expand(expr, from_ms=0, to_ms=3_600_000, scrape_interval="15s")
        assert "$" not in text
