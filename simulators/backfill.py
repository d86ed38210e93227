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
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from contract.retry import RetryAbortedError
from influx.capacity import capacity_lines
from influx.config import InfluxConfig, make_client
from influx.errors import InfluxError
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
from simulators.errors import ParameterError
from simulators.expected_hours import EnterprisePlan, Expectation
from simulators.machine import Dynamics
from simulators.params import DEFAULT_PARK, DEFAULT_SEED, ParkParams
from simulators.park import Park, build_park
from simulators.registry import registry_of
from simulators.rng import SplitMix64, derive_seed
from simulators.rollup_writer import RollupWriter, Sums, line
from simulators.shifts import WorkCalendar
from simulators.state_timer import FIELDS, StateTimer, counts

HOUR = 3600
DAY = 86400
STEP = 300


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
        self._writer = RollupWriter(config.influx, self.client)
        self.summary = BackfillSummary(self.start, self.end, len(self.park.machines))
        self._clock = clock
        self._progress: Progress = progress or _Silent()
        self.park_steps: dict[int, dict[str, int]] = {}
        self._enterprise_hours = Sums()
        self._days = Sums()
        self._park_hours = Sums()

    # -- writing -----------------------------------------------------------------------------

    def _write(self, policy: str, measurement: str, lines: Iterable[str]) -> None:
        written = self._writer.write(policy, lines)
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
        model = Expectation.of(cfg.params, cfg.interval)
        plans = [EnterprisePlan.of(e.id, e.number, e.shift.name, e.machines, cfg.interval)
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
                        yield line(MACHINE_1H, f"{tags},machine={m.id}", line_values, hour)
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
            (line(PARK_5M, "", row, t) for t, row in sorted(self.park_steps.items())),
        )
        self._write(LONG_POLICY, ENTERPRISE_1H, self.expected_hours())
        self._progress.start("writing the simulated enterprise-hours, days and park-hours", 3)
        self._write(
            LONG_POLICY,
            ENTERPRISE_1H,
            (
                line(ENTERPRISE_1H, f",enterprise={e}", v, t)
                for (e, t), v in self._enterprise_hours.data.items()
            ),
        )
        self._progress.advance()
        self._write(
            LONG_POLICY,
            ENTERPRISE_1D,
            (
                line(
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
            (line(PARK_1H, "", v, t) for (_, t), v in sorted(self._park_hours.data.items())),
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
