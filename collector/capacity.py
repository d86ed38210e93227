"""Capacity and planned time, from the park registry, for the dashboards to measure against.

Dashboards compare output with capacity and running time with planned time; neither is a
literal in a query. Both come from the park registry (``--registry``, written by
``hosiery-sim park --registry``) and the shift calendar, and are stored in InfluxDB:

* measurement ``capacity`` (retention policy ``rollup_long``), written when the collector starts
  (and by ``hosiery-sim backfill``): one point with tag ``scope=park`` and one per enterprise
  (``scope=enterprise``, ``enterprise=...``), fields ``machines``, ``nominal_pairs_per_hour``
  (sum of the machines' rates while running), ``pairs_per_year`` (the park: its stated capacity,
  ``target_pairs_per_year``; an enterprise: its machines at their nominal rate, 8,760 hours a
  year) and ``expected_pairs_per_year`` (the registry's calibrated expectation);
* field ``planned_s`` of ``enterprise_1h``: the machine-seconds the shift calendar plans in
  that hour (machines x working seconds), for the hour so far and the hour before, rewritten
  every five minutes by :class:`CapacityWriter`.

:func:`capacity_lines` and :func:`planned_lines` are pure; the writer is the only I/O.
"""

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from structlog.typing import FilteringBoundLogger

from collector.alerting.assemble import ConfigFiles, load_files
from collector.alerting.calendar import WorkCalendar
from collector.errors import CollectorError, RegistryError
from collector.rollups import CAPACITY, ENTERPRISE_1H, LONG_POLICY
from collector.schema import Schema
from collector.settings import CollectorSettings
from collector.sink import InfluxConfig, InfluxSink
from contract.ids import Identifier

HOURS_PER_YEAR = 8760
HOUR_MS = 3_600_000
REFRESH_S = 300.0


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class MachineCapacity(_Model):
    id: Identifier
    nominal_pairs_per_hour: float | None = Field(default=None, ge=0)
    expected_pairs_per_hour: float | None = Field(default=None, ge=0)


class EnterpriseCapacity(_Model):
    id: Identifier
    machines: tuple[MachineCapacity, ...] = ()

    @property
    def nominal_pairs_per_hour(self) -> float:
        return sum(m.nominal_pairs_per_hour or 0.0 for m in self.machines)

    @property
    def expected_pairs_per_year(self) -> float:
        return sum(m.expected_pairs_per_hour or 0.0 for m in self.machines) * HOURS_PER_YEAR


class ParkCapacity(_Model):
    """What the registry says about capacity (other registry fields are ignored)."""

    target_pairs_per_year: float | None = Field(default=None, gt=0)
    """The park's stated annual capacity (3.5 billion pairs for the whole park)."""
    expected_pairs_per_year: float | None = Field(default=None, ge=0)
    enterprises: tuple[EnterpriseCapacity, ...]

    @property
    def machines(self) -> int:
        return sum(len(e.machines) for e in self.enterprises)

    @property
    def nominal_pairs_per_hour(self) -> float:
        return sum(e.nominal_pairs_per_hour for e in self.enterprises)

    @property
    def pairs_per_year(self) -> float:
        """The stated capacity, or the machines at their nominal rate all year."""
        if self.target_pairs_per_year is not None:
            return self.target_pairs_per_year
        return self.nominal_pairs_per_hour * HOURS_PER_YEAR


def parse_capacity(raw: bytes) -> ParkCapacity:
    """The capacity figures of registry JSON; ``ValueError`` naming the problem."""
    try:
        return ParkCapacity.model_validate(orjson.loads(raw))
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in error["loc"])
        raise ValueError(f"{where}: {error['msg']}") from None


def load_capacity(path: Path) -> ParkCapacity:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RegistryError(f"cannot read park registry {path}: {exc.strerror or exc}") from None
    try:
        return parse_capacity(raw)
    except ValueError as exc:
        raise RegistryError(f"park registry {path}: {exc}") from None


def _capacity_fields(machines: int, nominal: float, per_year: float, expected: float) -> str:
    fields = f"machines={machines}i"
    if nominal > 0:
        fields += f",nominal_pairs_per_hour={nominal!r}"
    if per_year > 0:
        fields += f",pairs_per_year={per_year!r}"
    if expected > 0:
        fields += f",expected_pairs_per_year={expected!r}"
    return fields


def capacity_lines(park: ParkCapacity, time_ns: int) -> list[str]:
    """The ``capacity`` points: the park's, then one per enterprise."""
    expected = park.expected_pairs_per_year
    if expected is None:
        expected = sum(e.expected_pairs_per_year for e in park.enterprises)
    park_fields = _capacity_fields(
        park.machines, park.nominal_pairs_per_hour, park.pairs_per_year, expected
    )
    lines = [f"{CAPACITY},scope=park {park_fields},enterprises={len(park.enterprises)}i {time_ns}"]
    for e in park.enterprises:
        nominal = e.nominal_pairs_per_hour
        fields = _capacity_fields(
            len(e.machines), nominal, nominal * HOURS_PER_YEAR, e.expected_pairs_per_year
        )
        lines.append(f"{CAPACITY},enterprise={e.id},scope=enterprise {fields} {time_ns}")
    return lines


def working_ms(calendar: WorkCalendar | None, lo: int, hi: int) -> int:
    """Milliseconds of ``[lo, hi)`` the calendar plans as working (None: always working)."""
    if calendar is None:
        return max(0, hi - lo)
    total = 0
    t = lo
    while t < hi:
        period = calendar.period(t)
        end = min(period.end, hi)
        if period.working:
            total += end - t
        t = end
    return total


def planned_lines(
    park: ParkCapacity,
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


class CapacityWriter:
    """Writes ``capacity`` at :meth:`start`, and ``planned_s`` every five minutes, in a thread.

    A failed write is logged and tried again at the next round; it never stops the collector.
    """

    def __init__(
        self,
        park: ParkCapacity,
        calendar_of: Callable[[str], WorkCalendar | None],
        config: InfluxConfig,
        schema: Schema,
        *,
        create_schema: bool,
        log: FilteringBoundLogger,
        interval: float = REFRESH_S,
        now_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.park = park
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

    def write_once(self, *, with_capacity: bool) -> int:
        """Write the plan of the hour before and the hour so far (and ``capacity``); lines."""
        now = self.now_ms()
        lines: Sequence[str] = planned_lines(self.park, self.calendar_of, now - HOUR_MS, now)
        if with_capacity:
            lines = [*capacity_lines(self.park, now * 1_000_000), *lines]
        result = self.sink.write(lines)
        if result.dropped_lines:
            self.log.warning("capacity lines refused", dropped=result.dropped_lines)
        return result.written

    def _run(self) -> None:
        first = True
        while not self.stop_event.is_set():
            problem = None
            try:
                written = self.write_once(with_capacity=first)
            except CollectorError as exc:
                problem = str(exc)
            if problem is None:
                if first:
                    self.log.info("capacity written", lines=written)
                first = False
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
    )
