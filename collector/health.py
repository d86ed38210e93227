"""The collector's health: what ``/healthz`` reports, from the pipeline's and source's state."""

from collections.abc import Mapping
from typing import NamedTuple

INFLUX_STEP = "InfluxDB write"
JOURNAL_STEP = "journal"


class HealthState(NamedTuple):
    """What the health check reads; times are wall-clock epoch nanoseconds, 0 for none."""

    connected: bool
    """Connected to the broker and subscribed."""
    alive: bool
    """Every pipeline thread runs."""
    failing_since_ns: Mapping[str, int]
    """Durable-write step -> when its failing attempts began."""
    write_started_ns: int
    """When the write of the batch in hand began (0: the writer is idle)."""
    progress_ns: int
    """The last batch acknowledged, or the collector's start."""
    waiting: int
    """Messages received and not yet acknowledged."""


def assess(
    state: HealthState, now_ns: int, unhealthy_after: float
) -> tuple[bool, dict[str, object]]:
    """Healthy, and the details ``/healthz`` shows.

    Unhealthy when not connected to the broker, when a pipeline thread died, or when for
    ``unhealthy_after`` seconds or more InfluxDB or the journal has been failing, a write has
    gone unanswered, or messages have waited with nothing acknowledged. The durations are
    reported from their first second, so a probe sees an outage beginning.
    """

    def seconds_since(ns: int) -> float:
        return round(max(0, now_ns - ns) / 1e9, 1) if ns else 0.0

    checks = {
        "influxdb_failing_for_s": seconds_since(state.failing_since_ns.get(INFLUX_STEP, 0)),
        "journal_failing_for_s": seconds_since(state.failing_since_ns.get(JOURNAL_STEP, 0)),
        "write_pending_for_s": seconds_since(state.write_started_ns),
        "ingest_stalled_for_s": seconds_since(state.progress_ns) if state.waiting else 0.0,
    }
    ok = (
        state.alive
        and state.connected
        and all(seconds < unhealthy_after for seconds in checks.values())
    )
    return ok, {
        "mqtt_connected": state.connected,
        **checks,
        "unhealthy_after_s": unhealthy_after,
        "buffered": state.waiting,
        "pipeline_alive": state.alive,
    }
