"""``hosiery-sim backfill``: the park's history written straight into the rollups.

A live run fills the dashboards from now on; a new user also wants to see a year to date. A year
of raw readings of the full park (126 billion points) or even of per-machine hours (350 million)
is far too much to write, so the backfill writes the rollup series of ``influx.rollups``
directly, in two parts:

* the last ``machine_hours`` hours (24 by default): every machine is simulated with the
  simulator's own model (:mod:`simulators.machine`: the same stop causes, Erlang stop durations
  and staffed time, one SplitMix64 stream per machine) in 5-minute steps, and written as
  ``machine_1h`` and ``park_5m``, and summed into the enterprise and park series below;
* every hour before that: per enterprise, the model's expectation (its machines' nominal rates x
  the stationary running share x the staffed seconds of the hour, :mod:`simulators.calibration`)
  with noise of the size the simulation shows (a relative standard deviation of
  ``0.3 / sqrt(machines)`` on the running share), written as ``enterprise_1h``.

From these it writes ``enterprise_1d`` (park-local days) and ``park_1h``, the ``capacity``
points, and ``planned_s`` (machines x staffed seconds) of every enterprise-hour. Readings are
counted as if every machine read every ``interval`` seconds (10 by default): ``readings`` and the
state counts are the staffed time divided by the interval. Per-machine 5-minute series
(``machine_5m``) and raw readings come only from live runs.

For the full park and a year: about 10.7 million ``enterprise_1h`` points, 0.45 million
``enterprise_1d``, 1 million ``machine_1h`` and 11.5 million simulated machine-steps.
"""

import datetime as dt
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

import httpx

from contract import MachineState
from contract.retry import Retrier, RetryAbortedError
from influx.capacity import capacity_lines
from influx.config import InfluxConfig, make_client
from influx.errors import InfluxBusyError, InfluxError, InfluxUnreachableError
from influx.provision import ensure_schema
from influx.rollups import (
    ENTERPRISE_1D,
    ENTERPRISE_1H,
    FIVE_MIN_POLICY,
    HOURLY_POLICY,
    LONG_POLICY,
    MACHINE_1H,
    PARK_1H,
    PARK_5M,
)
from influx.schema import default_schema
from influx.write import InfluxSink, WriteResult
from simulators.calibration import running_share, staffed_state_shares
from simulators.errors import ParameterError
from simulators.machine import Dynamics
from simulators.params import DEFAULT_PARK, DEFAULT_SEED, ParkParams
from simulators.park import MachineSpec, Park, build_park
from simulators.registry import registry_of
from simulators.rng import SplitMix64, derive_seed
from simulators.shifts import WorkCalendar

HOUR = 3600
DAY = 86400
_TAU = 2.0 * math.pi
STEP = 300
BATCH_LINES = 25_000
WRITERS = 2
"""Concurrent writes: InfluxDB ingests while the next batch is formatted and compressed."""
NOISE = 0.3
"""Relative standard deviation of one machine's hourly running share around its mean."""

# Indexes of the per-state time accumulators.
RUNNING, IDLE, FAULT, MAINTENANCE, OFF = range(5)
_STOP_INDEX = {
    MachineState.IDLE: IDLE,
    MachineState.FAULT: FAULT,
    MachineState.MAINTENANCE: MAINTENANCE,
}
FIELDS = ("running", "idle", "fault", "maintenance", "off")


@dataclass(frozen=True, slots=True)
class BackfillConfig:
    influx: InfluxConfig
    days: float
    seed: int = DEFAULT_SEED
    machines: int | None = None
    end_s: int | None = None
    """Exclusive end, epoch seconds, rounded down to the hour (default: the current hour)."""
    machine_hours: int = 24
    interval: float = 10.0
    """Seconds between two (counted) readings of a machine."""
    params: ParkParams = DEFAULT_PARK
    create_schema: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.days <= 5 * 366:
            raise ParameterError("days must be in (0, 1830]")
        if not 0 <= self.machine_hours <= 24 * 35:
            raise ParameterError("machine hours must be 0-840")
        if not 1.0 <= self.interval <= 300.0 or STEP % self.interval:
            raise ParameterError("interval must divide 300 s (1-300 s)")


