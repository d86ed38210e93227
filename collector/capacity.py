"""Capacity and planned time from the park registry, written for the dashboards to measure against.

``docs/architecture.md`` (Capacity) gives the measurements and the rule that makes them add up.
"""

import datetime as dt
import threading
import time
from collections.abc import Callable
from pathlib import Path

from structlog.typing import FilteringBoundLogger

from collector.alerting.assemble import ConfigFiles, load_files
from collector.errors import CollectorError, RegistryError
from collector.settings import CollectorSettings
from contract.calendar import WorkCalendar, time_zone
from contract.registry import Registry, parse_registry
from influx.capacity import capacity_lines
from influx.config import InfluxConfig
from influx.errors import InfluxError
from influx.rollups import ENTERPRISE_1H, HOURLY_POLICY, LONG_POLICY, MACHINE_1H
from influx.schema import Schema
from influx.write import InfluxSink

HOUR_MS = 3_600_000
REFRESH_S = 300.0


def parse_capacity(raw: bytes) -> Registry:
    """The park registry with its capacity figures; ``ValueError`` naming the problem."""
    return parse_registry(raw)


def load_capacity(path: Path) -> Registry:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RegistryError(f"cannot read park registry {path}: {exc.strerror or exc}") from None
    try:
        return parse_capacity(raw)
    except ValueError as exc:
        raise RegistryError(f"park registry {path}: {exc}") from None


def year_bounds(now_ms: int, tz: dt.tzinfo) -> tuple[int, int]:
    """The calendar year around ``now_ms`` in the park's time zone: [start, end) epoch ms."""
    year = dt.datetime.fromtimestamp(now_ms / 1000, tz).year
    start = dt.datetime(year, 1, 1, tzinfo=tz)
    end = dt.datetime(year + 1, 1, 1, tzinfo=tz)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def planned_per_year(
    park: Registry,
    calendar_of: Callable[[str], WorkCalendar | None],
    year: tuple[int, int],
) -> dict[str, int]:
    """Enterprise -> machine-seconds its shift calendar plans in ``year`` ([start, end) ms; the
    end may be now, for the year so far).

    Enterprises that share a calendar share its computation (a park has a few patterns).
    """
    working: dict[int, int] = {}
    planned = {}
    for e in park.enterprises:
        calendar = calendar_of(e.id)
        key = id(calendar)
        if key not in working:
            working[key] = working_ms(calendar, *year) // 1000
        planned[e.id] = len(e.machines) * working[key]
    return planned


def working_ms(calendar: WorkCalendar | None, lo: int, hi: int) -> int:
    """Milliseconds of ``[lo, hi)`` the calendar plans as working (None: always working)."""
    if calendar is None:
        return max(0, hi - lo)
    return calendar.working_ms(lo, hi)


def planned_lines(
    park: Registry,
    calendar_of: Callable[[str], WorkCalendar | None],
    since_ms: int,
    until_ms: int,
) -> list[str]:
    """``enterprise_1h`` ``planned_s`` of every hour that ``[since, until)`` touches.

    An hour that ``until`` cuts gets the planned seconds up to ``until`` only (the hour so far).
    """
    lines = []
    hour = since_ms // HOUR_MS * HOUR_MS
    while hour < until_ms:
        end = min(hour + HOUR_MS, until_ms)
        for e in park.enterprises:
            seconds = len(e.machines) * working_ms(calendar_of(e.id), hour, end) // 1000
            lines.append(f"{ENTERPRISE_1H},enterprise={e.id} planned_s={seconds}i {hour}000000")
        hour += HOUR_MS
    return lines


