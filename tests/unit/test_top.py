"""``hosiery-top`` without a database: queries answered by a mock transport, frames rendered."""

import threading
from io import StringIO
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from stack.errors import TopError
from stack.probe import CollectorProbe
from stack.top import Watch, main, run
from stack.top_queries import (
    PARK_PAIRS_PER_MACHINE_HOUR,
    Influx,
    collect,
    midnight_ms,
    read_registry,
)
from stack.top_settings import TopSettings
from stack.top_text import render, status_line

NOW = 1_800_000_000_000


def series(
    columns: list[str], rows: list[list[Any]], tags: dict[str, str] | None = None
) -> dict[str, Any]:
    found: dict[str, Any] = {"name": "x", "columns": ["time", *columns], "values": rows}
    if tags is not None:
        found["tags"] = tags
    return found


def answers(
    capacity: list[dict[str, Any]] | None = None,
    alerts: list[dict[str, Any]] | None = None,
    today: tuple[int, int] = (0, 0),
) -> list[list[dict[str, Any]]]:
    """The first round's seven answers, then the second's two: today's pairs rolled up (the
    newest interval 20 minutes ago) and raw since that interval."""
    rolled, recent = today
    return [
        [series(["pairs"], [[0, 1200]])],
        [series(["first"], [[NOW - 120_000, 3]])],
        [
            series(["state"], [[NOW - 1000, "running"]], {"enterprise": "E1", "machine": "M1"}),
            series(["state"], [[NOW - 2000, "idle"]], {"enterprise": "E1", "machine": "M2"}),
            series(["state"], [[NOW - 3000, "running"]], {"enterprise": "E2", "machine": "M1"}),
            series(["state"], [[NOW - 1500, "fault"]], {"enterprise": "E2", "machine": "M2"}),
        ],
        [
            series(["last"], [[NOW - 1000, 2]], {"enterprise": "E1", "machine": "M1"}),
            series(["last"], [[NOW - 200_000, 2]], {"enterprise": "E2", "machine": "M1"}),
        ],
        capacity or [],
        alerts or [],
        [series(["last"], [[NOW - 1_200_000, 5]])] if rolled else [],
        [series(["pairs"], [[0, rolled]])] if rolled else [],
        [series(["pairs"], [[0, recent]])] if recent else [],
    ]


def respond(
    results: list[list[dict[str, Any]]], request: httpx.Request, seen: list[str] | None = None
) -> httpx.Response:
    """InfluxDB's answer to a /query of either round of :func:`answers`."""
    form = dict(httpx.QueryParams(request.content.decode()))
    if seen is not None:
        seen.append(form["q"])
    batch = results[7:] if len(form["q"].split(";")) == 2 else results[:7]
    body = {"results": [{"statement_id": i, "series": s} for i, s in enumerate(batch)]}
    return httpx.Response(200, content=orjson.dumps(body))


def influx_with(results: list[list[dict[str, Any]]], seen: list[str] | None = None) -> Influx:
    return Influx(TopSettings(), transport=httpx.MockTransport(lambda r: respond(results, r, seen)))


def test_a_frame_shows_rate_capacity_states_and_machines_not_knitting() -> None:
    seen: list[str] = []
    snap = collect(influx_with(answers(), seen), TopSettings(), None, NOW)
    # Readings began two minutes ago: the rate covers those two minutes, not the whole window.
    assert snap.rate == pytest.approx(1200 * 30)
    assert snap.states == {"running": 2, "idle": 1, "fault": 1}
    assert snap.reporting == 4
    assert [(m.enterprise, m.machine, m.last_pairs_ms) for m in snap.idle] == [
        ("E1", "M2", None),
        ("E2", "M1", NOW - 200_000),
    ]
    assert snap.capacity.pairs_per_hour == pytest.approx(4 * PARK_PAIRS_PER_MACHINE_HOUR)
    text = render(snap, source="test", top=10)
    assert "Rate       36,000 pairs/h  (last 2m00s: 1,200 pairs)" in text
    assert "running 2   idle 1   fault 1   maintenance 0   off 0" in text
    assert "E1/M2" in text
    assert "no pairs in the last 5m00s" in text
    assert "no pairs for 3m20s" in text
    assert "E1/M1 " not in text
    assert "Alerts firing: 0" in text
    statements = seen[0].split(";")
    assert all("now() - 300s" in q for q in statements[:4])
    # Today began at midnight park time (UTC+8): 16 hours before 08:00 UTC.
    midnight = NOW - 16 * 3_600_000
    assert statements[-1].endswith(f"time >= {midnight}ms")
    assert snap.today_s == 16 * 3600
    # Nothing rolled up yet: today is the raw readings since midnight.
    assert seen[1].split(";")[1].endswith(f"time >= {midnight}ms")