@dataclass(slots=True)
class BackfillSummary:
    start_s: int
    end_s: int
    machines: int
    pairs: int = 0
    points: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


class Progress(Protocol):
    """Where a backfill says how far it is: a bar on a terminal, a line per step elsewhere."""

    def start(self, what: str, total: int) -> None:
        """A new step of ``total`` units begins."""

    def advance(self, units: int = 1) -> None:
        """``units`` more of the current step are done."""


class _Silent:
    def start(self, what: str, total: int) -> None:
        pass

    def advance(self, units: int = 1) -> None:
        pass


class StateTimer:
    """A machine of the simulator's model, advanced by steps, with time spent per state.

    Follows :class:`simulators.machine.MachineModel` exactly (the same draws from the same
    stream), adding up seconds running, idle, in fault and in maintenance while staffed.
    """

    __slots__ = ("_dynamics", "_rate", "_remaining", "_rng", "_stop", "knitted", "seconds")

    def __init__(self, pairs_per_second: float, dynamics: Dynamics, rng: SplitMix64) -> None:
        self._rate = pairs_per_second
        self._dynamics = dynamics
        self._rng = rng
        self._stop, self._remaining = dynamics.initial(rng)
        self.knitted = 0.0
        self.seconds = [0.0, 0.0, 0.0, 0.0, 0.0]

    def advance(self, staffed: float, span: float) -> None:
        """Live ``span`` seconds of which ``staffed`` are staffed (the rest is off)."""
        seconds = self.seconds
        seconds[OFF] += span - staffed
        dynamics = self._dynamics
        rng = self._rng
        while staffed > 0.0:
            remaining = self._remaining
            index = RUNNING if self._stop < 0 else _STOP_INDEX[dynamics.states[self._stop]]
            if staffed < remaining:
                self._remaining = remaining - staffed
                seconds[index] += staffed
                if self._stop < 0:
                    self.knitted += staffed * self._rate
                return
            staffed -= remaining
            seconds[index] += remaining
            if self._stop < 0:
                self.knitted += remaining * self._rate
            self._stop, self._remaining = dynamics.next_episode(self._stop, rng)

    def take(self) -> list[float]:
        """The seconds per state since the last call."""
        seconds = self.seconds
        self.seconds = [0.0, 0.0, 0.0, 0.0, 0.0]
        return seconds


def counts(seconds: list[float], interval: float) -> list[int]:
    """Readings per state for ``seconds`` per state: rounded so that they add up exactly.

    Each count is the difference of the rounded running totals, so it is within one of its
    exact value and the counts add up to the rounded total.
    """
    out = []
    done = 0
    cumulative = 0.0
    for s in seconds:
        cumulative += s
        upto = round(cumulative / interval)
        out.append(upto - done)
        done = upto
    return out


def _gauss(rng: SplitMix64) -> float:
    return math.sqrt(-2.0 * math.log(1.0 - rng.random())) * math.cos(2.0 * math.pi * rng.random())


def _line(measurement: str, tags: str, values: Mapping[str, int | float], time_s: int) -> str:
    fields = ",".join(
        f"{k}={v}i" if isinstance(v, int) else f"{k}={v!r}" for k, v in values.items()
    )
    return f"{measurement}{tags} {fields} {time_s}000000000"


