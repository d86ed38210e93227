"""/healthz: each way the collector can be unhealthy, and the threshold."""

import pytest

from collector.health import INFLUX_STEP, JOURNAL_STEP, HealthState, assess

S = 1_000_000_000
NOW = 1_800_000_000 * S
INFLUX = "influxdb_failing_for_s"
JOURNAL = "journal_failing_for_s"
LIMIT = 60.0
FINE = HealthState(
    connected=True,
    alive=True,
    failing_since_ns={},
    write_started_ns=0,
    progress_ns=NOW - 5 * S,
    waiting=0,
)


@pytest.mark.parametrize(
    ("change", "healthy", "shown"),
    [
        ({}, True, {}),
        ({"connected": False}, False, {"mqtt_connected": False}),
        ({"alive": False}, False, {"pipeline_alive": False}),
        # InfluxDB failing: reported from its first failed write, unhealthy at the threshold.
        ({"failing_since_ns": {INFLUX_STEP: NOW - 1 * S}}, True, {INFLUX: 1.0}),
        ({"failing_since_ns": {INFLUX_STEP: NOW - 59 * S}}, True, {INFLUX: 59.0}),
        (
            {"failing_since_ns": {INFLUX_STEP: NOW - 60 * S}},
            False,
            {INFLUX: 60.0},
        ),
        (
            {"failing_since_ns": {JOURNAL_STEP: NOW - 61 * S}},
            False,
            {JOURNAL: 61.0},
        ),
        # A write nobody answers (a hung server, before its timeout) counts too.
        ({"write_started_ns": NOW - 2 * S}, True, {"write_pending_for_s": 2.0}),
        ({"write_started_ns": NOW - 75 * S}, False, {"write_pending_for_s": 75.0}),
        # Ingest stalled: messages wait and nothing was acknowledged for the threshold.
        ({"waiting": 10, "progress_ns": NOW - 30 * S}, True, {"ingest_stalled_for_s": 30.0}),
        ({"waiting": 10, "progress_ns": NOW - 90 * S}, False, {"ingest_stalled_for_s": 90.0}),
        ({"waiting": 0, "progress_ns": NOW - 900 * S}, True, {"ingest_stalled_for_s": 0.0}),
    ],
)
def test_each_state(
    change: dict[str, object],
    healthy: bool,  # noqa: FBT001 - a parameter of the table
    shown: dict[str, object],
) -> None:
    ok, details = assess(FINE._replace(**change), NOW, LIMIT)  # type: ignore[arg-type]
    assert ok is healthy
    assert details.items() >= shown.items()
    assert details["unhealthy_after_s"] == LIMIT


def test_a_healthy_collector_reports_zero_durations() -> None:
    ok, details = assess(FINE, NOW, LIMIT)
    assert ok
    assert details == {
        "mqtt_connected": True,
        "influxdb_failing_for_s": 0.0,
        "journal_failing_for_s": 0.0,
        "write_pending_for_s": 0.0,
        "ingest_stalled_for_s": 0.0,
        "unhealthy_after_s": LIMIT,
        "buffered": 0,
        "pipeline_alive": True,
    }
