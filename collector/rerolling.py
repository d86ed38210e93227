"""The re-roller: rolls up again, in the background, the hours the collector wrote late into.

Every ``interval`` seconds it takes the hours owed that are due
(:class:`~collector.late.LateHours`), at most ``hours_per_minute`` in any minute, and runs the
continuous queries' own statements over them, level by level
(:func:`~influx.rollups.hour_statements`: the statements ``python -m collector.reroll``
runs, over whole hours instead of whole days). Rewriting a rollup point is idempotent, so an
hour rolled up twice is no harm. A failed statement leaves its hours owed; they are tried again
on the next pass. Ingestion never waits for it.
"""

import threading
import time
from collections import deque
from collections.abc import Callable

import structlog
from structlog.typing import FilteringBoundLogger

from collector.errors import CollectorError
from collector.late import LateHours
from collector.metrics import CollectorMetrics
from influx.errors import InfluxError
from influx.rollups import hour_statements

HOURS_PER_MINUTE = 12
"""Default bound of the work: hours rolled up again per minute (each about a dozen statements)."""


class Reroller:
    """``start``, then ``stop``; :meth:`run_once` is one pass (tests call it directly)."""

    def __init__(
        self,
        hours: LateHours,
        run: Callable[[str], object],
        database: str,
        *,
        metrics: CollectorMetrics,
        utc_offset_hours: float = 8.0,
        hours_per_minute: int = HOURS_PER_MINUTE,
        interval: float = 5.0,
        clock: Callable[[], int] = time.time_ns,
        log: FilteringBoundLogger | None = None,
    ) -> None:
        if hours_per_minute < 1:
            raise ValueError("hours_per_minute must be at least 1")
        self.hours = hours
        self.run = run
        self.database = database
        self.metrics = metrics
        self.utc_offset_hours = utc_offset_hours
        self.hours_per_minute = hours_per_minute
        self.interval = interval
        self.clock = clock
        self.log: FilteringBoundLogger = log or structlog.get_logger("collector.rerolling")
        self._recent: deque[int] = deque()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="reroller", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:  # a bug here must not end the re-rolling for good
                self.log.exception("rollup re-run failed unexpectedly; trying again later")

    def run_once(self) -> int:
        """Roll up the hours due, within the budget; return how many were rolled up."""
        now_ms = self.clock() // 1_000_000
        recent = self._recent
        while recent and recent[0] <= now_ms - 60_000:
            recent.popleft()
        budget = self.hours_per_minute - len(recent)
        taken = self.hours.take(now_ms, budget) if budget > 0 else []
        if taken:
            self._roll_up(taken, now_ms)
        self.metrics.reroll_hours_owed.set(len(self.hours))
        return len(taken)

    def _roll_up(self, taken: list[int], now_ms: int) -> None:
        started = time.monotonic()
        levels = hour_statements(
            self.database, [h * 1_000_000 for h in taken], self.utc_offset_hours
        )
        try:
            for statements in levels:
                for statement in statements:
                    if self._stop.is_set():
                        self.hours.failed(taken)
                        return
                    self.run(statement)
        except (CollectorError, InfluxError) as exc:
            self.hours.failed(taken)
            self.metrics.reroll_failures.inc()
            self.log.warning("rolling late hours up again failed; will retry", error=str(exc))
            return
        self._recent.extend([now_ms] * len(taken))
        self.metrics.reroll_hours.inc(len(taken))
        problem = None
        try:
            self.hours.paid(taken, self.clock() // 1_000_000)
        except CollectorError as exc:
            problem = str(exc)
        if problem is not None:
            self.log.error("late hours rolled up, but not saved as paid", error=problem)
        self.log.info(
            "late hours rolled up again",
            hours=len(taken),
            first=time.strftime("%Y-%m-%dT%H:00Z", time.gmtime(min(taken) / 1000)),
            seconds=round(time.monotonic() - started, 2),
        )