class _Sums:
    """Rollup fields added up per key."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data: dict[tuple[str, int], dict[str, float]] = {}

    def add(self, key: tuple[str, int], values: Mapping[str, float]) -> None:
        row = self.data.get(key)
        if row is None:
            self.data[key] = dict(values)
            return
        for k, v in values.items():
            row[k] = row.get(k, 0) + v


def _batches(lines: Iterable[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= BATCH_LINES:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass(frozen=True, slots=True)
class _Plan:
    """What the expected hours need of one enterprise, with its line templates."""

    id: str
    number: int
    shift: str
    machines: int
    nominal: float
    """Pairs per hour of all its machines at their nominal rates."""
    readings: int
    sd: float
    """Relative standard deviation of its hourly running share."""
    busy: str
    """``enterprise_1h`` line for pairs, the five state counts, planned_s, running_s and the
    time (s)."""
    off: str
    """``enterprise_1h`` line of an unstaffed hour, for the time (s)."""

    @classmethod
    def of(
        cls, id_: str, number: int, shift: str, machines: Sequence[MachineSpec], interval: float
    ) -> "_Plan":
        n = len(machines)
        readings = round(HOUR / interval * n)
        head = f"{ENTERPRISE_1H},enterprise={id_} pairs="
        tail = f",reported_s={HOUR * n}i"
        busy = (
            f"{head}%di,readings={readings}i,running=%di,idle=%di,fault=%di,maintenance=%di,"
            f"off=%di{tail},planned_s=%di,running_s=%r,machines={n}i %d000000000"
        )
        off = (
            f"{head}0i,readings={readings}i,running=0i,idle=0i,fault=0i,maintenance=0i,"
            f"off={readings}i{tail},planned_s=0i,running_s=0.0,machines={n}i %d000000000"
        )
        nominal = sum(m.style.pairs_per_hour for m in machines)
        return cls(id_, number, shift, n, nominal, readings, NOISE / math.sqrt(n), busy, off)


@dataclass(frozen=True, slots=True)
class _Expectation:
    """The model's expected running share and how the stopped time splits among stop states."""

    share: float
    cut_idle: float
    """Share of the stopped time that is idle."""
    cut_fault: float
    """Share of the stopped time that is idle or in fault (the rest is maintenance)."""
    interval: float

    @classmethod
    def of(cls, params: ParkParams, interval: float) -> "_Expectation":
        stops = staffed_state_shares(params.machine)
        stop_total = sum(v for k, v in stops.items() if k is not MachineState.RUNNING) or 1.0
        cut_idle = stops.get(MachineState.IDLE, 0.0) / stop_total
        cut_fault = cut_idle + stops.get(MachineState.FAULT, 0.0) / stop_total
        return cls(running_share(params.machine), cut_idle, cut_fault, interval)

    def day(
        self,
        plan: _Plan,
        rng: SplitMix64,
        hours: range,
        staffed: list[float],
        park: list[list[float]],
        sums: list[float],
    ) -> Iterator[str]:
        """The ``enterprise_1h`` lines of one enterprise-day; adds pairs, the five state counts,
        planned_s and running_s to ``sums`` and to each hour's row of ``park``.

        ``running_s`` is what the rollups compute for a machine-hour (running share of readings
        x seconds reported), added up: every machine reads every ``interval`` seconds, so it is
        the running readings x ``interval``."""
        share, cut_idle, cut_fault = self.share, self.cut_idle, self.cut_fault
        n = plan.machines
        x_per_second = n / self.interval
        readings = plan.readings
        nominal_per_second = plan.nominal / HOUR
        sd = plan.sd
        busy = plan.busy
        spare: float | None = None  # the second deviate of a Box-Muller pair
        for i, on in enumerate(staffed):
            hour = hours[i]
            row = park[i]
            if on <= 0.0:
                yield plan.off % hour
                sums[5] += readings
                row[5] += readings
                continue
            if spare is None:
                radius = math.sqrt(-2.0 * math.log(1.0 - rng.random())) * sd
                angle = _TAU * rng.random()
                noise = radius * math.cos(angle)
                spare = radius * math.sin(angle)
            else:
                noise, spare = spare, None
            running = share * (1.0 + noise)
            running = 0.0 if running < 0.0 else 1.0 if running > 1.0 else running
            x = on * x_per_second
            stopped = 1.0 - running
            c0 = round(x * running)
            c1 = round(x * (running + stopped * cut_idle))
            c2 = round(x * (running + stopped * cut_fault))
            c3 = round(x)
            values = (
                round(nominal_per_second * running * on),
                c0,
                c1 - c0,
                c2 - c1,
                c3 - c2,
                readings - c3,
                round(on) * n,
                c0 * self.interval,
            )
            yield busy % (*values, hour)
            for k in range(8):
                sums[k] += values[k]
                row[k] += values[k]