def machine_planned_lines(
    park: Registry,
    calendar_of: Callable[[str], WorkCalendar | None],
    since_ms: int,
    until_ms: int,
) -> list[str]:
    """``machine_1h`` ``planned_s`` of every registry machine and hour that ``[since, until)``
    touches (the seconds its enterprise's calendar plans, up to ``until`` in the hour it cuts):
    availability per machine is ``running_s / planned_s`` of its own series."""
    lines: list[str] = []
    hour = since_ms // HOUR_MS * HOUR_MS
    while hour < until_ms:
        end = min(hour + HOUR_MS, until_ms)
        seconds_of: dict[int, int] = {}
        for e in park.enterprises:
            calendar = calendar_of(e.id)
            seconds = seconds_of.get(id(calendar))
            if seconds is None:
                seconds = seconds_of[id(calendar)] = working_ms(calendar, hour, end) // 1000
            lines.extend(
                f"{MACHINE_1H},enterprise={e.id},machine={m.id} planned_s={seconds}i {hour}000000"
                for m in e.machines
            )
        hour += HOUR_MS
    return lines


class CapacityWriter:
    """Writes ``capacity`` at :meth:`start`, and ``planned_s`` (``enterprise_1h`` and
    ``machine_1h``) every five minutes, in a thread.

    A failed write is logged and tried again at the next round; it never stops the collector.
    """

    def __init__(
        self,
        park: Registry,
        calendar_of: Callable[[str], WorkCalendar | None],
        config: InfluxConfig,
        schema: Schema,
        *,
        create_schema: bool,
        log: FilteringBoundLogger,
        interval: float = REFRESH_S,
        now_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        tz: dt.tzinfo = dt.UTC,
    ) -> None:
        self.park = park
        self.tz = tz
        self.calendar_of = calendar_of
        self.log = log
        self.interval = interval
        self.now_ms = now_ms
        self.stop_event = threading.Event()
        self.sink = InfluxSink(
            config.model_copy(update={"retention_policy": LONG_POLICY}),
            schema=schema,
            create_schema=create_schema,
        )
        self.hourly_sink = InfluxSink(
            config.model_copy(update={"retention_policy": HOURLY_POLICY}),
            schema=schema,
            create_schema=create_schema,
        )
        self.rounds = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="capacity", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.sink.close()
        self.hourly_sink.close()

    def write_once(self) -> int:
        """Write the plan of the hour before and the hour so far (per enterprise and per
        machine), and ``capacity`` with the year's planned time; the lines written."""
        now = self.now_ms()
        year = year_bounds(now, self.tz)
        planned = planned_per_year(self.park, self.calendar_of, year)
        so_far = planned_per_year(self.park, self.calendar_of, (year[0], now))
        lines = [
            *capacity_lines(self.park, now * 1_000_000, planned, so_far),
            *planned_lines(self.park, self.calendar_of, now - HOUR_MS, now),
        ]
        result = self.sink.write(lines)
        machines = self.hourly_sink.write(
            machine_planned_lines(self.park, self.calendar_of, now - HOUR_MS, now)
        )
        dropped = result.dropped_lines + machines.dropped_lines
        if dropped:
            self.log.warning("capacity lines refused", dropped=dropped)
        return result.written + machines.written

    def _run(self) -> None:
        while not self.stop_event.is_set():
            problem = None
            try:
                written = self.write_once()
            except (CollectorError, InfluxError) as exc:
                problem = str(exc)
            if problem is None:
                if self.rounds == 0:
                    self.log.info("capacity written", lines=written)
                self.rounds += 1
            else:
                self.log.warning("capacity not written; trying again", error=problem)
            self.stop_event.wait(self.interval)


def open_capacity(
    settings: CollectorSettings,
    files: ConfigFiles | None,
    config: InfluxConfig,
    schema: Schema,
    log: FilteringBoundLogger,
) -> CapacityWriter | None:
    """The writer for ``--registry`` (None without one); the calendar is the alerting's."""
    if settings.registry is None:
        return None
    park = load_capacity(settings.registry)
    calendar = (files or load_files(settings)).calendar()
    return CapacityWriter(
        park,
        calendar.for_enterprise,
        config,
        schema,
        create_schema=settings.create_database,
        log=log,
        tz=time_zone(settings.timezone),
    )
