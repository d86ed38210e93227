"""The collector's own figures for the live view, read from its ``/metrics``.

A :class:`CollectorProbe` scrapes the collector's Prometheus endpoint and keeps the previous
sample, so two scrapes give the rate at which readings are written; the lag and the buffer
depth are the collector's gauges as they are.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

PREFIX = "hosiery_collector"
READINGS = f"{PREFIX}_readings_written_total"
RECEIVED = f"{PREFIX}_messages_received_total"
LAG = f"{PREFIX}_consumer_lag_seconds"
BUFFER = f"{PREFIX}_buffer_depth"
CONNECTED = f"{PREFIX}_mqtt_connected"


@dataclass(frozen=True)
class CollectorStatus:
    """One scrape of the collector (``error`` set when it could not be read)."""

    url: str
    error: str | None = None
    readings: float | None = None
    """Readings written since the collector started."""
    readings_per_s: float | None = None
    """Between the previous scrape and this one (None on the first)."""
    messages_per_s: float | None = None
    lag_s: float | None = None
    buffer: float | None = None
    connected: bool | None = None


def parse(text: str) -> dict[str, float]:
    """Unlabelled samples of a Prometheus text exposition, by sample name."""
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.labels:
                found[sample.name] = float(sample.value)
    return found


class CollectorProbe:
    """Scrapes ``url``/metrics (``transport`` replaces the network in tests)."""

    def __init__(
        self,
        url: str,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url.rstrip("/")
        self.client = httpx.Client(timeout=5, transport=transport)
        self._clock = clock
        self._previous: tuple[float, float, float] | None = None

    def close(self) -> None:
        self.client.close()

    def sample(self) -> CollectorStatus:
        try:
            response = self.client.get(f"{self.url}/metrics")
            response.raise_for_status()
            values = parse(response.text)
        except httpx.HTTPError as exc:
            return CollectorStatus(self.url, error=f"cannot read {self.url}/metrics: {exc}")
        except ValueError as exc:
            return CollectorStatus(self.url, error=f"{self.url}/metrics is not Prometheus: {exc}")
        now = self._clock()
        readings = values.get(READINGS, 0.0)
        received = values.get(RECEIVED, 0.0)
        readings_rate = messages_rate = None
        if self._previous is not None:
            then, readings_then, received_then = self._previous
            elapsed = now - then
            # A restarted collector starts its counters again at zero: no rate this time.
            if elapsed > 0 and readings >= readings_then and received >= received_then:
                readings_rate = (readings - readings_then) / elapsed
                messages_rate = (received - received_then) / elapsed
        self._previous = (now, readings, received)
        connected = values.get(CONNECTED)
        return CollectorStatus(
            self.url,
            readings=readings,
            readings_per_s=readings_rate,
            messages_per_s=messages_rate,
            lag_s=values.get(LAG),
            buffer=values.get(BUFFER),
            connected=None if connected is None else connected >= 1,
        )
