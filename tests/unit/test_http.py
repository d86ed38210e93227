"""The monitoring endpoints, on a loopback port (no broker or database involved)."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from collector.http import MonitoringServer
from collector.metrics import CollectorMetrics
from contract.version import product_version


@pytest.fixture
def server() -> Iterator[tuple[MonitoringServer, dict[str, Any]]]:
    registry = CollectorRegistry()
    Counter("demo_things", "things", registry=registry).inc(3)
    state: dict[str, Any] = {"ok": True}
    srv = MonitoringServer("127.0.0.1", 0, registry, lambda: (state["ok"], {"mqtt": "up"}))
    srv.start()
    yield srv, state
    srv.stop()


def test_metrics(server: tuple[MonitoringServer, dict[str, Any]]) -> None:
    srv, _ = server
    resp = httpx.get(f"http://127.0.0.1:{srv.port}/metrics")
    assert resp.status_code == 200
    assert "demo_things_total 3.0" in resp.text


def test_health_follows_the_check(server: tuple[MonitoringServer, dict[str, Any]]) -> None:
    srv, state = server
    resp = httpx.get(f"http://127.0.0.1:{srv.port}/healthz")
    assert (resp.status_code, resp.json()) == (200, {"status": "ok", "mqtt": "up"})
    state["ok"] = False
    resp = httpx.get(f"http://127.0.0.1:{srv.port}/healthz")
    assert (resp.status_code, resp.json()["status"]) == (503, "unhealthy")


def test_unknown_path(server: tuple[MonitoringServer, dict[str, Any]]) -> None:
    srv, _ = server
    assert httpx.get(f"http://127.0.0.1:{srv.port}/nope").status_code == 404


def test_openmetrics_when_asked_for_and_the_text_format_otherwise(
    server: tuple[MonitoringServer, dict[str, Any]],
) -> None:
    srv, _ = server
    url = f"http://127.0.0.1:{srv.port}/metrics"
    asked = httpx.get(url, headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert asked.headers["Content-Type"].startswith("application/openmetrics-text")
    assert asked.text.endswith("# EOF\n")
    assert "demo_things_total 3.0" in asked.text
    plain = httpx.get(url, headers={"Accept": "text/plain"})
    assert plain.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "# EOF" not in plain.text


def test_the_collectors_registry_has_process_runtime_and_build_metrics() -> None:
    registry = CollectorRegistry()
    CollectorMetrics(registry)
    names = {metric.name for metric in registry.collect()}
    assert {"process_cpu_seconds", "process_resident_memory_bytes", "process_open_fds"} <= names
    assert {"python_gc_objects_collected", "python_gc_collections", "python_info"} <= names
    build = registry.get_sample_value(
        "hosiery_collector_build_info", {"version": product_version()}
    )
    assert build == 1.0
    assert (registry.get_sample_value("process_resident_memory_bytes") or 0) > 0
