"""The monitoring endpoints, on a loopback port (no broker or database involved)."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from collector.http import MonitoringServer


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