def test_today_is_the_rollups_up_to_their_newest_interval_then_the_raw_readings() -> None:
    seen: list[str] = []
    snap = collect(influx_with(answers(today=(4000, 250)), seen), TopSettings(), None, NOW)
    assert snap.today_pairs == 4250
    newest = NOW - 1_200_000
    rolled, raw = seen[1].split(";")
    assert '"park_5m"' in rolled
    assert rolled.endswith(f"time < {newest}ms")
    assert '"production"' in raw
    assert raw.endswith(f"time >= {newest}ms")


def test_a_rate_is_never_taken_over_less_than_a_minute() -> None:
    results = answers()
    results[1] = [series(["first"], [[NOW - 2_000, 3]])]
    snap = collect(influx_with(results), TopSettings(), None, NOW)
    assert snap.covered_s == 60.0
    assert snap.rate == pytest.approx(1200 * 60)


def test_the_capacity_measurement_wins_over_the_registry(tmp_path: Path) -> None:
    capacity = [series(["pairs_per_year", "machines"], [[0, 3.5e9, 40_000]])]
    registry = tmp_path / "registry.json"
    machines = '[{"id": "E1", "machines": [{"id": "M1"}]}]'
    registry.write_text(f'{{"target_pairs_per_year": 8760000, "enterprises": {machines}}}')
    found = read_registry(registry)
    assert found.pairs_per_hour == pytest.approx(1000.0)
    assert found.machines == 1
    snap = collect(influx_with(answers(capacity=capacity)), TopSettings(), found, NOW)
    assert snap.capacity.pairs_per_hour == pytest.approx(3.5e9 / 8760)
    assert snap.capacity.source == "capacity measurement, 40,000 machines"
    snap = collect(influx_with(answers()), TopSettings(), found, NOW)
    assert snap.capacity.pairs_per_hour == pytest.approx(1000.0)
    text = render(snap, source="test", top=10)
    assert "of 1 expected" in text
    assert "silent 0" in text


def test_firing_alerts_are_listed_and_resolved_ones_are_not() -> None:
    alerts = [
        series(
            ["firing", "reason", "since_ms", "status"],
            [[NOW - 10_000, 1, "no pairs for 10m", NOW - 700_000, "firing"]],
            {"enterprise": "E1", "machine": "M2", "kind": "idle"},
        ),
        series(
            ["firing", "machine_count", "reason", "since_ms", "status"],
            [[NOW - 5_000, 1, 12, "gateway Last Will", NOW - 90_000, "firing"]],
            {"enterprise": "E3", "machine": "", "kind": "offline"},
        ),
        series(
            ["firing", "reason", "since_ms", "status"],
            [[NOW - 1_000, 0, "knitting again", NOW - 900_000, "resolved"]],
            {"enterprise": "E2", "machine": "M1", "kind": "stopped"},
        ),
    ]
    snap = collect(influx_with(answers(alerts=alerts)), TopSettings(), None, NOW)
    assert [(a.enterprise, a.machine, a.kind) for a in snap.alerts] == [
        ("E1", "M2", "idle"),
        ("E3", None, "offline"),
    ]
    text = render(snap, source="test", top=10)
    assert "Alerts firing: 2 (idle 1, offline 1)" in text
    assert "E3 gateway (12 machines)" in text
    assert "for 11m40s" in text
    assert "knitting again" not in text


def test_an_unreachable_database_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--once", "--influx-url", "http://127.0.0.1:9"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hosiery-top: cannot reach InfluxDB at http://127.0.0.1:9")
    assert len(err.splitlines()) == 1


def test_refused_credentials_are_named() -> None:
    influx = Influx(
        TopSettings(), transport=httpx.MockTransport(lambda _r: httpx.Response(401, text="no"))
    )
    with pytest.raises(TopError, match=r"refused anonymous access \(HTTP 401\)"):
        collect(influx, TopSettings(), None, NOW)


def test_bad_options_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--refresh", "0"]) == 2
    assert "--refresh" in capsys.readouterr().err
    assert main(["--influx-url", "ftp://influx"]) == 2
    assert "--influx-url: Value error, 'ftp://influx' is not an http" in capsys.readouterr().err


