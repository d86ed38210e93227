"""The "Collector health" dashboard against a real Prometheus (Debian's) scraping a real
collector, which reads a real Mosquitto and writes a real InfluxDB: every query of the
dashboard, expanded as Grafana expands it, returns data, and the data shows what the test did
(readings written, rejections by reason, an alert notification)."""

import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from contract import counter_topic
from dashboards import build, macros, promql
from dashboards.health import JOB
from stack import InfluxServer, MosquittoServer
from stack.process import wait_until
from tests.support.alerting import ScriptedMachine
from tests.support.collector import metric, running_collector, settings_for, unique
from tests.support.mqtt import publisher
from tests.support.prometheus import PrometheusServer, finite, numbers

pytestmark = pytest.mark.integration

SCRAPE_INTERVAL = "1s"
"""How often the test's Prometheus scrapes (compose's: every 15 s)."""
REJECTED = "hosiery_collector_messages_rejected_total"
NOTIFICATIONS = "hosiery_collector_alert_notifications_total"
IDLE_FIRING = {"kind": "idle", "status": "firing"}


def datasource_scrape_interval() -> str:
    """The scrape interval Grafana's provisioned Prometheus datasource assumes (timeInterval)."""
    path = build.ROOT / "provisioning" / "datasources" / "hosiery.yaml"
    sources = yaml.safe_load(path.read_text())["datasources"]
    [prometheus] = [d for d in sources if d["type"] == "prometheus"]
    interval: str = prometheus["jsonData"]["timeInterval"]
    return interval


class Dashboard:
    """One Prometheus dashboard's queries, expanded as Grafana would at a moment."""

    def __init__(self, path: str) -> None:
        self.board: dict[str, Any] = orjson.loads((build.ROOT / path).read_bytes())
        self.items = list(promql.panel_queries(path, self.board))
        self.scrape = datasource_scrape_interval()

    def expressions(self, now_ms: int) -> dict[str, str]:
        """``"panel / refId: PromQL"`` to the PromQL, for the dashboard's range at ``now_ms``."""
        tz = str(self.board["timezone"])
        out = {}
        for item in self.items:
            lo = macros.resolve(item.time_from or self.board["time"]["from"], now_ms, tz)
            hi = now_ms if item.time_from else macros.resolve(self.board["time"]["to"], now_ms, tz)
            text = promql.expand(item.query, from_ms=lo, to_ms=hi, scrape_interval=self.scrape)
            out[f"{item.title} / {item.ref_id}: {text}"] = text
        return out


def sample(result: list[dict[str, Any]], **labels: str) -> float | None:
    """The value of the series with ``labels``, or None."""
    for found in result:
        if all(found["metric"].get(k) == v for k, v in labels.items()):
            return float(found["value"][1])
    return None


def positive(result: list[dict[str, Any]], **labels: str) -> bool:
    value = sample(result, **labels)
    return value is not None and value > 0


@pytest.mark.parametrize("path", list(build.PROMETHEUS_DASHBOARDS))
def test_every_query_of_the_health_dashboard_returns_data(
    mosquitto: MosquittoServer, influx: InfluxServer, tmp_path: Path, path: str
) -> None:
    dashboard = Dashboard(path)
    assert dashboard.items
    settings = settings_for(
        mosquitto, influx, tmp_path / "state", idle_after=60, offline_after=3600
    )
    enterprise = unique("E")
    with running_collector(settings) as collector:
        assert collector.http is not None
        target = f"127.0.0.1:{collector.http.port}"
        with PrometheusServer(
            tmp_path / "prometheus", targets=[target], scrape_interval=SCRAPE_INTERVAL
        ) as prometheus:
            # Counters are rates from their second sample on: Prometheus first sees them at 0.
            wait_until(lambda: prometheus.scrapes(JOB) >= 2, 60, what="two scrapes")
            assert sample(prometheus.query(f'{REJECTED}{{job="{JOB}"}}'), reason="oversized") == 0
            with publisher(mosquitto) as client:
                machine = ScriptedMachine(client, enterprise, "M1", interval_ms=10_000)
                machine.send(pairs=3)
                for _ in range(6):  # a minute of machine time without a pair: an idle alert
                    machine.send()
                topic = counter_topic(enterprise, "M2")
                for body in (b"{not json", b"{not json either", b'{"seq": 1}'):
                    client.publish(topic, body, qos=1).wait_for_publish(5)
            wait_until(
                lambda: metric(collector, NOTIFICATIONS, IDLE_FIRING) == 1, 30, what="idle alert"
            )
            wait_until(
                lambda: metric(collector, REJECTED, {"reason": "missing_field"}) == 1,
                30,
                what="the rejections counted",
            )
            # The series start at 0: once Prometheus has scraped the notification, rate() and
            # increase() over the last minute see it (and the writes of the same readings).
            notified = f'increase({NOTIFICATIONS}{{job="{JOB}"}}[1m])'
            wait_until(
                lambda: (sample(prometheus.query(notified), **IDLE_FIRING) or 0) > 0,
                30,
                what="Prometheus scraped the alert notification",
            )

            # Every query at the moment Prometheus had all of it (the rates' window ends there).
            at = time.time()
            results = {
                name: prometheus.query(expr, at)
                for name, expr in dashboard.expressions(int(at * 1000)).items()
            }
            missing = [name for name, result in results.items() if not finite(result)]
            assert not missing, "queries without data (or not a finite number):\n" + "\n".join(
                f"{name} -> {results[name]}" for name in missing
            )
            by_title = {item.title for item in dashboard.items}

            def result_of(title: str, ref: str = "A") -> list[dict[str, Any]]:
                assert title in by_title, title
                [found] = [r for n, r in results.items() if n.startswith(f"{title} / {ref}:")]
                return found

            assert numbers(result_of("Up")) == [1.0]
            assert numbers(result_of("MQTT connected")) == [1.0]
            assert numbers(result_of("Readings written /s"))[0] > 0
            assert numbers(result_of("Consumer lag"))[0] > 0  # readings stamped 30 min ago
            assert numbers(result_of("Memory (resident)"))[0] > 10 * 2**20
            rejections = result_of("Rejections per second, by reason")
            assert positive(rejections, reason="malformed_json")
            assert positive(rejections, reason="missing_field")
            assert sample(rejections, reason="oversized") == 0
            notifications = result_of("Alert notifications")
            assert sample(notifications, **IDLE_FIRING) is not None
            assert sample(result_of("Alert notifications", "B"), kind="idle") == 1
            assert positive(result_of("Write batches per second"), outcome="written")