class Backfill:
    """One backfill: ``run()`` writes everything and returns the summary."""

    def __init__(
        self,
        config: BackfillConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        progress: Progress | None = None,
    ) -> None:
        self.config = config
        self.park: Park = build_park(config.params, seed=config.seed, machines=config.machines)
        end = int(clock()) if config.end_s is None else config.end_s
        self.end = end // HOUR * HOUR
        self.start = self.end - round(config.days * 24) * HOUR
        self.machine_start = max(self.start, self.end - config.machine_hours * HOUR)
        calendar = config.params.calendar
        self.offset = round(calendar.utc_offset_hours * HOUR)
        self.calendars = {s.name: WorkCalendar(s, calendar) for s in config.params.shifts}
        self.client = make_client(config.influx, transport)
        # A busy or briefly unreachable server is waited for (until Ctrl-C), not fatal.
        self._retrier = Retrier(retry_on=(InfluxUnreachableError, InfluxBusyError))
        self.summary = BackfillSummary(self.start, self.end, len(self.park.machines))
        self._clock = clock
        self._progress: Progress = progress or _Silent()
        self.park_steps: dict[int, dict[str, int]] = {}
        self._enterprise_hours = _Sums()
        self._days = _Sums()
        self._park_hours = _Sums()

    # -- writing -----------------------------------------------------------------------------

    def _sink(self, policy: str) -> InfluxSink:
        return InfluxSink(
            self.config.influx.model_copy(update={"retention_policy": policy}),
            self.client,
            create_schema=False,
        )

    def _write(self, policy: str, measurement: str, lines: Iterable[str]) -> None:
        """Write ``lines`` in batches of :data:`BATCH_LINES`, :data:`WRITERS` at a time."""
        sink = self._sink(policy)
        written = 0
        pending: deque[Future[WriteResult]] = deque()
        with ThreadPoolExecutor(WRITERS, thread_name_prefix="backfill-write") as pool:
            try:
                for batch in _batches(lines):
                    while len(pending) >= WRITERS:
                        written += pending.popleft().result().written
                    pending.append(pool.submit(self._retrier.run, partial(sink.write, batch)))
                while pending:
                    written += pending.popleft().result().written
            finally:
                for future in pending:
                    future.cancel()
        self.summary.points[measurement] = self.summary.points.get(measurement, 0) + written

    # -- the two parts -----------------------------------------------------------------------

    def _staffed(self, shift: str, t0: int, t1: int) -> float:
        return self.calendars[shift].on_seconds(float(t0), float(t1))

    def _day(self, t: int) -> int:
        return (t + self.offset) // 86400 * 86400 - self.offset

    def _record(self, enterprise: str, hour: int, values: Mapping[str, float]) -> None:
        self._enterprise_hours.add((enterprise, hour), values)
        self._days.add((enterprise, self._day(hour)), values)
        self._park_hours.add(("", hour), values)

    def expected_hours(self) -> Iterator[str]:
        """Enterprise-hours before the simulated window: the model's expectation with noise.

        Yields the ``enterprise_1h`` lines park-local day by day (every enterprise's hours of
        the day) and records the day and park sums. The staffed seconds of an hour are computed
        once per shift pattern; each enterprise-day has its own random stream (one Box-Muller
        pair per two staffed hours), so the result depends only on the seed.
        """
        cfg = self.config
        model = _Expectation.of(cfg.params, cfg.interval)
        plans = [_Plan.of(e.id, e.number, e.shift.name, e.machines, cfg.interval)
                 for e in self.park.enterprises]  # fmt: skip
        total_readings = sum(p.readings for p in plans)
        total_machines = sum(p.machines for p in plans)
        offset = self.offset
        end = self.machine_start
        days = range((self.start + offset) // DAY, (end - 1 + offset) // DAY + 1)
        self._progress.start("writing the expected enterprise-hours (days)", len(days))
        for day in days:
            self._progress.advance()
            day_start = day * DAY - offset
            hours = range(max(self.start, day_start), min(end, day_start + DAY), HOUR)
            if not hours:
                continue
            staffed = {
                name: [self._staffed(name, h, h + HOUR) for h in hours] for name in self.calendars
            }
            # per hour: pairs, running, idle, fault, maintenance, off, planned_s, running_s
            park: list[list[float]] = [[0, 0, 0, 0, 0, 0, 0, 0.0] for _ in hours]
            for plan in plans:
                n = plan.machines
                sums: list[float] = [0, 0, 0, 0, 0, 0, 0, 0.0]  # running_s a float
                rng = SplitMix64(derive_seed(cfg.seed, 0xBACF, plan.number, day))
                yield from model.day(plan, rng, hours, staffed[plan.shift], park, sums)
                self._days.add(
                    (plan.id, day_start),
                    {
                        "pairs": sums[0],
                        "readings": plan.readings * len(hours),
                        **dict(zip(FIELDS, sums[1:6], strict=True)),
                        "reported_s": HOUR * n * len(hours),
                        "planned_s": sums[6],
                        "running_s": sums[7],
                        "machines": n * len(hours),
                    },
                )
            for hour, row in zip(hours, park, strict=True):
                self._park_hours.add(
                    ("", hour),
                    {
                        "pairs": row[0],
                        "readings": total_readings,
                        **dict(zip(FIELDS, row[1:6], strict=True)),
                        "reported_s": HOUR * total_machines,
                        "planned_s": row[6],
                        "running_s": row[7],
                        "machines": total_machines,
                    },
                )

    def simulated_hours(self) -> Iterator[str]:
        """Every machine simulated through the last hours; yields ``machine_1h`` lines and
        records the enterprise and park sums (and ``park_5m`` in :attr:`park_steps`)."""
        cfg = self.config
        interval = cfg.interval
        dynamics = Dynamics(cfg.params.machine)
        steps = range(self.machine_start, self.end, STEP)
        staffed = {
            name: [self._staffed(name, t, t + STEP) for t in steps] for name in self.calendars
        }
        planned_by_shift = {
            name: {
                h: round(self._staffed(name, h, h + HOUR))
                for h in range(self.machine_start, self.end, HOUR)
            }
            for name in self.calendars
        }
        hour_readings = round(HOUR / interval)
        # per step: pairs, then the readings per state
        park_rows = [[0] * 6 for _ in steps]
        machines = 0
        self._progress.start(
            f"simulating {len(self.park.machines):,} machines", len(self.park.machines)
        )
        for e in self.park.enterprises:
            shift_staffed = staffed[e.shift.name]
            planned_of = planned_by_shift[e.shift.name]
            tags = f",enterprise={e.id}"
            for m in e.machines:
                machines += 1
                timer = StateTimer(
                    m.style.pairs_per_second,
                    dynamics,
                    SplitMix64(derive_seed(cfg.seed, 0xBAC5, m.index)),
                )
                hour_pairs = 0
                hour_seconds = [0.0] * 5
                done = 0
                for i, t in enumerate(steps):
                    timer.advance(shift_staffed[i], float(STEP))
                    seconds = timer.take()
                    knitted = int(timer.knitted)
                    pairs, done = knitted - done, knitted
                    row = park_rows[i]
                    row[0] += pairs
                    hour_pairs += pairs
                    cumulative = 0.0
                    upto_before = 0
                    for k in range(5):
                        spent = seconds[k]
                        hour_seconds[k] += spent
                        cumulative += spent
                        upto = round(cumulative / interval)
                        row[k + 1] += upto - upto_before
                        upto_before = upto
                    if (t + STEP) % HOUR == 0:
                        hour = t + STEP - HOUR
                        values: dict[str, float] = {
                            "pairs": hour_pairs,
                            "readings": hour_readings,
                            **dict(zip(FIELDS, counts(hour_seconds, interval), strict=True)),
                            "reported_s": HOUR,
                        }
                        values["running_s"] = values["running"] * HOUR / hour_readings
                        line_values: dict[str, int | float] = dict(values)
                        if values["running"]:
                            line_values["rpm"] = m.style.rpm
                        yield _line(MACHINE_1H, f"{tags},machine={m.id}", line_values, hour)
                        planned = planned_of[hour]
                        self._record(e.id, hour, {**values, "planned_s": planned, "machines": 1})
                        hour_pairs = 0
                        hour_seconds = [0.0] * 5
                self._progress.advance()
        per_step = round(STEP / interval)
        for t, row in zip(steps, park_rows, strict=True):
            self.park_steps[t] = {
                "pairs": row[0],
                "readings": per_step * machines,
                **dict(zip(FIELDS, row[1:], strict=True)),
                "machines": machines,
            }

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> BackfillSummary:
        cfg = self.config
        began = self._clock()
        influx = cfg.influx
        if cfg.create_schema:
            offset_hours = cfg.params.calendar.utc_offset_hours
            ensure_schema(
                self.client,
                influx,
                default_schema(influx.database, utc_offset_hours=offset_hours),
            )
        registry = registry_of(self.park)
        now_ns = (self.end - 1) * 1_000_000_000
        self._write(LONG_POLICY, "capacity", iter(capacity_lines(registry, now_ns)))
        self._write(HOURLY_POLICY, MACHINE_1H, self.simulated_hours())
        self._write(
            FIVE_MIN_POLICY,
            PARK_5M,
            (_line(PARK_5M, "", row, t) for t, row in sorted(self.park_steps.items())),
        )
        self._write(LONG_POLICY, ENTERPRISE_1H, self.expected_hours())
        self._progress.start("writing the simulated enterprise-hours, days and park-hours", 3)
        self._write(
            LONG_POLICY,
            ENTERPRISE_1H,
            (
                _line(ENTERPRISE_1H, f",enterprise={e}", v, t)
                for (e, t), v in self._enterprise_hours.data.items()
            ),
        )
        self._progress.advance()
        self._write(
            LONG_POLICY,
            ENTERPRISE_1D,
            (
                _line(
                    ENTERPRISE_1D,
                    f",enterprise={e}",
                    {k: v for k, v in row.items() if k != "machines"},
                    t,
                )
                for (e, t), row in self._days.data.items()
            ),
        )
        self._progress.advance()
        self._write(
            LONG_POLICY,
            PARK_1H,
            (_line(PARK_1H, "", v, t) for (_, t), v in sorted(self._park_hours.data.items())),
        )
        self._progress.advance()
        self.summary.pairs = sum(int(v["pairs"]) for v in self._park_hours.data.values())
        self.summary.seconds = self._clock() - began
        self.client.close()
        return self.summary


def describe(summary: BackfillSummary) -> str:
    def iso(t: int) -> str:
        return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="minutes")

    points = sum(summary.points.values())
    return (
        f"{summary.pairs:,} pairs of {summary.machines:,} machines from {iso(summary.start_s)} "
        f"to {iso(summary.end_s)}: {points:,} points in {summary.seconds:.0f} s"
    )


def run_backfill(
    config: BackfillConfig,
    *,
    say: Callable[[str], None],
    progress: Progress | None = None,
    transport: httpx.BaseTransport | None = None,
) -> int:
    """``hosiery-sim backfill``: 0 when written, 1 when InfluxDB failed (one line said)."""
    try:
        summary = Backfill(config, progress=progress, transport=transport).run()
    except (RetryAbortedError, InfluxError) as exc:
        say(f"backfill failed: {exc}")
        return 1
    say(describe(summary))
    return 0