def test_without_a_terminal_every_refresh_is_a_plain_frame_and_the_database_may_be_away() -> None:
    stop = threading.Event()
    out = StringIO()

    class Once(StringIO):
        def write(self, text: str) -> int:
            stop.set()
            return out.write(text)

    settings = TopSettings(influx_url="http://127.0.0.1:9", refresh=0.2)
    assert run(settings, Once(), stop) == 0
    assert out.getvalue().startswith("hosiery-top: cannot reach InfluxDB")
    assert "\x1b" not in out.getvalue()


def test_today_is_counted_from_midnight_in_the_time_zone_given() -> None:
    assert midnight_ms(NOW, "UTC") == NOW - 8 * 3_600_000
    assert midnight_ms(NOW, "UTC+08:00") == NOW - 16 * 3_600_000
    assert midnight_ms(NOW, "Asia/Shanghai") == NOW - 16 * 3_600_000
    assert main(["--timezone", "Mars/Olympus"]) == 2


def test_today_is_set_against_the_capacity_of_the_hours_since_midnight() -> None:
    capacity = [series(["pairs_per_year", "machines"], [[0, 8760 * 1000, 10]])]
    snap = collect(
        influx_with(answers(capacity=capacity, today=(4000, 0))), TopSettings(), None, NOW
    )
    assert snap.today_pairs == 4000
    assert snap.today_capacity == pytest.approx(16_000)
    assert snap.today_share == pytest.approx(0.25)
    text = render(snap, source="test", top=10)
    assert "Today      4,000 pairs in 16h00m (capacity 16,000)" in text
    assert "25.0% of capacity" in text
    line = status_line(snap)
    assert "today 4,000 pairs (25.0%)" in line
    assert "machines 4 reporting: running 2 idle 1 fault 1 maintenance 0 off 0" in line


METRICS = """# TYPE hosiery_collector_readings_written counter
hosiery_collector_readings_written_total {readings}
# TYPE hosiery_collector_messages_received counter
hosiery_collector_messages_received_total {received}
# TYPE hosiery_collector_consumer_lag_seconds gauge
hosiery_collector_consumer_lag_seconds 1.5
# TYPE hosiery_collector_buffer_depth gauge
hosiery_collector_buffer_depth 12
# TYPE hosiery_collector_mqtt_connected gauge
hosiery_collector_mqtt_connected {connected}
"""


def collector_answering(pages: list[str], clock: list[float]) -> CollectorProbe:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/metrics"
        return httpx.Response(200, text=pages.pop(0))

    return CollectorProbe(
        "http://collector:9108/",
        transport=httpx.MockTransport(handler),
        clock=lambda: clock.pop(0),
    )


def test_the_collector_rate_comes_from_two_scrapes_and_its_lag_from_the_gauge() -> None:
    pages = [
        METRICS.format(readings=1000, received=1100, connected=1),
        METRICS.format(readings=6000, received=6600, connected=0),
        METRICS.format(readings=10, received=10, connected=1),  # restarted: counters from 0
    ]
    probe = collector_answering(pages, [100.0, 110.0, 120.0])
    first = probe.sample()
    assert first.readings_per_s is None
    assert (first.lag_s, first.buffer, first.connected) == (1.5, 12, True)
    second = probe.sample()
    assert second.readings_per_s == pytest.approx(500.0)
    assert second.messages_per_s == pytest.approx(550.0)
    assert second.connected is False
    assert probe.sample().readings_per_s is None
    snap = collect(influx_with(answers()), TopSettings(), None, NOW, second)
    text = render(snap, source="test", top=10)
    assert "Collector  500 readings/s written   lag 1.5 s   buffer 12   MQTT NOT connected" in text


def test_an_unreadable_collector_is_one_line_in_the_frame() -> None:
    probe = collector_answering(["not prometheus {"], [1.0])
    status = probe.sample()
    assert status.error is not None
    assert status.error.startswith("http://collector:9108/metrics is not Prometheus")
    down = CollectorProbe("http://127.0.0.1:9").sample()
    assert down.error is not None
    assert down.error.startswith("cannot read http://127.0.0.1:9/metrics")


def test_a_watch_reads_influxdb_and_the_collector_through_one_transport() -> None:
    results = answers(today=(0, 10))

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/metrics":
            return httpx.Response(200, text=METRICS.format(readings=5, received=5, connected=1))
        return respond(results, request)

    settings = TopSettings(collector_url="http://127.0.0.1:9108")
    watch = Watch(settings, transport=httpx.MockTransport(handler), clock=lambda: NOW)
    text = watch.text()
    watch.close()
    assert "Collector  rate measuring   lag 1.5 s" in text
    assert "Today      10 pairs" in text
