"""The observers of accepted readings and gateway statuses (alerting), called through one guard:
an observer's exception is counted and logged (rate-limited), and ingestion goes on."""

import time
from collections.abc import Sequence
from typing import Protocol

from structlog.typing import FilteringBoundLogger

from collector.logs import RateLimit
from collector.metrics import CollectorMetrics
from collector.validate import Reading, Status


class Observer(Protocol):
    """Something that watches accepted readings and gateway status (alerting).

    Called on the worker thread, so it must be quick. ``on_tick`` runs at least every
    ``tick_interval`` seconds for timers; ``take_lines`` hands over line protocol (events) that
    is written with the current batch.
    """

    def on_reading(self, reading: Reading, pairs: int, now_ms: int) -> None: ...

    def on_status(self, status: Status, now_ms: int) -> None: ...

    def on_tick(self, now_ms: int) -> None: ...

    def take_lines(self) -> list[str]: ...


class Observers:
    """Every observer in turn, each call guarded; empty (false) when there are none."""

    def __init__(
        self, observers: Sequence[Observer], metrics: CollectorMetrics, log: FilteringBoundLogger
    ) -> None:
        self._observers = tuple(observers)
        self._metrics = metrics
        self._log = log
        self._failures = RateLimit(burst=10, period=60.0)

    def __bool__(self) -> bool:
        return bool(self._observers)

    def on_reading(self, reading: Reading, pairs: int, now_ms: int) -> None:
        for observer in self._observers:
            try:
                observer.on_reading(reading, pairs, now_ms)
            except Exception as exc:  # noqa: BLE001 - an observer's bug must not stop ingestion
                self._failed(observer, "on_reading", exc)

    def on_status(self, status: Status, now_ms: int) -> None:
        for observer in self._observers:
            try:
                observer.on_status(status, now_ms)
            except Exception as exc:  # noqa: BLE001 - an observer's bug must not stop ingestion
                self._failed(observer, "on_status", exc)

    def on_tick(self, now_ms: int) -> None:
        for observer in self._observers:
            try:
                observer.on_tick(now_ms)
            except Exception as exc:  # noqa: BLE001 - an observer's bug must not stop ingestion
                self._failed(observer, "on_tick", exc)

    def take_lines(self) -> list[str]:
        """Every observer's events (line protocol), in observer order."""
        lines: list[str] = []
        for observer in self._observers:
            try:
                events = observer.take_lines()
            except Exception as exc:  # noqa: BLE001 - an observer's bug must not stop ingestion
                self._failed(observer, "take_lines", exc)
                continue
            if events:
                lines.extend(events)
        return lines

    def _failed(self, observer: Observer, call: str, exc: Exception) -> None:
        """Count and log (rate-limited) an observer's exception; ingestion goes on."""
        self._metrics.observer_errors.labels(type(observer).__name__).inc()
        allowed, suppressed = self._failures.allow(f"observer:{call}", time.monotonic())
        if allowed:
            self._log.error(
                "observer failed; readings are still written",
                exc_info=exc,
                observer=type(observer).__name__,
                call=call,
                suppressed_since_last=suppressed,
            )
