"""``hosiery-top`` without a database: queries answered by a mock transport, frames rendered."""

import threading
from io import StringIO
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from stack.top import (
    PARK_PAIRS_PER_MACHINE_HOUR,
    Influx,
    TopError,
    TopSettings,
    collect,
    main,
    read_registry,
    render,
    run,
)

NOW = 1_800_000_000_000


def series(
    columns: list[str], rows: list[list[Any]], tags: dict[str, str] | None = None
) -> dict[str, Any]:
    found: dict[str, Any] = {"name": "x", "columns": ["time", *columns], "values": rows}
    if tags is not None:
        found["tags"] = tags
    return found


def answers(
    capacity: list[dict[str, Any]] | None = None, alerts: list[dict[str, Any]] | None = None
) -> list[list[dict[str, Any]]]:
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
    ]


def influx_with(results: list[list[dict[str, Any]]], seen: list[str] | None = None) -> Influx:
    def handler(request: httpx.Request) -> httpx.Response:
        form = dict(httpx.QueryParams(request.content.decode()))
        if seen is not None:
            seen.append(form["q"])
        body = {"results": [{"statement_id": i, "series": s} for i, s in enumerate(results)]}
        return httpx.Response(200, content=orjson.dumps(body))

    return Influx(TopSettings(), transport=httpx.MockTransport(handler))


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
    assert all("now() - 300s" in q or "capacity" in q or "alerts" in q for q in seen[0].split(";"))


def test_a_rate_is_never_taken_over_less_than_a_minute() -> None:
    results = answers()
    results[1] = [series(["first"], [[NOW - 2_000, 3]])]
    snap = collect(influx_with(results), TopSettings(), None, NOW)
    assert snap.covered_s == 60.0
    assert snap.rate == pytest.approx(1200 * 60)


def test_the_capacity_measurement_wins_over_the_registry(tmp_path: Path) -> None:
    capacity = [series(["pairs_per_year", "machines"], [[0, 3.5e9, 40_000]])]
    registry = tmp_path / "registry.json"
    registry.write_text('{"target_pairs_per_year": 8760000, "enterprises": [{"machines": [{}]}]}')
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
    with pytest.raises(TopError, match="refused the credentials"):
        collect(influx, TopSettings(), None, NOW)


def test_bad_options_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--refresh", "0"]) == 2
    assert "--refresh" in capsys.readouterr().err


def test_the_live_view_keeps_going_when_the_database_is_away() -> None:
    stop = threading.Event()
    out = StringIO()

    class Once(StringIO):
        def write(self, text: str) -> int:
            stop.set()
            return out.write(text)

    settings = TopSettings(influx_url="http://127.0.0.1:9", refresh=0.2)
    assert run(settings, Once(), stop) == 0
    assert "cannot reach InfluxDB" in out.getvalue()
    assert out.getvalue().startswith("\x1b[H\x1b[2J")
